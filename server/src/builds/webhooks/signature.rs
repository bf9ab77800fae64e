//! Whether a webhook comes from the forge: an HMAC-SHA256 of the exact body bytes, keyed with
//! the shared secret (read from its file), compared in constant time with the signature
//! header. Nothing of the body is read before this says yes.

use std::path::Path;

use anyhow::{Context, bail};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::error::WebhookError;
use super::forge::{Forge, first_header};

pub(super) const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
const GITHUB_SIGNATURE_PREFIX: &str = "sha256=";
pub(super) const FORGEJO_SIGNATURE_HEADERS: [&str; 2] =
    ["x-forgejo-signature", "x-gitea-signature"];

/// Checks the webhook's signature, an HMAC-SHA256 of `body` keyed with `secret`:
/// GitHub sends `X-Hub-Signature-256: sha256=<hex>`, Forgejo/Gitea `X-Forgejo-Signature: <hex>`
/// or `X-Gitea-Signature: <hex>`. `header` looks a header up by its lowercase name. The
/// comparison takes constant time. An empty secret never verifies: it would let anyone sign.
pub(crate) fn verify(
    forge: Forge,
    secret: &[u8],
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let signature_hex = match forge {
        Forge::GitHub => {
            let value = first_header(&header, &[GITHUB_SIGNATURE_HEADER])
                .ok_or(WebhookError::MissingSignature)?;
            value
                .strip_prefix(GITHUB_SIGNATURE_PREFIX)
                .ok_or(WebhookError::BadSignature)?
                .to_owned()
        }
        Forge::Forgejo => first_header(&header, &FORGEJO_SIGNATURE_HEADERS)
            .ok_or(WebhookError::MissingSignature)?,
    };
    let signature = hex::decode(signature_hex).map_err(|_| WebhookError::BadSignature)?;
    if secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| WebhookError::BadSignature)
}

/// The shared webhook secret: the file's contents without surrounding whitespace (so a
/// trailing newline from `echo` does not become part of the key). An empty file is an error.
pub(crate) fn read_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let contents = std::fs::read(path)
        .with_context(|| format!("failed to read the webhook secret file {}", path.display()))?;
    let secret = contents.trim_ascii();
    if secret.is_empty() {
        bail!("the webhook secret file {} is empty", path.display());
    }
    Ok(secret.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::webhooks::forge::fixed_headers as headers;

    // GitHub's documented example, checked with
    // `printf '%s' 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"`.
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const BODY_HMAC_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn github_known_vector_verifies() {
        let signature = format!("sha256={BODY_HMAC_HEX}");
        let header = headers(&[("X-Hub-Signature-256", &signature)]);
        assert_eq!(verify(Forge::GitHub, SECRET, header, BODY), Ok(()));
    }

    #[test]
    fn hex_case_does_not_matter() {
        let signature = format!("sha256={}", BODY_HMAC_HEX.to_uppercase());
        let header = headers(&[("x-hub-signature-256", &signature)]);
        assert_eq!(verify(Forge::GitHub, SECRET, header, BODY), Ok(()));
    }

    #[test]
    fn signature_round_trips_for_a_push_body() {
        let body =
            br#"{"ref":"refs/heads/main","after":"0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"}"#;
        let hex = sign(b"fleet secret", body);
        assert_eq!(hex.len(), 64);
        let github = format!("sha256={hex}");
        assert_eq!(
            verify(
                Forge::GitHub,
                b"fleet secret",
                headers(&[("X-Hub-Signature-256", &github)]),
                body
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                Forge::Forgejo,
                b"fleet secret",
                headers(&[("X-Forgejo-Signature", &hex)]),
                body
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_is_bad_signature() {
        let signature = format!("sha256={BODY_HMAC_HEX}");
        let header = headers(&[("X-Hub-Signature-256", &signature)]);
        assert_eq!(
            verify(Forge::GitHub, b"not the secret", header, BODY),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn changed_body_is_bad_signature() {
        let header = headers(&[("X-Gitea-Signature", BODY_HMAC_HEX)]);
        assert_eq!(
            verify(Forge::Forgejo, SECRET, header, b"Hello, World?"),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn missing_header_is_missing_signature() {
        assert_eq!(
            verify(Forge::GitHub, SECRET, headers(&[]), BODY),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify(Forge::Forgejo, SECRET, headers(&[]), BODY),
            Err(WebhookError::MissingSignature)
        );
        // A GitHub signature does not stand in for a Forgejo one, nor the other way round.
        let github = format!("sha256={BODY_HMAC_HEX}");
        assert_eq!(
            verify(
                Forge::Forgejo,
                SECRET,
                headers(&[("X-Hub-Signature-256", &github)]),
                BODY
            ),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify(
                Forge::GitHub,
                SECRET,
                headers(&[("X-Forgejo-Signature", BODY_HMAC_HEX)]),
                BODY
            ),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn github_needs_the_sha256_prefix() {
        let bare = headers(&[("X-Hub-Signature-256", BODY_HMAC_HEX)]);
        assert_eq!(
            verify(Forge::GitHub, SECRET, bare, BODY),
            Err(WebhookError::BadSignature)
        );
        let sha1_style = format!("sha1={BODY_HMAC_HEX}");
        let other = headers(&[("X-Hub-Signature-256", &sha1_style)]);
        assert_eq!(
            verify(Forge::GitHub, SECRET, other, BODY),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn forgejo_and_gitea_header_names_both_work() {
        for name in [
            "X-Forgejo-Signature",
            "X-Gitea-Signature",
            "x-gitea-signature",
        ] {
            let header = headers(&[(name, BODY_HMAC_HEX)]);
            assert_eq!(
                verify(Forge::Forgejo, SECRET, header, BODY),
                Ok(()),
                "{name}"
            );
        }
    }

    #[test]
    fn garbage_or_truncated_signature_is_bad_signature() {
        for value in ["zz", "", "sha256=", &BODY_HMAC_HEX[..62]] {
            let header = headers(&[("X-Forgejo-Signature", value)]);
            let result = verify(Forge::Forgejo, SECRET, header, BODY);
            assert!(result.is_err(), "{value:?} was accepted");
        }
    }

    #[test]
    fn empty_secret_never_verifies() {
        let hex = sign(b"", BODY);
        let header = headers(&[("X-Forgejo-Signature", &hex)]);
        assert_eq!(
            verify(Forge::Forgejo, b"", header, BODY),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn secret_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhook-secret");
        std::fs::write(&path, "  fleet secret\n").unwrap();
        assert_eq!(read_secret(&path).unwrap(), b"fleet secret");
    }

    #[test]
    fn empty_or_missing_secret_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhook-secret");
        std::fs::write(&path, " \n\t\n").unwrap();
        let message = format!("{:#}", read_secret(&path).unwrap_err());
        assert!(message.contains("is empty"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        let missing = dir.path().join("absent");
        let message = format!("{:#}", read_secret(&missing).unwrap_err());
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
    }
}
