//! The bare mirror of the fleet repository in the state directory: where it is, its branch
//! tip, and how Nix should name a commit of it. Creating and fetching it with gix (the watched
//! branch into `refs/heads/<branch>`) is `fetch`; which commits a build may use is
//! `revisions`. It does not decide when to fetch (the watcher and the webhooks do), never
//! checks files out (Nix reads the mirror itself through [`Mirror::flake_ref`]) and holds no
//! state between calls: every call opens the repository afresh.
//!
//! Everything here blocks on disk and network; async callers use `spawn_blocking`. Fetches of
//! one mirror must not overlap: the caller runs them one at a time.

mod fetch;
mod revisions;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gix::ObjectId;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

pub(crate) use super::fetch_error::FetchError;
pub(crate) use super::revision_error::RevisionError;
use common::credentials::Secrets;

/// Bytes kept as they are in a flake reference: RFC 3986 "unreserved" characters.
const FLAKE_QUERY_KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, plus the separators of a path.
const FLAKE_PATH_KEPT: &AsciiSet = &FLAKE_QUERY_KEPT.remove(b'/');

/// The fleet repository's mirror: where it lives, where it is fetched from and which branch
/// builds follow.
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    path: PathBuf,
    url: String,
    branch: String,
    /// What is fetched from the remote into `refs/heads/<branch>`: the same branch, or for a
    /// watched flake input the ref its lock file follows (`HEAD`: the remote's default branch).
    remote_ref: String,
    /// `repo.credentials_file`, read at each fetch.
    credentials_file: Option<PathBuf>,
    /// The URL's credentials, scrubbed from every error a fetch returns.
    secrets: Secrets,
}

impl Mirror {
    pub(crate) fn new(path: PathBuf, url: String, branch: String) -> Mirror {
        let remote_ref = format!("refs/heads/{branch}");
        Mirror {
            path,
            secrets: Secrets::of_url(&url),
            url,
            branch,
            remote_ref,
            credentials_file: None,
        }
    }

    /// Fetches with the credentials `file` holds for the URL (git's credential-store format).
    pub(crate) fn with_credentials_file(mut self, file: Option<PathBuf>) -> Mirror {
        self.credentials_file = file;
        self
    }

    /// A mirror of `remote_ref` of another repository (a branch name, a full ref name, or
    /// `None` for the remote's default branch, its `HEAD`), kept as `refs/heads/<branch>`.
    pub(crate) fn of_ref(
        path: PathBuf,
        url: String,
        remote_ref: Option<&str>,
        branch: String,
    ) -> Mirror {
        let remote_ref = match remote_ref {
            None => "HEAD".to_owned(),
            Some(full) if full.starts_with("refs/") => full.to_owned(),
            Some(name) => format!("refs/heads/{name}"),
        };
        Mirror {
            path,
            secrets: Secrets::of_url(&url),
            url,
            branch,
            remote_ref,
            credentials_file: None,
        }
    }

    /// What is fetched, as people name it: the branch (`main`), or `HEAD`.
    fn fetched_name(&self) -> String {
        self.remote_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.remote_ref)
            .to_owned()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The branch tip in the mirror (40 hex digits), or `None` when it was never fetched.
    pub(crate) fn tip(&self) -> anyhow::Result<Option<String>> {
        let Some(repo) = self.open_existing()? else {
            return Ok(None);
        };
        Ok(self.branch_tip(&repo)?.map(|id| id.to_string()))
    }

    /// The flake reference Nix builds `rev` from. Nix fetches from the mirror itself and needs
    /// `ref=` besides `rev=` to find a commit that is not the tip.
    pub(crate) fn flake_ref(&self, rev: &str) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!(
            "git+file://{}?ref={}&rev={}",
            percent_encode(path.as_os_str().as_bytes(), FLAKE_PATH_KEPT),
            percent_encode(self.branch.as_bytes(), FLAKE_QUERY_KEPT),
            percent_encode(rev.as_bytes(), FLAKE_QUERY_KEPT),
        )
    }

    fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    pub(super) fn open_existing(&self) -> anyhow::Result<Option<gix::Repository>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let repo = gix::open(&self.path)
            .with_context(|| format!("failed to open the mirror {}", self.path.display()))?;
        Ok(Some(repo))
    }

    pub(super) fn branch_tip(&self, repo: &gix::Repository) -> anyhow::Result<Option<ObjectId>> {
        let failed = || {
            format!(
                "failed to read {} in the mirror {}",
                self.branch_ref(),
                self.path.display()
            )
        };
        let Some(mut reference) = repo
            .try_find_reference(self.branch_ref().as_str())
            .with_context(failed)?
        else {
            return Ok(None);
        };
        Ok(Some(reference.peel_to_id().with_context(failed)?.detach()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::repo::test_repos::{Fixture, commit};
    use std::fs;
    use std::process::Command;

    #[test]
    fn tip_is_none_before_the_first_fetch_and_the_branch_tip_after() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();

        assert_eq!(mirror.tip().unwrap(), None);
        mirror.fetch().unwrap();
        assert_eq!(mirror.tip().unwrap(), Some(first));
    }

    #[test]
    fn flake_ref_encodes_the_path_and_the_branch() {
        let mirror = Mirror::new(
            PathBuf::from("/var/lib/atuin bootstrap/fleet#1.git"),
            "/srv/fleet".to_owned(),
            "release/2026+x".to_owned(),
        );
        assert_eq!(
            mirror.flake_ref("0123456789abcdef0123456789abcdef01234567"),
            "git+file:///var/lib/atuin%20bootstrap/fleet%231.git?ref=release%2F2026%2Bx&rev=0123456789abcdef0123456789abcdef01234567"
        );
    }

    #[test]
    fn nix_builds_a_commit_that_is_not_the_tip_from_the_flake_ref() {
        let fixture = Fixture::new();
        let flake = r#"{ outputs = { self }: { packages.x86_64-linux.hello = derivation { name = "hello"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "PATH=/bin:/usr/bin; echo hi > $out" ]; }; }; }"#;
        let first = commit(&fixture.upstream, "flake.nix", flake);
        let second = commit(
            &fixture.upstream,
            "flake.nix",
            &flake.replace(r#"name = "hello""#, r#"name = "hello-tip""#),
        );
        // A space in the mirror's path checks that Nix decodes what flake_ref encodes.
        let mirror = Mirror::new(
            fixture.dir.path().join("state dir/fleet.git"),
            fixture.upstream.to_str().unwrap().to_owned(),
            "main".to_owned(),
        );
        assert_eq!(mirror.fetch().unwrap(), second);

        let home = fixture.dir.path().join("home");
        fs::create_dir_all(&home).unwrap();
        let output = Command::new("nix")
            .args(["build", "--no-link", "--json"])
            .arg(format!("{}#hello", mirror.flake_ref(&first)))
            .env(
                "NIX_CONFIG",
                "experimental-features = nix-command flakes\nsubstituters =",
            )
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .current_dir(fixture.dir.path())
            .output()
            .expect("nix runs");
        assert!(
            output.status.success(),
            "nix build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let built = String::from_utf8(output.stdout).unwrap();
        assert!(built.contains("-hello\""), "built the tip instead: {built}");
    }
}
