//! When a new system needs a reboot, and rebooting into it: after `boot` mode, or when the
//! running kernel, initrd or kernel modules (`/run/booted-system/{kernel,initrd,
//! kernel-modules}`) are not the new system's; the agent reboots only inside
//! `deploy.reboot_window` (local time) when `deploy.reboot = "window"`. Its first boot is
//! checked by `recover`. Not for what runs after the reboot.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::bounded;
use super::log::Log;

/// What decides a reboot, as nixos-rebuild's users compare it.
const BOOT_PARTS: [&str; 3] = ["kernel", "initrd", "kernel-modules"];
const REBOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `system` boots another kernel, initrd or modules than the machine booted with
/// (`booted`, normally /run/booted-system). Unknown (no booted-system): no.
pub(super) fn differs_from_booted(booted: &Path, system: &str) -> bool {
    if std::fs::symlink_metadata(booted).is_err() {
        return false;
    }
    BOOT_PARTS.iter().any(|part| {
        let target = |root: &Path| std::fs::read_link(root.join(part)).ok();
        target(booted) != target(Path::new(system))
    })
}

/// Whether local time `minute` (after midnight) is inside `window`; equal ends: any time.
pub(super) fn in_window(window: (u32, u32), minute: u32) -> bool {
    let (start, end) = window;
    match start.cmp(&end) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Less => (start..end).contains(&minute),
        // Over midnight: 23:00-01:00.
        std::cmp::Ordering::Greater => minute >= start || minute < end,
    }
}

/// Minutes after local midnight now.
pub(super) fn local_minute() -> u32 {
    // SAFETY: time() and localtime_r() write only into the struct we hand them.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return 0;
        }
        (tm.tm_hour * 60 + tm.tm_min) as u32
    }
}

/// Runs `command` (`systemctl reboot`); `Err(why)` when it could not.
pub(super) fn reboot(command: &[String], log: &Log) -> Result<Result<(), String>> {
    log.line(&format!("rebooting: {}", command.join(" ")));
    let mut run = Command::new(&command[0]);
    run.args(&command[1..]);
    let finished = match bounded::run(run, Instant::now() + REBOOT_TIMEOUT, Some(log.boxed())) {
        Ok(finished) => finished,
        Err(e) => return Ok(Err(format!("{e:#}"))),
    };
    Ok(if finished.succeeded() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            command.join(" "),
            finished.output.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn windows() {
        assert!(in_window((180, 300), 180));
        assert!(in_window((180, 300), 299));
        assert!(!in_window((180, 300), 300));
        assert!(!in_window((180, 300), 60));
        assert!(in_window((23 * 60, 60), 23 * 60 + 30));
        assert!(in_window((23 * 60, 60), 30));
        assert!(!in_window((23 * 60, 60), 120));
        assert!(in_window((0, 0), 777));
        assert!(local_minute() < 24 * 60);
    }

    #[test]
    fn kernel_changes_need_a_reboot() {
        let dir = tempfile::tempdir().unwrap();
        let system = |name: &str, kernel: &str| {
            let root = dir.path().join(name);
            std::fs::create_dir_all(&root).unwrap();
            symlink(kernel, root.join("kernel")).unwrap();
            symlink("/nix/store/i-initrd/initrd", root.join("initrd")).unwrap();
            root
        };
        let old = system("old", "/nix/store/k1-linux/bzImage");
        let same = system("same", "/nix/store/k1-linux/bzImage");
        let new = system("new", "/nix/store/k2-linux/bzImage");
        assert!(!differs_from_booted(&old, same.to_str().unwrap()));
        assert!(differs_from_booted(&old, new.to_str().unwrap()));
        assert!(!differs_from_booted(
            &dir.path().join("missing"),
            new.to_str().unwrap()
        ));
    }
}
