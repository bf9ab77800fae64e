//! Forge push webhooks (GitHub, Forgejo/Gitea): checking the HMAC-SHA256 signature over the
//! exact body bytes, naming the event and the delivery, reading the pushed branch and commit,
//! and reading the shared secret from its file.
//!
//! Pure functions only: no HTTP server, no git. The router takes the body and headers, calls
//! these, and decides what a push means (a fetch and a build when it hits the watched branch).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The forge that sent a webhook; each names its headers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    /// Forgejo and Gitea: Forgejo sends both its own headers and Gitea's.
    Forgejo,
}

impl Forge {
    /// The name deliveries are remembered under.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::Forgejo => "forgejo",
        }
    }
}

/// What the server needs from a push event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `main` for `refs/heads/main`; `None` for tags and other refs.
    pub branch: Option<String>,
    /// The commit the ref now points at; `None` when the body has none, or when the ref was
    /// deleted (the forges then send forty zeros, which is no commit).
    pub after: Option<String>,
    /// The URLs the forge names the pushed repository by (`clone_url`, `ssh_url`, …), to
    /// tell a push to a watched flake input's repository.
    pub repository_urls: Vec<String>,
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    MissingSignature,
    BadSignature,
    Malformed(String),
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::MissingSignature => f.write_str("the webhook has no signature header"),
            WebhookError::BadSignature => {
                f.write_str("the webhook signature does not match the body and the shared secret")
            }
            WebhookError::Malformed(reason) => write!(f, "malformed webhook body: {reason}"),
        }
    }
}

impl std::error::Error for WebhookError {}

const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
const GITHUB_SIGNATURE_PREFIX: &str = "sha256=";
const FORGEJO_SIGNATURE_HEADERS: [&str; 2] = ["x-forgejo-signature", "x-gitea-signature"];
const GITHUB_EVENT_HEADER: &str = "x-github-event";
const FORGEJO_EVENT_HEADERS: [&str; 2] = ["x-forgejo-event", "x-gitea-event"];
const GITHUB_DELIVERY_HEADER: &str = "x-github-delivery";
const FORGEJO_DELIVERY_HEADERS: [&str; 2] = ["x-forgejo-delivery", "x-gitea-delivery"];
/// The longest delivery id taken; the forges send a UUID (36 characters).
const MAX_DELIVERY_LENGTH: usize = 128;

/// Checks the webhook's signature, an HMAC-SHA256 of `body` keyed with `secret`:
/// GitHub sends `X-Hub-Signature-256: sha256=<hex>`, Forgejo/Gitea `X-Forgejo-Signature: <hex>`
/// or `X-Gitea-Signature: <hex>`. `header` looks a header up by its lowercase name. The
/// comparison takes constant time. An empty secret never verifies: it would let anyone sign.
pub fn verify(
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

/// The event kind (`push`, `ping`, …) from `X-GitHub-Event`, or `X-Forgejo-Event` /
/// `X-Gitea-Event`; `None` when the header is absent.
pub fn event_kind(forge: Forge, header: impl Fn(&str) -> Option<String>) -> Option<String> {
    match forge {
        Forge::GitHub => first_header(&header, &[GITHUB_EVENT_HEADER]),
        Forge::Forgejo => first_header(&header, &FORGEJO_EVENT_HEADERS),
    }
}

/// The delivery's id, which a redelivery of the same event repeats: `X-GitHub-Delivery`, or
/// `X-Forgejo-Delivery` / `X-Gitea-Delivery`. `None` when absent, or when it is not a
/// plausible id (up to 128 visible ASCII characters).
pub fn delivery_id(forge: Forge, header: impl Fn(&str) -> Option<String>) -> Option<String> {
    let id = match forge {
        Forge::GitHub => first_header(&header, &[GITHUB_DELIVERY_HEADER]),
        Forge::Forgejo => first_header(&header, &FORGEJO_DELIVERY_HEADERS),
    }?;
    let plausible = id.len() <= MAX_DELIVERY_LENGTH && id.bytes().all(|b| b.is_ascii_graphic());
    plausible.then_some(id)
}

/// The branch, commit and repository of a push event body. Both forges send `ref` and
/// `after` at the top level and the repository's URLs under `repository`; every other field
/// is ignored.
pub fn parse_push(body: &[u8]) -> Result<Push, WebhookError> {
    #[derive(Deserialize)]
    struct PushBody {
        #[serde(rename = "ref")]
        git_ref: Option<String>,
        after: Option<String>,
        repository: Option<serde_json::Map<String, serde_json::Value>>,
    }
    const URL_FIELDS: [&str; 5] = ["clone_url", "ssh_url", "git_url", "html_url", "url"];

    let parsed: PushBody = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a push event: {e}")))?;
    let git_ref = parsed
        .git_ref
        .ok_or_else(|| WebhookError::Malformed("the push event has no \"ref\"".to_owned()))?;
    let branch = git_ref
        .strip_prefix("refs/heads/")
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    let after = parsed
        .after
        .filter(|commit| !commit.is_empty() && !commit.bytes().all(|b| b == b'0'));
    let repository_urls = parsed
        .repository
        .map(|repository| {
            URL_FIELDS
                .iter()
                .filter_map(|field| repository.get(*field)?.as_str())
                .filter(|url| !url.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Push {
        branch,
        after,
        repository_urls,
    })
}

/// The shared webhook secret: the file's contents without surrounding whitespace (so a
/// trailing newline from `echo` does not become part of the key). An empty file is an error.
pub fn read_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let contents = std::fs::read(path)
        .with_context(|| format!("failed to read the webhook secret file {}", path.display()))?;
    let secret = contents.trim_ascii();
    if secret.is_empty() {
        bail!("the webhook secret file {} is empty", path.display());
    }
    Ok(secret.to_vec())
}

/// The first of `names` that is present, trimmed; a header with an empty value counts as absent.
fn first_header(header: &impl Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| header(name))
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented example, checked with
    // `printf '%s' 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"`.
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const BODY_HMAC_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    /// A header lookup over fixed pairs; names compare case-insensitively, as hyper's do.
    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

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
    fn event_kind_reads_each_forges_header() {
        let github = headers(&[("X-GitHub-Event", "push")]);
        assert_eq!(event_kind(Forge::GitHub, github).as_deref(), Some("push"));
        let forgejo = headers(&[("X-Forgejo-Event", "push")]);
        assert_eq!(event_kind(Forge::Forgejo, forgejo).as_deref(), Some("push"));
        let gitea = headers(&[("X-Gitea-Event", "ping")]);
        assert_eq!(event_kind(Forge::Forgejo, gitea).as_deref(), Some("ping"));
        assert_eq!(event_kind(Forge::GitHub, headers(&[])), None);
        let wrong_forge = headers(&[("X-GitHub-Event", "push")]);
        assert_eq!(event_kind(Forge::Forgejo, wrong_forge), None);
    }

    #[test]
    fn delivery_id_reads_each_forges_header() {
        let github = headers(&[("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")]);
        assert_eq!(
            delivery_id(Forge::GitHub, github).as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        let forgejo = headers(&[("X-Forgejo-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473")]);
        assert!(delivery_id(Forge::Forgejo, forgejo).is_some());
        let gitea = headers(&[("X-Gitea-Delivery", "abc")]);
        assert_eq!(delivery_id(Forge::Forgejo, gitea).as_deref(), Some("abc"));
        assert_eq!(delivery_id(Forge::GitHub, headers(&[])), None);
        let wrong_forge = headers(&[("X-Gitea-Delivery", "abc")]);
        assert_eq!(delivery_id(Forge::GitHub, wrong_forge), None);
        let long = "a".repeat(129);
        for bad in ["two words", "tab\there", long.as_str()] {
            let header = headers(&[("X-GitHub-Delivery", bad)]);
            assert_eq!(delivery_id(Forge::GitHub, header), None, "{bad:?}");
        }
    }

    #[test]
    fn github_branch_push_gives_branch_and_commit() {
        let body = br#"{
          "ref": "refs/heads/main",
          "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
          "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
          "repository": {"id": 1296269, "full_name": "octocat/fleet", "default_branch": "main",
                         "clone_url": "https://github.com/octocat/fleet.git",
                         "ssh_url": "git@github.com:octocat/fleet.git"},
          "pusher": {"name": "octocat", "email": "octocat@example.com"},
          "created": false, "deleted": false, "forced": false,
          "compare": "https://github.com/octocat/fleet/compare/6113728f27ae...59b20b8d5c6f",
          "commits": [{"id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5", "message": "laptop: 24.11"}],
          "head_commit": {"id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5"}
        }"#;
        assert_eq!(
            parse_push(body).unwrap(),
            Push {
                branch: Some("main".to_owned()),
                after: Some("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5".to_owned()),
                repository_urls: vec![
                    "https://github.com/octocat/fleet.git".to_owned(),
                    "git@github.com:octocat/fleet.git".to_owned(),
                ],
            }
        );
    }

    #[test]
    fn branch_names_with_slashes_are_kept_whole() {
        let push = parse_push(br#"{"ref":"refs/heads/release/24.11","after":"abc"}"#).unwrap();
        assert_eq!(push.branch.as_deref(), Some("release/24.11"));
    }

    #[test]
    fn tag_push_has_no_branch() {
        let push = parse_push(
            br#"{"ref":"refs/tags/v1","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5"}"#,
        )
        .unwrap();
        assert_eq!(push.branch, None);
        assert!(push.after.is_some());
    }

    #[test]
    fn deleted_branch_has_no_commit() {
        let body = br#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000","deleted":true}"#;
        let push = parse_push(body).unwrap();
        assert_eq!(push.branch.as_deref(), Some("main"));
        assert_eq!(push.after, None);
    }

    #[test]
    fn missing_after_is_none() {
        let push = parse_push(br#"{"ref":"refs/heads/main"}"#).unwrap();
        assert_eq!(push.after, None);
    }

    #[test]
    fn malformed_bodies_are_malformed() {
        for body in [
            &b"{not json"[..],
            b"",
            b"[]",
            b"{\"after\":\"abc\"}",
            b"{\"ref\":42}",
        ] {
            match parse_push(body) {
                Err(WebhookError::Malformed(reason)) => assert!(!reason.is_empty()),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn error_messages_are_one_line() {
        for error in [
            WebhookError::MissingSignature,
            WebhookError::BadSignature,
            WebhookError::Malformed("the push event has no \"ref\"".to_owned()),
        ] {
            let message = error.to_string();
            assert!(!message.contains('\n') && !message.is_empty(), "{message}");
        }
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

/// Property tests: a webhook is a stranger's headers and body, checked before the secret is
/// known to match. Any of them is refused or taken without a panic; a body signed with the
/// secret verifies and the same body changed in any byte does not; a push event written as
/// the forges write it reads back.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn forge() -> impl Strategy<Value = Forge> {
        prop_oneof![Just(Forge::GitHub), Just(Forge::Forgejo)]
    }

    fn header_value() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            "\\PC{0,80}",
            "sha256=[0-9a-fA-F]{0,70}",
            "[0-9a-f]{64}",
        ])
    }

    fn signed(forge: Forge, signature: String) -> impl Fn(&str) -> Option<String> {
        move |name| {
            let wanted = match forge {
                Forge::GitHub => name == GITHUB_SIGNATURE_HEADER,
                Forge::Forgejo => name == FORGEJO_SIGNATURE_HEADERS[0],
            };
            wanted.then(|| match forge {
                Forge::GitHub => format!("sha256={signature}"),
                Forge::Forgejo => signature.clone(),
            })
        }
    }

    /// A JSON value of a few levels, to put where a push event has its fields.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "\\PC{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 20, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(nix_core::fuzz_support::config(1))]

        #[test]
        fn any_headers_and_body_are_refused_or_taken(
            forge in forge(),
            secret in proptest::collection::vec(any::<u8>(), 0..80),
            values in proptest::collection::vec(header_value(), 3),
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let header = |name: &str| -> Option<String> {
                let i = name.len() % 3;
                values[i].clone()
            };
            let _ = verify(forge, &secret, header, &body);
            let _ = event_kind(forge, header);
            if let Some(id) = delivery_id(forge, header) {
                prop_assert!(id.len() <= MAX_DELIVERY_LENGTH && id.bytes().all(|b| b.is_ascii_graphic()));
            }
            let _ = parse_push(&body);
        }

        #[test]
        fn a_signed_body_verifies_and_a_changed_one_does_not(
            forge in forge(),
            secret in proptest::collection::vec(any::<u8>(), 1..100),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            at in any::<usize>(),
            flip in 1..=255u8,
        ) {
            let signature = sign(&secret, &body);
            prop_assert_eq!(verify(forge, &secret, signed(forge, signature.clone()), &body), Ok(()));
            prop_assert_eq!(
                verify(forge, &secret, signed(forge, signature.to_uppercase()), &body),
                Ok(())
            );
            let mut changed = body.clone();
            if changed.is_empty() {
                changed.push(flip);
            } else {
                let at = at % changed.len();
                changed[at] ^= flip;
            }
            prop_assert_eq!(
                verify(forge, &secret, signed(forge, signature.clone()), &changed),
                Err(WebhookError::BadSignature)
            );
            prop_assert_eq!(verify(forge, b"", signed(forge, signature), &body), Err(WebhookError::BadSignature));
        }

        #[test]
        fn a_push_event_reads_back(
            branch in "[a-zA-Z0-9._/-]{1,30}",
            after in "[0-9a-f]{40}",
            clone_url in "\\PC{1,40}",
            extra in proptest::collection::btree_map("[a-z]{1,8}", json(), 0..4),
            noise in json(),
        ) {
            let mut body = serde_json::json!({
                "ref": format!("refs/heads/{branch}"),
                "after": after,
                "repository": { "clone_url": clone_url, "owner": noise.clone() },
                "sender": noise,
            });
            for (k, v) in extra {
                if !["ref", "after", "repository"].contains(&k.as_str()) {
                    body[k] = v;
                }
            }
            let push = parse_push(serde_json::to_vec(&body).unwrap().as_slice())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let zero = after.bytes().all(|b| b == b'0');
            prop_assert_eq!(push, Push {
                branch: Some(branch),
                after: (!zero).then_some(after),
                repository_urls: vec![clone_url],
            });
        }
    }
}
