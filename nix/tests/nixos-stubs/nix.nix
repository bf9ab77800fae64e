# nix.* (nixos/modules/config/nix.nix, …/services/misc/nix-gc.nix), nixpkgs.hostPlatform and
# system.stateVersion.
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  confAtom = types.nullOr (
    types.oneOf [
      types.bool
      types.int
      types.float
      types.str
      types.path
      types.package
    ]
  );
in
{
  options = {
    nix.enable = mkOption {
      type = types.bool;
      default = true;
    };
    nix.package = mkOption {
      type = types.package;
      default = pkgs.nix;
    };
    nix.settings = mkOption {
      default = { };
      type = types.submodule {
        freeformType = types.attrsOf (types.either confAtom (types.listOf confAtom));
        options = {
          substituters = mkOption {
            type = types.listOf types.str;
            default = [ "https://cache.nixos.org/" ];
          };
          trusted-public-keys = mkOption {
            type = types.listOf types.str;
            default = [ "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ];
          };
          trusted-users = mkOption {
            type = types.listOf types.str;
            default = [ "root" ];
          };
        };
      };
    };
    nix.gc = {
      automatic = mkOption {
        type = types.bool;
        default = false;
      };
      dates = mkOption {
        type = types.either types.singleLineStr (types.listOf types.str);
        default = [ "03:15" ];
      };
      options = mkOption {
        type = types.str;
        default = "";
      };
    };

    nixpkgs.hostPlatform = mkOption {
      type = types.either types.str types.attrs;
      apply = lib.systems.elaborate;
    };

    system.stateVersion = mkOption {
      type = types.str;
    };
  };
}
