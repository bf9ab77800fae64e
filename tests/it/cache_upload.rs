//! Uploads with real Nix both ways: a second store (a chroot store) pushes a closure the box
//! lacks with `nix copy --to http://…?compression=…`, the box keeps it beside its store (never
//! in it), and a third store gets it back signed by the push key only: refused with only the
//! build key trusted, taken with the push key. Refusals (no token, no push scope, a tampered
//! NAR, a missing reference, `..`, over the limit) add nothing and leave no temporary file.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix_core::base32;
use server::tokens::{Scope, TokenStore};
use sha2::{Digest, Sha256};

use crate::cache_copy::{nix_copy, store_has};
use crate::util::http::{get, get_json, raw, raw_status, try_send, Reply};
use crate::util::nix::{self, run_ok};
use crate::util::server::InProcess;

/// A closure `top → lib → base` that exists only in a chroot store (`root`), not in the box's.
pub(crate) struct Pushable {
    _flake: tempfile::TempDir,
    root: tempfile::TempDir,
    top: String,
    lib: String,
    base: String,
}

impl Pushable {
    pub(crate) fn build() -> Pushable {
        let flake = tempfile::tempdir().unwrap();
        let text = r#"{
  outputs = { self }: let
    mk = name: script: extra: derivation ({
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
      nonce = "@NONCE@";
      args = [ "-c" ("PATH=/bin:/usr/bin\n" + script) ];
    } // extra);
    base = mk "pushed-base" "mkdir -p $out; echo base > $out/base.txt" {};
    lib = mk "pushed-lib" "mkdir -p $out/lib; echo $base > $out/lib/base-path; ln -s base-path $out/lib/link" { inherit base; };
    top = mk "pushed-top" "mkdir -p $out/bin; echo $lib > $out/lib-path; echo $out > $out/self; printf '#!/bin/sh\necho hi\n' > $out/bin/hi; chmod +x $out/bin/hi" { inherit lib; };
  in { packages.x86_64-linux = { inherit base lib top; }; };
}
"#;
        std::fs::write(
            flake.path().join("flake.nix"),
            text.replace("@NONCE@", &crate::util::nonce()),
        )
        .unwrap();
        let top = nix::build(flake.path(), "top");
        let closure = nix::closure(&top);
        let find = |suffix: &str| {
            closure
                .iter()
                .find(|p| p.ends_with(suffix))
                .unwrap()
                .clone()
        };
        let (lib, base) = (find("-pushed-lib"), find("-pushed-base"));
        let root = tempfile::tempdir().unwrap();
        run_ok(
            nix::nix("")
                .args(["copy", "--no-check-sigs", "--to"])
                .arg(format!("local?root={}", root.path().display()))
                .arg(&top),
        );
        run_ok(Command::new("nix-store").args(["--delete", &top, &lib, &base]));
        let pushable = Pushable {
            _flake: flake,
            root,
            top,
            lib,
            base,
        };
        for path in pushable.paths() {
            assert!(!box_has(path), "{path} is still in the box's store");
        }
        pushable
    }

    pub(crate) fn paths(&self) -> [&String; 3] {
        [&self.top, &self.lib, &self.base]
    }

    fn store_url(&self) -> String {
        format!("local?root={}", self.root.path().display())
    }

    /// The NAR of `path` as the chroot store holds it.
    fn nar(&self, path: &str) -> Vec<u8> {
        let on_disk = self.root.path().join(path.trim_start_matches('/'));
        run_ok(Command::new("nix-store").arg("--dump").arg(on_disk)).stdout
    }
}

/// Whether the box serves `path` (a narinfo), from its store or its pushed area.
pub(crate) fn box_serves(server: &str, path: &str) -> bool {
    get(&format!("{server}/{}.narinfo", nix::hash_part(path))).status == 200
}

/// Whether the box's store (the machine's own) holds `path`.
pub(crate) fn box_has(path: &str) -> bool {
    Command::new("nix-store")
        .args(["--check-validity", path])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

pub(crate) fn netrc(dir: &Path, token: &str) -> PathBuf {
    let file = dir.join("netrc");
    std::fs::write(
        &file,
        format!("machine 127.0.0.1 login pusher password {token}\n"),
    )
    .unwrap();
    file
}

/// `nix copy --to URL?compression=C` from the chroot store, as a laptop would push.
pub(crate) fn push(
    pushable: &Pushable,
    url: &str,
    compression: &str,
    netrc: Option<&Path>,
) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = nix::nix("");
    command
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .args(["copy", "--from", &pushable.store_url(), "--to"])
        .arg(format!("{url}?compression={compression}"))
        .arg(&pushable.top);
    if let Some(netrc) = netrc {
        command.arg("--netrc-file").arg(netrc);
    }
    command.output().unwrap()
}

fn token(server: &InProcess, name: &str, scopes: &[Scope]) -> String {
    TokenStore::new(&server.state_dir())
        .create(name, scopes)
        .unwrap()
}

/// No body, NAR or import directory left in the uploads area.
fn assert_no_upload_files(server: &InProcess) {
    let uploads = server.state_dir().join("uploads");
    for dir in ["incoming", "nar"] {
        let left: Vec<_> = std::fs::read_dir(uploads.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left in uploads/{dir}: {left:?}");
    }
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

#[test]
fn bad_uploads_are_refused_with_the_reason_and_add_nothing() {
    let server = InProcess::start("[cache]\nmax_upload_size = \"64KiB\"\n");
    let token = token(&server, "laptop", &[Scope::Push]);
    let pushable = Pushable::build();
    let base_nar = pushable.nar(&pushable.base);
    let top_nar = pushable.nar(&pushable.top);

    // A NAR whose bytes do not match its narinfo's NarHash (a file's contents changed).
    let mut tampered = base_nar.clone();
    let at = tampered
        .windows(5)
        .position(|w| w == b"base\n")
        .expect("the file's contents");
    tampered[at] = b'B';
    let reply = put_path(
        &server,
        &token,
        &pushable.base,
        &tampered,
        &base_nar,
        "",
        |n| n,
    );
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert!(reply.text().contains("NarHash"), "{}", reply.text());
    assert_no_upload_files(&server);

    // A reference the box lacks (lib was never pushed).
    let references = format!("{} {}", basename(&pushable.lib), basename(&pushable.top));
    let reply = put_path(
        &server,
        &token,
        &pushable.top,
        &top_nar,
        &top_nar,
        &references,
        |n| n,
    );
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert!(reply.text().contains(&pushable.lib), "{}", reply.text());
    assert_no_upload_files(&server);

    // `..` in the store path, with the hash the URL names.
    let reply = put_path(
        &server,
        &token,
        &pushable.base,
        &base_nar,
        &base_nar,
        "",
        |n| n.replace("-pushed-base", "-pushed..base"),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains(".."), "{}", reply.text());
    assert_no_upload_files(&server);

    // A malformed narinfo.
    let reply = put_path(
        &server,
        &token,
        &pushable.base,
        &base_nar,
        &base_nar,
        "",
        |n| n.replace("NarSize:", "NarSize: lots\nX:"),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("NarSize"), "{}", reply.text());
    assert_no_upload_files(&server);

    // Over cache.max_upload_size: announced, and streamed without a length (a NAR of one
    // large file, so nothing but its size is wrong).
    let big = vec![7u8; 100 * 1024];
    let name = format!("{}.nar.xz", "2".repeat(52));
    let reply = put(&format!("{}/nar/{name}", server.url), &token, &big);
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(reply.text().contains("max_upload_size"), "{}", reply.text());
    let name = format!("{}.nar", "2".repeat(52));
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
    let answer = raw(&server.url, &chunked);
    assert_eq!(raw_status(&answer), 413, "{answer}");
    assert_eq!(get(&format!("{}/nar/{name}", server.url)).status, 404);
    assert_no_upload_files(&server);

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
