# programs.atuin-bootstrap.terminal (home-manager): the same terminal as the NixOS module, for
# one user — zsh, Atuin syncing through the build box, neovim as the editor, and the fleet's
# aliases (the very list the NixOS modules use). On as soon as the module is imported; every
# setting is a default a user's configuration can override.
{
  config,
  lib,
  options,
  ...
}@args:

let
  inherit (lib)
    literalExpression
    mapAttrs
    mkDefault
    mkIf
    mkMerge
    mkOption
    types
    ;

  cfg = config.programs.atuin-bootstrap.terminal;
  clientCfg = config.services.atuin-bootstrap.client or { enable = false; };

  # home-manager as a NixOS module hands the system's configuration over as `osConfig`
  # (standalone home-manager has none).
  osConfig = args.osConfig or { };
  # The NixOS terminal module already initialises Atuin in every zsh (/etc/zshrc); a second
  # `atuin init zsh` from ~/.zshrc would bind the keys and hooks twice.
  systemInitsAtuin =
    (osConfig.programs.atuin-bootstrap.terminal.enable or false)
    || (osConfig.programs.atuin.enable or false);
  # A first `home-manager switch` refuses to replace an existing ~/.zshrc ("Existing file …
  # is in the way") unless it may back it up: home-manager.backupFileExtension on NixOS.
  backupsExisting = (osConfig.home-manager.backupFileExtension or null) != null;
in
{
  options.programs.atuin-bootstrap.terminal = {
    enable = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        The fleet's terminal: zsh, Atuin with sync through the build box, neovim as the
        default editor, and the fleet's shell aliases. On by default: importing the module is
        the choice.
      '';
    };

    fleetFlake = mkOption {
      type = types.str;
      default = "/etc/nixos";
      example = "/home/me/fleet";
      description = "Where the fleet flake is checked out, for the `rebuild` aliases.";
    };

    zsh = mkOption {
      type = types.bool;
      default = backupsExisting;
      defaultText = literalExpression "osConfig.home-manager.backupFileExtension != null";
      example = true;
      description = ''
        Let home-manager manage zsh (`programs.zsh.enable`, so ~/.zshrc becomes home-manager's
        and loads Atuin and the aliases). Off unless asked, or unless home-manager runs as a
        NixOS module with `home-manager.backupFileExtension` set: home-manager will not
        replace a ~/.zshrc it did not write, and the first `home-manager switch` stops with
        "Existing file '…/.zshrc' is in the way". Turning it on: run the first switch as
        `home-manager switch -b backup` (your ~/.zshrc is kept as ~/.zshrc.backup), or move
        ~/.zshrc away. With it off, add `eval "$(atuin init zsh)"` to your own ~/.zshrc (the
        NixOS terminal module does it for every zsh).
      '';
    };

    atuinSyncAddress = mkOption {
      type = types.nullOr types.str;
      default = if clientCfg.enable then clientCfg.atuinSyncAddress else null;
      defaultText = literalExpression "config.services.atuin-bootstrap.client.atuinSyncAddress (when the client is on), else null";
      example = "http://buildbox:8888";
      description = ''
        Atuin's `sync_address`: the Atuin server on the build box. `null` leaves Atuin's own
        default (or the user's setting).
      '';
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      programs.zsh.enable = mkIf cfg.zsh (mkDefault true);

      # Atuin's settings become ~/.config/atuin/config.toml (a link into the store, which
      # bootstrap-new-machine then reports instead of editing).
      programs.atuin = {
        enable = mkDefault true;
        enableZshIntegration = mkDefault (!systemInitsAtuin);
        settings = {
          sync_address = mkIf (cfg.atuinSyncAddress != null) (mkDefault cfg.atuinSyncAddress);
          auto_sync = mkDefault true;
          sync_frequency = mkDefault "5m";
        };
      };

      programs.neovim = {
        enable = mkDefault true;
        defaultEditor = mkDefault true;
        viAlias = mkDefault true;
        vimAlias = mkDefault true;
      };

      home.shellAliases = mapAttrs (_: mkDefault) (
        import ./aliases.nix { inherit (cfg) fleetFlake; }
      );
    }

    # Atuin writes a default ~/.config/atuin/config.toml on its first run (bootstrap-new-machine
    # merges into it too), and home-manager will not replace a file it did not make: activation
    # stops with "Existing file … would be clobbered". Replace it by default; a backup of it is
    # the user's choice, through home-manager's own `-b EXT`, which still applies to forced
    # files. home-manager 25.11 has an option for this; older releases take the file's `force`.
    (
      if options.programs.atuin ? forceOverwriteSettings then
        { programs.atuin.forceOverwriteSettings = mkDefault true; }
      else
        {
          # The entry only when home-manager's Atuin module makes the file: an entry holding
          # just `force` has no `source`, and home-manager reads it for every entry.
          xdg.configFile = mkIf (config.programs.atuin.enable && config.programs.atuin.settings != { }) {
            "atuin/config.toml".force = mkDefault true;
          };
        }
    )
  ]);
}
