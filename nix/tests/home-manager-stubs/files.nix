# home.file and xdg.configFile, with the file type of home-manager's modules/lib/file-type.nix:
# `force` is what lets activation replace a file it did not make, instead of stopping with
# "Existing file … would be clobbered".
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  fileType = types.attrsOf (
    types.submodule (
      { name, config, ... }:
      {
        options = {
          enable = mkOption {
            type = types.bool;
            default = true;
          };
          target = mkOption { type = types.nonEmptyStr; };
          text = mkOption {
            type = types.nullOr types.lines;
            default = null;
          };
          source = mkOption { type = types.path; };
          executable = mkOption {
            type = types.nullOr types.bool;
            default = null;
          };
          recursive = mkOption {
            type = types.bool;
            default = false;
          };
          onChange = mkOption {
            type = types.lines;
            default = "";
          };
          force = mkOption {
            type = types.bool;
            default = false;
          };
        };
        config = {
          target = mkDefault name;
          source = mkIf (config.text != null) (
            mkDefault (
              pkgs.writeTextFile {
                inherit (config) text;
                name = baseNameOf name;
              }
            )
          );
        };
      }
    )
  );
in
{
  options = {
    home.file = mkOption {
      type = fileType;
      default = { };
    };
    xdg.configFile = mkOption {
      type = fileType;
      default = { };
    };
  };
}
