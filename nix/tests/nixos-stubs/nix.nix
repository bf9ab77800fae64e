# nix.* (nixos/modules/config/nix.nix, nixos/modules/services/misc/nix-gc.nix),
# nixpkgs.hostPlatform and system.stateVersion. nix.settings takes any key with NixOS's
# value type, as there, but a real NixOS build then runs `nix show-config` on the generated
# nix.conf with warnings as errors (nix.checkConfig), so a key Nix does not know fails the
# build ("unknown setting"): here that is a failed assertion, against ./nix-settings.nix.
# nix.gc.options is a singleLineStr and nix.gc.dates a list, as in nix-gc.nix.
{ config, lib, pkgs, ... }:
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
  known =
    let
      names = import ./nix-settings.nix;
    in
    names.nix28 ++ names.later;
  isKnown = name: lib.elem name known || lib.elem (lib.removePrefix "extra-" name) known;
  unknown = lib.filter (name: !isKnown name) (
    lib.attrNames (lib.filterAttrs (_: v: v != null) config.nix.settings)
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
    nix.checkConfig = mkOption {
      type = types.bool;
      default = true;
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
          allowed-users = mkOption {
            type = types.listOf types.str;
            default = [ "*" ];
          };
          sandbox = mkOption {
            type = types.either types.bool (types.enum [ "relaxed" ]);
            default = true;
          };
          extra-sandbox-paths = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
          system-features = mkOption {
            type = types.listOf types.str;
            default = [
              "nixos-test"
              "benchmark"
              "big-parallel"
              "kvm"
            ];
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
        type = with types; either singleLineStr (listOf str);
        default = "03:15";
      };
      options = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      randomizedDelaySec = mkOption {
        type = types.singleLineStr;
        default = "0";
      };
      persistent = mkOption {
        type = types.bool;
        default = true;
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

  config.assertions = [
    {
      assertion = !config.nix.checkConfig || unknown == [ ];
      message = "nix.conf: unknown setting${lib.optionalString (lib.length unknown > 1) "s"} ${
        lib.concatMapStringsSep ", " (n: "'${n}'") unknown
      } (nix.checkConfig runs `nix show-config` with warnings as errors: the build fails)";
    }
  ];
}
