//! Why a revision an API user gave cannot be built, in words for that user: never a
//! filesystem path (a failure to read the mirror keeps its detail in `source()`, for the
//! server's log). Deciding which it is is the mirror's job (`mirror::revisions`).

use std::fmt;

/// Why a revision given by an API user cannot be built. The messages are meant for that user:
/// they never contain a filesystem path (`Other` keeps its detail in `source()`).
#[derive(Debug)]
pub(crate) enum RevisionError {
    /// Not 4 to 40 hex digits.
    Malformed(String),
    /// No commit with this id in the mirror.
    NotFound(String),
    /// The short id matches more than one commit.
    Ambiguous(String),
    /// The commit exists but cannot be reached from the branch tip.
    NotOnBranch { rev: String, branch: String },
    /// The mirror has no branch yet.
    NotFetched,
    /// Reading the mirror failed.
    Other(anyhow::Error),
}

impl fmt::Display for RevisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevisionError::Malformed(rev) => {
                write!(
                    f,
                    "revision {rev:?} is not a commit id (4 to 40 hex digits)"
                )
            }
            RevisionError::NotFound(rev) => write!(f, "no commit {rev} in the fleet repository"),
            RevisionError::Ambiguous(rev) => {
                write!(
                    f,
                    "short commit id {rev} matches several commits; give more digits"
                )
            }
            RevisionError::NotOnBranch { rev, branch } => {
                write!(f, "commit {rev} is not on branch {branch}")
            }
            RevisionError::NotFetched => {
                write!(f, "the fleet repository has not been fetched yet")
            }
            RevisionError::Other(_) => write!(f, "failed to read the fleet repository"),
        }
    }
}

impl std::error::Error for RevisionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RevisionError::Other(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}

impl From<anyhow::Error> for RevisionError {
    fn from(err: anyhow::Error) -> Self {
        RevisionError::Other(err)
    }
}
