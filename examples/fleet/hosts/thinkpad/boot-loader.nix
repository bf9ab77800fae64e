# This machine's boot loader, written by bootstrap-new-machine:
# systemd-boot, as the machine boots through EFI.
# hardware-configuration.nix (nixos-generate-config) leaves the boot loader out, and NixOS
# refuses a host without one. Change it here if the machine boots otherwise.
{
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
}
