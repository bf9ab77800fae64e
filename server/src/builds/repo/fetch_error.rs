//! Why a fetch of the fleet repository failed, in words for the people who read
//! `/api/v1/status` and the API's answers: the repository's URL and branch and the reason, never
//! a path in the server's state dir (the mirror lives there). The whole error, paths included,
//! stays in `source()` for the server's log. Deciding which failure it was is the mirror's job;
//! asking git why a local repository cannot be read is here.

use std::fmt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::builds::redact::io_reason_in;
use common::credentials::Secrets;

#[derive(Debug)]
pub(crate) enum FetchError {
    /// The configured URL or branch cannot be used.
    Config(anyhow::Error),
    /// The repository could not be read from; `reason` says why, as git says it where it can.
    Remote {
        url: String,
        branch: String,
        reason: String,
        detail: anyhow::Error,
    },
    /// The repository has no such branch.
    BranchNotFound { url: String, branch: String },
    /// A lock file in the mirror stops the update: another git process holds it, or one that
    /// died left it behind.
    Locked { detail: anyhow::Error },
    /// The mirror itself could not be made, read or written.
    Mirror { detail: anyhow::Error },
}

impl FetchError {
    /// The same error with every credential in `secrets` scrubbed from its words and its
    /// detail (which keeps its text, not its chain of types, when there was anything to hide).
    pub(crate) fn hiding(self, secrets: &Secrets) -> FetchError {
        if secrets.is_empty() {
            return self;
        }
        let scrub = |detail: anyhow::Error| anyhow::anyhow!(secrets.hide(&format!("{detail:#}")));
        match self {
            FetchError::Config(detail) => FetchError::Config(scrub(detail)),
            FetchError::Remote {
                url,
                branch,
                reason,
                detail,
            } => FetchError::Remote {
                url: secrets.hide(&url),
                branch,
                reason: secrets.hide(&reason),
                detail: scrub(detail),
            },
            FetchError::BranchNotFound { url, branch } => FetchError::BranchNotFound {
                url: secrets.hide(&url),
                branch,
            },
            FetchError::Locked { detail } => FetchError::Locked {
                detail: scrub(detail),
            },
            FetchError::Mirror { detail } => FetchError::Mirror {
                detail: scrub(detail),
            },
        }
    }

    /// The message and, after it, the whole error with its paths: for the server's log.
    pub(crate) fn for_log(&self) -> String {
        match std::error::Error::source(self) {
            Some(detail) => format!("{self} ({})", anyhow_chain(detail)),
            None => self.to_string(),
        }
    }
}

fn anyhow_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Config(error) => write!(f, "{error:#}"),
            FetchError::Remote {
                url,
                branch,
                reason,
                ..
            } => write!(f, "failed to fetch branch {branch} from {url}: {reason}"),
            FetchError::BranchNotFound { url, branch } => {
                write!(f, "branch {branch} not found at {url}")
            }
            FetchError::Locked { .. } => f.write_str(
                "the mirror is locked by another git process (or a stale lock file in the \
                 mirror: the server's log names it)",
            ),
            FetchError::Mirror { detail } => write!(
                f,
                "failed to update the server's mirror of the repository: {}",
                io_reason_in(detail).unwrap_or_else(|| "see the server's log".into())
            ),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Config(_) | FetchError::BranchNotFound { .. } => None,
            FetchError::Remote { detail, .. }
            | FetchError::Locked { detail }
            | FetchError::Mirror { detail } => Some(detail.as_ref()),
        }
    }
}

/// Why git will not serve the local repository at `path`: the first `fatal:` line of
/// `git ls-remote`, which runs the same `git-upload-pack` the fetch ran. gix discards that
/// program's stderr, and with it git's reason (`detected dubious ownership in repository at
/// …`), leaving only "failed to fill whole buffer". `None` when git reads it fine.
pub(super) fn git_reason(path: &Path) -> Option<String> {
    let output = Command::new("git")
        .args(["ls-remote", "--heads", "--"])
        .arg(path)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    if output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|line| line.strip_prefix("fatal: "))
        .map(|reason| reason.trim().to_string())
        .filter(|reason| !reason.is_empty())
}
