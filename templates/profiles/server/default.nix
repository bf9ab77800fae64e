# Host "@hostName@" from the server profile (a headless machine), written by
# bootstrap-new-machine. Placeholders are plain strings, so this file parses as it is; secrets
# are runtime paths ("@secretsDir@/…"), never Nix path literals.
{ lib, ... }:
{
  # This machine's own files, written by bootstrap-new-machine on NixOS: its hardware
  # (nixos-generate-config --show-hardware-config) and the boot loader it boots with. NixOS
  # refuses the host without them (no root file system, no boot loader).
  imports = lib.filter builtins.pathExists [
    ./hardware-configuration.nix
    ./boot-loader.nix
  ];

  networking.hostName = "@hostName@";
  nixpkgs.hostPlatform = lib.mkDefault "@system@";
  # The NixOS release this machine was first installed with (bootstrap-new-machine reads it
  # from nixos-version there; elsewhere the newest release it knows): keep it, even after
  # upgrades — it is not the release the machine runs.
  system.stateVersion = lib.mkDefault "@stateVersion@";

  services.atuin-bootstrap.client = {
    enable = true;
    serverUrl = "@serverUrl@";
    # The box's cache key, as `atuin-bootstrap cache public-key` prints it on the box
    # (bootstrap-new-machine writes it when the box answers). While it is unset this machine
    # does not use the box's cache, and a warning at every rebuild says so.
    publicKey = "@publicKey@";
    atuinSyncAddress = "@atuinServer@";
    user = "@userName@";
    fleet.flake = "@repoDir@";
    tailscale.authKeyFile = "@tailscaleAuthKeyFile@";
    syncthing.keyFile = "@syncthingKeyFile@";
    syncthing.certFile = "@syncthingCertFile@";
    # Follow the box: switch to each new build of this host it finishes, and roll back when
    # activation or a health check fails (`atuin-bootstrap deploy --watch`, as root). The
    # box takes its reports with an API token that has the report scope, e.g.
    # tokenFile = "@secretsDir@/atuin-bootstrap-token";
    # deploy.enable = true;
    # deploy.healthChecks = [ "unit:sshd.service" "tcp:127.0.0.1:22" ];
  };

  # This machine pushes what it builds into the box's cache (`nix copy --to`,
  # `atuin-bootstrap push`): Nix authenticates with this netrc, the API token of the push
  # scope (bootstrap-new-machine --push writes it).
  nix.settings.netrc-file = "@netrcFile@";

  users.users."@userName@" = { isNormalUser = true; extraGroups = [ "wheel" ]; };

  # Headless: reachable over SSH (on the tailnet), never asleep.
  services.openssh.enable = lib.mkDefault true;
  services.openssh.settings.PasswordAuthentication = lib.mkDefault false;
  systemd.targets.sleep.enable = false;
  systemd.targets.suspend.enable = false;
  systemd.targets.hibernate.enable = false;

  # To make this machine the build box, enable the server (see the wsl profile for a full
  # example):
  # services.atuin-bootstrap.server.enable = true;
  # services.atuin-bootstrap.server.settings.repo.url = "https://…/fleet.git";
}
