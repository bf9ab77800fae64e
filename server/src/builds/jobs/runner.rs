//! Runs one job: `nix build` of its attributes at its revision (with its flake inputs
//! overridden, for a build of a moved input), with Nix's structured log
//! turned into the job's plain-text log file and its live progress; outputs rooted against
//! GC on success. A stop request sends nix SIGTERM (nix then kills its builders, which run in
//! their own sessions), and SIGKILL after a grace period. What it writes into the job's error
//! and log never names a path in the state dir (clients read both); the server's log does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::history::Ending;
use super::model::{Job, JobState, Progress};
use super::nix_log::NixLog;
use super::roots::Roots;
use crate::builds::redact::{PathMask, io_reason};
use common::ansi::strip as strip_ansi;
use nix_core::command as nix_command;

/// How long nix gets to stop its builders after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Why a running job is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Cancel,
    /// The server is shutting down: the job goes back to the queue.
    Shutdown,
}

/// What the runner needs besides the job.
pub(crate) struct RunContext {
    pub log_dir: PathBuf,
    pub roots: Roots,
    pub keep_per_target: usize,
    /// Hides the state dir in what Nix says, before it reaches the job's error or log.
    pub mask: PathMask,
}

pub(crate) enum Outcome {
    Ended(Ending),
    Requeue,
}

pub(crate) fn log_path(log_dir: &Path, job: u64) -> PathBuf {
    log_dir.join(format!("{job}.log"))
}

/// What a job starts with: where its progress goes, and when it was asked for (when known).
pub(crate) struct Started {
    pub progress: Arc<Mutex<Option<Progress>>>,
    pub asked: Option<Instant>,
}

/// Runs `job` from `flake_ref`, keeping its progress current, until it ends or `stop` says.
pub(crate) async fn run(
    job: &Job,
    flake_ref: &str,
    context: &RunContext,
    started: Started,
    mut stop: watch::Receiver<Option<StopReason>>,
) -> Outcome {
    let Started { progress, asked } = started;
    let mut log = match open_log(&context.log_dir, job.id).await {
        Ok(log) => log,
        Err(reason) => return failed(reason, None),
    };
    if job.attempt > 1 {
        // The log of the run the server's stop cut short is above this line, maybe mid-line.
        let fresh_line = if ends_mid_line(&log_path(&context.log_dir, job.id)) {
            "\n"
        } else {
            ""
        };
        let marker = format!(
            "{fresh_line}--- server restarted; job {} runs again (attempt {}) ---\n",
            job.id, job.attempt
        );
        let _ = log.write_all(marker.as_bytes()).await;
        // tokio's file hands the bytes to a blocking thread: flushed, a reader of the log (a
        // follower, a test) sees the marker before the new run's lines.
        let _ = log.flush().await;
    }
    let mut attrs: Vec<String> = job.attrs.clone();
    attrs.sort();
    attrs.dedup();
    // One target: nix's own out-link is the target's GC root, with no second step. Several:
    // nix's links keep the outputs alive until each target's root is made.
    let rooted_by_nix = match (job.targets.as_slice(), attrs.len()) {
        ([target], 1) => context.roots.link(target, job.id).ok(),
        _ => None,
    };
    let build_link = match &rooted_by_nix {
        Some(link) => link.clone(),
        None => context.roots.build_link(job.id),
    };
    if let Some(parent) = build_link.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        tracing::error!("job {}: failed to create {}: {e}", job.id, parent.display());
        let message = format!(
            "failed to make the directory of the job's GC root links: {}",
            io_reason(&e)
        );
        let _ = log
            .write_all(format!("error: {message}\n").as_bytes())
            .await;
        return failed(message, None);
    }
    let mut command = Command::from(
        nix_command::build(flake_ref, &attrs, &build_link, &job.input_refs).command(),
    );
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // If the server dies, even by SIGKILL, nix gets SIGTERM and stops its builders instead of
    // building on as an orphan. (The signal follows the spawning thread, a runtime worker
    // that lives as long as the server.)
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let message = format!("failed to start nix build: {}", io_reason(&e));
            let _ = log.write_all(format!("{message}\n").as_bytes()).await;
            return failed(message, None);
        }
    };
    if let Some(asked) = asked {
        tracing::info!(
            "job {}: nix started {:.1} ms after the request",
            job.id,
            asked.elapsed().as_secs_f64() * 1000.0
        );
    }
    let stderr = child.stderr.take().expect("piped stderr");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let log_task = tokio::spawn(follow_nix_log(
        stderr,
        log,
        progress.clone(),
        context.mask.clone(),
    ));
    let stdout_task = tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes).await;
        bytes
    });

    let mut stopped: Option<StopReason> = None;
    let status = tokio::select! {
        status = child.wait() => status,
        reason = wait_for_stop(&mut stop) => {
            stopped = Some(reason);
            terminate(&mut child).await
        }
    };
    let (nix_log, mut log) = match log_task.await {
        Ok(done) => done,
        Err(e) => return failed(format!("the log reader failed: {e}"), None),
    };
    let stdout = stdout_task.await.unwrap_or_default();
    let final_progress = nix_log.progress();
    let outcome = match (stopped, status) {
        (Some(StopReason::Shutdown), _) => {
            let _ = log
                .write_all(b"(the server stopped; the job will run again)\n")
                .await;
            context.roots.clear_build_links(job.id);
            if let Some(link) = &rooted_by_nix {
                let _ = std::fs::remove_file(link);
            }
            return Outcome::Requeue;
        }
        (Some(StopReason::Cancel), _) => {
            let _ = log.write_all(b"cancelled\n").await;
            Ending {
                state: JobState::Cancelled,
                outputs: BTreeMap::new(),
                error: Some("cancelled".into()),
                progress: final_progress,
            }
        }
        (None, Ok(status)) if status.success() => {
            let rooted = rooted_by_nix.is_some();
            match root_outputs(job, flake_ref, &attrs, &stdout, context, rooted).await {
                Ok(outputs) => Ending {
                    state: JobState::Succeeded,
                    outputs,
                    error: None,
                    progress: final_progress,
                },
                Err(e) => {
                    tracing::warn!("job {}: rooting the outputs failed: {e:#}", job.id);
                    let message = context.mask.hide(&format!("{e:#}"));
                    let _ = log
                        .write_all(format!("error: {message}\n").as_bytes())
                        .await;
                    Ending {
                        state: JobState::Failed,
                        outputs: BTreeMap::new(),
                        error: Some(message),
                        progress: final_progress,
                    }
                }
            }
        }
        (None, status) => {
            let error = match nix_log.error_summary() {
                Some(error) => match super::targets::missing_lock_hint(&error) {
                    Some(hint) => format!("{hint} (nix: {})", context.mask.hide(&error)),
                    None => {
                        crate::builds::builders::name_builders_in(context.mask.hide(&error)).await
                    }
                },
                None => match status {
                    Ok(status) => format!("nix build failed ({status})"),
                    Err(e) => format!("nix build could not be waited for: {}", io_reason(&e)),
                },
            };
            Ending {
                state: JobState::Failed,
                outputs: BTreeMap::new(),
                error: Some(error),
                progress: final_progress,
            }
        }
    };
    let _ = log.flush().await;
    context.roots.clear_build_links(job.id);
    if let (Some(link), false) = (&rooted_by_nix, outcome.state == JobState::Succeeded) {
        let _ = std::fs::remove_file(link);
    }
    Outcome::Ended(outcome)
}

fn failed(error: String, progress: Option<Progress>) -> Outcome {
    Outcome::Ended(Ending {
        state: JobState::Failed,
        outputs: BTreeMap::new(),
        error: Some(error),
        progress,
    })
}

/// The job's log, opened to append; the error is the reason for the job, without the path
/// (which goes to the server's log).
async fn open_log(log_dir: &Path, job: u64) -> Result<tokio::fs::File, String> {
    let path = log_path(log_dir, job);
    let opened = match tokio::fs::create_dir_all(log_dir).await {
        Ok(()) => {
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
        }
        Err(e) => Err(e),
    };
    opened.map_err(|e| {
        tracing::error!(
            "job {job}: failed to open the job log {}: {e}",
            path.display()
        );
        format!("failed to open the job log: {}", io_reason(&e))
    })
}

/// Whether the file's last byte is not a newline (an empty or missing file is not).
fn ends_mid_line(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

async fn wait_for_stop(stop: &mut watch::Receiver<Option<StopReason>>) -> StopReason {
    loop {
        if let Some(reason) = *stop.borrow_and_update() {
            return reason;
        }
        if stop.changed().await.is_err() {
            // Nobody can ask any more: never stop.
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM, then SIGKILL after the grace period; returns nix's exit status.
async fn terminate(child: &mut Child) -> std::io::Result<std::process::ExitStatus> {
    if let Some(pid) = child.id() {
        // SAFETY: kill() with our child's pid and a signal number.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!("nix did not stop within {STOP_GRACE:?}; killing it");
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Writes the plain-text lines of Nix's structured log to the job log as they come.
async fn follow_nix_log(
    stderr: tokio::process::ChildStderr,
    mut log: tokio::fs::File,
    progress: Arc<Mutex<Option<Progress>>>,
    mask: PathMask,
) -> (NixLog, tokio::fs::File) {
    let mut reader = BufReader::new(stderr);
    let mut nix_log = NixLog::default();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        let mut text = String::new();
        for shown in nix_log.feed(line) {
            text.push_str(&mask.hide(&shown));
            text.push('\n');
        }
        if !text.is_empty() {
            let _ = log.write_all(text.as_bytes()).await;
        }
        *progress.lock().expect("progress lock") = nix_log.progress();
    }
    let _ = log.flush().await;
    (nix_log, log)
}

/// Maps `nix build --json` back to the job's targets and roots each output.
async fn root_outputs(
    job: &Job,
    flake_ref: &str,
    attrs: &[String],
    stdout: &[u8],
    context: &RunContext,
    rooted: bool,
) -> Result<BTreeMap<String, String>> {
    let built: serde_json::Value =
        serde_json::from_slice(stdout).context("nix build printed no JSON result")?;
    let built = built
        .as_array()
        .context("nix build's JSON result is not a list")?;
    // nix prints results in store-path order, not installable order: match by derivation.
    let mut output_of_attr = BTreeMap::new();
    for attr in attrs {
        let drv = if attrs.len() == 1 {
            built
                .first()
                .and_then(|b| b["drvPath"].as_str())
                .unwrap_or_default()
                .to_string()
        } else {
            derivation_of(flake_ref, attr, &job.input_refs).await?
        };
        let entry = built
            .iter()
            .find(|b| b["drvPath"].as_str() == Some(drv.as_str()))
            .with_context(|| format!("nix build reported no result for {attr}"))?;
        let outputs = entry["outputs"]
            .as_object()
            .context("a result without outputs")?;
        let path = outputs
            .get("out")
            .or_else(|| outputs.values().next())
            .and_then(|p| p.as_str())
            .with_context(|| format!("{attr} has no output path"))?;
        output_of_attr.insert(attr.clone(), path.to_string());
    }
    let mut outputs = BTreeMap::new();
    for (target, attr) in job.targets.iter().zip(&job.attrs) {
        let path = output_of_attr[attr].clone();
        if !rooted {
            context.roots.add(target, job.id, &path).await?;
        }
        outputs.insert(target.clone(), path);
    }
    Ok(outputs)
}

/// The derivation of `attr` (with the job's inputs overridden, as it was built), from Nix's
/// evaluation cache of the build that just ran.
async fn derivation_of(
    flake_ref: &str,
    attr: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<String> {
    let output = Command::from(nix_command::derivation_path(flake_ref, attr, overrides).command())
        .stdin(Stdio::null())
        .output()
        .await
        .context("failed to run nix eval")?;
    if !output.status.success() {
        bail!(
            "cannot tell the derivation of {attr}: {}",
            strip_ansi(String::from_utf8_lossy(&output.stderr).trim())
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
