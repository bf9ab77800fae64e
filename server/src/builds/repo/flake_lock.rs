//! The fleet flake's `flake.lock` at a revision, read from the mirror with gix, and what it says
//! of one input of the flake: where the input comes from (its `original`: a git URL, or a forge
//! such as `github:owner/repo`, with the ref it follows) and which commit the fleet pins
//! (`locked.rev`). Never fetches, never changes the mirror.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// Where a flake input comes from, as a git repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upstream {
    /// The URL gix fetches from.
    pub url: String,
    /// The branch (or full ref) the input follows; `None`: the repository's default branch.
    pub git_ref: Option<String>,
    /// The input's subdirectory holding its `flake.nix` (`?dir=`), if not the top.
    pub dir: Option<String>,
    /// How the input is written in a flake: `github:owner/repo`, `git+https://…`.
    pub shown: String,
}

/// One input of the fleet's lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockedInput {
    pub upstream: Upstream,
    /// The commit the fleet pins, if its lock says.
    pub locked_rev: Option<String>,
}

/// Why an input named in `repo.watch_inputs` cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotWatchable {
    /// The fleet's `flake.lock` has no such input of the flake itself.
    Missing,
    /// It is there, but cannot be followed as a git repository; the reason.
    Unsupported(String),
}

impl std::fmt::Display for NotWatchable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotWatchable::Missing => f.write_str("the fleet's flake.lock has no such input"),
            NotWatchable::Unsupported(why) => f.write_str(why),
        }
    }
}

/// The text of `flake.lock` at commit `rev` (40 hex digits) of the repository at `repo`;
/// `None` when that commit has none.
pub(crate) fn read_at(repo: &Path, rev: &str) -> Result<Option<String>> {
    let failed = || format!("failed to read flake.lock at {rev} in {}", repo.display());
    let repo = gix::open(repo).with_context(failed)?;
    let id = gix::ObjectId::from_hex(rev.as_bytes()).with_context(failed)?;
    let tree = repo
        .find_commit(id)
        .with_context(failed)?
        .tree()
        .with_context(failed)?;
    let Some(entry) = tree.find_entry("flake.lock") else {
        return Ok(None);
    };
    let blob = entry.object().with_context(failed)?;
    let text = std::str::from_utf8(&blob.data)
        .context("flake.lock is not UTF-8")
        .with_context(failed)?;
    Ok(Some(text.to_owned()))
}

/// The input `name` of the flake whose lock file is `lock` (its root node's own inputs).
pub(crate) fn input(lock: &str, name: &str) -> Result<LockedInput, NotWatchable> {
    let lock: Value = serde_json::from_str(lock)
        .map_err(|e| NotWatchable::Unsupported(format!("flake.lock is not JSON: {e}")))?;
    let root = lock["root"].as_str().unwrap_or("root");
    let node = match &lock["nodes"][root]["inputs"][name] {
        Value::String(node) => node,
        Value::Array(_) => {
            return Err(NotWatchable::Unsupported(
                "it follows another input (inputs.….follows); watch that one".into(),
            ));
        }
        _ => return Err(NotWatchable::Missing),
    };
    let node = &lock["nodes"][node.as_str()];
    let original = &node["original"];
    let locked = &node["locked"];
    // An input from the flake registry (`nixpkgs`) is followed where the lock found it.
    let source = if original["type"] == "indirect" {
        locked
    } else {
        original
    };
    if original["rev"].is_string() {
        return Err(NotWatchable::Unsupported(
            "flake.nix pins it to a commit (rev=…), so it never moves".into(),
        ));
    }
    let upstream = upstream_of(source)?;
    Ok(LockedInput {
        upstream,
        locked_rev: locked["rev"].as_str().map(str::to_owned),
    })
}

/// The git repository of a lock file's `original` (or `locked`) attributes.
fn upstream_of(source: &Value) -> Result<Upstream, NotWatchable> {
    let text = |key: &str| source[key].as_str().map(str::to_owned);
    let git_ref = text("ref");
    let dir = text("dir").filter(|d| !d.is_empty());
    let kind = text("type").unwrap_or_default();
    let forge = |default_host: &str| -> Result<(String, String), NotWatchable> {
        let (Some(owner), Some(repo)) = (text("owner"), text("repo")) else {
            return Err(NotWatchable::Unsupported(format!(
                "a {kind} input without owner and repo"
            )));
        };
        let host = text("host").unwrap_or_else(|| default_host.to_owned());
        let shown = match &git_ref {
            Some(r) => format!("{kind}:{owner}/{repo}/{r}"),
            None => format!("{kind}:{owner}/{repo}"),
        };
        Ok((format!("https://{host}/{owner}/{repo}"), shown))
    };
    let (url, shown) = match kind.as_str() {
        "git" => {
            let url = text("url").ok_or_else(|| {
                NotWatchable::Unsupported("a git input without a url in flake.lock".into())
            })?;
            (url.clone(), format!("git+{url}"))
        }
        "github" => {
            let (url, shown) = forge("github.com")?;
            (format!("{url}.git"), shown)
        }
        "gitlab" => {
            let (url, shown) = forge("gitlab.com")?;
            (format!("{url}.git"), shown)
        }
        "sourcehut" => forge("git.sr.ht")?,
        other => {
            return Err(NotWatchable::Unsupported(format!(
                "a {other:?} input is not a git repository the server can follow"
            )));
        }
    };
    Ok(Upstream {
        url,
        git_ref,
        dir,
        shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "nodes": {
    "root": { "inputs": { "terminal": "terminal", "tools": "tools_2", "pinned": "pinned",
                          "nixpkgs": "nixpkgs", "local": "local", "follower": ["tools"] } },
    "terminal": {
      "locked": { "ref": "main", "rev": "7303cd16ddc530ef80b34e42d92e202db751f7db",
                  "type": "git", "url": "file:///srv/terminal" },
      "original": { "type": "git", "url": "file:///srv/terminal" }
    },
    "tools_2": {
      "locked": { "owner": "me", "repo": "tools", "rev": "aaaa", "type": "github" },
      "original": { "owner": "me", "repo": "tools", "ref": "stable", "type": "github", "dir": "sub" }
    },
    "pinned": {
      "locked": { "owner": "me", "repo": "p", "rev": "bbbb", "type": "github" },
      "original": { "owner": "me", "repo": "p", "rev": "bbbb", "type": "github" }
    },
    "nixpkgs": {
      "locked": { "owner": "NixOS", "repo": "nixpkgs", "rev": "cccc", "type": "github" },
      "original": { "id": "nixpkgs", "type": "indirect" }
    },
    "local": {
      "locked": { "path": "/srv/x", "type": "path" },
      "original": { "path": "/srv/x", "type": "path" }
    }
  },
  "root": "root",
  "version": 7
}"#;

    #[test]
    fn a_git_input_follows_its_url_and_default_branch() {
        let terminal = input(LOCK, "terminal").unwrap();
        assert_eq!(terminal.upstream.url, "file:///srv/terminal");
        assert_eq!(terminal.upstream.git_ref, None);
        assert_eq!(terminal.upstream.shown, "git+file:///srv/terminal");
        assert_eq!(
            terminal.locked_rev.as_deref(),
            Some("7303cd16ddc530ef80b34e42d92e202db751f7db")
        );
    }

    #[test]
    fn a_github_input_is_fetched_over_https_with_its_ref_and_dir() {
        let tools = input(LOCK, "tools").unwrap();
        assert_eq!(tools.upstream.url, "https://github.com/me/tools.git");
        assert_eq!(tools.upstream.git_ref.as_deref(), Some("stable"));
        assert_eq!(tools.upstream.dir.as_deref(), Some("sub"));
        assert_eq!(tools.upstream.shown, "github:me/tools/stable");
        let nixpkgs = input(LOCK, "nixpkgs").unwrap();
        assert_eq!(nixpkgs.upstream.url, "https://github.com/NixOS/nixpkgs.git");
    }

    #[test]
    fn missing_pinned_followed_and_non_git_inputs_say_why() {
        assert_eq!(input(LOCK, "absent"), Err(NotWatchable::Missing));
        for name in ["pinned", "local", "follower"] {
            assert!(
                matches!(input(LOCK, name), Err(NotWatchable::Unsupported(_))),
                "{name}"
            );
        }
        assert!(matches!(
            input("not json", "terminal"),
            Err(NotWatchable::Unsupported(_))
        ));
    }
}
