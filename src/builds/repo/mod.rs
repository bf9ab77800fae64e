//! The fleet repository: a bare mirror in the state directory, fetched with gix, that builds read at exact revisions.

pub mod commit_subject;
mod fetch_error;
pub mod mirror;
pub mod watcher;
