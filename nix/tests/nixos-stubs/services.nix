# The services our modules configure, as nixpkgs declares them: Tailscale
# (…/networking/tailscale.nix), Syncthing (…/networking/syncthing.nix), the Atuin sync
# server (…/misc/atuin.nix, with its assertion and unit), PostgreSQL (only what atuin.nix
# touches), OpenSSH and power-profiles-daemon.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkIf mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
  str = default: mkOption {
    type = types.str;
    inherit default;
  };
  freeform = types.attrsOf types.anything;
  # syncthing.nix: settings and every device and folder are of pkgs.formats.json's type.
  settingsFormat = (pkgs.formats.json { }).type;
in
{
  options.services = {
    tailscale = {
      enable = bool false;
      package = mkOption {
        type = types.package;
        default = pkgs.tailscale;
      };
      port = mkOption {
        type = types.port;
        default = 41641;
      };
      interfaceName = str "tailscale0";
      authKeyFile = mkOption {
        type = types.nullOr types.path;
        default = null;
      };
      openFirewall = bool false;
      useRoutingFeatures = mkOption {
        type = types.enum [ "none" "client" "server" "both" ];
        default = "none";
      };
      extraUpFlags = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
    };

    syncthing = {
      enable = bool false;
      user = str "syncthing";
      group = str "syncthing";
      dataDir = mkOption {
        type = types.path;
        default = "/var/lib/syncthing";
      };
      key = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      cert = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      openDefaultPorts = bool false;
      settings = mkOption {
        default = { };
        type = types.submodule {
          freeformType = settingsFormat;
          options = {
            devices = mkOption {
              default = { };
              type = types.attrsOf (
                types.submodule (
                  { name, ... }:
                  {
                    freeformType = settingsFormat;
                    options = {
                      name = str name;
                      id = mkOption { type = types.str; };
                      autoAcceptFolders = bool false;
                    };
                  }
                )
              );
            };
            folders = mkOption {
              default = { };
              type = types.attrsOf (
                types.submodule (
                  { name, ... }:
                  {
                    freeformType = settingsFormat;
                    options = {
                      enable = bool true;
                      path = mkOption {
                        type = types.str // {
                          check = x: types.str.check x && (lib.substring 0 1 x == "/" || lib.substring 0 2 x == "~/");
                          description = types.str.description + " starting with / or ~/";
                        };
                        default = name;
                      };
                      id = str name;
                      label = str name;
                      type = mkOption {
                        type = types.enum [ "sendreceive" "sendonly" "receiveonly" "receiveencrypted" ];
                        default = "sendreceive";
                      };
                      devices = mkOption {
                        type = types.listOf types.str;
                        default = [ ];
                      };
                    };
                  }
                )
              );
            };
          };
        };
      };
    };

    atuin = {
      enable = bool false;
      package = mkOption {
        type = types.package;
        default = pkgs.atuin;
      };
      database = {
        createLocally = bool true;
        uri = mkOption {
          type = types.nullOr types.str;
          default = "postgresql:///atuin?host=/run/postgresql";
        };
      };
      host = str "127.0.0.1";
      maxHistoryLength = mkOption {
        type = types.int;
        default = 8192;
      };
      openFirewall = bool false;
      openRegistration = bool false;
      path = str "";
      port = mkOption {
        type = types.port;
        default = 8888;
      };
    };

    postgresql = {
      enable = bool false;
      ensureDatabases = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      ensureUsers = mkOption {
        type = types.listOf types.attrs;
        default = [ ];
      };
    };

    openssh = {
      enable = bool false;
      settings = mkOption {
        default = { };
        type = types.submodule {
          freeformType = freeform;
          options.PasswordAuthentication = mkOption {
            type = types.nullOr types.bool;
            default = true;
          };
        };
      };
    };

    power-profiles-daemon.enable = bool false;
  };

  config = mkIf config.services.atuin.enable (
    let
      cfg = config.services.atuin;
    in
    {
      assertions = [
        {
          assertion = cfg.database.createLocally -> config.services.postgresql.enable;
          message = "Postgresql must be enabled to create a local database";
        }
      ];
      networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [ cfg.port ];
      services.postgresql = mkIf cfg.database.createLocally {
        enable = true;
        ensureDatabases = [ "atuin" ];
      };
      systemd.services.atuin = {
        description = "atuin server";
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        wantedBy = [ "multi-user.target" ];
        environment = {
          ATUIN_HOST = cfg.host;
          ATUIN_PORT = toString cfg.port;
          ATUIN_OPEN_REGISTRATION = lib.boolToString cfg.openRegistration;
        }
        // lib.optionalAttrs (cfg.database.uri != null) { ATUIN_DB_URI = cfg.database.uri; };
        serviceConfig = {
          DynamicUser = true;
          ExecStart = "${cfg.package}/bin/atuin-server start";
          ProtectHome = true;
          RuntimeDirectory = "atuin";
        };
      };
    }
  );
}
