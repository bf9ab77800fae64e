//! Adding a checked NAR to the box's store through Nix itself, signed with the box's keys, and
//! rooting it. Nix checks the signature against its `trusted-public-keys` and adds the path
//! atomically, so the server need not be a trusted Nix user; the box's Nix must trust the box's
//! key instead.
//!
//! Two ways, the same checks: where a nix-daemon runs (NixOS, any multi-user install), the
//! daemon's own `AddToStoreNar` and `AddIndirectRoot`, from this process — a millisecond or two
//! a path; without one (single-user Nix), a one-path binary cache in a temporary directory
//! (`nix-cache-info`, the signed narinfo, the plain NAR) copied with `nix copy --from file://…`
//! and rooted by `nix-store --add-root`, tens of milliseconds a path.

use std::path::Path;

use anyhow::{Context, Result};
use tokio::process::Command;

use super::{ConnectionWrites, Uploads};
use crate::cache::Cache;
use crate::http::response::HttpError;
use crate::nix::base32;
use crate::nix::narinfo::{self, Compression};
use crate::nix::path_info::PathInfo;
use crate::nix::signing;

/// Where the plain NAR goes inside an import directory (made here).
pub fn place_for_nar(dir: &Path, info: &PathInfo) -> Result<std::path::PathBuf> {
    let nar_dir = dir.join("nar");
    std::fs::create_dir_all(&nar_dir)?;
    Ok(nar_path(dir, info))
}

fn nar_path(dir: &Path, info: &PathInfo) -> std::path::PathBuf {
    dir.join("nar")
        .join(format!("{}.nar", base32::encode(&info.nar_hash)))
}

/// Makes `dir` a one-path binary cache but for the NAR, which the caller puts at `nar_path`.
fn prepare(cache: &Cache, dir: &Path, info: &PathInfo) -> Result<()> {
    std::fs::create_dir_all(dir.join("nar"))?;
    std::fs::write(
        dir.join("nix-cache-info"),
        format!("StoreDir: {}\n", cache.location.store_dir.as_str()),
    )?;
    let signatures = signatures(cache, info);
    let basename = cache
        .location
        .store_dir
        .basename_of(&info.path)
        .context("a checked store path")?;
    let url = format!("nar/{}.nar", base32::encode(&info.nar_hash));
    let text = narinfo::render(
        &cache.location.store_dir,
        info,
        &url,
        Compression::None,
        &signatures,
    );
    std::fs::write(dir.join(format!("{}.narinfo", &basename[..32])), text)?;
    Ok(())
}

/// Adds `info.path` from the plain NAR at `nar_path(dir, info)` to the box's store and roots
/// it as pushed now.
pub async fn run(
    cache: &Cache,
    uploads: &Uploads,
    writes: &ConnectionWrites,
    dir: &Path,
    info: &PathInfo,
) -> Result<(), HttpError> {
    let name = cache
        .location
        .store_dir
        .basename_of(&info.path)
        .context("a checked store path")?
        .to_string();
    if let Some(daemon) = &cache.store_writer {
        let signatures = signatures(cache, info);
        let keys = cache.public_keys().join(" ");
        // One push at a time on an HTTP connection; the lock is only ever waited for by a
        // client that pipelines its own requests.
        let mut held = writes.lock().await;
        let added = async {
            let session = match held.as_mut() {
                Some(session) => session,
                None => held.insert(daemon.write_session().await?),
            };
            session
                .add_to_store_nar(info, &signatures, &keys, &nar_path(dir, info))
                .await?;
            uploads
                .pushed
                .add(&info.path, &name, info.nar_size, Some(session))
                .await
                .with_context(|| format!("{} was added but not rooted", info.path))
        };
        let result = added.await;
        if result.is_err() {
            // The daemon connection may be out of step after a failure: never reuse it.
            *held = None;
        }
        match result {
            Ok(()) => return Ok(()),
            // No daemon answers after all: Nix's own tools open the store as they can.
            Err(e) if daemon_unreachable(&e) => {
                tracing::debug!("importing without the daemon: {e:#}");
            }
            Err(e) => return Err(refusal(e, info, &keys)),
        }
    }
    prepare(cache, dir, info)?;
    copy_from(cache, dir, info).await?;
    Ok(uploads
        .pushed
        .add(&info.path, &name, info.nar_size, None)
        .await
        .with_context(|| format!("{} was added but not rooted", info.path))?)
}

/// The box's signatures of `info`, one per key.
fn signatures(cache: &Cache, info: &PathInfo) -> Vec<String> {
    let fingerprint = signing::fingerprint(info);
    cache.keys.iter().map(|k| k.sign(&fingerprint)).collect()
}

/// Whether `e` is the daemon's socket refusing or missing (not a failure of the operation).
fn daemon_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            )
        })
    })
}

/// The daemon's refusal, explained when it is the box not trusting its own key.
fn refusal(e: anyhow::Error, info: &PathInfo, keys: &str) -> HttpError {
    if format!("{e:#}").contains(NOT_TRUSTED) {
        return untrusted_key(info, keys);
    }
    e.context(format!("the Nix daemon did not add {}", info.path))
        .into()
}

/// What Nix says of a path no key it trusts signed.
const NOT_TRUSTED: &str = "lacks a valid signature";

/// The box's own Nix does not trust the box's key: every push fails the same way until an
/// admin fixes `nix.conf`, so a `422` that Nix shows at once, not a `5xx` it retries.
fn untrusted_key(info: &PathInfo, keys: &str) -> HttpError {
    HttpError::Unprocessable(format!(
        "the box's Nix refused {} because it does not trust this cache's key: add {keys} to \
         trusted-public-keys in the box's nix.conf (the NixOS module's \
         services.atuin-bootstrap.server.publicKey does it)",
        info.path
    ))
}

/// Copies `info.path` from the cache in `dir` into the box's store.
async fn copy_from(cache: &Cache, dir: &Path, info: &PathInfo) -> Result<(), HttpError> {
    let public_keys = cache.public_keys().join(" ");
    let output = Command::new("nix")
        .args(["--extra-experimental-features", "nix-command"])
        .arg("copy")
        .arg("--no-recursive")
        // Honoured where this process's Nix settings count (root, a trusted user, a store
        // opened directly); through the daemon of an untrusted user, the daemon's own
        // trusted-public-keys decide.
        .args(["--option", "extra-trusted-public-keys", &public_keys])
        .arg("--from")
        .arg(format!("file://{}", dir.display()))
        .arg(&info.path)
        // Nix's cache of binary-cache answers, for this one copy only.
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output()
        .await
        .context("failed to run nix copy")?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.trim();
    if said.contains(NOT_TRUSTED) {
        return Err(untrusted_key(info, &public_keys));
    }
    Err(anyhow::anyhow!("nix copy of {} into the store failed: {said}", info.path).into())
}
