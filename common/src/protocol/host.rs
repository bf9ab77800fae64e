//! The fleet's JSON, as docs/reference.md fixes it, defined once for the box and the hosts: the
//! report a host's deploy sends, and the host object the box answers with. Pure.

use serde::{Deserialize, Serialize};

/// What a host's deploy says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Switching now (download, activation, health checks).
    Deploying,
    /// The newest build runs and passed its health checks.
    Deployed,
    /// Nothing to do: the newest build already runs.
    UpToDate,
    /// Activation or a health check failed; the previous generation runs again.
    RolledBack,
    /// The deploy could not even start (download refused, no space).
    Failed,
    /// The host runs a system the box did not give it (a hand-run `nixos-rebuild switch`)
    /// and is left alone until the box has a new target for it.
    Local,
    /// The new system is activated for the next boot (or the running kernel or initrd differ
    /// from the system's): it runs fully only after a reboot.
    RebootNeeded,
}

impl ReportState {
    pub const ALL: [ReportState; 7] = [
        ReportState::Deploying,
        ReportState::Deployed,
        ReportState::UpToDate,
        ReportState::RolledBack,
        ReportState::Failed,
        ReportState::Local,
        ReportState::RebootNeeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Deploying => "deploying",
            ReportState::Deployed => "deployed",
            ReportState::UpToDate => "up_to_date",
            ReportState::RolledBack => "rolled_back",
            ReportState::Failed => "failed",
            ReportState::Local => "local",
            ReportState::RebootNeeded => "reboot_needed",
        }
    }

    pub fn parse(text: &str) -> Option<ReportState> {
        ReportState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The body of `POST /api/v1/hosts/{name}/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub state: ReportState,
    /// The system the host runs now.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The build this report is about (the one being deployed, or that failed); the box
    /// takes its own newest build of the host when it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted: Option<String>,
}

/// The body of `PUT /api/v1/hosts/{name}/pin` (and of `PUT /api/v1/fleet/pin`, which takes
/// only `rev`): one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// A commit id, full or short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// A store path the box built for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A host as the box sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    /// The newest succeeded build of this host's system at the newest commit on the watched
    /// branch that built it (by git ancestry, not job order).
    pub latest: Option<Latest>,
    /// What the host last reported running.
    pub running: Option<Running>,
    pub state: HostState,
    pub last_report: Option<LastReport>,
    pub last_seen: Option<String>,
    /// `running.path` is not `target.path`.
    pub behind: bool,
    /// What the host was pinned to, if it is.
    #[serde(default)]
    pub pinned: Option<Pinned>,
    /// What the host is to run: its pin, else `latest`.
    #[serde(default)]
    pub target: Option<Target>,
    /// When someone last asked (`fleet retry`) that the host forget the builds that failed
    /// on it; a host's deploy that sees a newer time than it acted on forgets them.
    #[serde(default)]
    pub retry_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    /// The revision pinned to (full id); `None` for a pin to a store path.
    pub rev: Option<String>,
    pub path: String,
    /// When the pin was set.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub path: String,
    /// The revision of the build, `None` when the box cannot tell.
    pub rev: Option<String>,
    /// The job that built it.
    pub job: Option<u64>,
    pub source: TargetSource,
    /// Paths in its closure that came by push (the job's `pushed`); empty when none did.
    #[serde(default)]
    pub pushed: Vec<String>,
}

/// Why the target is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    Pinned,
    Latest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub job: u64,
    pub rev: String,
    pub path: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub path: String,
    /// `None` when the box never built this path.
    pub rev: Option<String>,
    pub job: Option<u64>,
    /// When the host first reported running this path (in its latest stretch of reports).
    pub since: String,
    /// Whether the box built this path.
    pub known: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReport {
    pub state: ReportState,
    pub path: String,
    pub message: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    NeverSeen,
    UpToDate,
    Behind,
    Deploying,
    RolledBack,
    Failed,
    /// Runs a system the box did not give it.
    Local,
    /// Runs its target fully only after a reboot.
    RebootNeeded,
}

impl HostState {
    pub const ALL: [HostState; 8] = [
        HostState::NeverSeen,
        HostState::UpToDate,
        HostState::Behind,
        HostState::Deploying,
        HostState::RolledBack,
        HostState::Failed,
        HostState::Local,
        HostState::RebootNeeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HostState::NeverSeen => "never_seen",
            HostState::UpToDate => "up_to_date",
            HostState::Behind => "behind",
            HostState::Deploying => "deploying",
            HostState::RolledBack => "rolled_back",
            HostState::Failed => "failed",
            HostState::Local => "local",
            HostState::RebootNeeded => "reboot_needed",
        }
    }

    /// For people: `up to date`, `rolled back`, …
    pub fn words(self) -> &'static str {
        match self {
            HostState::NeverSeen => "never seen",
            HostState::UpToDate => "up to date",
            HostState::Behind => "behind",
            HostState::Deploying => "deploying",
            HostState::RolledBack => "rolled back",
            HostState::Failed => "failed",
            HostState::Local => "local",
            HostState::RebootNeeded => "reboot needed",
        }
    }
}

/// A host is behind when it does not run its target.
pub fn is_behind(running: Option<&str>, target: Option<&str>) -> bool {
    target.is_some_and(|target| running != Some(target))
}

/// A host name the box accepts: what NixOS allows for `networking.hostName`, and
/// nothing that could name a file or escape a URL.
pub fn is_valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_bodies_parse_strictly() {
        let report: Report =
            serde_json::from_str(r#"{"state":"rolled_back","path":"/nix/store/x","message":"m"}"#)
                .unwrap();
        assert_eq!(report.state, ReportState::RolledBack);
        assert!(serde_json::from_str::<Report>(r#"{"state":"nope","path":"/x"}"#).is_err());
        assert!(serde_json::from_str::<Report>(r#"{"state":"deployed"}"#).is_err());
        assert!(
            serde_json::from_str::<Report>(r#"{"state":"deployed","path":"/x","extra":1}"#)
                .is_err()
        );
        for state in ReportState::ALL {
            assert_eq!(ReportState::parse(state.as_str()), Some(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
    }

    #[test]
    fn host_names() {
        for good in ["laptop", "web-1", "a.b", "x_y"] {
            assert!(is_valid_host_name(good), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "a%2F", &"x".repeat(64)] {
            assert!(!is_valid_host_name(bad), "{bad}");
        }
    }
}
