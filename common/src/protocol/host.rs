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
    /// Every state a report may carry.
    pub const ALL: [ReportState; 7] = [
        ReportState::Deploying,
        ReportState::Deployed,
        ReportState::UpToDate,
        ReportState::RolledBack,
        ReportState::Failed,
        ReportState::Local,
        ReportState::RebootNeeded,
    ];

    /// The state's JSON string (`up_to_date`, `rolled_back`, …).
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

    /// The state named by its JSON string; `None` for anything else.
    pub fn parse(text: &str) -> Option<ReportState> {
        ReportState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The body of `POST /api/v1/hosts/{name}/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// What the deploy says happened.
    pub state: ReportState,
    /// The system the host runs now.
    pub path: String,
    /// Why, in words (a failure's error); the box cuts it at 4 KiB.
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
    /// The host's name: its attribute in `nixosConfigurations`, and the name it reports under.
    pub name: String,
    /// The newest succeeded build of this host's system at the newest commit on the watched
    /// branch that built it (by git ancestry, not job order).
    pub latest: Option<Latest>,
    /// What the host last reported running.
    pub running: Option<Running>,
    /// The first state that holds, by the reference's table (`never_seen`, …).
    pub state: HostState,
    /// The host's last report; `None` when it never reported.
    pub last_report: Option<LastReport>,
    /// When the host last reported (RFC 3339); `None` when it never did.
    pub last_seen: Option<String>,
    /// `running.path` is not `target.path` (and there is a target).
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

/// What a host is pinned to (`pinned` in the host object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    /// The revision pinned to (full id); `None` for a pin to a store path.
    pub rev: Option<String>,
    /// The store path pinned to.
    pub path: String,
    /// When the pin was set.
    pub at: String,
}

/// What a host is to run (`target` in the host object): its pin, else `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The system's store path.
    pub path: String,
    /// The revision of the build, `None` when the box cannot tell.
    pub rev: Option<String>,
    /// The job that built it.
    pub job: Option<u64>,
    /// Whether the target is the host's pin or its `latest`.
    pub source: TargetSource,
    /// Paths in its closure that came by push (the job's `pushed`); empty when none did.
    #[serde(default)]
    pub pushed: Vec<String>,
}

/// Why the target is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    /// `pinned`: the host's pin.
    Pinned,
    /// `latest`: the newest build on the watched branch.
    Latest,
}

/// The newest build of a host on the watched branch (`latest` in the host object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    /// The job that built it.
    pub job: u64,
    /// The fleet commit it was built at (full id).
    pub rev: String,
    /// The system's store path.
    pub path: String,
    /// When that job finished (RFC 3339); `None` when its record has no such time.
    pub finished_at: Option<String>,
}

/// What a host last reported running (`running` in the host object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// The running system's store path.
    pub path: String,
    /// `None` when the box never built this path.
    pub rev: Option<String>,
    /// The job that built this path; `None` when the box never built it.
    pub job: Option<u64>,
    /// When the host first reported running this path (in its latest stretch of reports).
    pub since: String,
    /// Whether the box built this path.
    pub known: bool,
}

/// The host's last report as the box kept it (`last_report` in the host object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReport {
    /// What the report said happened.
    pub state: ReportState,
    /// The system the host ran when it reported.
    pub path: String,
    /// The report's message (cut at 4 KiB; at 256 bytes in the status); `None` without one.
    pub message: Option<String>,
    /// When the box last received this report (RFC 3339).
    pub at: String,
}

/// A host's state as the box sums it up (`state` in the host object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// The host never reported.
    NeverSeen,
    /// The host runs its target (or a system the box built, when there is no target).
    UpToDate,
    /// There is a target the host does not run.
    Behind,
    /// The last report, about the target, said it is deploying.
    Deploying,
    /// The last report, about the target, said it rolled back.
    RolledBack,
    /// The last report, about the target, said the deploy failed.
    Failed,
    /// Runs a system the box did not give it.
    Local,
    /// Runs its target fully only after a reboot.
    RebootNeeded,
}

impl HostState {
    /// Every state, in the order `/metrics` lists them.
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

    /// The state's JSON string (`never_seen`, `up_to_date`, …).
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
