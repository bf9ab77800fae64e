# programs.atuin-bootstrap.terminal (NixOS): the same terminal on every machine — zsh with
# Atuin's shell history (synced through the build box), neovim as the editor, and the fleet's
# aliases. On as soon as the module is imported; a host can turn it off
# (programs.atuin-bootstrap.terminal.enable = false) or override any single default.
#
# Atuin's settings (sync_address, auto_sync, …) are per user, in ~/.config/atuin/config.toml:
# bootstrap-new-machine writes them there (or home-manager's terminal module does). This module
# does not use NixOS's programs.atuin, whose /etc/atuin config (through ATUIN_CONFIG_DIR) would
# hide that file; the client module sets ATUIN_SYNC_ADDRESS as the fleet-wide default instead.
#
# Atuin is initialised here, once, for every zsh. home-manager's terminal module, run as a
# NixOS module on such a host, sees it (osConfig) and leaves Atuin's zsh integration off.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    mapAttrs
    mkDefault
    mkIf
    mkOption
    types
    ;

  cfg = config.programs.atuin-bootstrap.terminal;
  clientCfg = config.services.atuin-bootstrap.client or { enable = false; };
  # NixOS's own Atuin module (recent nixpkgs) would initialise Atuin in zsh a second time.
  nixosAtuin = config.programs.atuin.enable or false;
in
{
  options.programs.atuin-bootstrap.terminal = {
    enable = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        The fleet's terminal: zsh (the default shell of users that name none), Atuin's zsh
        integration, neovim as the default editor, and the fleet's shell aliases. On by
        default: importing the module is the choice.
      '';
    };

    fleetFlake = mkOption {
      type = types.str;
      default = if clientCfg.enable then clientCfg.fleet.flake else "/etc/nixos";
      defaultText = literalExpression ''config.services.atuin-bootstrap.client.fleet.flake (when the client is on), else "/etc/nixos"'';
      example = "/home/me/fleet";
      description = "Where the fleet flake is checked out, for the `rebuild` aliases.";
    };

    atuinPackage = mkOption {
      type = types.package;
      default = pkgs.atuin;
      defaultText = literalExpression "pkgs.atuin";
      description = "The Atuin package whose shell integration is loaded.";
    };
  };

  config = mkIf cfg.enable {
    programs.zsh.enable = mkDefault true;
    users.defaultUserShell = mkDefault pkgs.zsh;
    # Atuin binds Ctrl-R and the up arrow once the line editor is up (not in `zsh -c`).
    programs.zsh.interactiveShellInit = mkIf (!nixosAtuin) ''
      if [[ $options[zle] = on ]]; then
        eval "$(${cfg.atuinPackage}/bin/atuin init zsh)"
      fi
    '';

    programs.neovim = {
      enable = mkDefault true;
      defaultEditor = mkDefault true;
      viAlias = mkDefault true;
      vimAlias = mkDefault true;
    };

    environment.systemPackages = [ cfg.atuinPackage ];
    environment.shellAliases = mapAttrs (_: mkDefault) (
      import ./aliases.nix { inherit (cfg) fleetFlake; }
    );
  };
}
