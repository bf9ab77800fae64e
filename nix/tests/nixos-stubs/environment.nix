# environment.* (packages: nixos/modules/config/system-path.nix; variables and shell aliases:
# …/config/shells-environment.nix; /etc: …/system/etc/etc.nix) and the shell and editor
# programs the terminal module turns on (…/programs/zsh/zsh.nix, …/programs/neovim.nix).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
in
{
  options = {
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    environment.variables = mkOption {
      type = types.attrsOf (types.oneOf [ (types.listOf (types.oneOf [ types.int types.str types.path ])) types.int types.str types.path ]);
      default = { };
    };
    environment.shellAliases = mkOption {
      type = types.attrsOf (types.nullOr (types.either types.str types.path));
      default = { };
    };
    environment.etc = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              enable = bool true;
              target = mkOption { type = types.str; };
              text = mkOption {
                type = types.nullOr types.lines;
                default = null;
              };
              source = mkOption { type = types.path; };
              mode = mkOption {
                type = types.str;
                default = "symlink";
              };
              user = mkOption {
                type = types.str;
                default = "+0";
              };
              group = mkOption {
                type = types.str;
                default = "+0";
              };
            };
            config = {
              target = mkDefault name;
              source = mkIf (config.text != null) (mkDefault (pkgs.writeText "etc-${baseNameOf name}" config.text));
            };
          }
        )
      );
    };

    programs.zsh.enable = bool false;
    programs.zsh.interactiveShellInit = mkOption {
      type = types.lines;
      default = "";
    };
    programs.neovim = {
      enable = bool false;
      defaultEditor = bool false;
      viAlias = bool false;
      vimAlias = bool false;
    };
  };
}
