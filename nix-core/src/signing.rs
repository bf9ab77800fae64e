//! Binary-cache signing keys in Nix's format (`name:base64`, as `nix key generate-secret`
//! writes them) and narinfo signatures over Nix's path fingerprint. Not for key storage
//! policy (where keys live, who owns them); see `cache::keys`.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer, SigningKey};

use super::path_info::PathInfo;

/// An ed25519 secret key with its Nix key name.
#[derive(Clone)]
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.name)
    }
}

impl SecretKey {
    /// Parses `name:base64` where the key is 64 bytes (seed and public key, as Nix writes it)
    /// or a bare 32-byte seed.
    pub fn parse(text: &str) -> Result<SecretKey> {
        let (name, encoded) = text
            .trim()
            .split_once(':')
            .context("a Nix secret key has the form name:base64")?;
        if name.is_empty() {
            bail!("the secret key has an empty name");
        }
        let bytes = BASE64
            .decode(encoded)
            .context("the secret key is not valid base64")?;
        let seed: [u8; 32] = match bytes.len() {
            64 | 32 => bytes[..32].try_into().expect("32 bytes"),
            n => bail!("the secret key has {n} bytes, expected 64"),
        };
        let key = SigningKey::from_bytes(&seed);
        if bytes.len() == 64 && bytes[32..] != key.verifying_key().to_bytes() {
            bail!("the secret key's public half does not match its seed");
        }
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<SecretKey> {
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
            bail!("key name {name:?} must be non-empty, without ':' or spaces");
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| anyhow::anyhow!("failed to read random bytes for a new key: {e}"))?;
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The key's name, the part before the colon (`buildbox-1`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `name:base64(seed ‖ public)`, the form Nix reads.
    pub fn to_nix_string(&self) -> String {
        let mut bytes = self.key.to_bytes().to_vec();
        bytes.extend_from_slice(&self.key.verifying_key().to_bytes());
        format!("{}:{}", self.name, BASE64.encode(bytes))
    }

    /// `name:base64(public)`, the form `trusted-public-keys` takes.
    pub fn public_key(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(self.key.verifying_key().to_bytes())
        )
    }

    /// `name:base64(signature)` over `fingerprint`.
    pub fn sign(&self, fingerprint: &str) -> String {
        let signature = self.key.sign(fingerprint.as_bytes());
        format!("{}:{}", self.name, BASE64.encode(signature.to_bytes()))
    }
}

/// The string Nix signs for a path:
/// `1;<path>;sha256:<base-32>;<narSize>;<comma-separated full reference paths>`.
pub fn fingerprint(info: &PathInfo) -> String {
    format!(
        "1;{};{};{};{}",
        info.path,
        info.nar_hash_nix32(),
        info.nar_size,
        info.references.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn round_trips_and_verifies() {
        let key = SecretKey::generate("test-1").unwrap();
        let again = SecretKey::parse(&key.to_nix_string()).unwrap();
        assert_eq!(again.public_key(), key.public_key());

        let sig = key.sign("1;/nix/store/x;sha256:y;1;");
        let (name, b64) = sig.split_once(':').unwrap();
        assert_eq!(name, "test-1");
        let public = BASE64
            .decode(key.public_key().split_once(':').unwrap().1)
            .unwrap();
        let verifying = VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
        let signature = Signature::from_slice(&BASE64.decode(b64).unwrap()).unwrap();
        verifying
            .verify(b"1;/nix/store/x;sha256:y;1;", &signature)
            .unwrap();
    }

    #[test]
    fn rejects_malformed_keys() {
        assert!(SecretKey::parse("no-colon").is_err());
        assert!(SecretKey::parse("name:!!!").is_err());
        assert!(SecretKey::parse("name:AAAA").is_err());
        assert!(SecretKey::generate("bad:name").is_err());
    }
}
