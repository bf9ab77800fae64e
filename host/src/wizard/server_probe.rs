//! Asks the build server who it is (its status, through the clients' one API client) and the
//! cache's public key, which is trusted on first use (its fingerprint shown for confirmation)
//! or checked against `--trust-key`. An unreachable server is explained, and the setup goes
//! on offline.

use std::io::Write;

use anyhow::Result;
use sha2::{Digest, Sha256};

use super::answers::{Asker, confirm};
use crate::client::ApiClient;
use crate::wizard::BootstrapArgs;
use common::config::Source;
use common::exit::{Exit, SERVER, usage};
use common::process::Process;

/// What the server said, or why it said nothing.
pub(super) enum Probe {
    Reached { public_keys: Vec<String> },
    Unreachable(String),
}

pub(super) fn probe(server: &str) -> Probe {
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

/// The server's cache key: from the server (trusted on first use, or checked against
/// `--trust-key`), or `--trust-key` alone when the server cannot be reached.
pub(super) fn trusted_key(
    process: &mut Process,
    args: &BootstrapArgs,
    server: &str,
    asker: &Asker,
) -> Result<Option<String>> {
    if let Some(key) = &args.trust_key
        && !is_public_key(key)
    {
        return Err(usage(format!(
            "--trust-key {key:?} is not a Nix public key (name:base64)"
        )));
    }
    match probe(server) {
        Probe::Reached { public_keys } => {
            if let Some(expected) = &args.trust_key {
                if !public_keys.contains(expected) {
                    return Err(Exit {
                        code: SERVER,
                        message: format!(
                            "the server at {server} offers the cache key(s) {} but --trust-key says {expected}: refusing to trust it",
                            public_keys.join(", ")
                        ),
                    }
                    .into());
                }
                return Ok(Some(expected.clone()));
            }
            let Some(key) = public_keys.into_iter().next() else {
                return Ok(None);
            };
            writeln!(
                process.stderr,
                "the build server's cache key is {key}\n  fingerprint {}",
                fingerprint(&key)
            )?;
            if !confirm(asker, "Trust this key for this machine's Nix?", true)? {
                return Err(usage("the cache key was not trusted; nothing was changed"));
            }
            Ok(Some(key))
        }
        Probe::Unreachable(reason) => {
            writeln!(
                process.stderr,
                "{reason}; setting up offline: the host and client settings are written, {}",
                if args.trust_key.is_some() {
                    "and the cache is trusted with --trust-key"
                } else {
                    "but cache trust needs the server's key: run again when it is reachable, or pass --trust-key"
                }
            )?;
            Ok(args.trust_key.clone())
        }
    }
}

/// `SHA256:ab12…` of a `name:base64` key's bytes, to compare by eye with the server's.
pub(super) fn fingerprint(key: &str) -> String {
    use base64::Engine;
    let material = key.split_once(':').map_or(key, |(_, k)| k);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(material)
        .unwrap_or_else(|_| material.as_bytes().to_vec());
    let digest = Sha256::digest(&bytes);
    format!("SHA256:{}", hex::encode(&digest[..16]))
}

/// A plausible Nix public key: `name:base64` of 32 bytes.
pub(super) fn is_public_key(key: &str) -> bool {
    use base64::Engine;
    key.split_once(':').is_some_and(|(name, material)| {
        !name.is_empty()
            && base64::engine::general_purpose::STANDARD
                .decode(material)
                .is_ok_and(|b| b.len() == 32)
    })
}
