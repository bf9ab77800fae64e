# boot.*: the boot loaders and the initrd, with the assertions that make NixOS refuse a host
# that cannot boot — GRUB's (nixos/modules/system/boot/loader/grub/grub.nix: on by default,
# it needs a device), systemd-boot's (…/loader/systemd-boot/systemd-boot.nix: it turns GRUB
# off) and stage 1's root file system check (nixos/modules/system/boot/stage-1.nix).
{ config, lib, ... }:
let
  inherit (lib) mkDefault mkIf mkMerge mkOption types;
  grub = config.boot.loader.grub;
  efi = config.boot.loader.efi;

  bootDeviceCounters = lib.foldr (device: attr: attr // { ${device} = (attr.${device} or 0) + 1; }) { } (
    lib.concatMap (args: args.devices) grub.mirroredBoots
  );
in
{
  options.boot = {
    isContainer = mkOption {
      type = types.bool;
      default = false;
    };
    initrd = {
      enable = mkOption {
        type = types.bool;
        default = !config.boot.isContainer;
      };
      availableKernelModules = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      kernelModules = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      luks.devices = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.device = mkOption { type = types.str; };
          }
        );
        default = { };
      };
    };
    kernel.enable = mkOption {
      type = types.bool;
      default = true;
    };
    modprobeConfig.enable = mkOption {
      type = types.bool;
      default = true;
    };
    kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    kernelParams = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    extraModulePackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };

    loader = {
      timeout = mkOption {
        type = types.nullOr types.int;
        default = 5;
      };
      efi = {
        canTouchEfiVariables = mkOption {
          type = types.bool;
          default = false;
        };
        efiSysMountPoint = mkOption {
          type = types.str;
          default = "/boot";
        };
      };
      systemd-boot = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        configurationLimit = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        editor = mkOption {
          type = types.bool;
          default = true;
        };
      };
      grub = {
        enable = mkOption {
          type = types.bool;
          default = !config.boot.isContainer;
        };
        device = mkOption {
          type = types.str;
          default = "";
        };
        devices = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        mirroredBoots = mkOption {
          type = types.listOf (
            types.submodule {
              options = {
                path = mkOption { type = types.str; };
                efiSysMountPoint = mkOption {
                  type = types.nullOr types.str;
                  default = null;
                };
                efiBootloaderId = mkOption {
                  type = types.nullOr types.str;
                  default = null;
                };
                devices = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
              };
            }
          );
          default = [ ];
        };
        efiSupport = mkOption {
          type = types.bool;
          default = false;
        };
        efiInstallAsRemovable = mkOption {
          type = types.bool;
          default = false;
        };
        useOSProber = mkOption {
          type = types.bool;
          default = false;
        };
        configurationLimit = mkOption {
          type = types.int;
          default = 100;
        };
      };
    };
  };

  config = mkMerge [
    # grub.nix
    (mkIf grub.enable {
      boot.loader.grub.devices = lib.optional (grub.device != "") grub.device;
      boot.loader.grub.mirroredBoots = lib.optionals (grub.devices != [ ]) [
        {
          path = "/boot";
          inherit (grub) devices;
          inherit (efi) efiSysMountPoint;
        }
      ];
      assertions = [
        {
          assertion = grub.mirroredBoots != [ ];
          message =
            "You must set the option ‘boot.loader.grub.devices’ or "
            + "'boot.loader.grub.mirroredBoots' to make the system bootable.";
        }
        {
          assertion =
            grub.efiSupport
            || lib.all (c: c < 2) (lib.mapAttrsToList (n: c: if n == "nodev" then 0 else c) bootDeviceCounters);
          message = "You cannot have duplicated devices in mirroredBoots";
        }
        {
          assertion = grub.efiInstallAsRemovable -> grub.efiSupport;
          message = "If you wish to to use boot.loader.grub.efiInstallAsRemovable, then turn on boot.loader.grub.efiSupport";
        }
        {
          assertion = grub.efiInstallAsRemovable -> !efi.canTouchEfiVariables;
          message = "If you wish to to use boot.loader.grub.efiInstallAsRemovable, then turn off boot.loader.efi.canTouchEfiVariables";
        }
      ]
      ++ lib.flip lib.concatMap grub.mirroredBoots (
        args:
        [
          {
            assertion = args.devices != [ ];
            message = "A boot path cannot have an empty devices string in ${args.path}";
          }
          {
            assertion = lib.hasPrefix "/" args.path;
            message = "Boot paths must be absolute, not ${args.path}";
          }
          {
            assertion = if args.efiSysMountPoint == null then true else lib.hasPrefix "/" args.efiSysMountPoint;
            message = "EFI paths must be absolute, not ${args.efiSysMountPoint}";
          }
        ]
        ++ lib.forEach args.devices (device: {
          assertion = device == "nodev" || lib.hasPrefix "/" device;
          message = "GRUB devices must be absolute paths, not ${device} in ${args.path}";
        })
      );
    })

    # systemd-boot.nix
    (mkIf config.boot.loader.systemd-boot.enable {
      boot.loader.grub.enable = mkDefault false;
      assertions = [
        {
          assertion = lib.hasPrefix "/" efi.efiSysMountPoint;
          message = "The ESP mount point '${toString efi.efiSysMountPoint}' must be an absolute path";
        }
      ];
    })

    # stage-1.nix (the scripted initrd; the systemd initrd asserts the same)
    (mkIf config.boot.initrd.enable {
      assertions = [
        {
          assertion = lib.any (fs: fs.mountPoint == "/") (lib.attrValues config.fileSystems);
          message = "The ‘fileSystems’ option does not specify your root file system.";
        }
      ];
    })
  ];
}
