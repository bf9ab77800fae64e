//! Publishing to S3-compatible storage, against a real three-node Garage cluster on loopback
//! (replication 3): the box publishes what it builds; real Nix reads the bucket through
//! Garage's web endpoint with the box stopped (signature checked, refused without the key,
//! and as a substituter of `nix build`), with one Garage node killed too; a box killed with
//! SIGKILL mid-publish leaves a consistent bucket and finishes after a restart; and what the
//! box's retention and `gc` drop leaves the bucket (narinfo first, NAR after the grace); and
//! paths pushed with a push token are published as the box serves them, signed by the push key.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::flake_repo::FlakeRepo;
use crate::util::garage::Garage;
use crate::util::http::{field, get_json, narinfo_fields};
use crate::util::nix::{NIX_CONFIG, closure, hash_part, run_ok};

/// A fan of small paths, a few large random ones and a top that needs them all; `@VERSION@`
/// changes every path.
const FLAKE: &str = r#"{
  outputs = { self }: let
    mk = name: deps: script: derivation {
      inherit name;
      nonce = "@NONCE@";
      version = "@VERSION@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin\nmkdir $out\n${script}\necho ${toString deps} > $out/deps" ];
    };
    base = mk "base" [ ] "echo base > $out/data";
    lib = mk "lib" [ base ] "echo lib > $out/data";
    leaves = builtins.genList (i: mk "leaf-${toString i}" [ base ] "echo leaf ${toString i} > $out/data") @LEAVES@;
    bigs = builtins.genList (i: mk "big-${toString i}" [ ] "head -c @BIG@ /dev/urandom > $out/blob") @BIGS@;
  in {
    packages.x86_64-linux = {
      app = mk "app" [ lib base ] "echo app > $out/data";
      top = mk "top" (leaves ++ bigs ++ [ lib ]) "echo top > $out/data";
    };
  };
}
"#;

fn flake(version: u32, leaves: u32, bigs: u32, big_bytes: u64) -> String {
    FLAKE
        .replace("@VERSION@", &version.to_string())
        .replace("@LEAVES@", &leaves.to_string())
        .replace("@BIGS@", &bigs.to_string())
        .replace("@BIG@", &big_bytes.to_string())
}

/// Builds `target` at `rev` on the box; its output.
fn build_on(build: &BuildBox, target: &str, rev: &str) -> (u64, String) {
    let (status, job) = build.request(&format!(r#"{{"targets": ["{target}"], "rev": "{rev}"}}"#));
    assert!(
        status == 200 || status == 201 || status == 202,
        "{status} {job}"
    );
    let id = job["id"].as_u64().unwrap();
    let done = build.wait_finished(id);
    assert_eq!(done["state"], "succeeded", "{done}");
    (id, done["outputs"][target].as_str().unwrap().to_string())
}

/// Waits until the status says the bucket has everything up to job `job`.
fn wait_published(build: &BuildBox, job: u64) -> serde_json::Value {
    wait_for(Duration::from_secs(120), || {
        let publish = get_json(&build.url("/api/v1/status"))["publish"].clone();
        (publish["pending_paths"] == 0 && publish["last_job"].as_u64() >= Some(job))
            .then_some(publish)
    })
    .unwrap_or_else(|| {
        panic!(
            "the bucket never caught up with job {job}: {}",
            get_json(&build.url("/api/v1/status"))["publish"]
        )
    })
}

/// `nix copy --from URL` of `path` into a fresh store under `root`, trusting `key` (or
/// nothing); Nix's output.
fn nix_copy(
    url: &str,
    path: &str,
    root: &Path,
    key: Option<&str>,
    home: &Path,
) -> std::process::Output {
    Command::new("nix")
        .env("HOME", home)
        .env(
            "NIX_CONFIG",
            format!(
                "{NIX_CONFIG}trusted-public-keys = {}\nnarinfo-cache-negative-ttl = 0\n",
                key.unwrap_or("")
            ),
        )
        .args(["copy", "--from", url, "--to"])
        .arg(format!("local?root={}", root.display()))
        .arg(path)
        .output()
        .unwrap()
}

/// `nix_copy` of `path` from `url` into a fresh store trusting `key`, which must succeed; the
/// store.
fn copy_trusting(url: &str, path: &str, key: &str, home: &Path) -> tempfile::TempDir {
    let store = tempfile::tempdir().unwrap();
    let copied = nix_copy(url, path, store.path(), Some(key), home);
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    store
}

/// `nix_copy` of `path` from `url` into a fresh store trusting `key` (or nothing), which must
/// be refused for the signature.
fn assert_copy_refused(url: &str, path: &str, key: Option<&str>, home: &Path) {
    let untrusted = tempfile::tempdir().unwrap();
    let refused = nix_copy(url, path, untrusted.path(), key, home);
    assert!(!refused.status.success(), "taken trusting {key:?} alone");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("signature"), "{said}");
}

/// Every one of `paths` is in the chroot store under `store`.
fn assert_in_store(store: &Path, paths: &[String]) {
    for path in paths {
        assert!(store.join(path.trim_start_matches('/')).exists(), "{path}");
    }
}

/// Every narinfo of `paths` the bucket has: its NAR is there and so are its references'
/// narinfos. Returns how many narinfos there were.
fn assert_consistent(garage: &Garage, node: usize, paths: &[String]) -> usize {
    let mut present = 0;
    for path in paths {
        let (status, body) = garage.get(node, &format!("{}.narinfo", hash_part(path)));
        if status == 404 {
            continue;
        }
        assert_eq!(status, 200);
        present += 1;
        let fields = narinfo_fields(&String::from_utf8(body).unwrap());
        let url = field(&fields, "URL").unwrap();
        let (nar_status, nar) = garage.get(node, url);
        assert_eq!(nar_status, 200, "{path}: narinfo without its NAR {url}");
        assert_eq!(
            nar.len().to_string(),
            field(&fields, "FileSize").unwrap(),
            "{path}: FileSize"
        );
        for reference in field(&fields, "References")
            .unwrap_or("")
            .split_whitespace()
        {
            let (ref_status, _) = garage.get(node, &format!("{}.narinfo", &reference[..32]));
            assert_eq!(
                ref_status, 200,
                "{path}: its reference {reference} is missing"
            );
        }
    }
    present
}

/// A box over `repo` (polling it hourly: the tests ask for their builds) that publishes to
/// `garage` with `settings` in its `[publish]` section; `extra` config before that.
fn publishing_box(
    garage: &Garage,
    repo: &FlakeRepo,
    work: &Path,
    settings: &str,
    extra: &str,
) -> BuildBox {
    let publish = garage.publish_config(work, settings);
    let url = repo.path().display().to_string();
    BuildBox::with_poll(&url, work, "1h", &format!("{extra}{publish}"))
}

fn box_key(build: &BuildBox) -> String {
    get_json(&build.url("/api/v1/status"))["cache"]["public_keys"][0]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn real_nix_reads_the_published_bucket_with_the_box_stopped_and_a_node_down() {
    let Some(mut garage) = Garage::start() else {
        return;
    };
    let repo = FlakeRepo::new();
    let rev = repo.commit(&flake(1, 2, 0, 0), "first");
    let work = tempfile::tempdir().unwrap();
    let mut build = publishing_box(&garage, &repo, work.path(), "", "");
    let (job, app) = build_on(&build, "app", &rev);
    let status = wait_published(&build, job);
    assert_eq!(status["bucket"], "nix");
    assert_eq!(status["read_url"], garage.read_url(0));
    assert!(status["last_error"].is_null(), "{status}");
    assert!(status["last_published_at"].is_string(), "{status}");
    let key = box_key(&build);
    let paths = closure(&app);
    assert_eq!(paths.len(), 3);
    assert_eq!(assert_consistent(&garage, 0, &paths), 3);
    let (_, info) = garage.get(0, "nix-cache-info");
    assert!(
        String::from_utf8(info)
            .unwrap()
            .contains("StoreDir: /nix/store")
    );
    // Compressed with zstd by default, FileHash the compressed file's.
    let (_, narinfo) = garage.get(0, &format!("{}.narinfo", hash_part(&app)));
    let fields = narinfo_fields(&String::from_utf8(narinfo).unwrap());
    assert_eq!(field(&fields, "Compression"), Some("zstd"));
    assert!(field(&fields, "URL").unwrap().ends_with(".nar.zst"));
    assert!(field(&fields, "FileHash").unwrap().starts_with("sha256:"));

    // `bs` shows the bucket.
    let bs = run_ok(
        crate::util::command_in(&build.home)
            .env("ATUIN_BOOTSTRAP_ARGV0", "bs")
            .args(["--server", &build.server.url]),
    );
    let bs = String::from_utf8(bs.stdout).unwrap();
    assert!(
        bs.contains(&format!(
            "publish  nix → {}, up to date (job {job})",
            garage.read_url(0)
        )),
        "{bs}"
    );
    // `/metrics` the pending counts.
    let metrics = crate::util::http::get(&build.url("/metrics")).text();
    assert!(
        metrics.contains("atuin_bootstrap_publish_pending_paths{bucket=\"nix\"} 0"),
        "{metrics}"
    );

    // The box is gone: Nix gets the closure from the bucket, signature checked.
    build.stop();
    let home = tempfile::tempdir().unwrap();
    let store = copy_trusting(&garage.read_url(0), &app, &key, home.path());
    assert_in_store(store.path(), &paths);
    // Without the box's key it is refused.
    assert_copy_refused(&garage.read_url(0), &app, None, home.path());

    // One node down (the one the box wrote through): another still serves it all.
    garage.kill(0);
    let _store = copy_trusting(&garage.read_url(1), &app, &key, home.path());

    // As a substituter of `nix build`: the flake's app is substituted, not built.
    let store = tempfile::tempdir().unwrap();
    let built = Command::new("nix")
        .env("HOME", home.path())
        .env(
            "NIX_CONFIG",
            format!(
                "{NIX_CONFIG}extra-substituters = {}\ntrusted-public-keys = {key}\n",
                garage.read_url(2)
            ),
        )
        .args(["build", "--no-link", "--json", "--max-jobs", "0", "--store"])
        .arg(format!("local?root={}", store.path().display()))
        .arg(format!(
            "git+file://{}?rev={rev}#app",
            repo.path().display()
        ))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let built: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    assert_eq!(built[0]["outputs"]["out"], app.as_str());
}

#[test]
fn a_box_killed_mid_publish_leaves_a_consistent_bucket_and_finishes_after_restart() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let repo = FlakeRepo::new();
    // Two random 70 MB paths: past 64 MiB compressed, so they go as multipart uploads.
    let rev = repo.commit(&flake(1, 40, 2, 70_000_000), "first");
    let work = tempfile::tempdir().unwrap();
    let mut build = publishing_box(&garage, &repo, work.path(), "max_concurrent = 2\n", "");
    let (job, top) = build_on(&build, "top", &rev);
    let paths = closure(&top);
    assert_eq!(paths.len(), 45);
    // SIGKILL once some paths are in and some are not.
    let seen = wait_for(Duration::from_secs(60), || {
        let publish = get_json(&build.url("/api/v1/status"))["publish"].clone();
        let pending = publish["pending_paths"].as_u64()?;
        (pending > 0 && pending < paths.len() as u64).then_some(pending)
    })
    .expect("never saw the publish under way");
    build.stop();
    let present = assert_consistent(&garage, 0, &paths);
    assert!(
        present < paths.len(),
        "all {present} were in before the kill ({seen} pending)"
    );

    build.restart(work.path());
    wait_published(&build, job);
    assert_eq!(assert_consistent(&garage, 0, &paths), paths.len());
    // No compressed NAR is left behind in the state dir.
    let temp = build.state.join("publish/tmp");
    assert_eq!(std::fs::read_dir(&temp).map(|d| d.count()).unwrap_or(0), 0);
    let key = box_key(&build);
    build.stop();
    let home = tempfile::tempdir().unwrap();
    copy_trusting(&garage.read_url(1), &top, &key, home.path());
}

#[test]
fn what_retention_and_gc_drop_leaves_the_bucket_narinfo_first() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let repo = FlakeRepo::new();
    let first = repo.commit(&flake(1, 1, 0, 0), "first");
    let work = tempfile::tempdir().unwrap();
    let mut build = publishing_box(
        &garage,
        &repo,
        work.path(),
        "nar_grace = \"5s\"\n",
        "[build]\nkeep_per_target = 1\n",
    );
    let (first_job, old_app) = build_on(&build, "app", &first);
    wait_published(&build, first_job);
    assert_eq!(assert_consistent(&garage, 0, &closure(&old_app)), 3);
    let second = repo.commit(&flake(2, 1, 0, 0), "second");
    let (job, new_app) = build_on(&build, "app", &second);
    wait_published(&build, job);
    // The server's own retention dropped the first build: its narinfo leaves at once...
    let old = format!("{}.narinfo", hash_part(&old_app));
    wait_for(Duration::from_secs(30), || {
        (garage.get(0, &old).0 == 404).then_some(())
    })
    .expect("the dropped build's narinfo stayed in the bucket");
    let (_, new_narinfo) = garage.get(0, &format!("{}.narinfo", hash_part(&new_app)));
    assert!(!new_narinfo.is_empty());
    // ...while the new build is whole, and the old NAR stays for the grace, then goes.
    assert_eq!(assert_consistent(&garage, 0, &closure(&new_app)), 3);
    let old_nar = nar_key_of(&build.state, &old_app);
    assert_eq!(
        garage.get(0, &old_nar).0,
        200,
        "the NAR left before its grace"
    );
    wait_for(Duration::from_secs(30), || {
        (garage.get(0, &old_nar).0 == 404).then_some(())
    })
    .expect("the dropped build's NAR stayed after the grace");

    // `atuin-bootstrap gc` keeping nothing takes the rest out of the bucket.
    build.stop();
    let output = run_ok(
        crate::util::command_in(&build.home)
            .env("ATUIN_BOOTSTRAP_BUILD__KEEP_PER_TARGET", "0")
            .arg("--config")
            .arg(&build.config)
            .arg("gc"),
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("3 path(s) taken out of bucket nix"),
        "{printed}"
    );
    for path in closure(&new_app) {
        assert_eq!(
            garage.get(0, &format!("{}.narinfo", hash_part(&path))).0,
            404
        );
    }
    assert_eq!(garage.get(0, "nix-cache-info").0, 200);
}

/// The NAR key the record holds for `path` (from the publish record, as the bucket is not
/// listed).
fn nar_key_of(state: &Path, path: &str) -> String {
    let db = rusqlite::Connection::open(state.join("publish/record.sqlite")).unwrap();
    db.query_row(
        "SELECT nar_key FROM published WHERE hash = ?1",
        [hash_part(path)],
        |row| row.get(0),
    )
    .unwrap()
}

#[test]
fn a_bucket_that_keeps_failing_is_shown_and_alerted_once() {
    // No Garage needed: nothing listens at the endpoint, so every attempt fails.
    let receiver = crate::util::receiver::Receiver::start(&[]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("access"), "id\n").unwrap();
    std::fs::write(work.path().join("secret"), "secret\n").unwrap();
    let config = format!(
        "[notify]\nurl = {:?}\n[publish]\nendpoint = {endpoint:?}\nbucket = \"nix\"\n\
         access_key_file = {:?}\nsecret_key_file = {:?}\nalert_after = \"1s\"\n",
        receiver.url,
        work.path().join("access").display().to_string(),
        work.path().join("secret").display().to_string(),
    );
    let server = crate::util::server::InProcess::start(&config);
    let alert = receiver
        .next(Duration::from_secs(20))
        .expect("no publish_failing alert");
    let body = alert.json();
    assert_eq!(body["event"], "publish_failing");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("publishing to bucket nix has failed for"),
        "{message}"
    );
    assert!(message.contains("nix-cache-info"), "{message}");
    // Once a failing streak.
    assert!(receiver.next(Duration::from_secs(3)).is_none());
    let publish = get_json(&format!("{}/api/v1/status", server.url))["publish"].clone();
    assert!(
        publish["last_error"]
            .as_str()
            .unwrap()
            .contains("PUT nix-cache-info"),
        "{publish}"
    );
    assert!(publish["read_url"].is_null());
    // The signed URL (valid for an hour) never shows.
    assert!(
        !publish.to_string().contains("X-Amz-Signature"),
        "{publish}"
    );
    let metrics = crate::util::http::get(&format!("{}/metrics", server.url)).text();
    assert!(
        metrics.contains("atuin_bootstrap_publish_failing{bucket=\"nix\"} 1"),
        "{metrics}"
    );
    crate::util::promtool::promtool_check(&metrics);
}

/// Pushed paths are published too: a closure pushed with a push token (all of it missing from
/// the box's store) goes into the bucket as the box serves it (the NAR file as uploaded, the
/// same narinfo, signed by the push key only), so with the box stopped real Nix takes it
/// trusting the push key and refuses it trusting only the build key; once the box builds the
/// same paths they are published again from its store, signed by the build key; when `gc`
/// drops the pushed paths (`cache.pushed_ttl`) their narinfos leave the bucket and their NARs
/// stay for the grace.
#[test]
fn pushed_paths_are_published_signed_by_the_push_key() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let fixture = crate::util::fixtures::Fixture::build();
    let client = tempfile::tempdir().unwrap();
    let client_store = format!("local?root={}", client.path().join("store").display());
    // Only the client has them now: the box can only have them pushed.
    fixture.move_to(&client_store);
    let paths = [
        fixture.tree.clone(),
        fixture.lib.clone(),
        fixture.base.clone(),
    ];

    let work = tempfile::tempdir().unwrap();
    let config = garage.publish_config(work.path(), "nar_grace = \"1h\"\n");
    let server = crate::util::server::InProcess::start(&config);
    let token = server.push_token("ci");
    let runtime = client.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let pushed = crate::util::command_in(&client.path().join("home"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("NIX_REMOTE", &client_store)
        .env("ATUIN_BOOTSTRAP_SERVER", &server.url)
        .env("ATUIN_BOOTSTRAP_TOKEN", &token)
        .args(["push", &fixture.tree])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // The push wakes the publisher: no job, no minute's wait.
    let tree_narinfo = format!("{}.narinfo", hash_part(&fixture.tree));
    let status_url = format!("{}/api/v1/status", server.url);
    let publish = wait_for(Duration::from_secs(30), || {
        let publish = get_json(&status_url)["publish"].clone();
        (garage.get(0, &tree_narinfo).0 == 200 && publish["pending_paths"] == 0).then_some(publish)
    })
    .unwrap_or_else(|| {
        panic!(
            "the pushed paths never reached the bucket: {}",
            get_json(&status_url)["publish"]
        )
    });
    assert!(publish["last_error"].is_null(), "{publish}");
    assert_eq!(assert_consistent(&garage, 0, &paths), 3);
    // The very narinfo the box serves: the file as uploaded, the push key's signature alone.
    let push_key = server.push_key();
    let build_key = server.public_key();
    for path in &paths {
        let name = format!("{}.narinfo", hash_part(path));
        let served = crate::util::http::get(&format!("{}/{name}", server.url)).text();
        let (_, published) = garage.get(0, &name);
        let published = String::from_utf8(published).unwrap();
        assert_eq!(published, served, "{path}");
        let fields = narinfo_fields(&published);
        assert!(field(&fields, "URL").unwrap().starts_with("nar/pushed/"));
        let sig = field(&fields, "Sig").unwrap();
        assert!(
            sig.starts_with(push_key.split(':').next().unwrap()),
            "{sig}"
        );
    }
    let state = server.stop_keeping_state();

    // The box is gone: trusting the push key, Nix takes the pushed closure from the bucket...
    let home = tempfile::tempdir().unwrap();
    let store = copy_trusting(&garage.read_url(1), &fixture.tree, &push_key, home.path());
    assert_in_store(store.path(), &paths);
    // ...and trusting only the build key, refuses it.
    assert_copy_refused(
        &garage.read_url(1),
        &fixture.tree,
        Some(&build_key),
        home.path(),
    );

    // The box builds the same paths itself: the bucket gets them again from its store, signed
    // by the build key; the pushed copies' NARs stay for the grace (a reader may hold their
    // narinfo), recorded to go after it.
    let pushed_nar = nar_key_of(&state.path().join("state"), &fixture.tree);
    assert_eq!(
        crate::util::nix::build(fixture._dir.path(), "tree"),
        fixture.tree
    );
    let server = crate::util::server::InProcess::start_in(&config, state);
    let build_name = build_key.split(':').next().unwrap().to_string();
    wait_for(Duration::from_secs(30), || {
        let (_, body) = garage.get(0, &tree_narinfo);
        let fields = narinfo_fields(&String::from_utf8(body).ok()?);
        field(&fields, "Sig")?
            .starts_with(&build_name)
            .then_some(())
    })
    .expect("the path the box built stayed published as the pushed copy");
    assert_eq!(assert_consistent(&garage, 0, &paths), 3);
    let tree_nar = nar_key_of(&server.state_dir(), &fixture.tree);
    assert!(!tree_nar.starts_with("nar/pushed/"), "{tree_nar}");
    assert_eq!(garage.get(0, &pushed_nar).0, 200);
    let stale: i64 = rusqlite::Connection::open(server.state_dir().join("publish/record.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM stale_nars", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stale, 3);
    let state = server.stop_keeping_state();

    // `gc` dropping the pushed paths (which no kept root needs) takes them out of the bucket:
    // narinfos now, NARs later.
    std::thread::sleep(Duration::from_millis(1100));
    let output = run_ok(
        crate::util::command_in(&home.path().join("gc"))
            .env("ATUIN_BOOTSTRAP_CACHE__PUSHED_TTL", "1s")
            .arg("--config")
            .arg(state.path().join("config.toml"))
            .arg("gc"),
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("3 path(s) taken out of bucket nix"),
        "{printed}"
    );
    for path in &paths {
        assert_eq!(
            garage.get(0, &format!("{}.narinfo", hash_part(path))).0,
            404,
            "{path}"
        );
    }
    assert_eq!(
        garage.get(0, &tree_nar).0,
        200,
        "the NAR left before its grace"
    );
}
