//! The job model: states and their allowed changes, triggers, progress, and the job's JSON as
//! docs/reference.md fixes it. Pure: no database, no processes.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub(crate) const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Succeeded, failed or cancelled: nothing more happens to the job.
    pub(crate) fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Trigger {
    Api,
    Poll,
    Webhook,
    /// A watched flake input moved: the fleet built with that input at its new commit.
    Input,
}

impl Trigger {
    pub(crate) const ALL: [Trigger; 4] = [
        Trigger::Api,
        Trigger::Poll,
        Trigger::Webhook,
        Trigger::Input,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Poll => "poll",
            Trigger::Webhook => "webhook",
            Trigger::Input => "input",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether a succeeded job of the same attributes at the same revision stands for a new
    /// one, as a queued or running one always does. Yes for a poll, a webhook or an input: a
    /// forge's redelivery, or a branch moved back to a commit already built, builds nothing
    /// new. No for an API request: whoever asks may mean to build again.
    pub(crate) fn reuses_succeeded(self) -> bool {
        match self {
            Trigger::Api => false,
            Trigger::Poll | Trigger::Webhook | Trigger::Input => true,
        }
    }
}

/// Derivations built of those to build, and the one being built now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct Progress {
    pub done: u64,
    pub total: u64,
    pub current: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Job {
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
    /// Flake inputs built at another commit than the fleet's lock file pins, by name: the
    /// commit (empty for a build of the fleet as it is).
    pub inputs: BTreeMap<String, String>,
    /// Paths in the closures of the outputs that came by push (only in the cache's pushed
    /// area, not built or substituted by the box); filled in by the API when shown.
    pub pushed: Vec<String>,
    /// The flake reference each of those inputs is overridden with (`--override-input`);
    /// not shown (it names a mirror in the state dir).
    #[serde(skip)]
    pub input_refs: BTreeMap<String, String>,
}

/// A flake input a job builds at another commit than the fleet's lock file pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputOverride {
    pub rev: String,
    /// What Nix fetches the input from instead (with `rev=`).
    pub flake_ref: String,
}

/// What a new job is made of.
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    pub targets: Vec<String>,
    pub attrs: Vec<String>,
    pub rev: String,
    pub trigger: Trigger,
    /// Inputs overridden, by name (none: the fleet as its lock file pins it).
    pub inputs: BTreeMap<String, InputOverride>,
    /// A job that failed before it could be queued (an unknown target, a flake that does not
    /// evaluate) is recorded as failed at once, with this error.
    pub failed: Option<String>,
}

impl NewJob {
    /// A plain API request for `attrs` at `rev`, for the history's tests.
    #[cfg(test)]
    pub(crate) fn for_test(attrs: &[&str], rev: &str) -> NewJob {
        NewJob {
            targets: attrs.iter().map(|s| s.to_string()).collect(),
            attrs: attrs.iter().map(|s| s.to_string()).collect(),
            rev: rev.into(),
            trigger: Trigger::Api,
            inputs: BTreeMap::new(),
            failed: None,
        }
    }

    /// The key under which identical requests are one job: the set of attributes (order and
    /// duplicates do not matter) at the full revision, with the same inputs at the same
    /// commits. After its first line, the attribute set and the overridden inputs' names: what
    /// makes a series of jobs whose outcomes follow each other (see `stats`).
    pub(crate) fn dedupe_key(&self) -> String {
        let mut key = self.rev.clone();
        for (name, input) in &self.inputs {
            key.push_str(&format!(" {name}={}", input.rev));
        }
        key.push('\n');
        key.push_str(&series(&self.attrs, self.inputs.keys()));
        key
    }

    /// The overridden inputs' commits, by name, as the job shows them.
    pub(crate) fn input_revs(&self) -> BTreeMap<String, String> {
        self.inputs
            .iter()
            .map(|(name, input)| (name.clone(), input.rev.clone()))
            .collect()
    }

    /// The overridden inputs' flake references, by name.
    pub(crate) fn input_refs(&self) -> BTreeMap<String, String> {
        self.inputs
            .iter()
            .map(|(name, input)| (name.clone(), input.flake_ref.clone()))
            .collect()
    }
}

/// A series of jobs whose outcomes follow each other (a failure, then a recovery): the set of
/// attributes, and the names of the inputs overridden (a build with a moved input is not the
/// fleet's own build). The dedupe key after its first line.
pub(crate) fn series<'a>(attrs: &[String], inputs: impl IntoIterator<Item = &'a String>) -> String {
    let mut series = attr_set(attrs);
    for name in inputs {
        series.push_str(&format!("\ninput:{name}"));
    }
    series
}

/// A job's attributes as a set: sorted, without repeats, one a line (order and spelling of
/// the request do not matter). The dedupe key holds it after the revision (see `series`).
pub(crate) fn attr_set(attrs: &[String]) -> String {
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
            inputs: BTreeMap::new(),
            failed: None,
        };
        assert_eq!(
            job(&["b", "a"]).dedupe_key(),
            job(&["a", "b", "a"]).dedupe_key()
        );
        assert_ne!(job(&["a"]).dedupe_key(), job(&["a", "b"]).dedupe_key());

        let with_input = |rev: &str| {
            let mut new = job(&["a"]);
            new.trigger = Trigger::Input;
            new.inputs.insert(
                "terminal".into(),
                InputOverride {
                    rev: rev.into(),
                    flake_ref: format!("git+file:///m?rev={rev}"),
                },
            );
            new
        };
        assert_ne!(with_input("r1").dedupe_key(), job(&["a"]).dedupe_key());
        assert_ne!(with_input("r1").dedupe_key(), with_input("r2").dedupe_key());
        assert_eq!(with_input("r1").dedupe_key(), with_input("r1").dedupe_key());
        // The fleet's revision stays the key's first line.
        assert!(with_input("r1").dedupe_key().starts_with("abc "));
    }

    #[test]
    fn triggers_round_trip() {
        for trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(trigger.as_str()), Some(trigger));
        }
        assert_eq!(Trigger::parse("input"), Some(Trigger::Input));
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
