# The hardware options a hardware-configuration.nix from nixos-generate-config sets.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
in
{
  options = {
    hardware.enableRedistributableFirmware = bool false;
    hardware.enableAllFirmware = bool false;
    hardware.cpu.intel.updateMicrocode = bool false;
    hardware.cpu.amd.updateMicrocode = bool false;
    powerManagement.enable = bool true;
    powerManagement.cpuFreqGovernor = mkOption {
      type = types.nullOr types.str;
      default = null;
    };
    console.enable = bool true;
    security.sudo.wheelNeedsPassword = bool true;
  };
}
