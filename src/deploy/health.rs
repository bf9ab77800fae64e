//! Is the new system healthy? Every `deploy.health_checks` command (`sh -c`) exits 0, and the
//! box answers again (a system that cuts the host off the tailnet is not healthy), all before
//! the deadline. A check that fails is tried again each second until the deadline, since
//! services may still be settling just after activation.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::bounded::{self, Ended};
use super::log::Log;
use crate::client::ApiClient;

const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for one health answer from the box.
const BOX_ANSWER: Duration = Duration::from_secs(5);

/// Why the system is not healthy, for the report.
pub type Unhealthy = String;

/// `Ok(Ok(()))` when healthy; `Ok(Err(reason))` when not.
pub fn check(
    checks: &[String],
    api: &ApiClient,
    deadline: Instant,
    log: &Log,
) -> Result<Result<(), Unhealthy>> {
    for check in checks {
        loop {
            let mut command = Command::new("sh");
            command.args(["-c", check]);
            let finished = bounded::run(command, deadline, Some(log.boxed()))?;
            let why = match &finished.ended {
                Ended::Succeeded => break,
                Ended::Failed(status) => format!("health check `{check}` failed ({status})"),
                Ended::TimedOut => {
                    format!("health check `{check}` did not finish before the health timeout")
                }
            };
            if Instant::now() + RETRY_EVERY >= deadline {
                return Ok(Err(with_output(why, &finished.output)));
            }
            std::thread::sleep(RETRY_EVERY);
        }
        log.line(&format!("health check `{check}` passed"));
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if api.answers(left.min(BOX_ANSWER).max(Duration::from_millis(100))) {
            return Ok(Ok(()));
        }
        if Instant::now() + RETRY_EVERY >= deadline {
            return Ok(Err(format!(
                "the box at {} did not answer before the health timeout (is the host still on the tailnet?)",
                api.base()
            )));
        }
        std::thread::sleep(RETRY_EVERY);
    }
}

/// `reason: output`, when there was output.
pub fn with_output(reason: String, output: &str) -> String {
    if output.trim().is_empty() {
        reason
    } else {
        format!("{reason}: {}", output.trim())
    }
}
