//! `atuin-bootstrap completions SHELL` and the man page, both generated from the clap
//! definitions. Completions cover the main command and every applet name (`bt`, `bs`, `bl`,
//! `bootstrap-new-machine`), one after the other, ready to be sourced.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{BootstrapCli, LogsCli, MainCli, Shell, StatusCli, TriggerCli};

pub(crate) fn run(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    for (mut command, name) in [
        (MainCli::command(), "atuin-bootstrap"),
        (TriggerCli::command(), "bt"),
        (StatusCli::command(), "bs"),
        (LogsCli::command(), "bl"),
        (BootstrapCli::command(), "bootstrap-new-machine"),
    ] {
        // Generated into memory first: clap_complete panics on a failed write (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(generator, &mut command, name, &mut script);
        out.write_all(&script)?;
    }
    Ok(())
}

/// `atuin-bootstrap.1`, with the applets' pages after it.
pub(crate) fn man(out: &mut dyn Write) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(MainCli::command()).render(&mut page)?;
    out.write_all(&page)?;
    Ok(())
}
