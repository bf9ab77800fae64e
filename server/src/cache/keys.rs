//! Which signing keys the cache uses: the configured secret key files, or else one key kept
//! in the state directory and generated on the first start (the build keys); and the push key
//! (`<state>/push-key`, also made on the first start), the only key pushed paths are signed
//! with. Also writes new key files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use common::state_dir::{StateDir, write_private_file};
use nix_core::signing::SecretKey;

/// The key the server makes for itself when none is configured.
pub(crate) const GENERATED_KEY_FILE: &str = "cache-key.sec";

/// The key pushed paths are signed with, in the state directory.
pub(crate) const PUSH_KEY_FILE: &str = "push-key";

/// The push key, made now (0600) when `create` and missing.
pub(crate) fn resolve_push_key(state: &StateDir, create: bool) -> Result<SecretKey> {
    let file = state.join(PUSH_KEY_FILE);
    if file.exists() || !create {
        return read_key_file(&file).with_context(|| {
            "the server has not made its push key yet (start it once)".to_string()
        });
    }
    state.ensure()?;
    let key = SecretKey::generate(&push_key_name())?;
    state.write_private(
        PUSH_KEY_FILE,
        format!("{}\n", key.to_nix_string()).as_bytes(),
    )?;
    tracing::info!("generated the push signing key {}", key.public_key());
    Ok(key)
}

/// `<hostname>-push-1`: a name that says what the key vouches for.
fn push_key_name() -> String {
    match common::os::hostname().filter(|host| !host.contains(':')) {
        Some(host) => format!("{host}-push-1"),
        None => "atuin-bootstrap-push-1".to_string(),
    }
}

/// Reads a secret key file as Nix writes it.
pub(crate) fn read_key_file(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the cache key {}", path.display()))?;
    SecretKey::parse(&text).with_context(|| format!("bad cache key in {}", path.display()))
}

/// The configured keys, or the state directory's own key (made now when `create` and missing).
pub(crate) fn resolve(files: &[PathBuf], state: &StateDir, create: bool) -> Result<Vec<SecretKey>> {
    if !files.is_empty() {
        return files.iter().map(|f| read_key_file(f)).collect();
    }
    let generated = state.join(GENERATED_KEY_FILE);
    if generated.exists() || !create {
        return read_key_file(&generated)
            .with_context(|| "no cache key is configured and the server has not made one yet (start it once, or set cache.secret_key_files)")
            .map(|key| vec![key]);
    }
    state.ensure()?;
    let key = SecretKey::generate(&default_key_name())?;
    state.write_private(
        GENERATED_KEY_FILE,
        format!("{}\n", key.to_nix_string()).as_bytes(),
    )?;
    tracing::info!("generated cache signing key {}", key.public_key());
    Ok(vec![key])
}

/// Writes a new secret key to `path` (0600), never replacing a file.
pub(crate) fn generate_into(name: &str, path: &Path) -> Result<SecretKey> {
    let key = SecretKey::generate(name)?;
    write_private_file(path, format!("{}\n", key.to_nix_string()).as_bytes(), true)?;
    Ok(key)
}

/// `<hostname>-1`, in the style of `cache.nixos.org-1`.
fn default_key_name() -> String {
    match common::os::hostname().filter(|host| !host.contains(':')) {
        Some(host) => format!("{host}-1"),
        None => "atuin-bootstrap-1".to_string(),
    }
}
