//! Running `<system>/bin/switch-to-configuration MODE` so that it finishes even when the agent
//! does not (a crash, an OOM kill, `systemctl restart`, a closed SSH session), as nixos-rebuild
//! runs it:
//! - under systemd (`/run/systemd/system` exists): a transient unit through `systemd-run
//!   --wait`, which systemd owns, so nothing that happens to the agent's unit or session
//!   reaches it; a timeout is `systemctl stop`, which systemd carries out as SIGTERM, then
//!   SIGKILL after `TimeoutStopSec=30`;
//! - elsewhere (containers, tests): a child in a session of its own (`setsid`), so signals
//!   to the agent's process group or terminal do not reach it; a timeout is SIGTERM to its
//!   process group, then SIGKILL 30 s later.
//!
//! Either way its output goes to a file in the deploy state dir, not a pipe: a pipe would
//! break (SIGPIPE) when the agent dies and take the activation with it. The agent copies the
//! file to its own log as it grows. Not for deciding what to activate (see `agent`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::log::Log;
use common::config::ActivateWith;
use common::file_lock::try_exclusive;

/// The lock a running `switch-to-configuration` holds (NixOS 23.05 and later).
pub(super) const SWITCH_LOCK: &str = "/run/nixos/switch-to-configuration.lock";
/// The transient unit's name: one at a time, as systemd refuses a second of the same name.
const UNIT: &str = "atuin-bootstrap-switch-to-configuration";
/// From SIGTERM to SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);
/// Bytes of output kept for a report.
const TAIL: usize = 4096;

/// How the activation is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Activator {
    SystemdRun,
    Process,
}

impl Activator {
    pub(super) fn choose(with: ActivateWith) -> Activator {
        match with {
            ActivateWith::SystemdRun => Activator::SystemdRun,
            ActivateWith::Process => Activator::Process,
            // systemd's own test for "booted with systemd" (sd_booted).
            ActivateWith::Auto if Path::new("/run/systemd/system").is_dir() => {
                Activator::SystemdRun
            }
            ActivateWith::Auto => Activator::Process,
        }
    }

    /// The command line that runs `path` in `mode`.
    pub(super) fn argv(self, path: &str, mode: &str) -> Vec<String> {
        let program = format!("{path}/bin/switch-to-configuration");
        match self {
            Activator::Process => vec![program, mode.to_string()],
            Activator::SystemdRun => [
                "systemd-run",
                "-E",
                "LOCALE_ARCHIVE",
                "-E",
                "NIXOS_INSTALL_BOOTLOADER",
                "--collect",
                "--no-ask-password",
                "--pipe",
                "--quiet",
                "--same-dir",
                "--service-type=exec",
                &format!("--unit={UNIT}"),
                "--property=TimeoutStopSec=30",
                "--wait",
                &program,
                mode,
            ]
            .map(str::to_string)
            .to_vec(),
        }
    }
}

/// How an activation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ended {
    Succeeded,
    /// It exited with this status: the new system failed.
    Failed(String),
    /// Another switch holds the lock (a hand-run nixos-rebuild): try again later.
    LockHeld,
    /// Still running at the timeout: stopped (SIGTERM, then SIGKILL).
    TimedOut,
    /// It could not be started (no systemd-run, no state dir): nothing ran.
    NotStarted(String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Succeeded => write!(f, "succeeded"),
            Ended::Failed(status) => write!(f, "failed ({status})"),
            Ended::LockHeld => write!(f, "another switch holds the lock"),
            Ended::TimedOut => write!(f, "did not finish in time and was stopped"),
            Ended::NotStarted(why) => write!(f, "could not start: {why}"),
        }
    }
}

pub(super) struct Activation {
    pub ended: Ended,
    /// The end of its output.
    pub output: String,
}

/// Runs the activation of `path` in `mode` until it ends or `timeout` passes; `started` gets
/// the pid of what was started (for the deploy's note) before it is waited for.
pub(super) fn run(
    activator: Activator,
    path: &str,
    mode: &str,
    timeout: Duration,
    output_file: &Path,
    log: &Log,
    started: &mut dyn FnMut(i32) -> Result<()>,
) -> Result<Activation> {
    let deadline = Instant::now() + timeout;
    if activator == Activator::SystemdRun {
        wait_for_unit(deadline, log);
    }
    let argv = activator.argv(path, mode);
    let out = File::create(output_file)
        .with_context(|| format!("failed to create {}", output_file.display()))?;
    let err = out.try_clone()?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid() is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("failed to start {}", argv[0]))?;
    let pid = i32::try_from(child.id()).context("pid out of range")?;
    started(pid)?;
    let mut follow = Follow::open(output_file, log.clone())?;
    let ended = loop {
        follow.copy();
        if let Some(status) = child.try_wait()? {
            break if status.success() {
                Ended::Succeeded
            } else {
                Ended::Failed(describe(status))
            };
        }
        if Instant::now() >= deadline {
            log.line(&format!(
                "activation still runs after {}: stopping it (SIGTERM, then SIGKILL after {}s)",
                humantime::format_duration(timeout),
                KILL_GRACE.as_secs()
            ));
            if activator == Activator::SystemdRun {
                stop_unit(log);
            }
            signal_group(pid, libc::SIGTERM);
            let grace = Instant::now() + KILL_GRACE;
            while Instant::now() < grace && child.try_wait()?.is_none() {
                follow.copy();
                std::thread::sleep(POLL);
            }
            // The whole group: a child that ignores SIGTERM outlives its parent otherwise.
            signal_group(pid, libc::SIGKILL);
            let _ = child.wait();
            break Ended::TimedOut;
        }
        std::thread::sleep(POLL);
    };
    follow.copy();
    let output = String::from_utf8_lossy(&follow.tail).trim().to_string();
    let ended = match ended {
        Ended::Failed(_) if says_lock_held(&output) => Ended::LockHeld,
        other => other,
    };
    Ok(Activation { ended, output })
}

/// Whether another switch holds `lock` now (it is taken and let go at once when free).
pub(super) fn switch_lock_held(lock: &Path) -> bool {
    let Ok(file) = File::open(lock) else {
        return false;
    };
    // Any failure to take it counts as held: the deploy waits rather than race a switch.
    !matches!(try_exclusive(&file), Ok(true))
}

/// Waits, until `deadline`, for an activation started by an earlier agent (`pid`) that is
/// still running: a second one at the same time would only find the lock held.
pub(super) fn wait_for_earlier(pid: i32, deadline: Instant, log: &Log) {
    let cmdline = PathBuf::from(format!("/proc/{pid}/cmdline"));
    let is_activation = || {
        std::fs::read(&cmdline).is_ok_and(|c| {
            String::from_utf8_lossy(&c).contains("switch-to-configuration")
                || String::from_utf8_lossy(&c).contains("systemd-run")
        })
    };
    if !is_activation() {
        return;
    }
    log.line(&format!(
        "the activation an earlier run started (pid {pid}) still runs; waiting for it"
    ));
    while is_activation() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An earlier agent's transient unit may still run (its agent died; the unit did not): a
/// second unit of the same name would be refused, so it is waited for.
fn wait_for_unit(deadline: Instant, log: &Log) {
    let active = || {
        Command::new("systemctl")
            .args(["is-active", "--quiet", &format!("{UNIT}.service")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !active() {
        return;
    }
    log.line(&format!(
        "{UNIT} (an earlier run's activation) still runs; waiting for it"
    ));
    while active() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `switch-to-configuration` (perl and Rust alike) and systemd-run, when another switch runs.
fn says_lock_held(output: &str) -> bool {
    output.contains("Could not acquire lock")
        || output.contains("already exists")
        || output.contains("already loaded")
}

fn stop_unit(log: &Log) {
    let stopped = Command::new("systemctl")
        .args(["stop", &format!("{UNIT}.service")])
        .stdin(Stdio::null())
        .output();
    if let Err(e) = stopped {
        log.line(&format!("systemctl stop {UNIT} could not run: {e}"));
    }
}

fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill() with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-pid, signal);
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}

/// The output file, copied to the log as it grows; its end kept.
struct Follow {
    file: File,
    log: Log,
    tail: Vec<u8>,
}

impl Follow {
    fn open(path: &Path, log: Log) -> Result<Follow> {
        Ok(Follow {
            file: File::open(path).with_context(|| format!("failed to read {}", path.display()))?,
            log,
            tail: Vec::new(),
        })
    }

    fn copy(&mut self) {
        let mut buf = [0u8; 8192];
        while let Ok(n) = self.file.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = self.log.write_all(&buf[..n]);
            self.tail.extend_from_slice(&buf[..n]);
            let cut = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..cut);
        }
        let _ = self.log.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systemd_run_line_is_nixos_rebuilds() {
        let argv = Activator::SystemdRun.argv("/nix/store/x-system", "switch");
        assert_eq!(argv[0], "systemd-run");
        assert!(argv.contains(&"--unit=atuin-bootstrap-switch-to-configuration".to_string()));
        assert_eq!(
            argv[argv.len() - 3..],
            [
                "--wait",
                "/nix/store/x-system/bin/switch-to-configuration",
                "switch"
            ]
        );
        assert_eq!(
            Activator::Process.argv("/nix/store/x", "test"),
            vec!["/nix/store/x/bin/switch-to-configuration", "test"]
        );
        assert_eq!(Activator::choose(ActivateWith::Process), Activator::Process);
    }

    #[test]
    fn a_held_switch_lock_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("switch.lock");
        assert!(!switch_lock_held(&lock));
        let holder = File::create(&lock).unwrap();
        assert!(!switch_lock_held(&lock));
        assert!(try_exclusive(&holder).unwrap());
        assert!(switch_lock_held(&lock));
        drop(holder);
        assert!(!switch_lock_held(&lock));
        assert!(says_lock_held("Could not acquire lock\n"));
    }
}
