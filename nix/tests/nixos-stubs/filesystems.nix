# fileSystems and swapDevices, as nixos/modules/tasks/filesystems.nix and
# nixos/modules/config/swap.nix declare them (the hardware file sets them).
{ lib, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  nonEmptyWithoutTrailingSlash = types.addCheck types.nonEmptyStr (
    s: builtins.match ".+/" s == null
  );
in
{
  options = {
    fileSystems = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              mountPoint = mkOption { type = nonEmptyWithoutTrailingSlash; };
              device = mkOption {
                type = types.nullOr types.nonEmptyStr;
                default = null;
              };
              label = mkOption {
                type = types.nullOr types.str;
                default = null;
              };
              fsType = mkOption {
                type = types.nonEmptyStr;
                default = "auto";
              };
              options = mkOption {
                type = types.nonEmptyListOf types.nonEmptyStr;
                default = [ "defaults" ];
              };
              depends = mkOption {
                type = types.listOf nonEmptyWithoutTrailingSlash;
                default = [ ];
              };
              neededForBoot = mkOption {
                type = types.bool;
                default = false;
              };
              autoFormat = mkOption {
                type = types.bool;
                default = false;
              };
              autoResize = mkOption {
                type = types.bool;
                default = false;
              };
              noCheck = mkOption {
                type = types.bool;
                default = false;
              };
            };
            config = {
              mountPoint = mkDefault name;
              device = mkIf (config.label != null) (mkDefault "/dev/disk/by-label/${config.label}");
            };
          }
        )
      );
    };

    swapDevices = mkOption {
      default = [ ];
      type = types.listOf (
        types.submodule {
          options = {
            device = mkOption { type = types.str; };
            label = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            size = mkOption {
              type = types.nullOr types.int;
              default = null;
            };
          };
        }
      );
    };
  };
}
