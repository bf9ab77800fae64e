# The hardware options a hardware-configuration.nix from nixos-generate-config sets
# (nixos/modules/hardware/all-firmware.nix, …/hardware/cpu/{intel,amd}-microcode.nix,
# …/config/power-management.nix, …/config/console.nix, …/security/sudo.nix).
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
