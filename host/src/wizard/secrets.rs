//! The secrets step: the token, Tailscale and Atuin key files given on the command line are
//! copied into the fleet's gitignored `secrets/` (0600), where the host configuration refers
//! to them by runtime path.

use std::path::Path;

use anyhow::Result;

use super::plan::{FileChange, Plan};
use crate::wizard::BootstrapArgs;
use common::exit::usage;

/// Secret inputs copied into the fleet's gitignored `secrets/` (0600); returns the token's
/// place there.
pub(super) fn plan(
    plan: &mut Plan,
    args: &BootstrapArgs,
    secrets: &Path,
) -> Result<Option<String>> {
    let mut token_place = None;
    for (given, name, purpose) in [
        (
            &args.token_file,
            "atuin-bootstrap-token",
            "the build server's API token",
        ),
        (
            &args.tailscale_auth_key_file,
            "tailscale-auth-key",
            "Tailscale enrolment key",
        ),
        (
            &args.atuin_key_file,
            "atuin-key",
            "the Atuin encryption key",
        ),
    ] {
        let Some(source) = given else { continue };
        let text = std::fs::read_to_string(source)
            .map_err(|e| usage(format!("cannot read {} ({purpose}): {e}", source.display())))?;
        let target = secrets.join(name);
        if name == "atuin-bootstrap-token" {
            token_place = Some(target.display().to_string());
        }
        plan.files
            .push(FileChange::new(target, text.trim().to_string() + "\n", purpose).private());
    }
    Ok(token_place)
}

/// The host file's secret settings, each with its runtime path when the secret is given now,
/// is already in `secrets/`, or will be made by this run (Syncthing's identity); a setting
/// whose secret will not exist is left out (commented), never pointed at a missing file.
pub(super) fn host_values(
    args: &BootstrapArgs,
    secrets: &Path,
    syncthing_will_exist: bool,
) -> Vec<(&'static str, Option<String>)> {
    let place = |name: &str| secrets.join(name).display().to_string();
    let exists = |name: &str| secrets.join(name).exists();
    let tailscale = args.tailscale_auth_key_file.is_some() || exists("tailscale-auth-key");
    let syncthing = syncthing_will_exist || exists("syncthing/cert.pem");
    vec![
        (
            "tailscaleAuthKeyFile",
            tailscale.then(|| place("tailscale-auth-key")),
        ),
        (
            "syncthingKeyFile",
            syncthing.then(|| place("syncthing/key.pem")),
        ),
        (
            "syncthingCertFile",
            syncthing.then(|| place("syncthing/cert.pem")),
        ),
        (
            "webhookSecretFile",
            exists("webhook-secret").then(|| place("webhook-secret")),
        ),
    ]
}

/// A secret file's text, trimmed.
pub(super) fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| usage(format!("cannot read {} ({what}): {e}", path.display())))
}
