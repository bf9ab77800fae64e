//! Property tests: a webhook is a stranger's headers and body, checked before the secret is
//! known to match. Any of them is refused or taken without a panic; a body signed with the
//! secret verifies and the same body changed in any byte does not; a push event written as
//! the forges write it reads back.

use proptest::prelude::*;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::forge::MAX_DELIVERY_LENGTH;
use super::push::Push;
use super::signature::{FORGEJO_SIGNATURE_HEADERS, GITHUB_SIGNATURE_HEADER};
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
