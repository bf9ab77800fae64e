# STUB — replace it with this machine's own hardware configuration. On the machine, under
# NixOS, `bootstrap-new-machine` writes it (or run `nixos-generate-config
# --show-hardware-config > hosts/thinkpad/hardware-configuration.nix`). This stand-in only
# makes the example fleet a complete system the build box can build: a root file system and
# an EFI system partition labelled as the NixOS manual's installation labels them.
{ lib, modulesPath, ... }:
{
  imports = [ (modulesPath + "/installer/scan/not-detected.nix") ];

  boot.initrd.availableKernelModules = [ "xhci_pci" "nvme" "usb_storage" "sd_mod" ];
  boot.kernelModules = [ "kvm-intel" ];

  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/boot";
    fsType = "vfat";
    options = [ "fmask=0077" "dmask=0077" ];
  };
  swapDevices = [ ];

  networking.useDHCP = lib.mkDefault true;
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
}
