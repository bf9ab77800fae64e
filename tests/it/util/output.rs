//! What a finished run of a command left for its caller: its exit code and what it printed,
//! read the way a script would. Not for running commands (that is `command_in` and the
//! helpers of each kind of process).

use std::process::Output;

/// The exit code a script sees; -1 for a run ended by a signal.
pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// What a run printed on standard output.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What a run printed on standard error.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
