//! What the box wants this host to run, read from its host object: `target` (its pin, else
//! its newest build on the branch) with the store paths in it that came by push, and
//! `retry_at` (the box's `fleet retry`). Read leniently: a box from before `target` existed
//! gives only `latest`, which is then the target. Not for deciding what to do (see `agent`).

use serde::Deserialize;

/// This host's object as the deploy reads it: only what it acts on, every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct HostView {
    pub name: String,
    #[serde(default)]
    latest: Option<Build>,
    #[serde(default)]
    target: Option<Build>,
    /// When the box was last told to forget this host's failed paths.
    #[serde(default)]
    pub retry_at: Option<String>,
}

/// A build of this host's system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(super) struct Build {
    pub path: String,
    #[serde(default)]
    pub rev: Option<String>,
    #[serde(default)]
    pub job: Option<u64>,
    /// `pinned` or `latest`.
    #[serde(default)]
    pub source: Option<String>,
    /// Store paths of its closure that came by push, not built by the box.
    #[serde(default)]
    pub pushed: Vec<String>,
}

impl HostView {
    /// What this host is to run; `None`: nothing built for it yet.
    pub(super) fn target(&self) -> Option<&Build> {
        self.target.as_ref().or(self.latest.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_falls_back_to_latest() {
        let old: HostView = serde_json::from_value(serde_json::json!({
            "name": "laptop", "latest": {"job": 3, "rev": "abc", "path": "/nix/store/a",
            "finished_at": null}, "running": null, "state": "never_seen", "behind": true
        }))
        .unwrap();
        let target = old.target().unwrap();
        assert_eq!(target.path, "/nix/store/a");
        assert!(target.pushed.is_empty());
        assert_eq!(old.retry_at, None);

        let new: HostView = serde_json::from_value(serde_json::json!({
            "name": "laptop", "latest": {"job": 3, "rev": "abc", "path": "/nix/store/a"},
            "target": {"path": "/nix/store/b", "rev": "def", "job": 2, "source": "pinned",
                       "pushed": ["/nix/store/p"]},
            "pinned": {"rev": "def", "path": "/nix/store/b", "at": "…"},
            "retry_at": "2026-12-04T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(new.target().unwrap().path, "/nix/store/b");
        assert_eq!(new.target().unwrap().pushed, vec!["/nix/store/p"]);
        assert_eq!(new.retry_at.as_deref(), Some("2026-12-04T10:00:00Z"));

        let none: HostView =
            serde_json::from_value(serde_json::json!({"name": "x", "latest": null})).unwrap();
        assert!(none.target().is_none());
    }
}
