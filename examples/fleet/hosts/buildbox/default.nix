# Host "buildbox" from the wsl profile: NixOS-WSL on a Windows PC as the fleet's build box
# (build server, binary cache and Atuin sync server), written by bootstrap-new-machine.
# Placeholders are plain strings, so this file parses as it is; secrets are runtime paths
# ("/home/me/fleet/secrets/…"), never Nix path literals.
#
# WSL notes:
# - Windows stops an idle WSL VM, and the box with it: in %UserProfile%\.wslconfig put
#   [wsl2]
#   vmIdleTimeout=-1
#   and start the distribution at logon (Task Scheduler: `wsl -d NixOS --exec true`).
# - There is no NixOS firewall here: Windows' firewall and Tailscale decide who gets in.
{ lib, inputs, ... }:
{
  imports = [ inputs.nixos-wsl.nixosModules.default ];

  wsl.enable = true;
  wsl.defaultUser = "me";

  networking.hostName = "buildbox";
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  # The NixOS release this machine was first installed with (bootstrap-new-machine reads it
  # from nixos-version there; elsewhere the newest release it knows): keep it, even after
  # upgrades — it is not the release the machine runs.
  system.stateVersion = lib.mkDefault "25.05";
  networking.firewall.enable = false;

  services.atuin-bootstrap.server = {
    enable = true;
    # The fleet repository the box builds: a URL its service can fetch (a git remote, or a
    # bare repository outside /home: the service runs as its own user, without access to
    # home directories).
    settings.repo.url = "https://git.example.org/me/fleet.git";
    settings.repo.webhook_secret_file = "/home/me/fleet/secrets/webhook-secret";
    # The first machine opens Atuin registration once, makes the account, then closes it.
    atuin.openRegistration = false;
    # Builds for other systems (an ARM laptop, a Raspberry Pi) or too big for this VM: Nix's
    # own remote builders. The key is a runtime path both root (the nix-daemon builds) and
    # the service (its status probe) can read: owned by atuin-bootstrap, mode 0600.
    # builders = [
    #   {
    #     hostName = "pi.tailnet.example";
    #     systems = [ "aarch64-linux" ];
    #     sshUser = "nixremote";
    #     sshKey = "/var/lib/atuin-bootstrap/.ssh/builder_ed25519";
    #     maxJobs = 4;
    #   }
    # ];
    # Or build them here, slowly, under QEMU emulation (binfmt_misc; WSL2's kernel has it).
    # emulatedSystems = [ "aarch64-linux" ];
  };

  services.atuin-bootstrap.client = {
    enable = true;
    serverUrl = "http://buildbox:8780";
    # The box's cache key, as `atuin-bootstrap cache public-key` prints it on the box
    # (bootstrap-new-machine writes it when the box answers). While it is unset this machine
    # does not use the box's cache, and a warning at every rebuild says so.
    publicKey = "buildbox-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=";
    atuinSyncAddress = "http://buildbox:8888";
    user = "me";
    fleet.flake = "/home/me/fleet";
    tailscale.authKeyFile = "/home/me/fleet/secrets/tailscale-auth-key";
    syncthing.keyFile = "/home/me/fleet/secrets/syncthing/key.pem";
    syncthing.certFile = "/home/me/fleet/secrets/syncthing/cert.pem";
    # Follow the box: switch to each new build of this host it finishes, and roll back when
    # activation or a health check fails (`atuin-bootstrap deploy --watch`, as root). The
    # box takes its reports with an API token that has the report scope, e.g.
    # tokenFile = "/home/me/fleet/secrets/atuin-bootstrap-token";
    # deploy.enable = true;
    # deploy.healthChecks = [ "unit:atuin-bootstrap.service" "http://127.0.0.1:8780/nix-cache-info" ];
  };
}
