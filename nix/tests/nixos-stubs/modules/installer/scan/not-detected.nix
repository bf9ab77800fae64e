# modulesPath + "/installer/scan/not-detected.nix", which every hardware-configuration.nix from
# nixos-generate-config imports: firmware for devices the scan did not recognise.
{ lib, ... }:
{
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
