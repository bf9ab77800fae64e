//! Which commits a build may use: a full or short commit id resolved in the mirror, on the
//! watched branch (reachable from its tip) or anywhere in it, or a `RevisionError` worded for
//! the API user who gave the id (never a path). Fetching is `fetch`.

use std::collections::HashSet;

use anyhow::Context;
use gix::ObjectId;

use super::Mirror;
use crate::builds::repo::commit_walk;
use crate::builds::repo::revision_error::RevisionError;

impl Mirror {
    /// Resolves a full or short commit id to the full id of a commit reachable from the branch
    /// tip (the tip included).
    pub(crate) fn resolve_on_branch(&self, rev: &str) -> Result<String, RevisionError> {
        if !(4..=40).contains(&rev.len()) || !rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RevisionError::Malformed(rev.to_owned()));
        }
        let Some(repo) = self.open_existing()? else {
            return Err(RevisionError::NotFetched);
        };
        let Some(tip) = self.branch_tip(&repo)? else {
            return Err(RevisionError::NotFetched);
        };
        let commit = find_commit(&repo, rev)?;
        if commit == tip || is_ancestor(&repo, commit, tip)? {
            Ok(commit.to_string())
        } else {
            Err(RevisionError::NotOnBranch {
                rev: rev.to_owned(),
                branch: self.branch.clone(),
            })
        }
    }

    /// Resolves a full or short commit id to the full id of any commit in the mirror, on the
    /// branch or not (a build of a commit a force-push left behind can still be pinned).
    pub(crate) fn resolve_commit(&self, rev: &str) -> Result<String, RevisionError> {
        if !(4..=40).contains(&rev.len()) || !rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RevisionError::Malformed(rev.to_owned()));
        }
        let Some(repo) = self.open_existing()? else {
            return Err(RevisionError::NotFetched);
        };
        Ok(find_commit(&repo, rev)?.to_string())
    }
}

/// The one commit whose id starts with `hex`. Objects of other kinds do not count, so a short
/// id that also prefixes a tree or blob still names its commit, as in `git rev-parse <id>^{commit}`.
fn find_commit(repo: &gix::Repository, hex: &str) -> Result<ObjectId, RevisionError> {
    let prefix =
        gix::hash::Prefix::from_hex(hex).map_err(|_| RevisionError::Malformed(hex.to_owned()))?;
    let mut candidates = HashSet::new();
    repo.objects
        .lookup_prefix(prefix, Some(&mut candidates))
        .with_context(|| format!("failed to look up {hex} in the mirror"))?;
    let mut commits = Vec::new();
    for id in candidates {
        let header = repo
            .find_header(id)
            .with_context(|| format!("failed to read object {id} in the mirror"))?;
        if header.kind() == gix::object::Kind::Commit {
            commits.push(id);
        }
    }
    match commits.as_slice() {
        [] => Err(RevisionError::NotFound(hex.to_owned())),
        [commit] => Ok(*commit),
        _ => Err(RevisionError::Ambiguous(hex.to_owned())),
    }
}

fn is_ancestor(repo: &gix::Repository, commit: ObjectId, tip: ObjectId) -> anyhow::Result<bool> {
    for info in commit_walk::reachable(repo, tip, |_| true)? {
        if info?.id == commit {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::repo::test_repos::{Fixture, commit, git};
    use std::fs;
    use std::process::Command;

    #[test]
    fn full_and_short_ids_of_commits_on_the_branch_resolve_to_full_ids() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        let second = commit(&fixture.upstream, "a", "2");
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        assert_eq!(mirror.resolve_on_branch(&first).unwrap(), first);
        assert_eq!(mirror.resolve_on_branch(&second).unwrap(), second);
        assert_eq!(mirror.resolve_on_branch(&first[..7]).unwrap(), first);
        assert_eq!(mirror.resolve_on_branch(&second[..7]).unwrap(), second);
        assert_eq!(
            mirror
                .resolve_on_branch(&first[..10].to_uppercase())
                .unwrap(),
            first
        );
    }

    #[test]
    fn a_commit_only_on_another_branch_is_not_on_branch() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        git(&fixture.upstream, &["checkout", "-q", "-b", "other"]);
        let elsewhere = commit(&fixture.upstream, "b", "elsewhere");
        git(&fixture.upstream, &["checkout", "-q", "main"]);
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();
        let upstream = fixture.upstream.to_str().unwrap();
        git(
            &fixture.mirror_path(),
            &["fetch", "-q", upstream, "other:refs/heads/other"],
        );

        let err = mirror.resolve_on_branch(&elsewhere[..8]).unwrap_err();
        match &err {
            RevisionError::NotOnBranch { rev, branch } => {
                assert_eq!((rev.as_str(), branch.as_str()), (&elsewhere[..8], "main"));
            }
            other => panic!("expected NotOnBranch, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("commit {} is not on branch main", &elsewhere[..8])
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let too_long = "a".repeat(41);
        for garbage in [
            "",
            "abc",
            "main",
            "HEAD~1",
            "zzzzzzz",
            " abcdef",
            too_long.as_str(),
        ] {
            assert!(
                matches!(
                    mirror.resolve_on_branch(garbage),
                    Err(RevisionError::Malformed(_))
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn unknown_ids_and_ids_of_trees_are_not_found() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let tree = git(&fixture.upstream, &["rev-parse", "HEAD^{tree}"]);
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let unknown = "0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(
            mirror.resolve_on_branch(unknown),
            Err(RevisionError::NotFound(_))
        ));
        assert!(matches!(
            mirror.resolve_on_branch(&tree),
            Err(RevisionError::NotFound(_))
        ));
    }

    #[test]
    fn a_short_id_shared_by_several_commits_is_ambiguous() {
        // 1000 commits with fixed dates have fixed ids, several of which share 4 leading digits.
        let fixture = Fixture::new();
        let mut script = String::new();
        for i in 0..1000 {
            let message = format!("commit {i}\n");
            let contents = format!("{i}\n");
            script += &format!(
                "commit refs/heads/main\nmark :{}\ncommitter Test <test@example.org> 1700000000 +0000\ndata {}\n{message}",
                i + 1,
                message.len()
            );
            if i > 0 {
                script += &format!("from :{i}\n");
            }
            script += &format!("M 644 inline f\ndata {}\n{contents}\n", contents.len());
        }
        let script_path = fixture.dir.path().join("import");
        fs::write(&script_path, script).unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg("git fast-import --quiet < \"$0\"")
            .arg(&script_path)
            .current_dir(&fixture.upstream)
            .status()
            .unwrap();
        assert!(status.success());
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let commits = git(&fixture.upstream, &["rev-list", "main"]);
        let mut seen = HashSet::new();
        let shared = commits
            .lines()
            .map(|id| &id[..4])
            .find(|prefix| !seen.insert(*prefix))
            .expect("two commits share a 4-digit prefix");
        assert!(matches!(
            mirror.resolve_on_branch(shared),
            Err(RevisionError::Ambiguous(_))
        ));
    }

    #[test]
    fn revisions_before_any_fetch_are_not_fetched() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();
        assert!(matches!(
            mirror.resolve_on_branch("abcdef1"),
            Err(RevisionError::NotFetched)
        ));

        // A mirror whose fetch found no branch has no tip either.
        let release = fixture.mirror_of(fixture.upstream.to_str().unwrap(), "release");
        release.fetch().unwrap_err();
        assert!(fixture.mirror_path().exists());
        assert_eq!(release.tip().unwrap(), None);
        assert!(matches!(
            release.resolve_on_branch("abcdef1"),
            Err(RevisionError::NotFetched)
        ));
    }
}
