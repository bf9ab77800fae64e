//! Whether the host's own copies of a closure are the box's: `nix copy` skips a path the host
//! already has, so a copy that came from elsewhere (a pushed upload under the name of a
//! future build, taken while the host trusted the push key, or another cache) would run
//! instead of the box's build. The NarHash of every path of the closure in the host's store
//! (`nix path-info --json --recursive PATH`) must be the one the cache announces for it (the
//! same call with `--store CACHE`, run beside the copy). Paths from cache.nixos.org have the
//! same NarHash wherever they come from, so a first deploy passes.
//!
//! Content-addressed paths get no special case: their name comes from their content, so two
//! copies cannot differ (and the box builds none).

use std::collections::BTreeMap;
use std::process::Output;

use anyhow::{Context, Result, bail};

/// NarHash by store path; `None` for a path the store does not hold.
pub(super) type NarHashes = BTreeMap<String, Option<String>>;

/// The NarHashes a finished listing (`nix_core::command::closure_info`, with the download's
/// trust, no remembered narinfos and Nix's own network bounds: a path-info has no deadline
/// of ours) printed.
pub(super) fn read(output: std::io::Result<Output>, whose: &str) -> Result<NarHashes> {
    let output = output.with_context(|| format!("failed to run nix path-info in {whose}"))?;
    if !output.status.success() {
        bail!(
            "nix path-info in {whose} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse(&output.stdout).with_context(|| format!("reading nix path-info of {whose}"))
}

fn parse(json: &[u8]) -> Result<NarHashes> {
    let infos: Vec<serde_json::Value> = serde_json::from_slice(json).context("not a JSON list")?;
    infos
        .iter()
        .map(|info| {
            let path = info["path"].as_str().context("an entry without a path")?;
            let hash = info["narHash"].as_str().map(str::to_string);
            Ok((path.to_string(), hash))
        })
        .collect()
}

/// The paths the cache announces whose local copy is missing or has another NarHash (a local
/// copy with other references brings a closure without the cache's path: missing too).
pub(super) fn differing(cache: &NarHashes, local: &NarHashes) -> Vec<String> {
    cache
        .iter()
        .filter(|(path, hash)| hash.is_some() && local.get(*path).cloned().flatten() != **hash)
        .map(|(path, _)| path.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a";
    const B: &str = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b";

    fn hashes(json: &str) -> NarHashes {
        parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_path_with_another_nar_hash_or_missing_here_differs() {
        let cache = hashes(&format!(
            r#"[{{"path":"{A}","narHash":"sha256:1"}},{{"path":"{B}","narHash":"sha256:2"}}]"#
        ));
        let same = hashes(&format!(
            r#"[{{"path":"{B}","narHash":"sha256:2"}},{{"path":"{A}","narHash":"sha256:1","ca":null}}]"#
        ));
        assert!(differing(&cache, &same).is_empty());
        let other = hashes(&format!(
            r#"[{{"path":"{A}","narHash":"sha256:9"}},{{"path":"{B}","narHash":"sha256:2"}}]"#
        ));
        assert_eq!(differing(&cache, &other), vec![A.to_string()]);
        let missing = hashes(&format!(
            r#"[{{"path":"{A}","narHash":"sha256:1"}},{{"path":"{B}","valid":false}}]"#
        ));
        assert_eq!(differing(&cache, &missing), vec![B.to_string()]);
        assert!(parse(b"{}").is_err());
    }
}
