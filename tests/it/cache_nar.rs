//! NARs, narinfo fields, HEAD, logs and the cache-info document, checked against what Nix
//! itself says of the same paths.

use std::process::Command;

use crate::util::fixtures::Fixture;
use crate::util::http::{field, get, narinfo_fields, request};
use crate::util::nix;
use crate::util::server::InProcess;

fn narinfo_of(server: &InProcess, path: &str) -> Vec<(String, String)> {
    let reply = get(&format!("{}/{}.narinfo", server.url, nix::hash_part(path)));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/x-nix-narinfo"));
    narinfo_fields(&reply.text())
}

#[test]
fn nars_are_byte_for_byte_what_nix_store_dump_prints() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    for path in [&fixture.tree, &fixture.lib, &fixture.base] {
        let fields = narinfo_of(&server, path);
        let url = format!("{}/{}", server.url, field(&fields, "URL").unwrap());
        let reply = get(&url);
        assert_eq!(reply.status, 200);
        let expected = nix::dump(path);
        assert_eq!(reply.body.len(), expected.len(), "NAR size of {path}");
        assert!(reply.body == expected, "NAR bytes of {path} differ");
        assert_eq!(
            reply.header("content-length"),
            Some(expected.len().to_string().as_str())
        );
    }
}

#[test]
fn narinfo_facts_match_nix_path_info() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let fields = narinfo_of(&server, &fixture.lib);
    let info = nix::path_info(&fixture.lib);
    assert_eq!(field(&fields, "StorePath"), Some(fixture.lib.as_str()));
    let sri = info["narHash"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256-");
    let digest = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(sri)
            .unwrap()
    };
    let expected = format!("sha256:{}", nix_core::base32::encode(&digest));
    assert_eq!(field(&fields, "NarHash"), Some(expected.as_str()));
    assert_eq!(
        field(&fields, "NarSize").unwrap(),
        info["narSize"].to_string()
    );
    let base_name = fixture.base.trim_start_matches("/nix/store/");
    assert_eq!(field(&fields, "References"), Some(base_name));
    let deriver = info["deriver"].as_str().unwrap();
    assert_eq!(
        field(&fields, "Deriver"),
        Some(deriver.trim_start_matches("/nix/store/"))
    );
    assert_eq!(field(&fields, "Compression"), Some("none"));
}

#[test]
fn content_addressed_paths_carry_their_ca() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("ca-{}", crate::util::nonce()));
    std::fs::write(&file, "content addressed\n").unwrap();
    let output = nix::run_ok(nix::nix("").args(["store", "add-file"]).arg(&file));
    let path = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let server = InProcess::start("");
    let fields = narinfo_of(&server, &path);
    let ca = field(&fields, "CA").expect("a CA line");
    assert!(
        ca.starts_with("fixed:sha256:") || ca.starts_with("fixed:"),
        "{ca}"
    );
    assert_eq!(field(&fields, "CA"), nix::path_info(&path)["ca"].as_str());
}

#[test]
fn head_requests_give_lengths_without_bodies() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let narinfo_url = format!("{}/{}.narinfo", server.url, nix::hash_part(&fixture.tree));
    let full = get(&narinfo_url);
    let head = request("HEAD", &narinfo_url, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(full.body.len().to_string().as_str())
    );
    let fields = narinfo_fields(&full.text());
    let nar = request(
        "HEAD",
        &format!("{}/{}", server.url, field(&fields, "URL").unwrap()),
        &[],
    );
    assert_eq!(nar.status, 200);
    assert!(nar.body.is_empty());
    assert_eq!(nar.header("content-length"), field(&fields, "NarSize"));
}

#[test]
fn a_client_accepting_zstd_gets_a_compressed_nar_with_compression_none() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let fields = narinfo_of(&server, &fixture.tree);
    let url = format!("{}/{}", server.url, field(&fields, "URL").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let body = dir.path().join("body");
    let output = nix::run_ok(
        Command::new("curl")
            .args(["-sS", "-H", "Accept-Encoding: zstd", "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .arg(&url),
    );
    assert!(output.status.success());
    let headers = std::fs::read_to_string(headers)
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("content-encoding: zstd"), "{headers}");
    let compressed = std::fs::read(body).unwrap();
    let decoded = zstd::stream::decode_all(&compressed[..]).unwrap();
    assert!(decoded == nix::dump(&fixture.tree));

    // Without the header: the plain NAR.
    let plain = get(&url);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body == nix::dump(&fixture.tree));
}

#[test]
fn build_logs_are_served_as_plain_text() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let drv = fixture.tree_drv();
    let reply = get(&format!(
        "{}/log/{}",
        server.url,
        drv.trim_start_matches("/nix/store/")
    ));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains("building the fixture tree"),
        "{}",
        reply.text()
    );
    let missing = get(&format!(
        "{}/log/00000000000000000000000000000000-none.drv",
        server.url
    ));
    assert_eq!(missing.status, 404);
}

#[test]
fn cache_info_names_the_store_and_priority() {
    let server = InProcess::start("[cache]\npriority = 41\n");
    let reply = get(&format!("{}/nix-cache-info", server.url));
    assert_eq!(reply.status, 200);
    let text = reply.text();
    assert!(text.contains("StoreDir: /nix/store\n"), "{text}");
    assert!(text.contains("WantMassQuery: 1\n"), "{text}");
    assert!(text.contains("Priority: 41\n"), "{text}");
}
