//! How the box works out a host's state from its last report and its newest build (the
//! contract's order), and the last report as the box keeps it. Pure.

use crate::protocol::host::{is_behind, HostState, Latest, ReportState};

/// The last report as the box keeps it: what it said and which build it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub state: ReportState,
    pub path: String,
    pub message: Option<String>,
    /// The build the report was about (`None`: the box had no build of the host then).
    pub about: Option<String>,
    /// When it was last sent (a repeated report only moves this).
    pub at: String,
    /// When the host first reported running `path` in its latest stretch of reports.
    pub running_since: String,
}

/// The contract's order: `never_seen` without a report; the last report's `deploying`,
/// `rolled_back` or `failed` while the newest build is still the one it was about; else
/// `behind` when the running path is not the newest build's; else `up_to_date`.
pub fn host_state(last: Option<&StoredReport>, latest: Option<&Latest>) -> HostState {
    let Some(last) = last else {
        return HostState::NeverSeen;
    };
    let latest_path = latest.map(|l| l.path.as_str());
    if last.about.as_deref() == latest_path {
        match last.state {
            ReportState::Deploying => return HostState::Deploying,
            ReportState::RolledBack => return HostState::RolledBack,
            ReportState::Failed => return HostState::Failed,
            // The box side shows `local` and `reboot_needed` as states of their own; until
            // then they count as what the running path says.
            ReportState::Deployed
            | ReportState::UpToDate
            | ReportState::Local
            | ReportState::RebootNeeded => {}
        }
    }
    if is_behind(Some(last.path.as_str()), latest) {
        HostState::Behind
    } else {
        HostState::UpToDate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(path: &str) -> Latest {
        Latest {
            job: 1,
            rev: "r".into(),
            path: path.into(),
            finished_at: None,
        }
    }

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

    #[test]
    fn state_follows_the_contracts_order() {
        let new = latest("/nix/store/new");
        assert_eq!(host_state(None, Some(&new)), HostState::NeverSeen);
        let up = report(
            ReportState::Deployed,
            "/nix/store/new",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&up), Some(&new)), HostState::UpToDate);
        // A failure about the newest build shows as long as that build is the newest …
        let rolled = report(
            ReportState::RolledBack,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&rolled), Some(&new)), HostState::RolledBack);
        // … and a newer build makes the host merely behind.
        let newer = latest("/nix/store/newer");
        assert_eq!(host_state(Some(&rolled), Some(&newer)), HostState::Behind);
        let deploying = report(
            ReportState::Deploying,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(
            host_state(Some(&deploying), Some(&new)),
            HostState::Deploying
        );
        let failed = report(
            ReportState::Failed,
            "/nix/store/old",
            Some("/nix/store/new"),
        );
        assert_eq!(host_state(Some(&failed), Some(&new)), HostState::Failed);
        // Running something the box never built, with nothing built: up to date.
        let own = report(ReportState::UpToDate, "/nix/store/own", None);
        assert_eq!(host_state(Some(&own), None), HostState::UpToDate);
        assert_eq!(host_state(Some(&own), Some(&new)), HostState::Behind);
    }
}
