# home.*, nix.* (with home-manager's check that nix.settings needs nix.package), and the shell
# and editor programs the terminal module turns on.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
in
{
  options = {
    home.username = mkOption { type = types.str; };
    home.homeDirectory = mkOption { type = types.path; };
    home.stateVersion = mkOption { type = types.str; };
    home.packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    home.shellAliases = mkOption {
      type = types.attrsOf types.str;
      default = { };
    };
    nix.package = mkOption {
      type = types.nullOr types.package;
      default = null;
    };
    nix.settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf types.anything; };
      default = { };
    };
    programs.zsh.enable = bool false;
    programs.neovim = {
      enable = bool false;
      defaultEditor = bool false;
      viAlias = bool false;
      vimAlias = bool false;
    };
  };

  config.assertions = [
    {
      assertion = config.nix.settings == { } || config.nix.package != null;
      message = "A corresponding Nix package must be specified via `nix.package` for generating nix.conf.";
    }
  ];
}
