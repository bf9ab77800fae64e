//! The documented exit codes (docs/reference.md) and the error type that carries one. Any other error exits 1.

use std::fmt;

/// An error that decides the process's exit code.
#[derive(Debug)]
pub struct Exit {
    /// The process's exit code (one of the constants below).
    pub code: i32,
    /// The one-sentence error printed on stderr; empty when the mode already said it.
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Exit 1: a job waited for or followed failed or was cancelled; `deploy` rolled back or refused.
pub const JOB_FAILED: i32 = 1;
/// Exit 2: a usage or configuration error (also: not NixOS, a lock another process holds).
pub const USAGE: i32 = 2;
/// Exit 3: the server could not be reached, refused, or is not an atuin-bootstrap server.
pub const SERVER: i32 = 3;
/// Exit 130: Ctrl-C while waiting or following (the job keeps running).
pub const INTERRUPTED: i32 = 130;

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: USAGE,
        message: message.into(),
    }
    .into()
}

/// The exit code for an error: the first `Exit` in its chain, else 1.
pub fn code_of(error: &anyhow::Error) -> i32 {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Exit>())
        .map_or(1, |exit| exit.code)
}
