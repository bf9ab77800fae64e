//! The fleet repository: a bare mirror in the state directory, fetched with gix, that builds read at exact revisions.
//! The flake inputs the server watches get mirrors of their own (`inputs`).

pub mod ancestry;
pub mod commit_subject;
pub mod commit_walk;
pub mod credentials;
mod fetch_error;
pub mod flake_lock;
pub mod inputs;
pub mod mirror;
mod revision_error;
#[cfg(test)]
mod test_repos;
pub mod watcher;
