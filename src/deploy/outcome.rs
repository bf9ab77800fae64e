//! How a deploy ended, what it tells the box and the person or script that ran it, and the
//! exit code the contract gives it: 0 deployed, up to date, nothing built yet or a failed
//! build skipped; 1 rolled back; 3 the box could not give the system.

use serde::Serialize;

use crate::exit::JOB_FAILED;
use crate::protocol::host::Report;

#[derive(Debug)]
pub enum Outcome {
    /// The box has no successful build of this host yet.
    NothingBuilt,
    UpToDate(Report),
    /// The newest build failed here before: not tried again (reported again, so the box keeps
    /// showing it).
    Skipped(Report),
    Deployed(Report),
    RolledBack(Report),
    RolledBackByHand {
        report: Report,
        code: i32,
    },
    /// It could not even start; nothing changed.
    Failed {
        report: Report,
        code: i32,
    },
    DryRun(Plan),
}

/// What a deploy would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub host: String,
    pub from: Option<String>,
    pub to: String,
    pub rev: Option<String>,
    pub job: Option<u64>,
    pub mode: String,
    pub steps: Vec<String>,
}

impl Outcome {
    /// The report to send, if any.
    pub fn report(&self) -> Option<&Report> {
        match self {
            Outcome::NothingBuilt | Outcome::DryRun(_) => None,
            Outcome::UpToDate(r)
            | Outcome::Skipped(r)
            | Outcome::Deployed(r)
            | Outcome::RolledBack(r)
            | Outcome::RolledBackByHand { report: r, .. }
            | Outcome::Failed { report: r, .. } => Some(r),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::NothingBuilt
            | Outcome::UpToDate(_)
            | Outcome::Skipped(_)
            | Outcome::Deployed(_)
            | Outcome::DryRun(_) => 0,
            Outcome::RolledBack(_) => JOB_FAILED,
            Outcome::RolledBackByHand { code, .. } | Outcome::Failed { code, .. } => *code,
        }
    }

    /// Whether the host changed: a report that cannot be sent then does not change the exit
    /// code (the host's own result matters more).
    pub fn changed_the_host(&self) -> bool {
        matches!(
            self,
            Outcome::Deployed(_) | Outcome::RolledBack(_) | Outcome::RolledBackByHand { .. }
        )
    }

    /// One line for a person.
    pub fn summary(&self, host: &str) -> String {
        match self {
            Outcome::NothingBuilt => {
                format!("the box has no successful build of {host} yet; nothing to deploy")
            }
            Outcome::UpToDate(r) => format!("{host} is up to date: {}", r.path),
            Outcome::Skipped(r) => r.message.clone().unwrap_or_default(),
            Outcome::Deployed(r) => match &r.message {
                Some(message) => format!("{host}: {message}"),
                None => format!("{host} now runs {}", r.path),
            },
            Outcome::RolledBack(r) | Outcome::RolledBackByHand { report: r, .. } => format!(
                "{host} rolled back and runs {}: {}",
                r.path,
                r.message.as_deref().unwrap_or("")
            ),
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
    pub fn json(&self, host: &str) -> serde_json::Value {
        match self {
            Outcome::DryRun(plan) => serde_json::json!({ "dry_run": true, "plan": plan }),
            Outcome::NothingBuilt => serde_json::json!({ "host": host, "latest": null }),
            other => serde_json::to_value(other.report()).expect("serialisable report"),
        }
    }
}
