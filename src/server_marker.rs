//! The running server's mark in its state dir (`server.json`: pid, listen address, version,
//! start time), written when it starts listening and removed when it stops, so the admin
//! commands (`token`, `cache`, `gc`) can say which server uses the state dir they work on —
//! or that none does, the trap of a token written where no server will ever read it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::state_dir::write_private_file;

const MARKER: &str = "server.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMarker {
    pub pid: u32,
    pub listen: String,
    pub version: String,
    pub started: String,
}

/// Marks the state dir as used by this process, listening on `listen`.
pub fn mark(state_dir: &Path, listen: &str) -> anyhow::Result<()> {
    let marker = ServerMarker {
        pid: std::process::id(),
        listen: listen.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: crate::timestamp::now(),
    };
    let mut text = serde_json::to_vec_pretty(&marker).expect("serialisable marker");
    text.push(b'\n');
    write_private_file(&state_dir.join(MARKER), &text, false)
}

/// Removes this process's mark (not another server's).
pub fn unmark(state_dir: &Path) {
    if running(state_dir).is_some_and(|m| m.pid == std::process::id()) {
        let _ = std::fs::remove_file(state_dir.join(MARKER));
    }
}

/// The server that uses `state_dir` now, if one does (a mark whose process is alive).
pub fn running(state_dir: &Path) -> Option<ServerMarker> {
    let text = std::fs::read_to_string(state_dir.join(MARKER)).ok()?;
    let marker: ServerMarker = serde_json::from_str(&text).ok()?;
    crate::os::process_alive(marker.pid).then_some(marker)
}

/// One line for an admin command about the state dir it works on.
pub fn describe(state_dir: &Path) -> String {
    match running(state_dir) {
        Some(server) => format!(
            "using the state dir {} (the server running there: pid {}, listening on {})",
            state_dir.display(),
            server.pid,
            server.listen
        ),
        None => format!(
            "warning: no running server uses the state dir {}; a server started with another \
             --state-dir or config file will not see this (pass the same --state-dir or \
             --config as the server)",
            state_dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_names_a_live_server_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        assert!(running(dir.path()).is_none());
        assert!(describe(dir.path()).starts_with("warning: no running server"));
        mark(dir.path(), "127.0.0.1:8780").unwrap();
        let found = running(dir.path()).unwrap();
        assert_eq!(found.pid, std::process::id());
        assert!(describe(dir.path()).contains("listening on 127.0.0.1:8780"));
        unmark(dir.path());
        assert!(running(dir.path()).is_none());
        // A mark left by a process that is gone names nobody.
        let dead = ServerMarker {
            pid: u32::MAX - 1,
            listen: "x".into(),
            version: "0".into(),
            started: "t".into(),
        };
        std::fs::write(
            dir.path().join(MARKER),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        assert!(running(dir.path()).is_none());
    }
}
