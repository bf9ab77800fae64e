//! Adding a checked NAR to the box's store through Nix itself, as a substitute Nix trusts: a
//! one-path binary cache in a temporary directory (`nix-cache-info`, the narinfo signed with
//! the box's keys, the plain NAR), copied with `nix copy --from file://…`. Nix then checks the
//! signature against its `trusted-public-keys` and adds the path atomically — through the
//! daemon when the server is an ordinary user, so the server need not be a trusted Nix user;
//! the box's Nix must trust the box's key instead.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

use crate::cache::Cache;
use crate::nix::base32;
use crate::nix::narinfo::{self, Compression};
use crate::nix::path_info::PathInfo;
use crate::nix::signing;

/// Where the plain NAR goes inside an import directory (made by `prepare`).
pub fn nar_path(dir: &Path, info: &PathInfo) -> std::path::PathBuf {
    dir.join("nar")
        .join(format!("{}.nar", base32::encode(&info.nar_hash)))
}

/// Makes `dir` a one-path binary cache but for the NAR, which the caller puts at `nar_path`.
pub fn prepare(cache: &Cache, dir: &Path, info: &PathInfo) -> Result<()> {
    std::fs::create_dir_all(dir.join("nar"))?;
    std::fs::write(
        dir.join("nix-cache-info"),
        format!("StoreDir: {}\n", cache.location.store_dir.as_str()),
    )?;
    let fingerprint = signing::fingerprint(info);
    let signatures: Vec<String> = cache.keys.iter().map(|k| k.sign(&fingerprint)).collect();
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

/// Copies `info.path` from the cache in `dir` into the box's store.
pub async fn run(cache: &Cache, dir: &Path, info: &PathInfo) -> Result<()> {
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
    if said.contains("lacks a valid signature") {
        bail!(
            "Nix refused {} because it does not trust this cache's key: add {public_keys} to \
             trusted-public-keys in the box's nix.conf (the NixOS module does it): {said}",
            info.path
        );
    }
    bail!("nix copy of {} into the store failed: {said}", info.path);
}
