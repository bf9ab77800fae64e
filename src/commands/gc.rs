//! `atuin-bootstrap gc [--collect]`: drops the GC roots of builds beyond
//! `build.keep_per_target` per target, then optionally runs Nix's garbage collector.

use std::io::Write;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::jobs::roots::Roots;

pub fn run(config: &Config, collect: bool, out: &mut dyn Write) -> Result<()> {
    let roots = Roots::new(&config.state_dir.value);
    let keep = config.keep_per_target.value as usize;
    let dropped = roots.retain(keep)?;
    for root in &dropped {
        writeln!(out, "dropped root of {} from job {}", root.target, root.job)?;
    }
    let kept = roots.list()?.len();
    writeln!(
        out,
        "{} root(s) dropped, {kept} kept (newest {keep} per target)",
        dropped.len()
    )?;
    if collect {
        let status = Command::new("nix-store")
            .arg("--gc")
            .status()
            .context("failed to run nix-store --gc")?;
        if !status.success() {
            bail!("nix-store --gc failed ({status})");
        }
    }
    Ok(())
}
