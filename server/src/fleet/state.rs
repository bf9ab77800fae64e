//! How the box works out a host's state from its last report, its target and what the box
//! built for it, and the last report as the box keeps it. Pure.

use common::protocol::host::{HostState, ReportState};

/// The last report as the box keeps it: what it said and which build it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredReport {
    pub state: ReportState,
    pub path: String,
    pub message: Option<String>,
    /// The build the report was about (`None`: the box had no target for the host then).
    pub about: Option<String>,
    /// When it was last sent (a repeated report only moves this).
    pub at: String,
    /// When the host first reported running `path` in its latest stretch of reports.
    pub running_since: String,
}

/// The states in order, the first that holds wins:
/// - `never_seen` without a report;
/// - the last report's `deploying`, `rolled_back` or `failed` while the target is still the
///   build it was about, and `reboot_needed` likewise;
/// - `up_to_date` when the host runs its target;
/// - `local` when the report said so, or the host runs a system the box never built for it
///   (`built_here`);
/// - `behind` when there is a target it does not run;
/// - else `up_to_date` (a box-built system and no target).
pub(super) fn host_state(
    last: Option<&StoredReport>,
    target: Option<&str>,
    built_here: impl Fn(&str) -> bool,
) -> HostState {
    let Some(last) = last else {
        return HostState::NeverSeen;
    };
    if last.about.as_deref() == target {
        match last.state {
            ReportState::Deploying => return HostState::Deploying,
            ReportState::RolledBack => return HostState::RolledBack,
            ReportState::Failed => return HostState::Failed,
            ReportState::RebootNeeded => return HostState::RebootNeeded,
            ReportState::Deployed | ReportState::UpToDate | ReportState::Local => {}
        }
    }
    if target == Some(last.path.as_str()) {
        return HostState::UpToDate;
    }
    if last.state == ReportState::Local || !built_here(&last.path) {
        return HostState::Local;
    }
    if target.is_some() {
        HostState::Behind
    } else {
        HostState::UpToDate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(state: ReportState, path: &str, about: Option<&str>) -> StoredReport {
        StoredReport {
            state,
            path: path.into(),
            message: None,
            about: about.map(str::to_string),
            at: "t".into(),
            running_since: "t".into(),
        }
    }

    /// The box built old, new and newer for this host.
    fn built(path: &str) -> bool {
        ["/nix/store/old", "/nix/store/new", "/nix/store/newer"].contains(&path)
    }

    #[test]
    fn state_follows_the_documented_order() {
        let new = Some("/nix/store/new");
        assert_eq!(host_state(None, new, built), HostState::NeverSeen);
        let up = report(
            ReportState::Deployed,
            "/nix/store/new",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&up), new, built), HostState::UpToDate);
        // A failure about the target shows as long as that build is the target …
        let rolled = report(
            ReportState::RolledBack,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&rolled), new, built), HostState::RolledBack);
        // … and a newer target (or a pin to another build) makes the host merely behind.
        let newer = Some("/nix/store/newer");
        assert_eq!(host_state(Some(&rolled), newer, built), HostState::Behind);
        let deploying = report(
            ReportState::Deploying,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(
            host_state(Some(&deploying), new, built),
            HostState::Deploying
        );
        let failed = report(
            ReportState::Failed,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&failed), new, built), HostState::Failed);
    }

    #[test]
    fn reboot_needed_lasts_while_the_target_does() {
        let new = Some("/nix/store/new");
        let boot = report(
            ReportState::RebootNeeded,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&boot), new, built), HostState::RebootNeeded);
        // Also when the new system runs already (a kernel change in `switch` mode).
        let kernel = report(
            ReportState::RebootNeeded,
            "/nix/store/new",
            Some("/nix/store/new"),
        );
        assert_eq!(
            host_state(Some(&kernel), new, built),
            HostState::RebootNeeded
        );
        let newer = Some("/nix/store/newer");
        assert_eq!(host_state(Some(&boot), newer, built), HostState::Behind);
    }

    #[test]
    fn a_system_the_box_did_not_give_is_local() {
        let new = Some("/nix/store/new");
        // Said by the host, or seen by the box: a path it never built for the host.
        let said = report(ReportState::Local, "/nix/store/old", Some("/nix/store/new"));
        assert_eq!(host_state(Some(&said), new, built), HostState::Local);
        let own = report(ReportState::UpToDate, "/nix/store/own", None);
        assert_eq!(host_state(Some(&own), new, built), HostState::Local);
        assert_eq!(host_state(Some(&own), None, built), HostState::Local);
        // Running the target is up to date whatever the report said.
        let there = report(ReportState::Local, "/nix/store/new", Some("/nix/store/new"));
        assert_eq!(host_state(Some(&there), new, built), HostState::UpToDate);
        // A box-built system with nothing to run: up to date.
        let old = report(ReportState::UpToDate, "/nix/store/old", None);
        assert_eq!(host_state(Some(&old), None, built), HostState::UpToDate);
    }
}
