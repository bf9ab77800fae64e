//! The fleet repository: a bare mirror in the state directory, fetched with gix, that builds read at exact revisions.
//! The flake inputs the server watches get mirrors of their own (`inputs`).

pub mod ancestry;
pub mod commit_subject;
pub mod credentials;
mod fetch_error;
pub mod flake_lock;
pub mod inputs;
pub mod mirror;
pub mod watcher;
