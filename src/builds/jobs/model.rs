//! The job model: states and their allowed changes, triggers, progress, and the job's JSON as
//! the contract fixes it. Pure: no database, no processes.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Succeeded, failed or cancelled: nothing more happens to the job.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Api,
    Poll,
    Webhook,
}

impl Trigger {
    pub const ALL: [Trigger; 3] = [Trigger::Api, Trigger::Poll, Trigger::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Poll => "poll",
            Trigger::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether a succeeded job of the same attributes at the same revision stands for a new
    /// one, as a queued or running one always does. Yes for a poll or a webhook: a forge's
    /// redelivery, or a branch moved back to a commit already built, builds nothing new. No
    /// for an API request: whoever asks may mean to build again.
    pub fn reuses_succeeded(self) -> bool {
        match self {
            Trigger::Api => false,
            Trigger::Poll | Trigger::Webhook => true,
        }
    }
}

/// Derivations built of those to build, and the one being built now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub current: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: u64,
    pub state: JobState,
    /// As given (host names for the default hosts).
    pub targets: Vec<String>,
    /// The flake attribute each target resolved to, in the same order.
    pub attrs: Vec<String>,
    pub rev: String,
    pub trigger: Trigger,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Output store path by target.
    pub outputs: BTreeMap<String, String>,
    pub error: Option<String>,
    pub progress: Option<Progress>,
    /// Which run of the job this is (or was last): 1, and one more each time a server that
    /// stopped while it ran queued it again.
    pub attempt: u32,
}

/// What a new job is made of.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub targets: Vec<String>,
    pub attrs: Vec<String>,
    pub rev: String,
    pub trigger: Trigger,
    /// A job that failed before it could be queued (an unknown target, a flake that does not
    /// evaluate) is recorded as failed at once, with this error.
    pub failed: Option<String>,
}

impl NewJob {
    /// The key under which identical requests are one job: the set of attributes (order and
    /// duplicates do not matter) at the full revision.
    pub fn dedupe_key(&self) -> String {
        format!("{}\n{}", self.rev, attr_set(&self.attrs))
    }
}

/// A job's attributes as a set: sorted, without repeats, one a line (order and spelling of
/// the request do not matter).
pub fn attr_set(attrs: &[String]) -> String {
    let mut attrs = attrs.to_vec();
    attrs.sort();
    attrs.dedup();
    attrs.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_ignores_order_and_repeats() {
        let job = |attrs: &[&str]| NewJob {
            targets: Vec::new(),
            attrs: attrs.iter().map(|s| s.to_string()).collect(),
            rev: "abc".into(),
            trigger: Trigger::Api,
            failed: None,
        };
        assert_eq!(
            job(&["b", "a"]).dedupe_key(),
            job(&["a", "b", "a"]).dedupe_key()
        );
        assert_ne!(job(&["a"]).dedupe_key(), job(&["a", "b"]).dedupe_key());
    }

    #[test]
    fn states_round_trip() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
        }
        assert!(JobState::Cancelled.is_finished());
        assert!(!JobState::Running.is_finished());
    }
}
