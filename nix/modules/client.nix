# services.atuin-bootstrap.client: a machine of the fleet — the build box's binary cache as a
# substituter that never blocks a rebuild, the clients (bt, bs, bl) pointed at the box, Atuin
# syncing to the box, the fleet's aliases, and Tailscale and Syncthing on, with every host
# knowing every other host's Syncthing device.
#
# Importing it also declares the server's options (services.atuin-bootstrap.server, off until
# enabled), so one module serves every host and any host can be made the build box.
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
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  common = import ./common.nix { inherit lib; };
  inherit (common) abLib;

  cfg = config.services.atuin-bootstrap.client;
  serverHere = config.services.atuin-bootstrap.server.enable or false;
  terminalHere = config.programs.atuin-bootstrap.terminal.enable or false;

  # The [deploy] section of the config file the deploy unit reads (null: left out, the
  # agent's default).
  deploySettings = {
    host = cfg.hostName;
    inherit (cfg.deploy) mode interval reboot;
    health_checks = cfg.deploy.healthChecks;
    health_timeout = cfg.deploy.healthTimeout;
    activation_timeout = cfg.deploy.activationTimeout;
    reboot_window = cfg.deploy.rebootWindow;
    allow_pushed = cfg.deploy.allowPushed;
  };

  # The box's cache is used when asked and its key is known; a host written before the key
  # was (bootstrap-new-machine offline) leaves it out until then.
  cacheOn = cfg.useCache && cfg.publicKey != null;

  # Every attribute a default (mkDefault), so that a host's own value wins field by field.
  defaults = mapAttrs (_: mkDefault);

  home =
    if cfg.user == null then null else config.users.users.${cfg.user}.home or "/home/${cfg.user}";

  # Every other host of the fleet that has published its Syncthing device id, reached by its
  # tailnet (MagicDNS) name first.
  devices = lib.optionalAttrs (cfg.fleet.hostsDir != null) (
    mapAttrs (name: device: device // {
      addresses = [
        "tcp://${name}:22000"
        "dynamic"
      ];
    }) (abLib.syncthingDevices cfg.fleet.hostsDir cfg.hostName)
  );
in
{
  imports = [ ./server.nix ];

  options.services.atuin-bootstrap.client = {
    enable = mkEnableOption ''
      this machine's membership in the fleet: the build box's binary cache, the
      atuin-bootstrap clients, Atuin sync, Tailscale and Syncthing'';

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
        The build server: its binary cache (a substituter) and its API (`client.server` of
        /etc/atuin-bootstrap/config.toml).
      '';
    };

    publicKey = mkOption {
      type = types.nullOr common.publicKeyType;
      default = null;
      example = "buildbox-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=";
      description = ''
        The cache's public key, as `atuin-bootstrap cache public-key` prints it on the box
        (added to `nix.settings.extra-trusted-public-keys`). `null` (a host written while the
        box could not be reached): the box's cache is not used, and deploy cannot download,
        until it is set; a warning says so at every rebuild.
      '';
    };

    useCache = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Use the box's cache: `nix.settings.extra-substituters` and
        `extra-trusted-public-keys` (next to the official cache, never instead of it), with
        `fallback = true`, `connect-timeout = 3` and `narinfo-cache-negative-ttl = 60`, so a
        sleeping box never blocks a rebuild. Skipped on the box itself, and while `publicKey`
        is unset. With `deploy.enable` the box's key is trusted even when this is off: the
        deploy downloads the box's builds.
      '';
    };

    publishedCacheUrl = mkOption {
      type = types.nullOr common.urlType;
      default = null;
      example = "https://nix-cache.example.org";
      description = ''
        Where hosts read the bucket the box publishes to (its `publish.read_url`): a second
        substituter after the box, signed by the same key (`publicKey`), for when the box
        sleeps. The box's short `connect-timeout` (3 s, from `useCache`) then costs a
        sleeping box seconds; Nix leaves a substituter that failed alone for a minute.
      '';
    };

    tokenFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/home/me/fleet/secrets/atuin-bootstrap-token";
      description = ''
        File holding an API token (`atuin-bootstrap token create NAME` on the box), as a
        runtime path readable by the users who run `bt` (`client.token_file`). Never a Nix
        path: that would copy the secret into the world-readable store.
      '';
    };

    atuinSyncAddress = mkOption {
      type = types.nullOr types.str;
      default = common.atuinSyncAddressFor cfg.serverUrl;
      defaultText = literalExpression ''"http://<host of serverUrl>:8888"'';
      example = "http://buildbox:8888";
      description = ''
        The Atuin sync server (the box runs one on port 8888), set as ATUIN_SYNC_ADDRESS in
        every shell: the default for users whose own ~/.config/atuin/config.toml does not name
        one (bootstrap-new-machine writes the same address there). `null`: not set.
      '';
    };

    user = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "me";
      description = ''
        The person who uses this machine: Syncthing runs as this user, in their home
        directory. `null`: Syncthing keeps its own system user.
      '';
    };

    hostName = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = literalExpression "config.networking.hostName";
      description = "This machine's name in the fleet (its folder under hosts/).";
    };

    fleet = {
      hostsDir = mkOption {
        type = types.nullOr types.path;
        default = null;
        example = literalExpression "./hosts";
        description = ''
          The fleet flake's hosts/ directory. Every other host's
          `hosts/<name>/syncthing-device-id` becomes a Syncthing device of this one.
        '';
      };
      flake = mkOption {
        type = types.str;
        default = "/etc/nixos";
        example = "/home/me/fleet";
        description = ''
          Where the fleet flake is checked out on this machine, for the `rebuild` aliases
          (`sudo nixos-rebuild switch --flake <flake>#$(hostname)`).
        '';
      };
    };

    tailscale = {
      authKeyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/home/me/fleet/secrets/tailscale-auth-key";
        description = ''
          A Tailscale auth key file (runtime path) to join the tailnet unattended
          (`services.tailscale.authKeyFile`).
        '';
      };
      interface = mkOption {
        type = types.nullOr types.str;
        default = common.tailscaleInterface config;
        defaultText = common.tailscaleInterfaceText;
        example = "ts-fleet";
        description = ''
          The Tailscale interface Syncthing's ports are opened on: the one Tailscale uses
          (`services.tailscale.interfaceName`, `tailscale0` unless renamed). `null` opens
          nothing, the default with `interfaceName = "userspace-networking"`: there is no
          interface then, and tailscaled hands tailnet connections to Syncthing over
          loopback, which the firewall always accepts.
        '';
      };
    };

    deploy = {
      enable = mkEnableOption ''
        following the build box: `atuin-bootstrap deploy --watch` runs as root (unit
        `atuin-bootstrap-deploy`), asks the box every `interval` for its newest build of this
        host (`hostName`), downloads it through the cache, activates it, runs the health
        checks, rolls back when activation or a check fails, and reports to the box (with
        `tokenFile`, a token with the `report` scope). Activation never restarts or stops
        the unit, and stopping or restarting the unit never kills a switch halfway
        (`KillMode=process`: the activation runs in a transient unit of its own through
        `systemd-run`, and any other child outlives the agent)'';

      mode = mkOption {
        type = types.enum [
          "switch"
          "boot"
          "test"
        ];
        default = "switch";
        description = ''
          How a new build is activated (`bin/switch-to-configuration MODE`): `switch` (now
          and at boot), `boot` (at the next boot only) or `test` (now, not at boot).
        '';
      };

      interval = mkOption {
        type = common.durationType;
        default = "60s";
        example = "5m";
        description = ''How often the box is asked for a new build: "90s", "5m", "1h", or seconds.'';
      };

      healthChecks = mkOption {
        type = types.listOf types.nonEmptyStr;
        default = [ ];
        example = [
          "unit:sshd.service"
          "http://127.0.0.1:8080/health"
          "tcp:127.0.0.1:5432"
        ];
        description = ''
          Checks that must each pass after activation, else the host rolls back to the
          generation it ran before: `unit:NAME` (the systemd unit is active),
          `http://…`/`https://…` (a GET answers 2xx), `tcp:HOST:PORT` (a connection opens);
          anything else is a shell command (`sh -c`, as root, exit 0) with only the unit's
          PATH (nix, bash, coreutils, findutils, grep, sed, systemd: no curl). Reaching the box
          again is always checked.

          They are part of the system being deployed: written to its
          `etc/atuin-bootstrap/health-checks.json` (a JSON array of strings), which the agent
          reads from the new system before it switches, so a build is judged by its own
          checks. They are also the `[deploy]` `health_checks` of the config file (for
          `atuin-bootstrap deploy` run by hand).
        '';
      };

      healthTimeout = mkOption {
        type = common.durationType;
        default = "120s";
        description = "Time for the health checks to pass after activation.";
      };

      activationTimeout = mkOption {
        type = types.nullOr common.durationType;
        default = null;
        example = "1h";
        description = ''
          Time activation (`switch-to-configuration`, which may install a boot loader) may
          take: then SIGTERM, and SIGKILL 30 s later (`[deploy]` `activation_timeout`).
          `null`: the agent's default, 30 minutes.
        '';
      };

      reboot = mkOption {
        type = types.nullOr (
          types.enum [
            "never"
            "window"
          ]
        );
        default = null;
        example = "window";
        description = ''
          What the agent does when the new system needs a reboot (a `boot` deploy, or a
          changed kernel or initrd): `never` (report `reboot_needed`, leave the reboot to
          you) or `window` (reboot in `rebootWindow`; on the first boot of the new generation
          the health checks run first, and a failure goes back to the previous one).
          `null`: the agent's default, `never`.
        '';
      };

      rebootWindow = mkOption {
        type = types.nullOr (types.strMatching "[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]");
        default = null;
        example = "03:00-05:00";
        description = ''
          The maintenance window for `reboot = "window"`, local time (`[deploy]`
          `reboot_window`). `null`: the agent's default, `03:00-05:00`.
        '';
      };

      allowPushed = mkOption {
        type = types.nullOr types.bool;
        default = null;
        example = true;
        description = ''
          Deploy a system whose closure holds paths that came to the box by push (signed by
          the box's push key, not built there) (`[deploy]` `allow_pushed`). `null`: the
          agent's default, `false`.
        '';
      };
    };

    syncthing = {
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/home/me/fleet/secrets/syncthing/key.pem";
        description = ''
          This machine's Syncthing key (runtime path); with `certFile` it fixes the device id
          that hosts/<name>/syncthing-device-id publishes to the other hosts.
        '';
      };
      certFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/home/me/fleet/secrets/syncthing/cert.pem";
        description = "This machine's Syncthing certificate (runtime path).";
      };
      folderPath = mkOption {
        type = types.nullOr types.str;
        default = if home == null then null else "${home}/Sync";
        defaultText = literalExpression ''"<home of user>/Sync", or null without a user'';
        description = ''
          A folder shared with every other host of the fleet (Syncthing folder id `fleet`).
          `null`: none.
        '';
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        (common.notInStore "services.atuin-bootstrap.client.tokenFile" cfg.tokenFile)
        (common.notInStore "services.atuin-bootstrap.client.tailscale.authKeyFile" cfg.tailscale.authKeyFile)
        (common.notInStore "services.atuin-bootstrap.client.syncthing.keyFile" cfg.syncthing.keyFile)
        (common.notInStore "services.atuin-bootstrap.client.syncthing.certFile" cfg.syncthing.certFile)
      ];

      environment.systemPackages = [
        cfg.package
        pkgs.atuin
      ];
      environment.variables.ATUIN_SYNC_ADDRESS = mkIf (cfg.atuinSyncAddress != null) (
        mkDefault cfg.atuinSyncAddress
      );

      # Tailscale: on, joining with the auth key when one is given.
      services.tailscale.enable = mkDefault true;
      services.tailscale.authKeyFile = mkIf (cfg.tailscale.authKeyFile != null) (
        mkDefault cfg.tailscale.authKeyFile
      );

      # Syncthing: on, as the machine's user, knowing every other host of the fleet. Every
      # field of each device and of the shared folder is a default, so a host file can change
      # one (services.syncthing.settings.devices.<host>.addresses = …), replace a whole entry
      # (… = lib.mkForce { … }) or add its own, without forking this module.
      services.syncthing = {
        enable = mkDefault true;
        user = mkIf (cfg.user != null) (mkDefault cfg.user);
        group = mkIf (cfg.user != null) (mkDefault "users");
        dataDir = mkIf (home != null) (mkDefault home);
        key = mkIf (cfg.syncthing.keyFile != null) (mkDefault cfg.syncthing.keyFile);
        cert = mkIf (cfg.syncthing.certFile != null) (mkDefault cfg.syncthing.certFile);
        settings.devices = mapAttrs (_: defaults) devices;
        settings.folders = mkIf (cfg.syncthing.folderPath != null && devices != { }) {
          fleet = defaults {
            id = "fleet";
            label = "Fleet";
            path = cfg.syncthing.folderPath;
            devices = lib.attrNames devices;
          };
        };
      };
      # Syncthing's sync (TCP and QUIC) and local discovery ports, on the tailnet only.
      networking.firewall.interfaces = mkIf (config.services.syncthing.enable && cfg.tailscale.interface != null) {
        ${cfg.tailscale.interface} = {
          allowedTCPPorts = [ 22000 ];
          allowedUDPPorts = [
            22000
            21027
          ];
        };
      };
    }

    # The box itself builds and serves; its clients are configured by the server module
    # (its /etc/atuin-bootstrap/config.toml), and it has no use for its own cache.
    (mkIf (!serverHere) {
      nix.settings = mkIf cacheOn (
        common.substituterSettings {
          inherit (cfg) serverUrl publicKey;
        }
        // lib.optionalAttrs (cfg.publishedCacheUrl != null) {
          extra-substituters = [
            cfg.serverUrl
            cfg.publishedCacheUrl
          ];
        }
      );
      environment.etc."atuin-bootstrap/config.toml".text = common.clientConfig {
        server = cfg.serverUrl;
        inherit (cfg) tokenFile;
        deploy = if cfg.deploy.enable then deploySettings else null;
      };
    })

    # On the box its own configuration file (the server module's) carries [deploy].
    (mkIf (serverHere && cfg.deploy.enable) {
      services.atuin-bootstrap.server.settings.deploy = deploySettings;
    })

    # Written while the box could not be reached: said at every rebuild until the key is set.
    (mkIf (cfg.publicKey == null && !serverHere && (cfg.useCache || cfg.deploy.enable)) {
      warnings = [
        ''
          services.atuin-bootstrap.client.publicKey is not set, so this machine does not use
          the build box's cache${lib.optionalString cfg.deploy.enable " and cannot deploy its builds"} yet. Run
          `atuin-bootstrap cache public-key` on the box and set publicKey to what it prints
          (bootstrap-new-machine does it when the box answers).
        ''
      ];
    })

    (mkIf cfg.deploy.enable {
      warnings = lib.optional (cfg.tokenFile == null) ''
        services.atuin-bootstrap.client.deploy is on without
        services.atuin-bootstrap.client.tokenFile: once the box has an API token it refuses
        this host's deploy reports; give a token with the report scope.
      '';

      # The deploy downloads the box's builds, signed by its key: trusted even with useCache
      # off (then the box is no substituter for rebuilds, only the deploy's source).
      nix.settings.extra-trusted-public-keys = mkIf (!serverHere && cfg.publicKey != null) [
        cfg.publicKey
      ];

      # The checks travel with the system: the agent reads them from the new system's
      # etc/atuin-bootstrap/health-checks.json before it switches to it.
      environment.etc."atuin-bootstrap/health-checks.json".text = builtins.toJSON cfg.deploy.healthChecks;

      # The settings come from /etc/atuin-bootstrap/config.toml ([client] and [deploy]), the
      # same file `sudo atuin-bootstrap deploy --dry-run` reads by hand.
      systemd.services.atuin-bootstrap-deploy = {
        description = "atuin-bootstrap deploy: this host follows the build box's newest build";
        wantedBy = [ "multi-user.target" ];
        wants = [
          "network-online.target"
          "nix-daemon.socket"
        ];
        after = [
          "network-online.target"
          "nix-daemon.socket"
        ];
        # nix to download and set the profile, sh for shell health checks, systemd for
        # systemd-run (the activation) and `systemctl is-active`. NixOS adds coreutils,
        # findutils, grep, sed and systemd to every unit; http, tcp and unit checks are built
        # into the agent and need nothing here.
        path = [
          config.nix.package
          pkgs.bash
          pkgs.coreutils
          config.systemd.package
        ];
        # If activation restarted or stopped this unit, the deploy would stop itself halfway
        # through a switch (and could not roll back): the unit is left running across
        # switches, and across its own removal. A new unit definition takes effect when the
        # process next starts (Restart below).
        restartIfChanged = false;
        stopIfChanged = false;
        unitConfig.X-StopOnRemoval = false;
        serviceConfig = {
          ExecStart = "${cfg.package}/bin/atuin-bootstrap --config /etc/atuin-bootstrap/config.toml deploy --watch";
          Restart = "always";
          RestartSec = "10s";
          # A stop, restart, crash or OOM kill of the agent ends the agent alone. The
          # activation runs as a transient unit (`systemd-run`, as nixos-rebuild does) in its
          # own cgroup, so it would survive any kill mode; `process` also keeps a child the
          # agent started directly (a download, or the activation where systemd-run cannot
          # be used) alive, and the agent that starts next finishes or rolls back from its
          # note on disk.
          KillMode = "process";
        };
      };
    })

    # The fleet's aliases (the terminal module sets the same ones when it is on).
    (mkIf (!terminalHere) {
      environment.shellAliases = mapAttrs (_: mkDefault) (
        import ./aliases.nix { fleetFlake = cfg.fleet.flake; }
      );
    })
  ]);
}
