//! What a pin names, checked against the box's builds: a revision (resolved in the fleet
//! repository's mirror, full or short) at which the box has a successful build of the host's
//! system, or a store path that is the output of one. The answer is the pin to record, or why
//! there is none in words for the person who asked. Not for recording (the job store) or for
//! who may pin (the API).

use crate::builds::jobs::history::{HostBuild, NewPin};
use crate::builds::repo::mirror::RevisionError;
use nix_core::store_path::is_valid_basename;

use super::view::Known;

/// How many revisions with builds a refusal names, newest first.
const REVS_NAMED: usize = 5;

/// The pin of `host` to its newest build at commit `rev` (a full id), or why there is none.
pub(super) fn at_rev(known: &Known, host: &str, rev: &str) -> Result<NewPin, String> {
    let build = known
        .builds_of(host)
        .find(|b| !b.overridden && b.rev == rev);
    match build {
        Some(build) => Ok(pin(host, Some(rev), build)),
        None => Err(format!(
            "host {host} has no successful build at {}{}",
            short(rev),
            built_at(known, host)
        )),
    }
}

/// The pin of `host` to `path`, which must be a system the box built for it.
pub(super) fn at_path(known: &Known, host: &str, path: &str) -> Result<NewPin, String> {
    let is_store_path = path
        .strip_prefix("/nix/store/")
        .is_some_and(is_valid_basename);
    if !is_store_path {
        return Err(format!(
            "{path:?} is not a store path (/nix/store/<hash>-<name>)"
        ));
    }
    match known.builds_of(host).find(|b| b.path == path) {
        Some(build) => Ok(pin(host, None, build)),
        None => Err(format!(
            "{path} is not the output of a successful build of host {host}{}",
            built_at(known, host)
        )),
    }
}

/// Why a revision cannot be pinned, for the person who asked; `None` for a failure of the box.
pub(super) fn revision_refusal(error: &RevisionError) -> Option<String> {
    match error {
        RevisionError::Other(_) => None,
        other => Some(other.to_string()),
    }
}

fn pin(host: &str, rev: Option<&str>, build: &HostBuild) -> NewPin {
    NewPin {
        host: host.to_string(),
        rev: rev.map(str::to_string),
        path: build.path.clone(),
        job: build.job,
    }
}

/// ` (its builds are at: …)`, or ` (it has no build yet)`.
fn built_at(known: &Known, host: &str) -> String {
    let mut revs: Vec<&str> = Vec::new();
    for build in known.builds_of(host).filter(|b| !b.overridden) {
        if !revs.contains(&short(&build.rev)) {
            revs.push(short(&build.rev));
        }
        if revs.len() == REVS_NAMED {
            break;
        }
    }
    if revs.is_empty() {
        " (it has no successful build yet)".to_string()
    } else {
        format!(" (its newest builds are at {})", revs.join(", "))
    }
}

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(8)]
}
