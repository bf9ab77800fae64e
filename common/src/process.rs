//! The process's environment, gathered once by `main` and passed down: arguments, environment
//! variables, platform directories, the executable's path and the output streams. Nothing
//! below `main` reads `std::env` or touches stdio by itself.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// Everything the program takes from its process, gathered once by `main`.
pub struct Process {
    /// The command line, `argv[0]` included.
    pub args: Vec<OsString>,
    /// The environment variables that are valid UTF-8.
    pub vars: BTreeMap<String, String>,
    /// `~/.config/atuin-bootstrap` (or `$XDG_CONFIG_HOME/atuin-bootstrap`).
    pub user_config_dir: Option<PathBuf>,
    /// `~/.local/share/atuin-bootstrap` (or `$XDG_DATA_HOME/atuin-bootstrap`).
    pub user_data_dir: Option<PathBuf>,
    /// The running executable's path; `None` when the platform cannot tell.
    pub current_exe: Option<PathBuf>,
    /// Standard output.
    pub stdout: Box<dyn Write + Send>,
    /// Standard error.
    pub stderr: Box<dyn Write + Send>,
    /// Whether stdout is a terminal.
    pub stdout_is_terminal: bool,
    /// Whether stderr is a terminal.
    pub stderr_is_terminal: bool,
}

impl Process {
    /// The environment variable `name`; `None` when unset.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// Colour on a terminal unless `NO_COLOR` is set (to anything) or `TERM=dumb`.
    pub fn colour(&self) -> bool {
        self.stdout_is_terminal
            && !self.vars.contains_key("NO_COLOR")
            && self.var("TERM").as_deref() != Some("dumb")
    }
}
