//! The documented exit codes (docs/reference.md) and the error type that carries one. Any other error exits 1.

use std::fmt;

/// An error that decides the process's exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub const JOB_FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const SERVER: i32 = 3;
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
