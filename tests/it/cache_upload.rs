//! Uploads with real Nix both ways: a second store (a chroot store) pushes a closure the box
//! lacks with `nix copy --to http://…?compression=…`, the box keeps it beside its store (never
//! in it), and a third store gets it back signed by the push key only: refused with only the
//! build key trusted, taken with the push key. Refusals (no token, no push scope, a tampered
//! NAR, a missing reference, `..`, over the limit) add nothing and leave no temporary file.

use std::path::PathBuf;
use std::process::Command;

use nix_core::base32;
use server::tokens::{Scope, TokenStore};
use sha2::{Digest, Sha256};

use crate::util::client_store::{nix_copy, store_has};
use crate::util::http::{Reply, get, get_json, raw, raw_status, try_send};
use crate::util::nix::{self, run_ok};
use crate::util::pushable::{Pushable, box_has, box_serves, netrc, push};
use crate::util::server::InProcess;

fn token(server: &InProcess, name: &str, scopes: &[Scope]) -> String {
    TokenStore::new(&server.state_dir())
        .create(name, scopes)
        .unwrap()
}

/// What is left in the uploads area: bodies, NARs, import directories.
fn upload_files_left(server: &InProcess) -> Vec<PathBuf> {
    let uploads = server.state_dir().join("uploads");
    ["incoming", "nar"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(uploads.join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .collect()
}

/// No body, NAR or import directory left in the uploads area.
fn assert_no_upload_files(server: &InProcess) {
    let left = upload_files_left(server);
    assert!(left.is_empty(), "left in uploads: {left:?}");
}

fn sha256_nix32(bytes: &[u8]) -> String {
    format!("sha256:{}", base32::encode(&Sha256::digest(bytes)))
}

fn put(url: &str, token: &str, body: &[u8]) -> Reply {
    let bearer = format!("Bearer {token}");
    try_send("PUT", url, &[("Authorization", &bearer)], Some(body)).unwrap()
}

/// Uploads `nar` uncompressed under its own hash, then a narinfo for `path` made by `edit`
/// from the honest one; returns the narinfo's reply.
fn put_path(
    server: &InProcess,
    token: &str,
    path: &str,
    nar: &[u8],
    honest_nar: &[u8],
    references: &str,
    edit: impl Fn(String) -> String,
) -> Reply {
    let file_hash = sha256_nix32(nar);
    let name = format!("{}.nar", file_hash.trim_start_matches("sha256:"));
    let reply = put(&format!("{}/nar/{name}", server.url), token, nar);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let hash_part = nix::hash_part(path);
    let narinfo = format!(
        "StorePath: {path}\nURL: nar/{name}\nCompression: none\nNarHash: {}\nNarSize: {}\nReferences: {references}\n",
        sha256_nix32(honest_nar),
        honest_nar.len()
    );
    put(
        &format!("{}/{hash_part}.narinfo", server.url),
        token,
        edit(narinfo).as_bytes(),
    )
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

#[test]
fn nix_copy_pushes_a_closure_with_each_compression_and_another_store_gets_it_signed() {
    let server = InProcess::start("");
    let token = token(&server, "laptop", &[Scope::Push]);
    let work = tempfile::tempdir().unwrap();
    let netrc = netrc(work.path(), &token);
    let mut pushed = 0;
    for compression in ["xz", "zstd", "none"] {
        let pushable = Pushable::build();
        let output = push(&pushable, &server.url, compression, Some(&netrc));
        assert!(
            output.status.success(),
            "{compression}: nix copy --to failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for path in pushable.paths() {
            assert!(
                box_serves(&server.url, path),
                "{compression}: {path} not served"
            );
            assert!(
                !box_has(path),
                "{compression}: {path} went into the box's store"
            );
        }
        pushed += 3;
        // A third store trusting only the box's build key refuses them: they are signed by
        // the push key alone.
        let third = tempfile::tempdir().unwrap();
        let output = nix_copy(
            &server.url,
            third.path(),
            &pushable.top,
            &server.public_key(),
        );
        assert!(
            !output.status.success(),
            "{compression}: pushed paths were taken with only the build key trusted"
        );
        assert!(!store_has(third.path(), &pushable.top));
        // Trusting the push key, it gets them.
        let output = nix_copy(&server.url, third.path(), &pushable.top, &server.push_key());
        assert!(
            output.status.success(),
            "{compression}: nix copy --from the box failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for path in pushable.paths() {
            assert!(
                store_has(third.path(), path),
                "{compression}: {path} not copied"
            );
        }
        let hi = third
            .path()
            .join(pushable.top.trim_start_matches('/'))
            .join("bin/hi");
        assert_eq!(std::fs::read_to_string(hi).unwrap(), "#!/bin/sh\necho hi\n");
        let narinfo = get(&format!(
            "{}/{}.narinfo",
            server.url,
            nix::hash_part(&pushable.top)
        ));
        let build_key_name = server.public_key().split(':').next().unwrap().to_string();
        let push_key_name = server.push_key().split(':').next().unwrap().to_string();
        assert_ne!(build_key_name, push_key_name);
        assert!(
            narinfo.text().contains(&format!("Sig: {push_key_name}:")),
            "{}",
            narinfo.text()
        );
        assert!(!narinfo.text().contains(&format!("Sig: {build_key_name}:")));
        // Its NAR as it was sent: compressed as the client chose.
        let expected = match compression {
            "none" => "Compression: none",
            "xz" => "Compression: xz",
            _ => "Compression: zstd",
        };
        assert!(narinfo.text().contains(expected), "{}", narinfo.text());

        // Pushing again: already there, nothing to do, still a success.
        let again = push(&pushable, &server.url, compression, Some(&netrc));
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_no_upload_files(&server);
        for path in pushable.paths() {
            let provenance = get_json(&format!("{}/api/v1/paths/{path}", server.url));
            assert_eq!(provenance["origin"], "pushed", "{provenance}");
            assert_eq!(provenance["token"], "laptop", "{provenance}");
            assert_eq!(provenance["signed_by"][0], push_key_name.as_str());
        }
    }
    let status = get_json(&format!("{}/api/v1/status", server.url));
    assert_eq!(status["pushed"]["count"], pushed, "{status}");
    assert!(status["pushed"]["bytes"].as_u64().unwrap() > 0, "{status}");
    // `bs` says so too.
    let home = tempfile::tempdir().unwrap();
    let bs = run_ok(
        crate::util::command_in(home.path())
            .env("ATUIN_BOOTSTRAP_ARGV0", "bs")
            .args(["--server", &server.url]),
    );
    let overview = String::from_utf8_lossy(&bs.stdout);
    assert!(
        overview.contains(&format!("pushed   {pushed} paths kept (")),
        "{overview}"
    );
}

#[test]
fn uploads_need_a_token_that_may_push() {
    let server = InProcess::start("");
    let pushable = Pushable::build();
    let work = tempfile::tempdir().unwrap();
    let nar_url = format!("{}/nar/{}.nar", server.url, "1".repeat(52));

    // No token at all: pushing is off, and the answer says how to turn it on.
    let reply = try_send("PUT", &nar_url, &[], Some(b"x")).unwrap();
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("--scope push"), "{}", reply.text());
    let output = push(&pushable, &server.url, "zstd", None);
    assert!(!output.status.success(), "pushed with pushing off");

    // A token that may only build: still off for everyone.
    let builder = token(&server, "ci", &[]);
    assert_eq!(put(&nar_url, &builder, b"x").status, 403);

    // Once a token may push: 401 without a valid token, 403 for one without the scope.
    let pusher = token(&server, "laptop", &[Scope::Push]);
    let reply = try_send("PUT", &nar_url, &[], Some(b"x")).unwrap();
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_eq!(put(&nar_url, "abt_wrong", b"x").status, 401);
    let reply = put(&nar_url, &builder, b"x");
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("push"), "{}", reply.text());
    for token in [builder.as_str(), "abt_wrong"] {
        let output = push(
            &pushable,
            &server.url,
            "zstd",
            Some(&netrc(work.path(), token)),
        );
        assert!(!output.status.success(), "pushed with {token}");
    }
    for path in pushable.paths() {
        assert!(
            !box_serves(&server.url, path),
            "{path} was added without a push token"
        );
    }
    assert_no_upload_files(&server);
    // With the push token, the same push goes through.
    let output = push(
        &pushable,
        &server.url,
        "zstd",
        Some(&netrc(work.path(), &pusher)),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(box_serves(&server.url, &pushable.top));
}

/// An upload the box must refuse: what is sent, and the answer's status and the words in it
/// that give the reason.
struct Refusal<'a> {
    name: &'a str,
    send: Box<dyn Fn() -> (u16, String) + 'a>,
    status: u16,
    /// `None` where the status is the whole reason (an answer cut short by the server).
    says: Option<&'a str>,
}

fn status_and_text(reply: Reply) -> (u16, String) {
    (reply.status, reply.text())
}

/// `PUT /nar/NAME` of a NAR of one 100 KiB file, chunked: its length is not announced.
fn chunked_nar_upload(name: &str, token: &str) -> Vec<u8> {
    let mut chunked = format!(
        "PUT /nar/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let head = crate::util::nix::nar_file_head(10 * 10 * 1024);
    chunked.extend_from_slice(format!("{:x}\r\n", head.len()).as_bytes());
    chunked.extend_from_slice(&head);
    chunked.extend_from_slice(b"\r\n");
    for _ in 0..10 {
        chunked.extend_from_slice(format!("{:x}\r\n", 10 * 1024).as_bytes());
        chunked.extend_from_slice(&[7u8; 10 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    chunked
}

#[test]
fn bad_uploads_are_refused_with_the_reason_and_add_nothing() {
    let server = InProcess::start("[cache]\nmax_upload_size = \"64KiB\"\n");
    let token = token(&server, "laptop", &[Scope::Push]);
    let pushable = Pushable::build();
    let base_nar = pushable.nar(&pushable.base);
    let top_nar = pushable.nar(&pushable.top);
    let mut tampered = base_nar.clone();
    let at = tampered
        .windows(5)
        .position(|w| w == b"base\n")
        .expect("the file's contents");
    tampered[at] = b'B';
    let lacking = format!("{} {}", basename(&pushable.lib), basename(&pushable.top));
    let put_base = |nar: &[u8], edit: fn(String) -> String| {
        status_and_text(put_path(
            &server,
            &token,
            &pushable.base,
            nar,
            &base_nar,
            "",
            edit,
        ))
    };
    // Over cache.max_upload_size, a NAR of one large file (so nothing but its size is wrong).
    let big = vec![7u8; 100 * 1024];
    let big_url = format!("{}/nar/{}.nar.xz", server.url, "2".repeat(52));
    let chunked_name = format!("{}.nar", "2".repeat(52));
    let chunked = chunked_nar_upload(&chunked_name, &token);

    let refusals = [
        Refusal {
            name: "a NAR whose bytes do not match its narinfo's NarHash (a file's contents changed)",
            send: Box::new(|| put_base(&tampered, |n| n)),
            status: 422,
            says: Some("NarHash"),
        },
        Refusal {
            name: "a reference the box lacks (lib was never pushed)",
            send: Box::new(|| {
                status_and_text(put_path(
                    &server,
                    &token,
                    &pushable.top,
                    &top_nar,
                    &top_nar,
                    &lacking,
                    |n| n,
                ))
            }),
            status: 422,
            says: Some(&pushable.lib),
        },
        Refusal {
            name: "`..` in the store path, with the hash the URL names",
            send: Box::new(|| put_base(&base_nar, |n| n.replace("-pushed-base", "-pushed..base"))),
            status: 400,
            says: Some(".."),
        },
        Refusal {
            name: "a malformed narinfo",
            send: Box::new(|| put_base(&base_nar, |n| n.replace("NarSize:", "NarSize: lots\nX:"))),
            status: 400,
            says: Some("NarSize"),
        },
        Refusal {
            name: "over cache.max_upload_size, announced",
            send: Box::new(|| status_and_text(put(&big_url, &token, &big))),
            status: 413,
            says: Some("max_upload_size"),
        },
        Refusal {
            name: "over cache.max_upload_size, streamed without a length",
            send: Box::new(|| {
                let answer = raw(&server.url, &chunked);
                (raw_status(&answer), answer)
            }),
            status: 413,
            says: None,
        },
    ];
    for refusal in &refusals {
        let (status, text) = (refusal.send)();
        assert_eq!(status, refusal.status, "{}: {text}", refusal.name);
        if let Some(reason) = refusal.says {
            assert!(text.contains(reason), "{}: {text}", refusal.name);
        }
        let left = upload_files_left(&server);
        assert!(
            left.is_empty(),
            "{}: left in uploads: {left:?}",
            refusal.name
        );
    }
    assert_eq!(
        get(&format!("{}/nar/{chunked_name}", server.url)).status,
        404
    );

    for path in pushable.paths() {
        assert!(
            !box_serves(&server.url, path),
            "{path} was added by a refused upload"
        );
    }
    // The honest upload of the same path is then taken.
    let reply = put_path(
        &server,
        &token,
        &pushable.base,
        &base_nar,
        &base_nar,
        "",
        |n| n,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(box_serves(&server.url, &pushable.base));
    assert!(!box_has(&pushable.base));
    assert_no_upload_files(&server);
}

#[test]
fn a_pushed_build_log_is_served() {
    let server = InProcess::start("");
    let token = token(&server, "laptop", &[Scope::Push]);
    let drv = format!("{}-pushed-thing.drv", "3".repeat(32));
    let url = format!("{}/log/{drv}", server.url);
    assert_eq!(get(&url).status, 404);
    let reply = try_send("PUT", &url, &[], Some(b"log")).unwrap();
    assert_eq!(reply.status, 401);
    let reply = put(&url, &token, b"building the thing\ndone\n");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let served = get(&url);
    assert_eq!(served.status, 200);
    assert_eq!(served.text(), "building the thing\ndone\n");
    let reply = put(&format!("{}/log/not-a-drv", server.url), &token, b"x");
    assert_eq!(reply.status, 400);
    assert_no_upload_files(&server);
}

#[test]
fn pushed_paths_are_kept_until_gc_finds_them_older_than_the_ttl() {
    let server = InProcess::start("");
    let token = token(&server, "laptop", &[Scope::Push]);
    let pushable = Pushable::build();
    let base_nar = pushable.nar(&pushable.base);
    let lib_nar = pushable.nar(&pushable.lib);
    let reply = put_path(
        &server,
        &token,
        &pushable.base,
        &base_nar,
        &base_nar,
        "",
        |n| n,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let references = basename(&pushable.base).to_string();
    let reply = put_path(
        &server,
        &token,
        &pushable.lib,
        &lib_nar,
        &lib_nar,
        &references,
        |n| n,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let metrics = get(&format!("{}/metrics", server.url)).text();
    assert!(
        metrics.contains("atuin_bootstrap_pushed_paths_total 2\n"),
        "{metrics}"
    );
    let bytes = format!(
        "atuin_bootstrap_pushed_bytes_total {}\n",
        base_nar.len() + lib_nar.len()
    );
    assert!(metrics.contains(&bytes), "{metrics}");

    // The base was last pushed 40 days ago: past the default pushed_ttl of 30 days.
    let records = server.state_dir().join("pushed/paths");
    let record = |path: &str| records.join(format!("{}.json", nix::hash_part(path)));
    run_ok(
        Command::new("touch")
            .args(["-d", "40 days ago"])
            .arg(record(&pushable.base)),
    );
    let output = run_ok(
        Command::new(crate::util::binary())
            .env("HOME", server.state_dir())
            .arg("gc")
            .arg("--state-dir")
            .arg(server.state_dir()),
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains(&format!("dropped pushed path {}", pushable.base)),
        "{said}"
    );
    assert!(said.contains("1 pushed path(s) dropped, 1 kept"), "{said}");
    assert!(!record(&pushable.base).exists());
    assert!(record(&pushable.lib).exists());
    assert!(!box_serves(&server.url, &pushable.base));
    assert!(box_serves(&server.url, &pushable.lib));
    // Its NAR went with it: only the lib's is left.
    let nars = std::fs::read_dir(server.state_dir().join("pushed/nar"))
        .unwrap()
        .count();
    assert_eq!(nars, 1);
    let status = get_json(&format!("{}/api/v1/status", server.url));
    assert_eq!(status["pushed"]["count"], 1, "{status}");
    assert_eq!(status["pushed"]["bytes"], lib_nar.len(), "{status}");
}

#[test]
fn the_push_key_is_made_at_first_start_private_and_printed_apart_from_the_build_key() {
    let server = InProcess::start("");
    let file = server.state_dir().join("push-key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let printed = |args: &[&str]| {
        let output = run_ok(
            Command::new(crate::util::binary())
                .env("HOME", server.state_dir())
                .args(["cache", "public-key"])
                .args(args)
                .arg("--state-dir")
                .arg(server.state_dir()),
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let push = printed(&["--push"]);
    assert_eq!(push, server.push_key());
    assert!(push.split(':').next().unwrap().contains("-push-"), "{push}");
    assert_eq!(printed(&[]), server.public_key());
    assert_ne!(push, server.public_key());
    let status = get_json(&format!("{}/api/v1/status", server.url));
    assert_eq!(status["cache"]["public_keys"].as_array().unwrap().len(), 1);
}
