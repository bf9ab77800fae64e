//! Asks the build server who it is (its status, through the clients' one API client) and the
//! cache's public key, which is trusted on first use (its fingerprint shown for confirmation)
//! or checked against `--trust-key`. An unreachable server is explained, and the setup goes
//! on offline.

use sha2::{Digest, Sha256};

use crate::client::ApiClient;
use crate::config::Source;

/// What the server said, or why it said nothing.
pub enum Probe {
    Reached { public_keys: Vec<String> },
    Unreachable(String),
}

pub fn probe(server: &str) -> Probe {
    let client = ApiClient::new(
        server.trim_end_matches('/').to_string(),
        Source::Flag("--server".into()),
        None,
    );
    match client.status() {
        Ok(status) => Probe::Reached {
            public_keys: status.cache.public_keys,
        },
        Err(e) => {
            let reason = format!("{e:#}");
            Probe::Unreachable(if reason.contains(server) {
                reason
            } else {
                format!("the build server at {server} did not answer as one: {reason}")
            })
        }
    }
}

/// `SHA256:ab12…` of a `name:base64` key's bytes, to compare by eye with the server's.
pub fn fingerprint(key: &str) -> String {
    use base64::Engine;
    let material = key.split_once(':').map_or(key, |(_, k)| k);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(material)
        .unwrap_or_else(|_| material.as_bytes().to_vec());
    let digest = Sha256::digest(&bytes);
    format!("SHA256:{}", hex::encode(&digest[..16]))
}

/// A plausible Nix public key: `name:base64` of 32 bytes.
pub fn is_public_key(key: &str) -> bool {
    use base64::Engine;
    key.split_once(':').is_some_and(|(name, material)| {
        !name.is_empty()
            && base64::engine::general_purpose::STANDARD
                .decode(material)
                .is_ok_and(|b| b.len() == 32)
    })
}
