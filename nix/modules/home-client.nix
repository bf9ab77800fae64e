# services.atuin-bootstrap.client (home-manager): the client side of the fleet for a user whose
# machine is not NixOS (or whose NixOS is not managed by the fleet) — the clients (bt, bs, bl,
# bootstrap-new-machine) pointed at the build box, and the Atuin sync address for the terminal
# module.
#
# The binary cache: on a machine that is not NixOS the nix-daemon reads substituters only from
# /etc/nix/nix.conf (a user's substituters are ignored unless the user is trusted), so
# bootstrap-new-machine writes extra-substituters and extra-trusted-public-keys there (with
# sudo). `configureNix` writes them into home-manager's ~/.config/nix/nix.conf instead, which
# helps only single-user installs and trusted users, and needs home-manager's `nix.package`.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  common = import ./common.nix { inherit lib; };

  cfg = config.services.atuin-bootstrap.client;
in
{
  options.services.atuin-bootstrap.client = {
    enable = mkEnableOption "the atuin-bootstrap clients (bt, bs, bl) pointed at the fleet's build box";

    package = mkOption {
      type = types.package;
      default = common.defaultPackage pkgs;
      defaultText = common.defaultPackageText;
      description = "The atuin-bootstrap package (bt, bs, bl, bootstrap-new-machine).";
    };

    serverUrl = mkOption {
      type = common.urlType;
      example = "http://buildbox:8780";
      description = ''
        The build server, written as `client.server` to
        ~/.config/atuin-bootstrap/config.toml.
      '';
    };

    publicKey = mkOption {
      type = types.nullOr common.publicKeyType;
      default = null;
      example = "buildbox-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=";
      description = ''
        The cache's public key (`atuin-bootstrap cache public-key` on the box); needed with
        `configureNix`.
      '';
    };

    tokenFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/home/me/fleet/secrets/atuin-bootstrap-token";
      description = ''
        File holding an API token, as a runtime path (`client.token_file`). Never a Nix path:
        that would copy the secret into the world-readable store.
      '';
    };

    atuinSyncAddress = mkOption {
      type = types.nullOr types.str;
      default = common.atuinSyncAddressFor cfg.serverUrl;
      defaultText = literalExpression ''"http://<host of serverUrl>:8888"'';
      example = "http://buildbox:8888";
      description = ''
        The Atuin sync server on the box, used by the terminal module
        (`programs.atuin-bootstrap.terminal`) as Atuin's `sync_address`.
      '';
    };

    configureNix = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Also write the cache into home-manager's `nix.settings` (~/.config/nix/nix.conf):
        `extra-substituters`, `extra-trusted-public-keys`, `fallback`, `connect-timeout` and
        `narinfo-cache-negative-ttl`. Needs `nix.package` and `publicKey`. With a multi-user
        Nix the daemon ignores these unless the user is trusted: there the cache belongs in
        /etc/nix/nix.conf, which bootstrap-new-machine writes.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      (common.notInStore "services.atuin-bootstrap.client.tokenFile" cfg.tokenFile)
      {
        assertion = cfg.configureNix -> cfg.publicKey != null;
        message = "services.atuin-bootstrap.client.configureNix needs services.atuin-bootstrap.client.publicKey.";
      }
    ];

    home.packages = [ cfg.package ];

    # A link into the store, which bootstrap-new-machine then reports instead of editing. The
    # file it wrote before home-manager took over is a regular file, which activation would
    # refuse to replace ("Existing file … would be clobbered"): replace it by default (a
    # backup stays the user's choice: home-manager's `-b EXT`).
    xdg.configFile."atuin-bootstrap/config.toml" = {
      text = common.clientConfig {
        server = cfg.serverUrl;
        inherit (cfg) tokenFile;
      };
      force = mkDefault true;
    };

    nix.settings = mkIf (cfg.configureNix && cfg.publicKey != null) (common.substituterSettings {
      inherit (cfg) serverUrl publicKey;
    });
  };
}
