//! Is the new system healthy? Its checks come from the system itself
//! (`<system>/etc/atuin-bootstrap/health-checks.json`, which the NixOS module writes), else
//! from `deploy.health_checks`; each must pass, and the box must answer again (a system that
//! cuts the host off the tailnet is not healthy), all before the deadline. A check that fails
//! is tried again each second until the deadline, since services may still be settling just
//! after activation. Built-in checks need no shell or curl on the agent's PATH (see `check`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::check::Check;
use super::log::Log;
use crate::client::ApiClient;

const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for one health answer from the box.
const BOX_ANSWER: Duration = Duration::from_secs(5);
/// Where a NixOS system carries its own checks.
pub(super) const CHECKS_IN_SYSTEM: &str = "etc/atuin-bootstrap/health-checks.json";

/// What the checks found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Health {
    Healthy,
    /// A check failed: the new system is at fault.
    Unhealthy(String),
    /// Every check passed but the box did not answer: it may be the box that is away, so
    /// this is tried again later, never held against the system.
    BoxAway(String),
}

/// The checks `system` asks for, else the configured ones; `Err(reason)` when the system's
/// file is there but unreadable (a broken system).
pub(super) fn checks_for(system: &str, configured: &[String]) -> Result<Vec<String>, String> {
    let file = Path::new(system).join(CHECKS_IN_SYSTEM);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a JSON list of checks: {e}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(configured.to_vec()),
        Err(e) => Err(format!("failed to read {}: {e}", file.display())),
    }
}

/// Runs every check, then waits for the box (`None`: the box is not asked, as when finishing
/// an interrupted deploy without it).
pub(super) fn check(
    checks: &[String],
    the_box: Option<&ApiClient>,
    deadline: Instant,
    log: &Log,
) -> Result<Health> {
    for text in checks {
        let check = Check::parse(text);
        loop {
            let why = match check.run(deadline, log)? {
                Ok(()) => break,
                Err(why) => why,
            };
            if Instant::now() + RETRY_EVERY >= deadline {
                return Ok(Health::Unhealthy(why));
            }
            std::thread::sleep(RETRY_EVERY);
        }
        log.line(&format!("health check `{text}` passed"));
    }
    let Some(api) = the_box else {
        return Ok(Health::Healthy);
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if api.answers(left.min(BOX_ANSWER).max(Duration::from_millis(100))) {
            return Ok(Health::Healthy);
        }
        if Instant::now() + RETRY_EVERY >= deadline {
            return Ok(Health::BoxAway(format!(
                "the box at {} did not answer before the health timeout (is the host still on the tailnet?)",
                api.base()
            )));
        }
        std::thread::sleep(RETRY_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_from_the_system_when_it_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().to_str().unwrap();
        let configured = vec!["true".to_string()];
        assert_eq!(checks_for(system, &configured).unwrap(), configured);
        std::fs::create_dir_all(dir.path().join("etc/atuin-bootstrap")).unwrap();
        std::fs::write(
            dir.path().join(CHECKS_IN_SYSTEM),
            r#"["unit:sshd.service", "tcp:127.0.0.1:22"]"#,
        )
        .unwrap();
        assert_eq!(
            checks_for(system, &configured).unwrap(),
            vec!["unit:sshd.service", "tcp:127.0.0.1:22"]
        );
        std::fs::write(dir.path().join(CHECKS_IN_SYSTEM), "{").unwrap();
        assert!(
            checks_for(system, &configured)
                .unwrap_err()
                .contains("not a JSON list")
        );
    }
}
