//! Watched flake inputs (`repo.watch_inputs`): for each named input, where the fleet's
//! `flake.lock` (at the fleet's newest fetched commit) says it comes from, a bare mirror of that
//! upstream under the state dir (`inputs/<name>.git`, fetched with gix like the fleet's own),
//! and what the last fetch found, for `/api/v1/status`. It finds commits; whether one is built
//! is the build server's call. An input the lock file does not have, or cannot be followed, is
//! said in the status and the log, once per change, and never stops the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::flake_lock::{self, NotWatchable, Upstream};
use super::mirror::Mirror;
use common::protocol::status::InputStatus;
use common::timestamp::now;

/// The branch an input's mirror keeps the followed upstream ref as.
const LOCAL_BRANCH: &str = "upstream";

/// An input's upstream tip as just fetched, and what the fleet pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputTip {
    pub name: String,
    pub rev: String,
    /// The commit the fleet's lock file pins, if it says.
    pub locked: Option<String>,
    /// What Nix builds the input from at `rev` (`--override-input NAME FLAKE_REF`).
    pub flake_ref: String,
}

pub(crate) struct InputWatcher {
    names: Vec<String>,
    /// Where the inputs' mirrors live.
    dir: PathBuf,
    status: Mutex<BTreeMap<String, InputStatus>>,
    /// The normalized upstream of each input as last read, for matching webhooks.
    upstreams: Mutex<BTreeMap<String, String>>,
    /// One round of fetches at a time: the poll loop and webhooks share the mirrors.
    fetching: tokio::sync::Mutex<()>,
}

impl InputWatcher {
    pub(crate) fn new(names: Vec<String>, dir: PathBuf) -> InputWatcher {
        let status = names
            .iter()
            .map(|name| {
                let status = InputStatus {
                    name: name.clone(),
                    upstream: None,
                    rev: None,
                    locked: None,
                    last_poll: None,
                    last_error: None,
                };
                (name.clone(), status)
            })
            .collect();
        InputWatcher {
            names,
            dir,
            status: Mutex::new(status),
            upstreams: Mutex::new(BTreeMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Each watched input as last fetched, in the configured order.
    pub(crate) fn status(&self) -> Vec<InputStatus> {
        let status = self.status.lock().expect("inputs status lock");
        self.names
            .iter()
            .filter_map(|name| status.get(name).cloned())
            .collect()
    }

    /// Says why the newest commit of input `name` was not built (`None`: all is well).
    pub(crate) fn note(&self, name: &str, error: Option<String>) {
        if let Some(status) = self
            .status
            .lock()
            .expect("inputs status lock")
            .get_mut(name)
        {
            status.last_error = error;
        }
    }

    /// The watched inputs whose upstream is one of `urls` (a forge's push event names its
    /// repository by several URLs), as the last fetch read them.
    pub(crate) fn matching(&self, urls: &[String]) -> Vec<String> {
        let wanted: Vec<String> = urls.iter().map(|u| repository_key(u)).collect();
        self.upstreams
            .lock()
            .expect("upstreams lock")
            .iter()
            .filter(|(_, key)| wanted.contains(key))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Fetches the watched inputs (all, or those in `only`) from where the fleet's lock file
    /// at `fleet_rev` (in the fleet's mirror at `fleet_repo`) says they come from; returns the
    /// tips of those fetched. Failures are in the status and the log.
    pub(crate) async fn fetch(
        &self,
        fleet_repo: &Path,
        fleet_rev: &str,
        only: Option<&[String]>,
    ) -> Vec<InputTip> {
        let _one_round_at_a_time = self.fetching.lock().await;
        let lock = {
            let (repo, rev) = (fleet_repo.to_owned(), fleet_rev.to_owned());
            tokio::task::spawn_blocking(move || flake_lock::read_at(&repo, &rev))
                .await
                .map_err(anyhow::Error::new)
                .and_then(|read| read)
        };
        let mut tips = Vec::new();
        for name in &self.names {
            if only.is_some_and(|only| !only.contains(name)) {
                continue;
            }
            let found = match &lock {
                Ok(Some(lock)) => flake_lock::input(lock, name).map_err(|e| match e {
                    NotWatchable::Missing => format!(
                        "input {name} is watched (repo.watch_inputs) but the fleet's flake.lock \
                         has no such input"
                    ),
                    other => format!("input {name} cannot be watched: {other}"),
                }),
                Ok(None) => Err(format!(
                    "input {name} is watched (repo.watch_inputs) but the fleet has no flake.lock"
                )),
                Err(e) => {
                    tracing::warn!("{e:#}");
                    Err("the fleet's flake.lock could not be read".to_owned())
                }
            };
            let result = match found {
                Ok(input) => {
                    self.upstreams
                        .lock()
                        .expect("upstreams lock")
                        .insert(name.clone(), repository_key(&input.upstream.url));
                    self.fetch_one(name, &input.upstream)
                        .await
                        .map(|(rev, flake_ref)| (input, rev, flake_ref))
                }
                Err(e) => Err(e),
            };
            let mut status = self.status.lock().expect("inputs status lock");
            let status = status
                .get_mut(name)
                .expect("every watched input has a status");
            status.last_poll = Some(now());
            match result {
                Ok((input, rev, flake_ref)) => {
                    status.upstream = Some(common::credentials::redact_url(&input.upstream.shown));
                    status.locked = input.locked_rev.clone();
                    if status.rev.as_deref() != Some(rev.as_str()) {
                        tracing::info!("input {name} is at {rev} upstream");
                    }
                    status.rev = Some(rev.clone());
                    status.last_error = None;
                    tips.push(InputTip {
                        name: name.clone(),
                        rev,
                        locked: input.locked_rev,
                        flake_ref,
                    });
                }
                Err(error) => {
                    if status.last_error.as_deref() != Some(error.as_str()) {
                        tracing::warn!("{error}");
                    }
                    status.last_error = Some(error);
                }
            }
        }
        tips
    }

    /// Fetches one input's upstream into its mirror: its tip and the flake reference of it.
    async fn fetch_one(&self, name: &str, upstream: &Upstream) -> Result<(String, String), String> {
        if !common::config::is_input_name(name) {
            return Err(format!("{name:?} is not the name of a flake input"));
        }
        let mirror = Mirror::of_ref(
            self.dir.join(format!("{name}.git")),
            upstream.url.clone(),
            upstream.git_ref.as_deref(),
            LOCAL_BRANCH.to_owned(),
        );
        let dir = upstream.dir.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            mirror.fetch().map(|tip| {
                let mut flake_ref = mirror.flake_ref(&tip);
                if let Some(dir) = dir {
                    flake_ref.push_str(&format!(
                        "&dir={}",
                        percent_encoding::utf8_percent_encode(
                            &dir,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ));
                }
                (tip, flake_ref)
            })
        })
        .await;
        match fetched {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => {
                tracing::debug!("fetching input {name}: {}", e.for_log());
                Err(format!("input {name}: {e}"))
            }
            Err(e) => Err(format!("input {name}: the fetch task failed: {e}")),
        }
    }
}

/// A repository's URL reduced to what names it, so the forms a forge and a lock file use
/// compare equal: `https://github.com/Me/Repo.git`, `git@github.com:me/repo` and
/// `ssh://git@github.com/me/repo` are all `github.com/me/repo`; a local path stays a path.
pub(crate) fn repository_key(url: &str) -> String {
    let mut rest = url.trim();
    rest = rest.strip_prefix("git+").unwrap_or(rest);
    let had_scheme = match rest.split_once("://") {
        Some((_, after)) => {
            rest = after;
            true
        }
        None => false,
    };
    // user@host:path (scp-like) or user@host/path.
    if let Some((user, after)) = rest.split_once('@')
        && !user.contains('/')
    {
        rest = after;
    }
    let mut key = if !had_scheme && !rest.starts_with('/') {
        rest.replacen(':', "/", 1)
    } else {
        rest.to_owned()
    };
    while key.ends_with('/') {
        key.pop();
    }
    if let Some(stripped) = key.strip_suffix(".git") {
        key = stripped.to_owned();
    }
    key.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_one_repository_have_one_key() {
        let key = "github.com/me/terminal";
        for url in [
            "https://github.com/me/terminal.git",
            "https://github.com/Me/Terminal",
            "git@github.com:me/terminal.git",
            "ssh://git@github.com/me/terminal",
            "git+https://github.com/me/terminal/",
        ] {
            assert_eq!(repository_key(url), key, "{url}");
        }
        assert_eq!(repository_key("file:///srv/terminal"), "/srv/terminal");
        assert_eq!(repository_key("/srv/terminal/"), "/srv/terminal");
        assert_ne!(
            repository_key("https://github.com/me/terminal-2"),
            repository_key("https://github.com/me/terminal")
        );
    }
}
