//! Machines that push (`--push`): a netrc with the API token for the box's host, kept with the
//! other secrets in the fleet's gitignored `secrets/` (0600), for Nix's `netrc-file` so a
//! plain `nix copy --to <box>` authenticates its uploads. The token is the one the client uses
//! (`--token-file`, or the one an earlier run kept in `secrets/`).

use std::path::Path;

use anyhow::Result;

use super::answers::{Asker, confirm};
use super::plan::FileChange;
use super::secrets;
use crate::client::push::netrc;
use crate::wizard::BootstrapArgs;
use common::exit::usage;

/// The netrc's name in `secrets/`.
pub(super) const FILE_NAME: &str = "netrc";

/// Whether this machine pushes: `--push`, or (with a token to push with) a question on a
/// terminal whose default is no.
pub(super) fn wanted(args: &BootstrapArgs, secrets: &Path, asker: &Asker) -> Result<bool> {
    if args.push {
        return Ok(true);
    }
    if !matches!(asker, Asker::Terminal) || token_source(args, secrets).is_none() {
        return Ok(false);
    }
    confirm(
        asker,
        "Will this machine push what it builds to the box (nix copy --to, atuin-bootstrap push)?",
        false,
    )
}

/// Where the token comes from: `--token-file`, else the copy an earlier run kept.
fn token_source(args: &BootstrapArgs, secrets: &Path) -> Option<std::path::PathBuf> {
    args.token_file.clone().or_else(|| {
        let kept = secrets.join("atuin-bootstrap-token");
        kept.exists().then_some(kept)
    })
}

/// `secrets/netrc` for the box's host, with the token to push with.
pub(super) fn file(args: &BootstrapArgs, secrets: &Path, server: &str) -> Result<FileChange> {
    let source = token_source(args, secrets).ok_or_else(|| {
        usage(
            "--push needs the API token to push with: make one on the box with `atuin-bootstrap \
             token create NAME --scope push` and pass --token-file FILE",
        )
    })?;
    let token = secrets::read(&source, "the build server's API token")?;
    let host = netrc::host_of(server)
        .ok_or_else(|| usage(format!("the server URL {server:?} names no host")))?;
    Ok(FileChange::new(
        secrets.join(FILE_NAME),
        netrc::line(host, &token)?,
        "Nix's uploads to the box authenticate with the token",
    )
    .private())
}
