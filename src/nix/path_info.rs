//! What the store knows about one valid path (`ValidPathInfo` in Nix): the facts a narinfo is
//! made of. Both store back-ends produce this; nothing here reads the store.

use anyhow::{bail, Context, Result};

use super::base32;

/// Metadata of a valid store path, with every path as a full store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: String,
    pub deriver: Option<String>,
    /// SHA-256 of the NAR serialisation.
    pub nar_hash: [u8; 32],
    pub nar_size: u64,
    /// Sorted full store paths, the path itself included when it refers to itself.
    pub references: Vec<String>,
    /// Signatures the store already holds, `name:base64`.
    pub signatures: Vec<String>,
    /// Content address (`fixed:r:sha256:…`, `text:sha256:…`) when the path has one.
    pub content_address: Option<String>,
    /// Built on this machine (Nix's `ultimate`), not copied from elsewhere.
    pub ultimate: bool,
}

impl PathInfo {
    /// `sha256:<base-32>` as narinfo files and fingerprints write it.
    pub fn nar_hash_nix32(&self) -> String {
        format!("sha256:{}", base32::encode(&self.nar_hash))
    }
}

/// Parses a SHA-256 NAR hash as the store keeps it: `sha256:<hex>` in the database, bare hex
/// from the daemon, base-32 from older stores; with or without the `sha256:` prefix.
pub fn parse_sha256(text: &str) -> Result<[u8; 32]> {
    let digest = match text.split_once(':') {
        Some(("sha256", rest)) => rest,
        Some((other, _)) => bail!("unsupported NAR hash type {other:?}"),
        None => text,
    };
    let bytes = match digest.len() {
        64 => (0..32)
            .map(|i| u8::from_str_radix(&digest[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .ok(),
        52 => base32::decode(digest, 32),
        _ => None,
    }
    .with_context(|| format!("malformed NAR hash {text:?}"))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base32_agree() {
        let hex = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let nix32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
        assert_eq!(parse_sha256(hex).unwrap(), parse_sha256(nix32).unwrap());
        assert_eq!(
            parse_sha256(&hex[7..]).unwrap(),
            parse_sha256(nix32).unwrap()
        );
        assert!(parse_sha256("md5:abcd").is_err());
        assert!(parse_sha256("sha256:zz").is_err());
    }
}
