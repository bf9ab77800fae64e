//! What the build server remembers of evaluating the fleet flake, since a revision's flake
//! never changes: what requested targets resolved to (`Resolutions`), and the hosts of its
//! `nixosConfigurations` (`HostNames`). The evaluating itself is `jobs::targets`; not which
//! builds a host has (the job history) nor what a host reports (the fleet).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::builds::jobs::targets::{self, Resolved, Unresolved};

/// Resolutions remembered at most; past that the memory starts over.
const MAX_RESOLVED: usize = 4096;

/// Targets resolved per (revision and system, requested targets).
#[derive(Default)]
pub(super) struct Resolutions {
    memo: Mutex<HashMap<(String, Vec<String>), Resolved>>,
}

impl Resolutions {
    /// What `requested` means at `rev` (no targets: `default_targets`): remembered once
    /// resolved (failures are not remembered: Nix may have failed for its own reasons).
    pub(super) async fn resolve(
        &self,
        flake_ref: &str,
        rev: &str,
        requested: &[String],
        system: &str,
        default_targets: &[String],
    ) -> Result<Resolved, Unresolved> {
        let key = (format!("{rev} {system}"), requested.to_vec());
        if let Some(known) = self.memo.lock().expect("resolved lock").get(&key) {
            return Ok(known.clone());
        }
        let resolved = targets::resolve(flake_ref, system, requested, default_targets).await?;
        let mut memo = self.memo.lock().expect("resolved lock");
        if memo.len() >= MAX_RESOLVED {
            memo.clear();
        }
        memo.insert(key, resolved.clone());
        Ok(resolved)
    }
}

/// How long listing the flake's hosts may take before the last list is used instead.
const HOST_NAMES_TIMEOUT: Duration = Duration::from_secs(60);

/// The hosts at a revision: evaluated once per revision; while a revision does not evaluate
/// (or takes too long), the hosts of the last one that did.
#[derive(Default)]
pub(super) struct HostNames {
    /// Held across the evaluation, so that callers asking at once evaluate once.
    at: tokio::sync::Mutex<Option<HostsAt>>,
}

struct HostsAt {
    rev: String,
    names: Vec<String>,
}

impl HostNames {
    /// The hosts at `rev`, whose flake `flake_ref_of` names.
    pub(super) async fn at(
        &self,
        rev: String,
        flake_ref_of: impl FnOnce(&str) -> String,
    ) -> Vec<String> {
        let mut memo = self.at.lock().await;
        if let Some(known) = memo.as_ref().filter(|m| m.rev == rev) {
            return known.names.clone();
        }
        let flake_ref = flake_ref_of(&rev);
        let names =
            match tokio::time::timeout(HOST_NAMES_TIMEOUT, targets::host_names(&flake_ref)).await {
                Ok(Ok(names)) => names,
                Ok(Err(e)) => {
                    tracing::warn!("cannot list the hosts at {rev}: {e:#}");
                    memo.as_ref().map(|m| m.names.clone()).unwrap_or_default()
                }
                Err(_) => {
                    tracing::warn!("listing the hosts at {rev} took too long");
                    memo.as_ref().map(|m| m.names.clone()).unwrap_or_default()
                }
            };
        *memo = Some(HostsAt {
            rev,
            names: names.clone(),
        });
        names
    }
}
