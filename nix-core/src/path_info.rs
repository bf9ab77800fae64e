//! What the store knows about one valid path (`ValidPathInfo` in Nix): the facts a narinfo is
//! made of. Both store back-ends produce this; nothing here reads the store.

use anyhow::{Context, Result, bail};

use super::base32;

/// Metadata of a valid store path, with every path as a full store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    /// The full store path.
    pub path: String,
    /// The full store path of the derivation that built it, when known.
    pub deriver: Option<String>,
    /// SHA-256 of the NAR serialisation.
    pub nar_hash: [u8; 32],
    /// Size in bytes of the NAR serialisation.
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
        // Not sliced by byte pairs: a 64-byte text with a multi-byte character would split
        // it (a panic), and `from_str_radix` takes a `+` sign.
        64 => hex::decode(digest).ok(),
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

    /// Found by `narinfo_parse::fuzz`: an uploaded `NarHash` of 64 bytes with a multi-byte
    /// character panicked instead of being refused.
    #[test]
    fn refuses_64_bytes_that_are_not_hex() {
        let split = format!("sha256:{}é{}", "a".repeat(61), "d");
        assert_eq!(split.len() - "sha256:".len(), 64);
        assert!(parse_sha256(&split).is_err());
        let signed = format!("sha256:+f{}", "a".repeat(62));
        assert!(parse_sha256(&signed).is_err());
    }

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
