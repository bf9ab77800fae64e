# NixOS-WSL's module (nix-community/NixOS-WSL, modules/wsl-distro.nix), as far as it matters
# for whether a host builds: WSL brings its own kernel and boot loader, so NixOS-WSL turns off
# the initrd (and with it the root file system check) and GRUB, and makes the default user.
{ config, lib, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  cfg = config.wsl;
in
{
  options.wsl = {
    enable = lib.mkEnableOption "support for running NixOS as a WSL distribution";
    defaultUser = mkOption {
      type = types.str;
      default = "nixos";
    };
    useWindowsDriver = lib.mkEnableOption "OpenGL driver from the Windows host";
  };

  config = mkIf cfg.enable {
    boot = {
      initrd.enable = false;
      kernel.enable = false;
      loader.grub.enable = false;
      modprobeConfig.enable = false;
    };
    console.enable = false;
    networking.dhcpcd.enable = false;
    users.users.${cfg.defaultUser} = {
      isNormalUser = true;
      uid = mkDefault 1000;
      extraGroups = [ "wheel" ];
    };
    users.users.root.extraGroups = [ "root" ];
    powerManagement.enable = false;
    security.sudo.wheelNeedsPassword = mkDefault false;
  };
}
