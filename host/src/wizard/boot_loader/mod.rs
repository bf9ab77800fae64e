//! The boot loader of the machine the wizard runs on, carried into its host in the fleet as
//! `hosts/<name>/boot-loader.nix`. `nixos-generate-config --show-hardware-config` prints the
//! hardware only (the boot loader goes into the `configuration.nix` it writes), and NixOS
//! refuses a host without one: GRUB is on by default and wants a device.
//!
//! The machine's own choice comes first: the `boot.loader` settings of its
//! `/etc/nixos/configuration.nix`, carried over as they are written. Without them the firmware
//! decides: EFI (`/sys/firmware/efi`) gets systemd-boot, BIOS gets GRUB on the disk that holds
//! `/`. Everything is read under a root directory into `Facts` first, so tests hand it any
//! machine; this module does not decide whether a host needs a boot loader (the profile does).

use std::path::Path;

mod configuration_nix;
mod disks;

/// What the machine says about how it boots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `/sys/firmware/efi` exists: the machine was booted through EFI.
    pub efi: bool,
    /// Where the EFI system partition is mounted (a vfat file system at `/boot`, `/boot/efi`
    /// or `/efi`).
    pub esp_mount: Option<String>,
    /// The whole disk that holds `/`: a stable `/dev/disk/by-id/…` name when there is one.
    pub root_disk: Option<String>,
    /// The `boot.loader` statements of `/etc/nixos/configuration.nix`, as written there.
    pub configured: Option<String>,
}

/// The boot loader a host gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootLoader {
    /// systemd-boot, allowed to add itself to the firmware's boot entries.
    SystemdBoot {
        /// Where the EFI system partition is mounted (`/boot` when none was found).
        esp: String,
    },
    /// GRUB in the boot sector of `device`.
    Grub {
        /// The whole disk that holds `/`, for `boot.loader.grub.device`.
        device: String,
    },
    /// The machine's own `boot.loader` statements.
    Configured {
        /// The statements as written in `/etc/nixos/configuration.nix`.
        statements: String,
    },
}

impl Facts {
    /// Reads the facts of the machine whose file system starts at `root` (`/` for this one).
    pub fn gather(root: &Path) -> Facts {
        let mounts = std::fs::read_to_string(root.join("proc/self/mountinfo")).unwrap_or_default();
        let mounts = disks::parse_mountinfo(&mounts);
        let esp_mount = ["/boot", "/boot/efi", "/efi"]
            .into_iter()
            .find(|point| {
                mounts
                    .iter()
                    .any(|m| m.point == *point && m.fs_type == "vfat")
            })
            .map(str::to_string);
        let root_source = mounts
            .iter()
            .rev()
            .find(|m| m.point == "/")
            .map(|m| m.source.clone());
        Facts {
            efi: root.join("sys/firmware/efi").exists(),
            esp_mount,
            root_disk: root_source.and_then(|source| disks::disk_of(root, &source)),
            configured: std::fs::read_to_string(root.join("etc/nixos/configuration.nix"))
                .ok()
                .and_then(|text| configuration_nix::boot_loader_statements(&text)),
        }
    }
}

/// The boot loader for a machine with these facts, or why none can be chosen.
pub fn choose(facts: &Facts) -> Result<BootLoader, String> {
    if let Some(statements) = &facts.configured {
        return Ok(BootLoader::Configured {
            statements: statements.clone(),
        });
    }
    if facts.efi {
        return Ok(BootLoader::SystemdBoot {
            esp: facts.esp_mount.clone().unwrap_or_else(|| "/boot".into()),
        });
    }
    match &facts.root_disk {
        Some(disk) => Ok(BootLoader::Grub {
            device: disk.clone(),
        }),
        None => Err(
            "this machine boots through BIOS, but the disk that holds / could not be \
                     told (LVM or RAID over several disks, ZFS, a network root…)"
                .into(),
        ),
    }
}

impl BootLoader {
    /// `hosts/<name>/boot-loader.nix`.
    pub fn render(&self) -> String {
        let header = |what: &str| {
            format!(
                "# This machine's boot loader, written by bootstrap-new-machine:\n# {what}.\n\
                 # hardware-configuration.nix (nixos-generate-config) leaves the boot loader out, and NixOS\n\
                 # refuses a host without one. Change it here if the machine boots otherwise.\n"
            )
        };
        match self {
            BootLoader::SystemdBoot { esp } => {
                let mut text = header("systemd-boot, as the machine boots through EFI");
                text.push_str("{\n  boot.loader.systemd-boot.enable = true;\n");
                text.push_str("  boot.loader.efi.canTouchEfiVariables = true;\n");
                if esp != "/boot" {
                    text.push_str(&format!(
                        "  boot.loader.efi.efiSysMountPoint = {};\n",
                        nix_string(esp)
                    ));
                }
                text.push_str("}\n");
                text
            }
            BootLoader::Grub { device } => format!(
                "{}{{\n  boot.loader.grub.enable = true;\n  boot.loader.grub.device = {};\n}}\n",
                header("GRUB on the disk that holds /, as the machine boots through BIOS"),
                nix_string(device)
            ),
            BootLoader::Configured { statements } => {
                let mut text =
                    header("the boot.loader settings of its /etc/nixos/configuration.nix");
                text.push_str("{ config, lib, pkgs, ... }:\n{\n");
                for line in statements.lines() {
                    if line.is_empty() {
                        text.push('\n');
                    } else {
                        text.push_str(&format!("  {line}\n"));
                    }
                }
                text.push_str("}\n");
                text
            }
        }
    }

    /// A few words for the plan.
    pub fn describe(&self) -> String {
        match self {
            BootLoader::SystemdBoot { .. } => "systemd-boot (EFI)".into(),
            BootLoader::Grub { device } => format!("GRUB on {device} (BIOS)"),
            BootLoader::Configured { .. } => "from /etc/nixos/configuration.nix".into(),
        }
    }
}

fn nix_string(text: &str) -> String {
    format!(
        "\"{}\"",
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("${", "\\${")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A machine under a temporary root: mounts, block devices in sysfs, by-id links.
    fn machine(efi: bool, mountinfo: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("proc/self")).unwrap();
        std::fs::write(r.join("proc/self/mountinfo"), mountinfo).unwrap();
        if efi {
            std::fs::create_dir_all(r.join("sys/firmware/efi/efivars")).unwrap();
        }
        // sda with partitions sda1 and sda2; dm-0 (LUKS) on sda2; nvme0n1 with nvme0n1p1.
        for (disk, parts) in [
            ("sda", &["sda1", "sda2"][..]),
            ("nvme0n1", &["nvme0n1p1"][..]),
        ] {
            let dir = r.join("sys/devices/pci0000:00").join(disk);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::create_dir_all(r.join("sys/class/block")).unwrap();
            symlink(
                format!("../../devices/pci0000:00/{disk}"),
                r.join("sys/class/block").join(disk),
            )
            .unwrap();
            for part in parts {
                std::fs::create_dir_all(dir.join(part)).unwrap();
                std::fs::write(dir.join(part).join("partition"), "1\n").unwrap();
                symlink(
                    format!("../../devices/pci0000:00/{disk}/{part}"),
                    r.join("sys/class/block").join(part),
                )
                .unwrap();
            }
        }
        std::fs::create_dir_all(r.join("sys/devices/virtual/dm-0/slaves")).unwrap();
        symlink("../../devices/virtual/dm-0", r.join("sys/class/block/dm-0")).unwrap();
        std::fs::write(r.join("sys/devices/virtual/dm-0/slaves/sda2"), "").unwrap();
        std::fs::create_dir_all(r.join("dev/mapper")).unwrap();
        std::fs::create_dir_all(r.join("dev/disk/by-id")).unwrap();
        for node in ["sda", "sda1", "sda2", "nvme0n1", "nvme0n1p1", "dm-0"] {
            std::fs::write(r.join("dev").join(node), "").unwrap();
        }
        symlink("../dm-0", r.join("dev/mapper/cryptroot")).unwrap();
        symlink("../../sda", r.join("dev/disk/by-id/ata-SAMSUNG_SSD_870_S1")).unwrap();
        symlink(
            "../../sda2",
            r.join("dev/disk/by-id/ata-SAMSUNG_SSD_870_S1-part2"),
        )
        .unwrap();
        symlink("../../sda", r.join("dev/disk/by-id/wwn-0x5002538f0000")).unwrap();
        root
    }

    const EFI_MOUNTS: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
23 22 259:1 / /boot rw,relatime shared:2 - vfat /dev/nvme0n1p1 rw,fmask=0077
";

    #[test]
    fn an_efi_machine_gets_systemd_boot() {
        let root = machine(true, EFI_MOUNTS);
        let facts = Facts::gather(root.path());
        assert!(facts.efi);
        assert_eq!(facts.esp_mount.as_deref(), Some("/boot"));
        let chosen = choose(&facts).unwrap();
        assert_eq!(
            chosen,
            BootLoader::SystemdBoot {
                esp: "/boot".into()
            }
        );
        let text = chosen.render();
        assert!(
            text.contains("boot.loader.systemd-boot.enable = true;"),
            "{text}"
        );
        assert!(text.contains("boot.loader.efi.canTouchEfiVariables = true;"));
        assert!(!text.contains("efiSysMountPoint"));
    }

    #[test]
    fn an_esp_elsewhere_than_boot_is_named() {
        let root = machine(
            true,
            "22 1 8:2 / / rw - ext4 /dev/sda2 rw\n23 22 8:1 / /boot/efi rw - vfat /dev/sda1 rw\n",
        );
        let text = choose(&Facts::gather(root.path())).unwrap().render();
        assert!(
            text.contains("boot.loader.efi.efiSysMountPoint = \"/boot/efi\";"),
            "{text}"
        );
    }

    #[test]
    fn a_bios_machine_gets_grub_on_the_disk_that_holds_root() {
        let root = machine(false, "22 1 8:2 / / rw - ext4 /dev/sda2 rw\n");
        let facts = Facts::gather(root.path());
        assert!(!facts.efi);
        let chosen = choose(&facts).unwrap();
        assert_eq!(
            chosen,
            BootLoader::Grub {
                device: "/dev/disk/by-id/ata-SAMSUNG_SSD_870_S1".into()
            }
        );
        let text = chosen.render();
        assert!(text.contains("boot.loader.grub.enable = true;"), "{text}");
        assert!(
            text.contains("boot.loader.grub.device = \"/dev/disk/by-id/ata-SAMSUNG_SSD_870_S1\";")
        );
    }

    #[test]
    fn root_on_luks_is_traced_to_its_disk_and_a_disk_without_id_keeps_its_name() {
        let root = machine(false, "22 1 254:0 / / rw - ext4 /dev/mapper/cryptroot rw\n");
        assert_eq!(
            Facts::gather(root.path()).root_disk.as_deref(),
            Some("/dev/disk/by-id/ata-SAMSUNG_SSD_870_S1")
        );
        let root = machine(false, "22 1 259:2 / / rw - ext4 /dev/nvme0n1p1 rw\n");
        assert_eq!(
            Facts::gather(root.path()).root_disk.as_deref(),
            Some("/dev/nvme0n1")
        );
    }

    #[test]
    fn a_bios_machine_without_a_known_root_disk_gets_no_boot_loader() {
        let root = machine(false, "22 1 0:30 / / rw - zfs rpool/root rw\n");
        let facts = Facts::gather(root.path());
        assert_eq!(facts.root_disk, None);
        assert!(choose(&facts).unwrap_err().contains("could not be told"));
    }

    #[test]
    fn the_machines_own_configuration_comes_first() {
        let root = machine(true, EFI_MOUNTS);
        std::fs::create_dir_all(root.path().join("etc/nixos")).unwrap();
        std::fs::write(
            root.path().join("etc/nixos/configuration.nix"),
            r#"{ config, pkgs, ... }:
{
  imports = [ ./hardware-configuration.nix ];

  # Use the GRUB 2 boot loader.
  boot.loader.grub = {
    enable = true;
    efiSupport = true; # with EFI
    device = "nodev";
  };
  # boot.loader.systemd-boot.enable = true;
    boot.loader.efi.canTouchEfiVariables = true;
  networking.hostName = "old"; # boot.loader.grub.device = "/dev/sdz";
}
"#,
        )
        .unwrap();
        let chosen = choose(&Facts::gather(root.path())).unwrap();
        let BootLoader::Configured { statements } = &chosen else {
            panic!("{chosen:?}")
        };
        assert_eq!(
            statements,
            "boot.loader.grub = {\n  enable = true;\n  efiSupport = true;\n  device = \"nodev\";\n};\nboot.loader.efi.canTouchEfiVariables = true;"
        );
        assert!(chosen.render().contains(
            "{ config, lib, pkgs, ... }:\n{\n  boot.loader.grub = {\n    enable = true;"
        ));
    }
}
