//! Runs one command of a deploy (an activation, a health check, a Nix call) with a deadline:
//! its output goes on to our stderr (the journal) as it comes, the end of it is kept for the
//! report, and a command still running at the deadline is killed with everything it started
//! (its own process group); and how a reason and that kept output are said together
//! (`with_output`), for the deploy's steps and the health checks alike. Not for deciding
//! what to run (see `agent`).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Bytes of output kept for a report.
const TAIL: usize = 4096;
/// How often a running command is looked at.
const POLL: Duration = Duration::from_millis(25);

/// How a bounded command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ended {
    Succeeded,
    /// It exited with this status (a code, or a signal as `signal N`).
    Failed(String),
    /// Still running at the deadline: killed.
    TimedOut,
}

#[derive(Debug, Clone)]
pub(super) struct Finished {
    pub ended: Ended,
    /// The end of what it printed (stdout and stderr together).
    pub output: String,
}

impl Finished {
    pub(super) fn succeeded(&self) -> bool {
        self.ended == Ended::Succeeded
    }
}

/// `reason: output`, when there was output: how every report gives a command's failure (a
/// bounded one's, an activation's, a health check's).
pub(super) fn with_output(reason: String, output: &str) -> String {
    if output.trim().is_empty() {
        reason
    } else {
        format!("{reason}: {}", output.trim())
    }
}

/// Runs `command` until it ends or `deadline` passes. `echo` gets its output as it comes.
pub(super) fn run(
    mut command: Command,
    deadline: Instant,
    echo: Option<Box<dyn Write + Send>>,
) -> Result<Finished> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .with_context(|| format!("failed to start {program}"))?;
    let tail = Arc::new(Mutex::new(Vec::new()));
    let echo = Arc::new(Mutex::new(echo));
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tail = tail.clone();
        let echo = echo.clone();
        std::thread::spawn(move || copy_output(stream, &tail, &echo))
    })
    .collect();
    let ended = loop {
        if let Some(status) = child.try_wait()? {
            break if status.success() {
                Ended::Succeeded
            } else {
                Ended::Failed(describe(status))
            };
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            let _ = child.wait();
            break Ended::TimedOut;
        }
        std::thread::sleep(POLL);
    };
    // The pipes close when the last process holding them ends; one that escaped the group
    // could hold them open, so readers get only a moment.
    let grace = Instant::now() + Duration::from_millis(200);
    for reader in readers {
        while !reader.is_finished() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
    let output = String::from_utf8_lossy(&tail.lock().expect("output lock"))
        .trim()
        .to_string();
    Ok(Finished { ended, output })
}

fn copy_output(
    mut stream: Box<dyn Read + Send>,
    tail: &Mutex<Vec<u8>>,
    echo: &Mutex<Option<Box<dyn Write + Send>>>,
) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(out) = echo.lock().expect("echo lock").as_mut() {
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
        }
        let mut kept = tail.lock().expect("output lock");
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > TAIL {
            let cut = kept.len() - TAIL;
            kept.drain(..cut);
        }
    }
}

fn kill_group(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill() with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn success_failure_and_output() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ok = run(sh("echo hello; echo world >&2"), deadline, None).unwrap();
        assert!(ok.succeeded());
        assert!(ok.output.contains("hello") && ok.output.contains("world"));
        let failed = run(sh("echo broken; exit 4"), deadline, None).unwrap();
        assert_eq!(failed.ended, Ended::Failed("exit 4".into()));
        assert_eq!(failed.output, "broken");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survivor");
        let script = format!(
            "(sleep 1; touch {}) & echo started; exec sleep 30",
            marker.display()
        );
        let started = Instant::now();
        let finished = run(
            sh(&script),
            Instant::now() + Duration::from_millis(300),
            None,
        )
        .unwrap();
        assert_eq!(finished.ended, Ended::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(finished.output, "started");
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "a child of the killed command lived on");
    }

    #[test]
    fn the_tail_keeps_the_end() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let long = run(sh("seq 1 5000; echo last"), deadline, None).unwrap();
        assert!(long.output.len() <= TAIL);
        assert!(long.output.ends_with("last"));
    }
}
