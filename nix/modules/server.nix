# services.atuin-bootstrap.server: the fleet's build box — `atuin-bootstrap serve` (build
# server and signed binary cache, one port) and the Atuin sync server, both reachable over
# Tailscale only.
{
  config,
  lib,
  options,
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
  inherit (common) abLib;

  cfg = config.services.atuin-bootstrap.server;
  clientCfg = config.services.atuin-bootstrap.client or { enable = false; };

  stateDir = "/var/lib/atuin-bootstrap";
  # systemd hands the secrets to the service here (LoadCredential=, below).
  credentialsDir = "/run/credentials/atuin-bootstrap.service";

  # The port of server.listen ("0.0.0.0:8780", "[::]:8780").
  listenPort = lib.toInt (lib.last (lib.splitString ":" cfg.settings.server.listen));

  # A value the server's config accepts: text, a whole number, a list of text (and true/false
  # for keys to come); null leaves the key out of the file.
  valueType = types.nullOr (
    types.oneOf [
      types.bool
      types.int
      types.str
      (types.listOf types.str)
    ]
  );
  sectionOptions = options: types.submodule {
    freeformType = types.attrsOf valueType;
    inherit options;
  };
  section = description: options: mkOption {
    type = sectionOptions options;
    default = { };
    inherit description;
  };
  duration = common.durationType;

  # The secret files are read by systemd (as root, before the service starts) and handed to
  # the service as credentials, so they may live anywhere — in an admin's home directory,
  # mode 0600 — while the service itself runs unprivileged with ProtectHome. The config file
  # the service reads names the credentials.
  keyCredentials = lib.imap0 (i: file: {
    name = "cache-key-${toString i}";
    inherit file;
  }) cfg.settings.cache.secret_key_files;
  webhookCredential = lib.optional (cfg.settings.repo.webhook_secret_file != null) {
    name = "webhook-secret";
    file = cfg.settings.repo.webhook_secret_file;
  };
  credentials = keyCredentials ++ webhookCredential;
  credentialPath = c: "${credentialsDir}/${c.name}";

  serviceSettings = lib.recursiveUpdate cfg.settings {
    cache.secret_key_files = map credentialPath keyCredentials;
    repo.webhook_secret_file =
      if webhookCredential == [ ] then null else credentialPath (lib.head webhookCredential);
  };

  # The file the service runs with, and the one admins' commands read (below): same settings,
  # except that the service's names the credentials and the admins' the original files.
  serviceConfigFile = pkgs.writeText "atuin-bootstrap-server.toml" (
    abLib.renderServerConfig serviceSettings
  );
  adminConfigFile = pkgs.writeText "atuin-bootstrap.toml" (abLib.renderServerConfig cfg.settings);
  adminConfigPath = "/etc/atuin-bootstrap/config.toml";

  # A repository path (also as a file:// URL) inside a home directory: the one of
  # /home, /root and /run/user it is under, else null. The service cannot read those.
  repoInHome =
    let
      url = cfg.settings.repo.url;
      path = lib.removePrefix "file://" (lib.removePrefix "git+" url);
      under = dir: path == dir || lib.hasPrefix "${dir}/" path;
      homes = lib.filter under [ "/home" "/root" "/run/user" ];
    in
    if url == null || homes == [ ] then null else lib.head homes;
  serviceConfig = config.systemd.services.atuin-bootstrap.serviceConfig;

  # One remote builder: the fields of nix.buildMachines, with the ssh key as a runtime path.
  builderModule = {
    options = {
      hostName = mkOption {
        type = types.str;
        example = "pi.tailnet.example";
        description = "The builder's host name or address (as ssh reaches it).";
      };
      protocol = mkOption {
        type = types.enum [
          "ssh"
          "ssh-ng"
        ];
        default = "ssh-ng";
        description = ''
          `ssh-ng` (Nix's newer protocol: the builder's log comes back line by line) or `ssh`
          (older Nix on the builder).
        '';
      };
      system = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "aarch64-linux";
        description = "The one system the builder builds for (wins over `systems`).";
      };
      systems = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [
          "aarch64-linux"
          "armv7l-linux"
        ];
        description = "The systems the builder builds for; this or `system` must be set.";
      };
      sshUser = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "nixremote";
        description = ''
          The user to log in as, a trusted user of the builder's Nix
          (`nix.settings.trusted-users` there). Set it: with `null` ssh picks the local
          user's name, root for the daemon's builds but `atuin-bootstrap` for the server's
          probe.
        '';
      };
      sshKey = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/var/lib/atuin-bootstrap/.ssh/builder_ed25519";
        description = ''
          The private key (no passphrase) to log in with, as a runtime path — never a Nix
          path, which would copy it into the world-readable store (refused). The
          nix-daemon (root) builds with it and the server probes with it as its own user,
          which cannot read /root or /home: keep it under the server's state directory,
          owned by `atuin-bootstrap`, mode 0600 (root reads it too). `null`: root's ssh
          configuration.
        '';
      };
      publicHostKey = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUhz…";
        description = ''
          The builder's ssh host key, base64 (`base64 -w0 /etc/ssh/ssh_host_ed25519_key.pub`
          on the builder), so root and the server trust it without a known_hosts entry.
        '';
      };
      maxJobs = mkOption {
        type = types.ints.positive;
        default = 1;
        description = "Builds the machine runs at once.";
      };
      speedFactor = mkOption {
        type = types.ints.positive;
        default = 1;
        description = "How much faster it is than the others (Nix prefers faster builders).";
      };
      supportedFeatures = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [
          "big-parallel"
          "kvm"
        ];
        description = "System features the builder offers (`requiredSystemFeatures`).";
      };
      mandatoryFeatures = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "big-parallel" ];
        description = "Features a derivation must ask for to be built there.";
      };
    };
  };
  asBuildMachine = b: {
    inherit (b)
      hostName
      protocol
      system
      systems
      sshUser
      sshKey
      publicHostKey
      maxJobs
      speedFactor
      supportedFeatures
      mandatoryFeatures
      ;
  };
  # The machine's own system, from the package set (modules must not read nixpkgs.*).
  ownSystem = pkgs.stdenv.hostPlatform.system;
  # NixOS asserts (a bare `assert`, before any assertion message) that no emulated system is
  # the machine's own: only the others reach it, and our assertion below names the mistake.
  emulated = lib.filter (s: s != ownSystem) cfg.emulatedSystems;
  builderSystems = lib.concatMap (b: if b.system != null then [ b.system ] else b.systems) cfg.builders;
  # Emulated systems a remote builder also builds: with them in Nix's extra-platforms the
  # box would build them itself under QEMU instead of handing them to the (faster) builder.
  builtElsewhere = lib.filter (s: lib.elem s builderSystems) emulated;
  # NixOS-WSL: any binfmt registration without re-registering WSLInterop breaks running .exe
  # files from WSL (NixOS-WSL warns so); only a host that imports NixOS-WSL has the option.
  onWsl = options ? wsl.interop.register && (config.wsl.enable or false);
in
{
  options.services.atuin-bootstrap.server = {
    enable = mkEnableOption ''
      the atuin-bootstrap build server and binary cache (`atuin-bootstrap serve`): it watches
      the fleet flake, builds every host on each new commit and serves the Nix store as a
      signed binary cache; with the Atuin sync server next to it'';

    package = mkOption {
      type = types.package;
      default = common.defaultPackage pkgs;
      defaultText = common.defaultPackageText;
      description = "The atuin-bootstrap package the service runs.";
    };

    settings = mkOption {
      description = ''
        The server's configuration, written to its `config.toml` (sections `server`, `cache`,
        `repo`, `build`, `client` and `notify`; see docs/reference.md and `examples/server-config.toml`).
        The keys below are typed; any other key of the file may be set too (it is passed
        through as it is, and the server refuses keys it does not know). `null` leaves a key
        out. Secret files are runtime paths as strings, never Nix paths.
      '';
      default = { };
      example = literalExpression ''
        {
          repo.url = "https://git.example.org/me/fleet.git";
          repo.webhook_secret_file = "/var/lib/atuin-bootstrap/secrets/webhook-secret";
          cache.compression = "zstd";
          build.default_targets = [ "laptop" "desktop" ];
        }
      '';
      type = types.submodule {
        freeformType = types.attrsOf (types.attrsOf valueType);
        options = {
          server = section "The `[server]` section." {
            listen = mkOption {
              type = types.str;
              default = "0.0.0.0:8780";
              example = "127.0.0.1:8780";
              description = ''
                Address and port of the API and the binary cache. All addresses by default:
                the firewall opens the port on the Tailscale interface only (see
                `openFirewall`).
              '';
            };
            state_dir = mkOption {
              type = types.str;
              default = stateDir;
              readOnly = true;
              description = ''
                The server's state: job history, logs, GC roots, tokens, the repository
                mirror and the generated cache key. Fixed to systemd's StateDirectory.
              '';
            };
          };

          cache = section "The `[cache]` section." {
            secret_key_files = mkOption {
              type = types.listOf types.str;
              default = [ ];
              example = [ "/var/lib/atuin-bootstrap/secrets/cache-key.sec" ];
              description = ''
                Secret keys to sign the cache with (Nix's format: `nix key generate-secret`,
                `atuin-bootstrap cache generate-key NAME FILE`), as runtime paths. Empty: the
                server generates a key in its state directory on first start.

                systemd reads each file as root and hands it to the service as a credential
                (`LoadCredential=`), so the files may be owned by root or an admin, mode 0600,
                anywhere (also under /home). Never a Nix path: that would copy the secret
                into the world-readable store (a store path is refused).
              '';
            };
            priority = mkOption {
              type = types.ints.unsigned;
              default = 30;
              description = "Priority in /nix-cache-info (lower wins; cache.nixos.org is 40).";
            };
            compression = mkOption {
              type = types.enum [
                "none"
                "zstd"
              ];
              default = "none";
              description = ''
                `none` (fastest on a LAN or a tailnet) or `zstd` (NARs compressed on the fly,
                for machines on slow links).
              '';
            };
          };

          repo = section "The `[repo]` section." {
            url = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "https://git.example.org/me/fleet.git";
              description = ''
                The fleet flake to watch and build: a git URL (https, ssh) or a local path
                the service can read — never a checkout under /home, /root or /run/user
                (refused): the service runs as its own user with systemd's ProtectHome.
                `null`: no repository is watched (cache only). For ssh, the service's key is
                `${stateDir}/.ssh/` (its home directory).
              '';
            };
            branch = mkOption {
              type = types.str;
              default = "main";
              description = "The branch to watch and build.";
            };
            poll_interval = mkOption {
              type = duration;
              default = "60s";
              example = "5m";
              description = ''How often to fetch: "90s", "5m", "1h", or a number of seconds.'';
            };
            webhook_secret_file = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "/var/lib/atuin-bootstrap/secrets/webhook-secret";
              description = ''
                File holding the shared secret of the webhook endpoints
                (`/api/v1/webhooks/{github,forgejo}`, HMAC-SHA256), as a runtime path; `null`
                turns webhooks off. Handed to the service as a credential like the cache keys.
              '';
            };
          };

          build = section "The `[build]` section." {
            max_parallel_jobs = mkOption {
              type = types.ints.positive;
              default = 1;
              description = "Jobs built at the same time.";
            };
            default_targets = mkOption {
              type = types.listOf types.str;
              default = [ ];
              example = [
                "laptop"
                "packages.x86_64-linux.hello"
              ];
              description = ''
                Targets of a job that names none; empty: every host in nixosConfigurations.
              '';
            };
            keep_per_target = mkOption {
              type = types.ints.positive;
              default = 5;
              description = ''
                Successful builds per target kept alive against Nix's garbage collector.
              '';
            };
          };

          client = section ''
            The `[client]` section, for `bt`, `bs`, `bl` and `token` run on the box itself
            (admins' shells get this file through ATUIN_BOOTSTRAP_CONFIG).
          '' {
            server = mkOption {
              type = types.nullOr types.str;
              default = "http://127.0.0.1:${toString listenPort}";
              defaultText = literalExpression ''"http://127.0.0.1:''${port of settings.server.listen}"'';
              description = "The server as the box's own clients reach it.";
            };
            token_file = mkOption {
              type = types.nullOr types.str;
              default = if clientCfg.enable then clientCfg.tokenFile else null;
              defaultText = literalExpression "config.services.atuin-bootstrap.client.tokenFile (when the client is enabled)";
              description = "API token file (a runtime path) for `bt` and `cancel` on the box.";
            };
          };

          notify = section "The `[notify]` section: alerts." {
            url = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "https://ntfy.sh/my-fleet";
              description = ''
                Where alerts are POSTed; `null` (or empty): no alerts. Links in them name the
                box by `client.server` when that is not a loopback address, else by its host
                name and port.
              '';
            };
            format = mkOption {
              type = types.enum [
                "json"
                "ntfy"
              ];
              default = "json";
              description = ''
                `json` (`{"event", "message", "job", "host", "url"}`) or `ntfy` (the message
                as plain text with Title, Tags, Priority and Click headers).
              '';
            };
            on = mkOption {
              type = types.listOf (
                types.enum [
                  "job_failed"
                  "job_recovered"
                  "host_rolled_back"
                ]
              );
              default = [
                "job_failed"
                "job_recovered"
                "host_rolled_back"
              ];
              description = "The events that are alerted.";
            };
          };
        };
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Open the server's port (and Atuin's, when enabled) on the Tailscale interface only;
        every other interface stays closed. To reach the box from a LAN without Tailscale, add
        the port to `networking.firewall.allowedTCPPorts` yourself.
      '';
    };

    publicKey = mkOption {
      type = types.nullOr common.publicKeyType;
      default = if clientCfg.enable then clientCfg.publicKey else null;
      defaultText = literalExpression "config.services.atuin-bootstrap.client.publicKey (when the client is enabled), else null";
      example = "buildbox-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=";
      description = ''
        The box's own cache key, as `atuin-bootstrap cache public-key` prints it on the box,
        added to the box's `nix.settings.extra-trusted-public-keys`. Needed to accept uploads
        (`nix copy --to http://box:8780`, `atuin-bootstrap push`): the server is an ordinary
        Nix user, so it hands each checked upload to the nix-daemon signed with this key, and
        the daemon takes it only when it trusts the key. `null`: uploads are checked but the
        daemon refuses them (the server's log says so).
      '';
    };

    tailscaleInterface = mkOption {
      type = types.nullOr types.str;
      default = common.tailscaleInterface config;
      defaultText = common.tailscaleInterfaceText;
      example = "ts-fleet";
      description = ''
        The Tailscale network interface the ports are opened on: the one Tailscale uses
        (`services.tailscale.interfaceName`, `tailscale0` unless renamed). `null` opens
        nothing, the default with `interfaceName = "userspace-networking"`: there is no
        interface then, and tailscaled hands tailnet connections to the server over loopback,
        which the firewall always accepts.
      '';
    };

    builders = mkOption {
      type = types.listOf (types.submodule builderModule);
      default = [ ];
      example = literalExpression ''
        [
          {
            hostName = "pi.tailnet.example";
            systems = [ "aarch64-linux" ];
            sshUser = "nixremote";
            sshKey = "/var/lib/atuin-bootstrap/.ssh/builder_ed25519";
            publicHostKey = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUhz…";
            maxJobs = 4;
            supportedFeatures = [ "big-parallel" ];
          }
        ]
      '';
      description = ''
        Remote builders for the box's builds, in `nix.buildMachines`' form: Nix's own
        distributed builds (the server has no worker protocol of its own). Each machine
        becomes a `nix.buildMachines` entry, and a non-empty list also turns on
        `nix.distributedBuilds` and `nix.settings.builders-use-substitutes` (the builder
        fetches what a cache has instead of getting it from the box). The nix-daemon (root)
        does the building; the server lists the machines in its status and probes them as
        its own user. A job for a system only a builder has (`bt --system aarch64-linux`, an
        `aarch64-linux` host) goes there.
      '';
    };

    emulatedSystems = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "aarch64-linux" ];
      description = ''
        Systems the box builds for itself under QEMU user emulation:
        `boot.binfmt.emulatedSystems` (which also adds them to Nix's `extra-platforms`).
        Slow but needs no other machine; a remote builder of that system is faster. Never the
        box's own system. The kernel needs binfmt_misc (NixOS has it; WSL2's kernel too).

        A system a remote builder (`builders`) also builds is kept out of Nix's
        `extra-platforms` (`boot.binfmt.addEmulatedSystemsToNixSandbox = false`), so Nix
        hands it to the builder instead of building it here under QEMU; binaries of it still
        run here. On NixOS-WSL it also sets `wsl.interop.register`, which keeps Windows
        `.exe` files running next to the QEMU registrations.
      '';
    };

    atuin = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Run the Atuin sync server (`services.atuin`) on the box too, on port
          `services.atuin.port` (8888), with its database in SQLite under /var/lib/atuin.
        '';
      };
      openRegistration = mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = ''
          Let anyone who reaches the Atuin server register an account. Open it for the first
          account (`bootstrap-new-machine --atuin-register`), then close it again.
        '';
      };
    };
  };

  config = mkIf cfg.enable (lib.mkMerge [
    {
      assertions =
        map (common.notInStore "services.atuin-bootstrap.server.settings.cache.secret_key_files")
          cfg.settings.cache.secret_key_files
        ++ [
          (common.notInStore "services.atuin-bootstrap.server.settings.repo.webhook_secret_file" cfg.settings.repo.webhook_secret_file)
          (common.notInStore "services.atuin-bootstrap.server.settings.client.token_file" cfg.settings.client.token_file)
        ]
        ++ map (b: common.notInStore "services.atuin-bootstrap.server.builders.*.sshKey" b.sshKey) cfg.builders
        ++ [
          {
            assertion = repoInHome == null || serviceConfig.ProtectHome == false;
            message = ''
              services.atuin-bootstrap.server.settings.repo.url = "${cfg.settings.repo.url}" is
              under ${repoInHome}, which the build server cannot read: it runs as its own user
              with systemd's ProtectHome, and home directories are private. Give it a URL it can
              fetch: the fleet's git remote (https://…, ssh://…, git@host:…), or a bare
              repository outside the home directories that you push to (e.g. /srv/fleet.git,
              readable by the atuin-bootstrap user).
            '';
          }
          {
            assertion = lib.all (b: b.system != null || b.systems != [ ]) cfg.builders;
            message = ''
              services.atuin-bootstrap.server.builders: every builder needs `system` or
              `systems` (the systems it builds for); missing on: ${
                lib.concatMapStringsSep ", " (b: b.hostName) (
                  lib.filter (b: b.system == null && b.systems == [ ]) cfg.builders
                )
              }.
            '';
          }
          {
            assertion = !(lib.elem ownSystem cfg.emulatedSystems);
            message = ''
              services.atuin-bootstrap.server.emulatedSystems names ${ownSystem}, this machine's
              own system, which it builds natively; list only other systems.
            '';
          }
          {
            assertion = (cfg.settings.client.token or null) == null;
            message = ''
              services.atuin-bootstrap.server.settings.client.token would be written into the
              world-readable Nix store; use settings.client.token_file (a runtime path) instead.
            '';
          }
        ];

      users.users.atuin-bootstrap = {
        isSystemUser = true;
        group = "atuin-bootstrap";
        home = stateDir;
        description = "atuin-bootstrap build server";
      };
      users.groups.atuin-bootstrap = { };

      systemd.services.atuin-bootstrap = {
        description = "atuin-bootstrap build server and binary cache";
        wantedBy = [ "multi-user.target" ];
        wants = [
          "network-online.target"
          "nix-daemon.socket"
        ];
        after = [
          "network-online.target"
          "nix-daemon.socket"
        ];
        # nix for the builds and the store, git for Nix's git fetcher (the mirror is read as
        # git+file://), ssh for ssh:// repository URLs.
        path = [
          config.nix.package
          pkgs.git
          pkgs.openssh
        ];
        environment = {
          # Everything goes through the nix-daemon as an ordinary, untrusted user: builds,
          # GC roots, store queries. nix.settings.trusted-users is not widened.
          NIX_REMOTE = "daemon";
          HOME = stateDir;
        };
        serviceConfig = {
          ExecStart = "${cfg.package}/bin/atuin-bootstrap --config ${serviceConfigFile} serve";
          User = "atuin-bootstrap";
          Group = "atuin-bootstrap";
          StateDirectory = "atuin-bootstrap";
          StateDirectoryMode = "0750";
          WorkingDirectory = stateDir;
          LoadCredential = map (c: "${c.name}:${c.file}") credentials;
          Restart = "on-failure";
          RestartSec = "5s";

          # Hardening. The service writes only its state directory; it reaches the store
          # through the nix-daemon's socket (AF_UNIX), so it needs no privilege at all.
          ReadWritePaths = [ stateDir ];
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          NoNewPrivileges = true;
          CapabilityBoundingSet = "";
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_INET"
            "AF_INET6"
          ];
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          RemoveIPC = true;
          SystemCallArchitectures = "native";
          SystemCallFilter = [ "@system-service" ];
          SystemCallErrorNumber = "EPERM";
          UMask = "0077";
        };
      };

      # Admins' commands on the box (`token create`, `cache public-key`, `gc`, and `bt`/`bs`
      # through the [client] section) read the server's own configuration, so they reach its
      # state directory: through ATUIN_BOOTSTRAP_CONFIG in login shells, and through the
      # /etc file, the last place looked, under sudo (which drops that variable). Writing to
      # the state needs root: `sudo atuin-bootstrap token create NAME` (files it creates are
      # handed to the service's user).
      environment.etc."atuin-bootstrap/config.toml".source = adminConfigFile;
      environment.variables.ATUIN_BOOTSTRAP_CONFIG = adminConfigPath;
      environment.systemPackages = [ cfg.package ];

      # Pushed paths come in signed with the box's key, which the box's own Nix must trust.
      nix.settings.extra-trusted-public-keys = lib.optional (cfg.publicKey != null) cfg.publicKey;

      # Reachable over the tailnet only.
      networking.firewall.interfaces = mkIf (cfg.openFirewall && cfg.tailscaleInterface != null) {
        ${cfg.tailscaleInterface}.allowedTCPPorts =
          [ listenPort ] ++ lib.optional cfg.atuin.enable config.services.atuin.port;
      };

      # Keep the box's disk in check. The server's GC roots (<state_dir>/gcroots/<target>/<job>)
      # are indirect roots registered with the nix-daemon, so Nix's collector keeps every build
      # the server still wants (the newest build.keep_per_target per target); the server lets
      # the older ones go itself. --delete-older-than only prunes old profile generations.
      nix.gc = {
        automatic = mkDefault true;
        options = mkDefault "--delete-older-than 30d";
      };

      # Nix's own distributed builds: the nix-daemon hands derivations to these machines
      # (/etc/nix/machines); the server reads the same list for its status.
      nix.buildMachines = map asBuildMachine cfg.builders;
      nix.distributedBuilds = mkIf (cfg.builders != [ ]) (mkDefault true);
      nix.settings.builders-use-substitutes = mkIf (cfg.builders != [ ]) (mkDefault true);
      # QEMU user emulation; NixOS adds these systems to Nix's extra-platforms itself, unless a
      # builder builds one of them (nixpkgs: "disable this to use remote builders").
      boot.binfmt.emulatedSystems = emulated;
      boot.binfmt.addEmulatedSystemsToNixSandbox = mkIf (builtElsewhere != [ ]) (mkDefault false);

      # The Atuin sync server, on the same box: SQLite, no PostgreSQL to run.
      services.atuin = mkIf cfg.atuin.enable {
        enable = true;
        host = mkDefault "0.0.0.0";
        port = mkDefault 8888;
        openRegistration = cfg.atuin.openRegistration;
        database.createLocally = mkDefault false;
        database.uri = mkDefault "sqlite:///var/lib/atuin/atuin.db";
      };
      # The upstream unit runs with DynamicUser (a read-only file system but for its state
      # directory): give it one for the SQLite database.
      systemd.services.atuin.serviceConfig.StateDirectory = mkIf cfg.atuin.enable "atuin";
    }

    # Declared only when NixOS-WSL is imported: a definition of an option that does not exist
    # fails even under mkIf false.
    (lib.optionalAttrs (options ? wsl.interop.register) {
      wsl.interop.register = mkIf (onWsl && emulated != [ ]) (mkDefault true);
    })
  ]);
}
