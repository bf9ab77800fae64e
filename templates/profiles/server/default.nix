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
  system.stateVersion = lib.mkDefault "24.11";

  services.atuin-bootstrap.client = {
    enable = true;
    serverUrl = "@serverUrl@";
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
    # deploy.healthChecks = [ "systemctl is-active --quiet sshd.service" ];
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
