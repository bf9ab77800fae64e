//! NARs are made once and kept on disk: real `nix copy` (plain and zstd) verifies closures
//! while parallel clients fill the cache, from the files afterwards, after a restart, after
//! eviction and after a path is deleted and rebuilt with other contents; `Range` on a kept NAR;
//! `gc --nar-cache` empties it.

use std::path::Path;
use std::process::Command;

use crate::util::client_store::{nix_copy, store_has};
use crate::util::fixtures::{Fixture, single_package_flake};
use crate::util::http::{field, get, get_json, narinfo_fields, request};
use crate::util::nix::{self, run_ok};
use crate::util::server::InProcess;

fn nar_url(server: &InProcess, path: &str) -> String {
    let reply = get(&format!("{}/{}.narinfo", server.url, nix::hash_part(path)));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let fields = narinfo_fields(&reply.text());
    format!("{}/{}", server.url, field(&fields, "URL").unwrap())
}

fn nar_cache(server: &InProcess) -> serde_json::Value {
    get_json(&format!("{}/api/v1/status", server.url))["cache"]["nar_cache"].clone()
}

/// The names of the files kept in the state dir's NAR cache.
fn kept_files(state_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir.join("nar-cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `n` NARs are kept (they are written on a thread of their own, and put in place a
/// moment after the response that made them ends).
fn wait_kept(server: &InProcess, n: u64) -> serde_json::Value {
    for _ in 0..200 {
        let status = nar_cache(server);
        if status["files"] == n {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("not {n} NARs kept: {}", nar_cache(server));
}

fn copy_ok(server: &InProcess, path: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let output = nix_copy(&server.url, root.path(), path, &server.public_key());
    assert!(
        output.status.success(),
        "nix copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(store_has(root.path(), path), "{path} was not copied");
    root
}

fn parallel_clients_fill_the_cache_then_copies_come_from_files(toml: &str, zstd: bool) {
    let fixture = Fixture::build();
    let server = InProcess::start(toml);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| copy_ok(&server, &fixture.tree));
        }
    });
    // Plain NARs of a few KiB are made in one piece and not kept; the tree's is 3 MiB.
    let expected_files = if zstd { 3 } else { 1 };
    let after_fill = wait_kept(&server, expected_files as u64);
    let kept = kept_files(&server.state_dir());
    assert_eq!(kept.len(), expected_files, "{kept:?}");
    assert!(
        kept.iter()
            .all(|n| n.ends_with(if zstd { ".nar.zst" } else { ".nar" }))
    );

    let root = copy_ok(&server, &fixture.tree);
    let copied = root.path().join(fixture.tree.trim_start_matches('/'));
    assert_eq!(
        std::fs::read(copied.join("share/large.bin")).unwrap(),
        std::fs::read(Path::new(&fixture.tree).join("share/large.bin")).unwrap()
    );
    let after = nar_cache(&server);
    assert!(
        after["hits"].as_u64().unwrap()
            >= after_fill["hits"].as_u64().unwrap() + expected_files as u64,
        "{after_fill} then {after}"
    );
    assert!(after["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn plain_nars_are_made_once_while_parallel_clients_copy() {
    parallel_clients_fill_the_cache_then_copies_come_from_files("", false);
}

#[test]
fn zstd_nars_are_made_once_while_parallel_clients_copy() {
    parallel_clients_fill_the_cache_then_copies_come_from_files(
        "[cache]\ncompression = \"zstd\"",
        true,
    );
}

#[test]
fn a_kept_nar_is_byte_for_byte_the_dump_and_answers_ranges() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let url = nar_url(&server, &fixture.tree);
    let expected = nix::dump(&fixture.tree);
    let len = expected.len();
    for _ in 0..2 {
        let reply = get(&url);
        assert_eq!(reply.status, 200);
        assert!(reply.body == expected, "NAR bytes differ");
        wait_kept(&server, 1);
    }
    assert_eq!(nar_cache(&server)["hits"], 1);
    let kept = std::fs::read(
        server
            .state_dir()
            .join("nar-cache")
            .join(url.rsplit('/').next().unwrap()),
    );
    assert!(kept.unwrap() == expected, "the kept file is not the NAR");

    let reply = request("GET", &url, &[("Range", "bytes=100-199")]);
    assert_eq!(reply.status, 206);
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes 100-199/{len}").as_str())
    );
    assert!(reply.body == expected[100..200]);
    let reply = request("GET", &url, &[("Range", "bytes=-10")]);
    assert_eq!(reply.status, 206);
    assert!(reply.body == expected[len - 10..]);
    let reply = request("GET", &url, &[("Range", &format!("bytes={}-", len - 5))]);
    assert!(reply.body == expected[len - 5..]);
    let reply = request("GET", &url, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(reply.status, 416);
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let reply = request("HEAD", &url, &[]);
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        reply.header("content-length"),
        Some(len.to_string().as_str())
    );
}

#[test]
fn kept_nars_survive_a_restart() {
    let fixture = Fixture::build();
    let toml = "[cache]\ncompression = \"zstd\"";
    let server = InProcess::start(toml);
    copy_ok(&server, &fixture.tree);
    wait_kept(&server, 3);
    let server = server.restart(toml);
    let status = nar_cache(&server);
    assert_eq!(status["files"], 3, "{status}");
    copy_ok(&server, &fixture.tree);
    let status = nar_cache(&server);
    assert_eq!(status["misses"], 0, "{status}");
    assert_eq!(status["hits"], 3, "{status}");
    assert_eq!(status["hit_rate_percent"], 100, "{status}");
}

#[test]
fn the_least_recently_used_are_evicted_to_stay_within_nar_cache_size() {
    let script = "mkdir -p $out; head -c 3000000 /dev/urandom > $out/blob";
    let flakes = [
        single_package_flake("one", script),
        single_package_flake("two", script),
    ];
    let paths = [
        nix::build(flakes[0].path(), "one"),
        nix::build(flakes[1].path(), "two"),
    ];
    let server = InProcess::start("[cache]\nnar_cache_size = \"5MiB\"");
    let urls: Vec<String> = paths.iter().map(|p| nar_url(&server, p)).collect();
    assert_eq!(get(&urls[0]).status, 200);
    wait_kept(&server, 1);
    assert_eq!(get(&urls[1]).status, 200);
    wait_kept(&server, 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let kept = kept_files(&server.state_dir());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(urls[1].ends_with(&kept[0]), "{kept:?} is not the newest");
    let status = nar_cache(&server);
    assert!(status["bytes"].as_u64().unwrap() <= 5 << 20, "{status}");
    assert_eq!(status["limit_bytes"], 5 << 20);
    for path in &paths {
        copy_ok(&server, path);
    }
}

#[test]
fn a_deleted_path_is_not_served_from_its_file_and_a_rebuild_is_served_anew() {
    // Other bytes on every build of the same derivation.
    let dir = single_package_flake(
        "changing",
        "mkdir -p $out; head -c 100000 /dev/urandom > $out/blob",
    );
    let path = nix::build(dir.path(), "changing");
    let server = InProcess::start("");
    let old_url = nar_url(&server, &path);
    assert_eq!(get(&old_url).status, 200);
    wait_kept(&server, 1);
    assert_eq!(get(&old_url).status, 200);
    assert_eq!(kept_files(&server.state_dir()).len(), 1);

    run_ok(nix::nix("").args(["store", "delete", &path]));
    assert_eq!(get(&old_url).status, 404);
    assert!(kept_files(&server.state_dir()).is_empty());

    assert_eq!(nix::build(dir.path(), "changing"), path);
    let new_url = nar_url(&server, &path);
    assert_ne!(new_url, old_url, "the rebuild has other contents");
    assert_eq!(get(&old_url).status, 404);
    let reply = get(&new_url);
    assert!(reply.body == nix::dump(&path));
    let root = copy_ok(&server, &path);
    assert_eq!(
        std::fs::read(root.path().join(path.trim_start_matches('/')).join("blob")).unwrap(),
        std::fs::read(Path::new(&path).join("blob")).unwrap()
    );
}

#[test]
fn gc_nar_cache_empties_it_and_the_server_makes_them_again() {
    let fixture = Fixture::build();
    let server = InProcess::start("");
    let url = nar_url(&server, &fixture.tree);
    assert_eq!(get(&url).status, 200);
    wait_kept(&server, 1);
    assert_eq!(kept_files(&server.state_dir()).len(), 1);
    let output = run_ok(
        Command::new(crate::util::binary())
            .env_clear()
            .env("HOME", server.state_dir())
            .arg("gc")
            .arg("--nar-cache")
            .arg("--state-dir")
            .arg(server.state_dir()),
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("NAR cache emptied: 1 file(s)"),
        "{printed}"
    );
    assert!(kept_files(&server.state_dir()).is_empty());
    let reply = get(&url);
    assert!(reply.body == nix::dump(&fixture.tree));
    // Made again: kept again (the index forgot the removed file when it found it gone).
    for _ in 0..100 {
        if kept_files(&server.state_dir()).len() == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "the NAR was not kept again: {:?}",
        kept_files(&server.state_dir())
    );
}
