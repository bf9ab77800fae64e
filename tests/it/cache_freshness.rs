//! The cache never answers from a stale memory: a deleted path is gone at once, a signature
//! added with `nix store sign` shows at once, and a path that vanishes while its NAR streams
//! ends that response only.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::fixtures::{Fixture, single_package_flake};
use crate::util::http::{field, get, narinfo_fields};
use crate::util::nix::{self, run_ok};
use crate::util::server::InProcess;

#[test]
fn a_deleted_path_is_404_at_once() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let url = format!("{}/{}.narinfo", server.url, nix::hash_part(&fixture.tree));
    assert_eq!(get(&url).status, 200);
    assert_eq!(get(&url).status, 200);
    run_ok(nix::nix("").args(["store", "delete", &fixture.tree]));
    assert_eq!(get(&url).status, 404);
}

#[test]
fn a_signature_added_with_nix_store_sign_shows_at_once() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let url = format!("{}/{}.narinfo", server.url, nix::hash_part(&fixture.base));
    let before = get(&url).text();
    assert!(!before.contains("Sig: added-later-1:"));

    let dir = tempfile::tempdir().unwrap();
    let key =
        run_ok(nix::nix("").args(["key", "generate-secret", "--key-name", "added-later-1"])).stdout;
    std::fs::write(dir.path().join("k"), key).unwrap();
    run_ok(
        nix::nix("")
            .args(["store", "sign", "--key-file"])
            .arg(dir.path().join("k"))
            .arg(&fixture.base),
    );
    let after = get(&url).text();
    assert!(after.contains("Sig: added-later-1:"), "{after}");
    assert!(after.contains(&format!(
        "Sig: {}:",
        server.public_key().split(':').next().unwrap()
    )));
}

#[test]
fn a_path_vanishing_mid_stream_ends_that_response_not_the_server() {
    // Many files, so the archive is still being written when the path disappears.
    let dir = single_package_flake(
        "many",
        "mkdir -p $out; for i in $(seq 1 400); do head -c 262144 /dev/urandom > $out/f$i; done",
    );
    let path = nix::build(dir.path(), "many");
    let server = InProcess::start("");
    let fields =
        narinfo_fields(&get(&format!("{}/{}.narinfo", server.url, nix::hash_part(&path))).text());
    let nar_size: usize = field(&fields, "NarSize").unwrap().parse().unwrap();
    let nar_url = field(&fields, "URL").unwrap().to_string();

    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "GET /{nar_url} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = vec![0u8; 64 * 1024];
    stream.read_exact(&mut first).unwrap();

    // Nix counts paths open in running processes as alive; a vanishing path is one deleted
    // regardless (a forced GC, a disk going away).
    run_ok(nix::nix("").args(["store", "delete", "--ignore-liveness", &path]));
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let received = first.len() + rest.len();
    assert!(
        received < nar_size,
        "received {received} bytes of a {nar_size}-byte NAR after the path was deleted"
    );
    assert_eq!(get(&format!("{}/api/v1/health", server.url)).status, 200);
    assert_eq!(
        get(&format!("{}/{}.narinfo", server.url, nix::hash_part(&path))).status,
        404
    );
}

#[test]
fn a_path_built_after_a_miss_is_found_at_once() {
    let dir = single_package_flake("later", "echo later > $out");
    let planned = String::from_utf8(
        run_ok(nix::nix("").args([
            "eval",
            "--raw",
            &format!("path:{}#later.outPath", dir.path().display()),
        ]))
        .stdout,
    )
    .unwrap();
    let server = InProcess::start("");
    let url = format!("{}/{}.narinfo", server.url, nix::hash_part(&planned));
    assert_eq!(get(&url).status, 404);
    assert_eq!(get(&url).status, 404);
    assert_eq!(nix::build(dir.path(), "later"), planned);
    assert_eq!(get(&url).status, 200);
}
