//! The one walk of a branch's history in a mirror: the commits reachable from a tip, newest
//! first, with gix. Whether a commit is on the branch (`mirror`) and the branch's order
//! (`ancestry`) both walk through here. Not what a walk's commits mean: its callers say.

use anyhow::{Context, Result};
use gix::ObjectId;
use gix::revision::walk::Info;

/// The commits reachable from `tip` (the tip included), each with its parents; a commit that
/// `wanted` refuses is neither yielded nor walked past. Errors name `tip`.
pub(crate) fn reachable<'repo>(
    repo: &'repo gix::Repository,
    tip: ObjectId,
    wanted: impl FnMut(&gix::oid) -> bool + 'repo,
) -> Result<impl Iterator<Item = Result<Info<'repo>>> + 'repo> {
    let failed = move || format!("failed to walk the history of {tip} in the mirror");
    let walk = repo.rev_walk([tip]).selected(wanted).with_context(failed)?;
    Ok(walk.map(move |info| info.with_context(failed)))
}
