//! The running server's mark in its state dir (`server.json`: pid, listen address, version,
//! start time, the state dir), written when it starts listening and removed when it stops, so
//! the admin commands (`token`, `cache`, `gc`) can say which server uses the state dir they
//! work on — or that none does, the trap of a token written where no server will ever read it.
//! A copy goes into the user's registry of running servers (`running-servers/<pid>.json` in
//! the user's data dir), so an admin command pointed at an unused state dir can name the one a
//! running server does use. Not for keeping two servers off one state dir: the state dir's
//! lock does that (`state_dir::StateDir::lock_exclusive`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use common::state_dir::write_private_file;

const MARKER: &str = "server.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// What `server.json` says of the running server.
pub struct ServerMarker {
    /// The server's process id.
    pub pid: u32,
    /// The address it listens on.
    pub listen: String,
    /// The version of atuin-bootstrap it runs.
    pub version: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// Absent in a marker written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
}

/// The NixOS module's state dir: a server there is worth naming to any admin of the machine.
const SYSTEM_STATE_DIR: &str = "/var/lib/atuin-bootstrap";

/// The user's registry of running servers, in `user_data_dir`.
pub fn registry_dir(user_data_dir: &Path) -> PathBuf {
    user_data_dir.join("running-servers")
}

fn this_server(state_dir: &Path, listen: &str) -> ServerMarker {
    ServerMarker {
        pid: std::process::id(),
        listen: listen.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: common::timestamp::now(),
        state_dir: Some(absolute(state_dir)),
    }
}

fn to_json(marker: &ServerMarker) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(marker).expect("serialisable marker");
    text.push(b'\n');
    text
}

/// Marks the state dir as used by this process, listening on `listen`.
pub fn mark(state_dir: &Path, listen: &str) -> anyhow::Result<()> {
    let marker = this_server(state_dir, listen);
    write_private_file(&state_dir.join(MARKER), &to_json(&marker), false)
}

/// Enters this server in the user's registry (`registry_dir`), made private when missing.
pub fn register(registry: &Path, state_dir: &Path, listen: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(registry)
        .map_err(anyhow::Error::from)?;
    let marker = this_server(state_dir, listen);
    write_private_file(
        &registry_entry(registry, marker.pid),
        &to_json(&marker),
        false,
    )
}

/// Takes this server out of the registry.
pub fn unregister(registry: &Path) {
    let _ = std::fs::remove_file(registry_entry(registry, std::process::id()));
}

fn registry_entry(registry: &Path, pid: u32) -> PathBuf {
    registry.join(format!("{pid}.json"))
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
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
    common::os::process_alive(marker.pid).then_some(marker)
}

/// A running server that uses another state dir than `state_dir`: from the registry, else the
/// NixOS module's state dir. An entry counts only while its process lives and its state dir's
/// marker still names it (a reused pid is not a server).
pub fn running_elsewhere(state_dir: &Path, registry: Option<&Path>) -> Option<ServerMarker> {
    let ours = absolute(state_dir);
    // Each candidate state dir, with the pid the registry expects there (none for the
    // system's state dir, whose own marker is all there is).
    let mut candidates: Vec<(PathBuf, Option<u32>)> = Vec::new();
    if let Some(entries) = registry.and_then(|r| std::fs::read_dir(r).ok()) {
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            let named = std::fs::read_to_string(&entry)
                .ok()
                .and_then(|text| serde_json::from_str::<ServerMarker>(&text).ok());
            match named {
                Some(marker) if common::os::process_alive(marker.pid) => {
                    if let Some(dir) = marker.state_dir {
                        candidates.push((dir, Some(marker.pid)));
                    }
                }
                // A server that died without cleaning up (kill -9).
                _ if entry.extension().is_some_and(|e| e == "json") => {
                    let _ = std::fs::remove_file(&entry);
                }
                _ => {}
            }
        }
    }
    candidates.push((PathBuf::from(SYSTEM_STATE_DIR), None));
    candidates
        .into_iter()
        .filter(|(dir, _)| absolute(dir) != ours)
        .find_map(|(dir, pid)| {
            running(&dir)
                .filter(|server| pid.is_none_or(|pid| pid == server.pid))
                .map(|mut server| {
                    server.state_dir = Some(dir);
                    server
                })
        })
}

/// What an admin command prints about the state dir it works on, or its refusal (exit 2)
/// when no server uses that state dir while a running one uses another — unless `force`.
pub fn check_admin(
    state_dir: &Path,
    registry: Option<&Path>,
    force: bool,
) -> anyhow::Result<String> {
    if running(state_dir).is_some() {
        return Ok(describe(state_dir));
    }
    let Some(other) = running_elsewhere(state_dir, registry) else {
        return Ok(describe(state_dir));
    };
    let other_dir = other
        .state_dir
        .as_deref()
        .map_or_else(|| "?".to_string(), |d| d.display().to_string());
    let what = format!(
        "no running server uses the state dir {}; the server running as pid {} (listening on \
         {}) uses {other_dir}",
        state_dir.display(),
        other.pid,
        other.listen
    );
    if force {
        return Ok(format!("warning: {what}; going on (--force)"));
    }
    Err(common::exit::usage(format!(
        "{what}: pass --state-dir {other_dir} (or the --config that server was started with), \
         or --force to work on {} anyway",
        state_dir.display()
    )))
}

/// Why a second server may not start on a state dir whose lock another process holds.
pub fn in_use_message(state_dir: &Path, holder: Option<u32>) -> String {
    let named = running(state_dir).filter(|m| holder.is_none() || Some(m.pid) == holder);
    let who = match (named, holder) {
        (Some(server), _) => format!("pid {}, listening on {}", server.pid, server.listen),
        (None, Some(pid)) => format!("pid {pid}, still starting"),
        (None, None) => "its pid unknown".to_string(),
    };
    format!(
        "the state dir {} is in use by another server ({who}); stop that one first, or start \
         this one with another --state-dir",
        state_dir.display()
    )
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
            state_dir: None,
        };
        std::fs::write(
            dir.path().join(MARKER),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        assert!(running(dir.path()).is_none());
    }

    #[test]
    fn an_admin_command_on_an_unused_state_dir_is_told_of_the_used_one() {
        let used = tempfile::tempdir().unwrap();
        let unused = tempfile::tempdir().unwrap();
        let registry = tempfile::tempdir().unwrap();
        mark(used.path(), "127.0.0.1:9").unwrap();
        register(registry.path(), used.path(), "127.0.0.1:9").unwrap();
        let refused = check_admin(unused.path(), Some(registry.path()), false).unwrap_err();
        assert_eq!(common::exit::code_of(&refused), common::exit::USAGE);
        let text = format!("{refused:#}");
        let used_dir = std::fs::canonicalize(used.path()).unwrap();
        assert!(
            text.contains(&format!("--state-dir {}", used_dir.display())),
            "{text}"
        );
        assert!(text.contains("--force"), "{text}");
        let forced = check_admin(unused.path(), Some(registry.path()), true).unwrap();
        assert!(forced.starts_with("warning: "), "{forced}");
        // On the used state dir itself: no refusal.
        assert!(check_admin(used.path(), Some(registry.path()), false).is_ok());
        // Once the server is gone from its state dir, nothing is named.
        unmark(used.path());
        assert!(check_admin(unused.path(), Some(registry.path()), false).is_ok());
        unregister(registry.path());
    }
}
