//! A client machine's own store, as a chroot store under a temporary directory: what it takes
//! from a cache with a real `nix copy --from`, trusting one key, and what it then holds. Not
//! the box's store (that is the machine's own, see `pushable::box_has`).

use std::path::Path;
use std::process::Output;

use super::nix;

/// `nix copy --from URL --to ROOT PATH` as a client machine would run it, with its own Nix
/// cache dir so no answer is remembered from another test.
pub(crate) fn nix_copy(url: &str, root: &Path, path: &str, trusted_key: &str) -> Output {
    let home = tempfile::tempdir().unwrap();
    nix::nix(&format!("trusted-public-keys = {trusted_key}\n"))
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .args(["copy", "--from", url, "--to"])
        .arg(root)
        .arg(path)
        .output()
        .unwrap()
}

/// Whether the chroot store under `root` holds `path`.
pub(crate) fn store_has(root: &Path, path: &str) -> bool {
    nix::nix("")
        .args(["path-info", "--store"])
        .arg(root)
        .arg(path)
        .output()
        .unwrap()
        .status
        .success()
}
