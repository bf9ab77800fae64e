//! Why the build server made no job for a request, in words a client may see (a refusal, or
//! an internal failure that the API answers with a server error). Not how the API maps it to
//! a status: the API's error mapping does that.

use crate::builds::repo::mirror::RevisionError;

/// Why a job could not be made (the job is not recorded).
#[derive(Debug)]
pub(crate) enum RequestError {
    /// Bad input: a target that is no name at all.
    BadRequest(String),
    /// No repository, an unknown or unreachable revision, nothing fetched yet.
    Unprocessable(String),
    Internal(anyhow::Error),
}

impl From<RevisionError> for RequestError {
    fn from(error: RevisionError) -> RequestError {
        match error {
            RevisionError::Other(e) => RequestError::Internal(e),
            other => RequestError::Unprocessable(other.to_string()),
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::BadRequest(m) | RequestError::Unprocessable(m) => f.write_str(m),
            RequestError::Internal(e) => write!(f, "{e:#}"),
        }
    }
}
