//! `atuin-bootstrap gc [--collect] [--nar-cache]`: drops the GC roots of builds beyond
//! `build.keep_per_target` per target and the pushed paths (their records and NAR files, and
//! the store roots older servers made for them) last pushed longer than `cache.pushed_ttl`
//! ago, takes out of the published bucket (`[publish]`) what the kept roots no longer need,
//! then optionally runs Nix's garbage collector and empties the NAR cache.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::builds::jobs::history::JobHistory;
use crate::builds::jobs::roots::Roots;
use crate::builds::jobs::service::protected_jobs;
use crate::builds::repo::ancestry::BranchOrder;
use crate::builds::repo::mirror::Mirror;
use crate::cache::nar_files;
use crate::cache::pushed_area::PushedArea;
use crate::commands::StateDirArg;
use clap::Args;
use common::config::Config;

#[derive(Debug, Args)]
/// `gc`: old GC roots of builds dropped, optionally Nix's collector run.
pub struct GcArgs {
    #[command(flatten)]
    /// The state directory whose roots are dropped.
    pub state: StateDirArg,
    /// Also run Nix's garbage collector
    #[arg(long)]
    pub collect: bool,
    /// Also empty the NAR cache (NARs kept on disk after serving them once)
    #[arg(long)]
    pub nar_cache: bool,
    /// Work on this state dir even when no server uses it while a running server uses another
    #[arg(long)]
    pub force: bool,
}

/// The system jobs the hosts may still ask for (each host's newest on the branch, its pinned
/// one), from the server's job history and mirror (none without a history).
fn hosts_newest_jobs(config: &Config) -> Result<BTreeSet<u64>> {
    let state_dir = &config.state_dir.value;
    let database = state_dir.join("jobs.sqlite");
    if !database.exists() {
        return Ok(BTreeSet::new());
    }
    let generations = match &config.repo_url {
        Some(url) => {
            let mirror = Mirror::new(
                state_dir.join("repo.git"),
                url.value.clone(),
                config.repo_branch.value.clone(),
            );
            BranchOrder::new(Arc::new(mirror)).generations(None)?
        }
        None => None,
    };
    protected_jobs(&JobHistory::open(&database)?, generations.as_deref())
}

/// Drops the roots retention no longer keeps; with `collect` runs Nix's garbage collector,
/// with `nar_cache` empties the NARs kept on disk.
pub fn run(config: &Config, collect: bool, nar_cache: bool, out: &mut dyn Write) -> Result<()> {
    let roots = Roots::new(&config.state_dir.value);
    let keep = config.keep_per_target.value as usize;
    let protected = hosts_newest_jobs(config)?;
    let dropped = roots.retain(keep, &protected)?;
    for root in &dropped {
        writeln!(out, "dropped root of {} from job {}", root.target, root.job)?;
    }
    let kept = roots.list()?.len();
    writeln!(
        out,
        "{} root(s) dropped, {kept} kept (newest {keep} per target, and each host's newest system)",
        dropped.len()
    )?;
    let ttl = config.pushed_ttl.value;
    let pushed = PushedArea::new(&config.state_dir.value);
    let expired = pushed.drop_older_than(ttl)?;
    for path in &expired {
        writeln!(out, "dropped pushed path {path}")?;
    }
    for name in pushed.drop_old_roots(ttl)? {
        writeln!(out, "dropped root of pushed path {name}")?;
    }
    let kept = pushed.totals().count;
    if !expired.is_empty() || kept > 0 {
        writeln!(
            out,
            "{} pushed path(s) dropped, {kept} kept (pushed within {})",
            expired.len(),
            humantime::format_duration(ttl)
        )?;
    }
    // Pushed build logs go with the pushed paths: by the same age, and the oldest past the cap.
    let logs = config.state_dir.value.join("uploads").join("logs");
    let cap = crate::cache::upload::put_log::total_cap(config.max_log_size.value);
    let logs_dropped = crate::cache::upload::put_log::prune(&logs, cap, ttl);
    if logs_dropped > 0 {
        writeln!(out, "{logs_dropped} pushed build log(s) dropped")?;
    }
    if let Some(publish) = &config.publish {
        crate::publish::gc(publish, &config.state_dir.value, out)
            .context("failed to take dropped paths out of the published bucket")?;
    }
    if collect {
        let status = nix_core::command::collect_garbage()
            .command()
            .status()
            .context("failed to run nix-store --gc")?;
        if !status.success() {
            bail!("nix-store --gc failed ({status})");
        }
    }
    if nar_cache {
        let dir = config.state_dir.value.join(nar_files::DIR_NAME);
        let (files, bytes) = nar_files::empty(&dir)
            .with_context(|| format!("failed to empty the NAR cache {}", dir.display()))?;
        writeln!(out, "NAR cache emptied: {files} file(s), {bytes} bytes")?;
    }
    Ok(())
}
