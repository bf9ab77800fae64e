//! How a deploy ended, what it tells the box and the person or script that ran it, and the
//! exit code it gives: 0 deployed, up to date, left alone (`local`), waiting for a reboot,
//! nothing built yet or a failed build skipped; 1 rolled back, or the target refused; 2
//! another switch holds the lock; 3 the box could not give the system or be reached.

use super::plan::Plan;
use common::exit::JOB_FAILED;
use common::protocol::host::Report;

#[derive(Debug)]
pub(super) enum Outcome {
    /// The box has no successful build of this host yet.
    NothingBuilt,
    UpToDate(Report),
    /// The host runs a system the box did not give it: left alone.
    Local(Report),
    /// The target failed here before: not tried again (reported again, so the box keeps
    /// showing it).
    Skipped(Report),
    Deployed(Report),
    /// Deployed for the next boot (or running with a kernel that needs one).
    RebootNeeded(Report),
    /// Activation or a check failed and the old system runs again; `transient`: not held
    /// against the build, tried again later.
    RolledBack {
        report: Report,
        transient: bool,
    },
    RolledBackByHand {
        report: Report,
        code: i32,
    },
    /// It did not start, or the target was refused; nothing changed.
    Failed {
        report: Report,
        code: i32,
        transient: bool,
    },
    DryRun(Plan),
}

impl Outcome {
    /// The report to send, if any.
    pub(super) fn report(&self) -> Option<&Report> {
        match self {
            Outcome::NothingBuilt | Outcome::DryRun(_) => None,
            Outcome::UpToDate(r)
            | Outcome::Local(r)
            | Outcome::Skipped(r)
            | Outcome::Deployed(r)
            | Outcome::RebootNeeded(r)
            | Outcome::RolledBack { report: r, .. }
            | Outcome::RolledBackByHand { report: r, .. }
            | Outcome::Failed { report: r, .. } => Some(r),
        }
    }

    pub(super) fn exit_code(&self) -> i32 {
        match self {
            Outcome::NothingBuilt
            | Outcome::UpToDate(_)
            | Outcome::Local(_)
            | Outcome::Skipped(_)
            | Outcome::Deployed(_)
            | Outcome::RebootNeeded(_)
            | Outcome::DryRun(_) => 0,
            Outcome::RolledBack { .. } => JOB_FAILED,
            Outcome::RolledBackByHand { code, .. } | Outcome::Failed { code, .. } => *code,
        }
    }

    /// Whether the host changed: its report is kept until the box has it.
    pub(super) fn changed_the_host(&self) -> bool {
        matches!(
            self,
            Outcome::Deployed(_)
                | Outcome::RebootNeeded(_)
                | Outcome::RolledBack { .. }
                | Outcome::RolledBackByHand { .. }
        )
    }

    /// A passing trouble (a held lock, a timeout, the box away): `--watch` tries again with
    /// backoff.
    pub(super) fn is_transient(&self) -> bool {
        matches!(
            self,
            Outcome::RolledBack {
                transient: true,
                ..
            } | Outcome::Failed {
                transient: true,
                ..
            }
        )
    }

    /// One line for a person.
    pub(super) fn summary(&self, host: &str) -> String {
        match self {
            Outcome::NothingBuilt => {
                format!("the box has no successful build of {host} yet; nothing to deploy")
            }
            Outcome::UpToDate(r) => format!("{host} is up to date: {}", r.path),
            Outcome::Local(r) | Outcome::Skipped(r) => r.message.clone().unwrap_or_default(),
            Outcome::Deployed(r) | Outcome::RebootNeeded(r) => match &r.message {
                Some(message) => format!("{host}: {message}"),
                None => format!("{host} now runs {}", r.path),
            },
            Outcome::RolledBack { report: r, .. } | Outcome::RolledBackByHand { report: r, .. } => {
                format!(
                    "{host} rolled back and runs {}: {}",
                    r.path,
                    r.message.as_deref().unwrap_or("")
                )
            }
            Outcome::Failed { report, .. } => format!(
                "deploying {} failed, nothing changed: {}",
                report.wanted.as_deref().unwrap_or("the new system"),
                report.message.as_deref().unwrap_or("")
            ),
            Outcome::DryRun(plan) => {
                let mut text = format!(
                    "would deploy {} to {} ({} mode), from {}:\n",
                    plan.to,
                    plan.host,
                    plan.mode,
                    plan.from.as_deref().unwrap_or("nothing known")
                );
                for step in &plan.steps {
                    text.push_str(&format!("  {step}\n"));
                }
                text.trim_end().to_string()
            }
        }
    }

    /// The JSON for `--json`: the report sent, or the plan, or what there was to say.
    pub(super) fn json(&self, host: &str) -> serde_json::Value {
        match self {
            Outcome::DryRun(plan) => serde_json::json!({ "dry_run": true, "plan": plan }),
            Outcome::NothingBuilt => serde_json::json!({ "host": host, "latest": null }),
            other => serde_json::to_value(other.report()).expect("serialisable report"),
        }
    }
}
