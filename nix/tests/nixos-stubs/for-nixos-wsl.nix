# The NixOS options NixOS-WSL's real modules set or read that the other stand-ins do not
# declare (graphics, mounts, activation scripts, name resolution, its shell plumbing), with
# NixOS's types where cheap and NixOS's defaults where NixOS-WSL reads them (its warnings read
# services.resolved.enable, networking.nameservers and networking.extraHosts). Only imported with NixOS-WSL: the
# wsl.* options, warnings and assertions are NixOS-WSL's own.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
  lines = mkOption {
    type = types.lines;
    default = "";
  };
in
{
  options = {
    # nixos/modules/system/activation/top-level.nix, activation-script.nix, version.nix
    system.build = mkOption {
      type = types.lazyAttrsOf types.unspecified;
      default = { };
    };
    system.activationScripts = mkOption {
      type = types.attrsOf types.unspecified;
      default = { };
    };
    system.nixos.release = mkOption {
      type = types.str;
      default = "26.05";
    };
    # nixos/modules/config/shells-environment.nix
    environment.extraInit = lines;
    # nixos/modules/hardware/graphics.nix
    hardware.graphics = {
      enable = bool false;
      extraPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
    };
    # nixos/modules/system/boot/systemd.nix, systemd/oomd.nix
    systemd.mounts = mkOption {
      type = types.listOf types.attrs;
      default = [ ];
    };
    systemd.oomd.enable = bool true;
    systemd.user.services = mkOption {
      type = types.attrsOf types.unspecified;
      default = { };
    };
    systemd.enableEmergencyMode = bool true;
    # nixos/modules/tasks/filesystems/envfs.nix, services/system/timesyncd.nix,
    # system/boot/resolved.nix, services/hardware/udev.nix
    services.envfs = {
      enable = bool false;
      extraFallbackPathCommands = lines;
    };
    services.timesyncd.enable = bool true;
    services.resolved.enable = bool false;
    services.udev.enable = bool true;
    # nixos/modules/tasks/network-interfaces.nix, config/resolvconf.nix
    networking.nameservers = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    networking.resolvconf.enable = bool true;
    networking.extraHosts = lines;
    # nixos/modules/config/nix-channel.nix
    nix.channel.enable = bool true;
  };
}
