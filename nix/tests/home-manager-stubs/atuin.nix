# programs.atuin as home-manager declares it (modules/programs/atuin.nix): its settings become
# xdg.configFile."atuin/config.toml", forced when forceOverwriteSettings is on — an option that
# exists only from home-manager 25.11 on (`forceOverwriteSettings = false` leaves it out, as
# older releases do).
{ forceOverwriteSettings }:
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.programs.atuin;
in
{
  options.programs.atuin = {
    enable = lib.mkEnableOption "atuin";
    package = mkOption {
      type = types.package;
      default = pkgs.atuin;
    };
    enableBashIntegration = mkOption {
      type = types.bool;
      default = true;
    };
    enableZshIntegration = mkOption {
      type = types.bool;
      default = true;
    };
    flags = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    settings = mkOption {
      type =
        with types;
        let
          prim = oneOf [ bool int str ];
          primOrPrimAttrs = either prim (attrsOf prim);
          entry = either prim (listOf primOrPrimAttrs);
          entryOrAttrsOf = t: either entry (attrsOf t);
          entries = entryOrAttrsOf (entryOrAttrsOf entry);
        in
        attrsOf entries;
      default = { };
    };
  }
  // lib.optionalAttrs forceOverwriteSettings {
    forceOverwriteSettings = mkOption {
      type = types.bool;
      default = false;
    };
  };

  config = mkIf cfg.enable {
    home.packages = [ cfg.package ];
    xdg.configFile = mkIf (cfg.settings != { }) {
      "atuin/config.toml" = {
        source = (pkgs.formats.toml { }).generate "atuin-config" cfg.settings;
      }
      // lib.optionalAttrs forceOverwriteSettings { force = cfg.forceOverwriteSettings; };
    };
  };
}
