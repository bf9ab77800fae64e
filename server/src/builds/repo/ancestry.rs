//! Which commit of the watched branch is newer, by git ancestry rather than by when it was
//! built: each commit reachable from the branch tip gets a generation number (1 for a root,
//! else one more than its highest parent), so a commit's descendants always number higher.
//! Of several built commits, the one with the highest number has no other one after it on the
//! branch; a commit that is not on the branch has no number at all.
//!
//! The numbers are kept for the last tip seen and extended, not recomputed, when the branch
//! moves forward (only the new commits are walked); a force-push that drops the old tip makes
//! one full walk. Not for fetching (the mirror) or for choosing a host's build (the job
//! history's host builds use the numbers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use gix::ObjectId;

use super::commit_walk;
use super::mirror::Mirror;

/// The branch's commits in order, kept for the last tip seen.
pub(crate) struct BranchOrder {
    mirror: Arc<Mirror>,
    known: Mutex<Option<Arc<Generations>>>,
}

/// The generation number of every commit reachable from one tip.
#[derive(Debug, Clone)]
pub(crate) struct Generations {
    tip: ObjectId,
    of: HashMap<ObjectId, u32>,
}

impl Generations {
    /// The tip these numbers were made from (40 hex digits).
    pub(crate) fn tip(&self) -> String {
        self.tip.to_string()
    }

    /// `rev`'s generation, or `None` when it is not a full commit id on the branch.
    pub(crate) fn of(&self, rev: &str) -> Option<u32> {
        let id = ObjectId::from_hex(rev.as_bytes()).ok()?;
        self.of.get(&id).copied()
    }

    /// How many commits are numbered (the tests' view of how far a walk went).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.of.len()
    }
}

impl BranchOrder {
    pub(crate) fn new(mirror: Arc<Mirror>) -> BranchOrder {
        BranchOrder {
            mirror,
            known: Mutex::new(None),
        }
    }

    /// The numbers for the branch as it is now: at `tip` when the caller knows it (the
    /// watcher's last fetch; no disk read when it is the tip seen last), else at the
    /// mirror's branch tip. `None` before the branch was ever fetched. Blocks on disk when
    /// the tip moved.
    pub(crate) fn generations(&self, tip: Option<&str>) -> Result<Option<Arc<Generations>>> {
        let mut known = self.known.lock().expect("branch order lock");
        let wanted = match tip.and_then(|t| ObjectId::from_hex(t.as_bytes()).ok()) {
            Some(id) if known.as_ref().is_some_and(|k| k.tip == id) => return Ok(known.clone()),
            given => given,
        };
        let Some(repo) = self.mirror.open_existing()? else {
            return Ok(None);
        };
        let tip = match wanted {
            Some(id) => id,
            None => match self.mirror.branch_tip(&repo)? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        if let Some(same) = known.as_ref().filter(|k| k.tip == tip) {
            return Ok(Some(same.clone()));
        }
        let numbered = Arc::new(number_from(&repo, tip, known.as_deref())?);
        *known = Some(numbered.clone());
        Ok(Some(numbered))
    }
}

/// The numbers at `tip`: those of `before` extended by the commits since, when `tip` descends
/// from `before`'s tip; else counted afresh.
fn number_from(
    repo: &gix::Repository,
    tip: ObjectId,
    before: Option<&Generations>,
) -> Result<Generations> {
    if let Some(before) = before {
        let new = walk(repo, tip, Some(&before.of))?;
        let moved_forward = new.values().any(|parents| parents.contains(&before.tip));
        if moved_forward {
            let mut of = before.of.clone();
            number(&new, &mut of);
            return Ok(Generations { tip, of });
        }
    }
    let all = walk(repo, tip, None)?;
    let mut of = HashMap::with_capacity(all.len());
    number(&all, &mut of);
    Ok(Generations { tip, of })
}

/// Every commit reachable from `tip` (stopping at those in `known`), with its parents.
fn walk<'a>(
    repo: &'a gix::Repository,
    tip: ObjectId,
    known: Option<&'a HashMap<ObjectId, u32>>,
) -> Result<HashMap<ObjectId, Vec<ObjectId>>> {
    let walk = commit_walk::reachable(repo, tip, move |id| {
        known.is_none_or(|known| !known.contains_key(id))
    })?;
    let mut commits = HashMap::new();
    for info in walk {
        let info = info?;
        let parents = info.parent_ids().map(|p| p.detach()).collect();
        commits.insert(info.id, parents);
    }
    Ok(commits)
}

/// Numbers each commit of `commits` (whose parents are in `commits` or numbered in `of`
/// already); a parent missing from both (a shallow mirror) counts as 0.
fn number(commits: &HashMap<ObjectId, Vec<ObjectId>>, of: &mut HashMap<ObjectId, u32>) {
    // Depth-first without recursion: a long linear history would overflow the call stack.
    let mut stack = Vec::new();
    for start in commits.keys() {
        stack.push(*start);
        while let Some(&id) = stack.last() {
            if of.contains_key(&id) {
                stack.pop();
                continue;
            }
            let parents = &commits[&id];
            let before = stack.len();
            stack.extend(
                parents
                    .iter()
                    .filter(|p| !of.contains_key(*p) && commits.contains_key(*p)),
            );
            if stack.len() == before {
                let highest = parents.iter().filter_map(|p| of.get(p)).max();
                of.insert(id, highest.map_or(1, |g| g + 1));
                stack.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::repo::test_repos::git;
    use std::path::Path;

    fn commit(repo: &Path, message: &str) -> String {
        git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
        git(repo, &["rev-parse", "HEAD"])
    }

    #[test]
    fn descendants_number_higher_and_the_numbers_follow_the_branch() {
        let dir = tempfile::tempdir().unwrap();
        let upstream = dir.path().join("up");
        std::fs::create_dir_all(&upstream).unwrap();
        git(&upstream, &["init", "-q", "-b", "main"]);
        let a = &commit(&upstream, "a");
        let b = commit(&upstream, "b");
        // A side branch merged back: its commit is older than the merge, newer than `a`.
        git(&upstream, &["checkout", "-q", "-b", "side", a]);
        let side = commit(&upstream, "side");
        git(&upstream, &["checkout", "-q", "main"]);
        git(&upstream, &["merge", "-q", "--no-edit", "--no-ff", "side"]);
        let merge = git(&upstream, &["rev-parse", "HEAD"]);

        let mirror = Arc::new(Mirror::new(
            dir.path().join("mirror.git"),
            upstream.display().to_string(),
            "main".into(),
        ));
        let order = BranchOrder::new(mirror.clone());
        assert!(order.generations(None).unwrap().is_none(), "never fetched");
        mirror.fetch().unwrap();
        let first = order.generations(None).unwrap().unwrap();
        assert_eq!(first.tip(), merge);
        let g = |rev: &str| first.of(rev).unwrap();
        assert!(g(a) < g(&b) && g(&b) < g(&merge));
        assert!(g(a) < g(&side) && g(&side) < g(&merge));
        assert_eq!(first.of("0123456789abcdef0123456789abcdef01234567"), None);
        assert_eq!(first.of(&a[..8]), None, "only full ids");

        // The branch moves on: the same numbers, extended.
        let c = commit(&upstream, "c");
        mirror.fetch().unwrap();
        let second = order.generations(Some(&c)).unwrap().unwrap();
        assert_eq!(second.of(a), first.of(a));
        assert!(second.of(&c).unwrap() > g(&merge));
        assert_eq!(second.len(), 5);
        // Asked again at the same tip: the same numbers, not walked again.
        assert!(Arc::ptr_eq(
            &second,
            &order.generations(Some(&c)).unwrap().unwrap()
        ));

        // A force-push back to `b` plus a new commit: the merge and `c` leave the branch.
        git(&upstream, &["reset", "-q", "--hard", &b]);
        let d = commit(&upstream, "d");
        mirror.fetch().unwrap();
        let third = order.generations(None).unwrap().unwrap();
        assert_eq!(third.of(&c), None);
        assert_eq!(third.of(&merge), None);
        assert_eq!(third.of(&side), None);
        assert!(third.of(&d).unwrap() > third.of(&b).unwrap());
        assert_eq!(third.len(), 3);
    }

    #[test]
    fn a_long_history_is_numbered_without_recursion() {
        let mut commits = HashMap::new();
        let ids: Vec<ObjectId> = (0..200_000u32)
            .map(|i| {
                let mut bytes = [0u8; 20];
                bytes[..4].copy_from_slice(&i.to_be_bytes());
                ObjectId::from_bytes_or_panic(&bytes)
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let parents = if i == 0 { vec![] } else { vec![ids[i - 1]] };
            commits.insert(*id, parents);
        }
        let mut of = HashMap::new();
        number(&commits, &mut of);
        assert_eq!(of[&ids[0]], 1);
        assert_eq!(of[&ids[199_999]], 200_000);
    }
}
