//! What the wizard can tell about the machine it runs on, before asking anything: host name,
//! Nix system, NixOS or not (and then how it boots), WSL or not, the user and shell, and which
//! tools are installed.

use std::path::{Path, PathBuf};

use super::boot_loader;
use common::process::Process;

/// What the wizard found on this machine, before any question: what it suggests and plans from.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The short host name (before the first dot); `nixos` when the machine has none.
    pub hostname: String,
    /// e.g. `x86_64-linux`.
    pub system: String,
    /// `/etc/NIXOS` exists.
    pub is_nixos: bool,
    /// The NixOS release this machine runs (`25.05`), from `nixos-version` or /etc/os-release.
    pub nixos_release: Option<String>,
    /// How a NixOS machine boots (firmware, disks, its configuration.nix); `None` elsewhere.
    pub boot: Option<boot_loader::Facts>,
    /// Runs under WSL: `WSL_DISTRO_NAME` is set or the kernel is Microsoft's.
    pub is_wsl: bool,
    /// A `BAT*` power supply exists, so the laptop profile is suggested.
    pub has_battery: bool,
    /// Who runs the wizard: `USER`, else `LOGNAME`, else `root`.
    pub user: String,
    /// `HOME`, or `/` when it is not set.
    pub home: PathBuf,
    /// The login shell from `SHELL`; `None` when it is not set.
    pub shell: Option<String>,
    /// `atuin` is on `PATH`.
    pub has_atuin: bool,
    /// `syncthing` is on `PATH`.
    pub has_syncthing: bool,
    /// `tailscale` is on `PATH`.
    pub has_tailscale: bool,
    /// `nixos-generate-config` is on `PATH`, so the hardware file can be written.
    pub has_nixos_generate_config: bool,
    /// This binary lives in the Nix store (installed by Nix): no links needed.
    pub installed_by_nix: bool,
}

impl Machine {
    /// Looks at this machine (its files, `PATH` and environment). Never fails: a fact it cannot
    /// read gets the fallback its field names.
    pub fn detect(process: &Process) -> Machine {
        let path_var = process.var("PATH").unwrap_or_default();
        let has = |tool: &str| find_in_path(&path_var, tool).is_some();
        let home = process
            .var("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let is_nixos = Path::new("/etc/NIXOS").exists();
        Machine {
            hostname: hostname(),
            system: nix_core::current_system(),
            is_nixos,
            nixos_release: if is_nixos { nixos_release() } else { None },
            boot: is_nixos.then(|| boot_loader::Facts::gather(Path::new("/"))),
            is_wsl: process.var("WSL_DISTRO_NAME").is_some()
                || std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|r| r.to_lowercase().contains("microsoft"))
                    .unwrap_or(false),
            has_battery: std::fs::read_dir("/sys/class/power_supply")
                .map(|dir| {
                    dir.flatten()
                        .any(|e| e.file_name().to_string_lossy().starts_with("BAT"))
                })
                .unwrap_or(false),
            user: process
                .var("USER")
                .or_else(|| process.var("LOGNAME"))
                .unwrap_or_else(|| "root".into()),
            home,
            shell: process.var("SHELL"),
            has_atuin: has("atuin"),
            has_syncthing: has("syncthing"),
            has_tailscale: has("tailscale"),
            has_nixos_generate_config: has("nixos-generate-config"),
            installed_by_nix: process
                .current_exe
                .as_ref()
                .is_some_and(|exe| exe.starts_with("/nix/store")),
        }
    }

    /// One line for the user: what was found.
    pub fn summary(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "this machine: {} ({}{}{}), user {}, shell {}; atuin {}, syncthing {}, tailscale {}",
            self.hostname,
            self.system,
            if self.is_nixos { ", NixOS" } else { "" },
            if self.is_wsl { ", WSL" } else { "" },
            self.user,
            self.shell.as_deref().unwrap_or("unknown"),
            yes(self.has_atuin),
            yes(self.has_syncthing),
            yes(self.has_tailscale)
        )
    }

    /// The profile to suggest: wsl on WSL, laptop with a battery, desktop otherwise.
    pub fn suggested_profile(&self) -> &'static str {
        if self.is_wsl {
            "wsl"
        } else if self.has_battery {
            "laptop"
        } else {
            "desktop"
        }
    }
}

/// The newest NixOS release this version knows: the state version of a host written on a
/// machine that does not run NixOS yet (it will be installed with this release or a newer one,
/// and an older state version is always safe).
pub const CURRENT_NIXOS_RELEASE: &str = "25.11";

impl Machine {
    /// `system.stateVersion` for this machine's host file: the release it runs on NixOS (as
    /// NixOS's own installer writes it), the current release elsewhere.
    pub fn state_version(&self) -> &str {
        self.nixos_release
            .as_deref()
            .unwrap_or(CURRENT_NIXOS_RELEASE)
    }
}

/// The running NixOS release: `nixos-version` (`25.05.20250704.abcdef0 (Warbler)`), else
/// VERSION_ID of /etc/os-release.
fn nixos_release() -> Option<String> {
    let from_command = std::process::Command::new("nixos-version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| release_of(&String::from_utf8_lossy(&o.stdout)));
    from_command.or_else(|| {
        std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| os_release_version(&text))
    })
}

/// `YY.MM` at the start of a NixOS version string.
fn release_of(version: &str) -> Option<String> {
    let version = version.trim();
    let mut parts = version.splitn(3, '.');
    let (year, month) = (parts.next()?, parts.next()?);
    let month: String = month.chars().take_while(char::is_ascii_digit).collect();
    let digits = |s: &str| s.len() == 2 && s.chars().all(|c| c.is_ascii_digit());
    (digits(year) && digits(&month)).then(|| format!("{year}.{month}"))
}

/// VERSION_ID of an os-release file, when it is NixOS's.
fn os_release_version(text: &str) -> Option<String> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_string())
        })
    };
    (field("ID").as_deref() == Some("nixos"))
        .then(|| field("VERSION_ID"))
        .flatten()
        .and_then(|v| release_of(&v))
}

/// The first file named `tool` in the directories of `path_var` (a `PATH` value), as a shell
/// would look it up; `None` when there is none.
pub fn find_in_path(path_var: &str, tool: &str) -> Option<PathBuf> {
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|dir| Path::new(dir).join(tool))
        .find(|candidate| candidate.is_file())
}

/// The short host name (before the first dot), the fleet's name for this machine.
fn hostname() -> String {
    match common::os::hostname() {
        Some(name) => name.split('.').next().unwrap_or(&name).to_string(),
        None => "nixos".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_comes_from_nixos_version_or_os_release() {
        assert_eq!(
            release_of("25.05.20250704.b43c397 (Warbler)\n").as_deref(),
            Some("25.05")
        );
        assert_eq!(release_of("24.11pre-git").as_deref(), Some("24.11"));
        assert_eq!(release_of("not a version"), None);
        let nixos =
            "NAME=NixOS\nID=nixos\nVERSION_ID=\"24.11\"\nPRETTY_NAME=\"NixOS 24.11 (Vicuna)\"\n";
        assert_eq!(os_release_version(nixos).as_deref(), Some("24.11"));
        let debian = "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release_version(debian), None);
    }
}
