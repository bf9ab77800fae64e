//! The fleet repository: a bare mirror in the state directory, fetched with gix, that builds read at exact revisions.
//! The flake inputs the server watches get mirrors of their own (`inputs`).

pub(crate) mod ancestry;
pub(crate) mod commit_subject;
pub(crate) mod commit_walk;
pub(crate) mod credentials;
mod fetch_error;
pub(crate) mod flake_lock;
pub(crate) mod inputs;
pub(crate) mod mirror;
mod revision_error;
#[cfg(test)]
mod test_repos;
pub(crate) mod watcher;
