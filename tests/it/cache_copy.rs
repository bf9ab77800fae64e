//! Real `nix copy` from the cache: the whole closure with the key trusted, nothing without.

use std::process::Command;

use crate::util::client_store::{nix_copy, store_has};
use crate::util::fixtures::Fixture;
use crate::util::http::{field, get, narinfo_fields};
use crate::util::nix::{self, run_ok};
use crate::util::server::InProcess;

#[test]
fn copies_and_verifies_the_whole_closure_with_the_key_trusted() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let root = tempfile::tempdir().unwrap();
    let output = nix_copy(
        &server.url,
        root.path(),
        &fixture.tree,
        &server.public_key(),
    );
    assert!(
        output.status.success(),
        "nix copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for path in [&fixture.tree, &fixture.lib, &fixture.base] {
        assert!(store_has(root.path(), path), "{path} was not copied");
    }
    let copied = root
        .path()
        .join(fixture.tree.trim_start_matches('/'))
        .join("bin/hello");
    assert_eq!(
        std::fs::read_to_string(copied).unwrap(),
        "#!/bin/sh\necho hello\n"
    );
}

#[test]
fn refuses_the_closure_when_the_key_is_not_trusted() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let other_key = nix_core::signing::SecretKey::generate("someone-else-1")
        .unwrap()
        .public_key();
    let root = tempfile::tempdir().unwrap();
    let output = nix_copy(&server.url, root.path(), &fixture.tree, &other_key);
    assert!(
        !output.status.success(),
        "nix copy accepted an untrusted cache"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lacks a valid signature"), "{stderr}");
    assert!(!store_has(root.path(), &fixture.tree));
}

#[test]
fn zstd_compression_is_announced_and_nix_accepts_it() {
    let fixture = Fixture::build();
    let server = InProcess::start("[cache]\ncompression = \"zstd\"\n");
    let narinfo = get(&format!(
        "{}/{}.narinfo",
        server.url,
        nix::hash_part(&fixture.tree)
    ));
    let fields = narinfo_fields(&narinfo.text());
    assert_eq!(field(&fields, "Compression"), Some("zstd"));
    assert!(field(&fields, "URL").unwrap().ends_with(".nar.zst"));
    assert_eq!(field(&fields, "FileHash"), None);

    let root = tempfile::tempdir().unwrap();
    let output = nix_copy(
        &server.url,
        root.path(),
        &fixture.tree,
        &server.public_key(),
    );
    assert!(
        output.status.success(),
        "nix copy of zstd NARs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(store_has(root.path(), &fixture.base));
}

#[test]
fn keys_made_by_nix_sign_and_store_signatures_pass_through() {
    let fixture = Fixture::build();
    let keys = tempfile::tempdir().unwrap();
    let secret = keys.path().join("nix.sec");
    let public = keys.path().join("nix.pub");
    run_ok(
        Command::new("nix-store")
            .args(["--generate-binary-cache-key", "made-by-nix-1"])
            .arg(&secret)
            .arg(&public),
    );
    let public = std::fs::read_to_string(&public).unwrap().trim().to_string();

    // A signature already in the store, from a key the server does not have.
    let store_secret = keys.path().join("store.sec");
    let store_key = String::from_utf8(
        run_ok(nix::nix("").args(["key", "generate-secret", "--key-name", "in-store-1"])).stdout,
    )
    .unwrap();
    std::fs::write(&store_secret, &store_key).unwrap();
    run_ok(
        nix::nix("")
            .args(["store", "sign", "--key-file"])
            .arg(&store_secret)
            .arg(&fixture.base),
    );

    let server = InProcess::start(&format!(
        "[cache]\nsecret_key_files = [{:?}]\n",
        secret.display().to_string()
    ));
    assert_eq!(server.public_key(), public);
    let narinfo = get(&format!(
        "{}/{}.narinfo",
        server.url,
        nix::hash_part(&fixture.base)
    ))
    .text();
    let sigs: Vec<_> = narinfo.lines().filter(|l| l.starts_with("Sig: ")).collect();
    assert!(
        sigs.iter().any(|s| s.starts_with("Sig: made-by-nix-1:")),
        "{narinfo}"
    );
    assert!(
        sigs.iter().any(|s| s.starts_with("Sig: in-store-1:")),
        "{narinfo}"
    );

    let root = tempfile::tempdir().unwrap();
    let output = nix_copy(&server.url, root.path(), &fixture.tree, &public);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
