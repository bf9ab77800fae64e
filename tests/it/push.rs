//! `atuin-bootstrap push` as a user runs it: the real binary running real `nix copy --to` of
//! real store paths, against a small receiver that takes Nix's uploads (what Nix sent, with
//! which credentials) and against the box itself; refusals and bad input with the contract's
//! exit codes, and never a netrc left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

use crate::util::fixtures::Fixture;
use crate::util::nix::{dump, hash_part};
use crate::util::output::stderr;
use crate::util::upload_receiver::UploadReceiver;

const TOKEN: &str = "abt_0123456789abcdef";

/// A client machine: a home and a runtime directory (where the netrc goes) of its own.
struct Client {
    work: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        let client = Client {
            work: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(client.runtime()).unwrap();
        client
    }

    fn runtime(&self) -> PathBuf {
        self.work.path().join("run")
    }

    fn push(&self, server: &str, token: Option<&str>, args: &[&str]) -> Output {
        self.push_in(self.work.path(), server, token, args)
    }

    fn push_in(&self, dir: &Path, server: &str, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = crate::util::command_in(&self.work.path().join("home"));
        command
            .current_dir(dir)
            .env("XDG_RUNTIME_DIR", self.runtime())
            .env("ATUIN_BOOTSTRAP_SERVER", server)
            .arg("push")
            .args(args)
            .stdin(Stdio::null());
        if let Some(token) = token {
            command.env("ATUIN_BOOTSTRAP_TOKEN", token);
        }
        command.output().unwrap()
    }

    /// Nothing of any push is left in the runtime directory.
    fn assert_no_netrc_left(&self) {
        let left: Vec<_> = std::fs::read_dir(self.runtime())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn field<'a>(narinfo: &'a str, name: &str) -> &'a str {
    narinfo
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {narinfo}"))
}

#[test]
fn push_uploads_the_closure_with_the_token_and_says_what_it_sent() {
    let fixture = Fixture::build();
    let receiver = UploadReceiver::start();
    let client = Client::new();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("atuin-bootstrap:{TOKEN}"))
    );

    let pushed = client.push(&receiver.url, Some(TOKEN), &["--json", &fixture.tree]);
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    let report = json(&pushed);
    assert_eq!(report["server"], receiver.url.as_str());
    assert_eq!(report["compression"], "zstd");
    assert_eq!(
        report["store_url"],
        format!("{}?compression=zstd", receiver.url)
    );
    assert_eq!(report["paths"][0]["path"], fixture.tree.as_str());
    assert_eq!(report["closure_count"], 3);
    assert_eq!(report["sent_count"], 3);
    let tree_size = crate::util::nix::path_info(&fixture.tree)["narSize"].clone();
    assert_eq!(report["paths"][0]["nar_size"], tree_size);

    // Every path arrived as Nix sends it: the zstd NAR, then its narinfo, both with the token
    // as the Basic password; references before the paths that use them.
    let requests = receiver.requests();
    let mut narinfo_order = Vec::new();
    for path in [&fixture.base, &fixture.lib, &fixture.tree] {
        let narinfo_path = format!("/{}.narinfo", hash_part(path));
        let narinfo =
            String::from_utf8(receiver.file(&narinfo_path).expect("narinfo sent")).unwrap();
        assert_eq!(field(&narinfo, "StorePath"), path.as_str());
        assert_eq!(field(&narinfo, "Compression"), "zstd");
        let nar_url = format!("/{}", field(&narinfo, "URL"));
        assert!(nar_url.ends_with(".nar.zst"), "{nar_url}");
        let nar = receiver.file(&nar_url).expect("NAR sent");
        assert_eq!(zstd::decode_all(&nar[..]).unwrap(), dump(path));
        for sent in [&narinfo_path, &nar_url] {
            let put = requests
                .iter()
                .find(|r| r.method == "PUT" && &r.path == sent)
                .unwrap();
            assert_eq!(put.header("authorization"), Some(basic.as_str()), "{sent}");
        }
        narinfo_order.push(
            requests
                .iter()
                .position(|r| r.method == "PUT" && r.path == narinfo_path)
                .unwrap(),
        );
    }
    assert!(
        narinfo_order.windows(2).all(|w| w[0] < w[1]),
        "{narinfo_order:?}"
    );
    client.assert_no_netrc_left();

    // Again: the box has everything now, so nothing is sent.
    let before = receiver.requests().len();
    let again = client.push(&receiver.url, Some(TOKEN), &["--json", &fixture.tree]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(json(&again)["sent_count"], 0);
    assert!(
        receiver.requests()[before..]
            .iter()
            .all(|r| r.method != "PUT")
    );
    let said = client.push(&receiver.url, Some(TOKEN), &[&fixture.tree]);
    assert!(String::from_utf8_lossy(&said.stdout).contains("nothing to push"));
    client.assert_no_netrc_left();
}

#[test]
fn push_takes_the_result_link_by_default_and_any_compression() {
    let fixture = Fixture::build();
    let receiver = UploadReceiver::start();
    let client = Client::new();
    let project = client.work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::os::unix::fs::symlink(&fixture.lib, project.join("result")).unwrap();

    let pushed = client.push_in(
        &project,
        &receiver.url,
        Some(TOKEN),
        &["--json", "--compression", "none"],
    );
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    let report = json(&pushed);
    assert_eq!(report["paths"][0]["path"], fixture.lib.as_str());
    assert_eq!(report["closure_count"], 2);
    let narinfo = receiver
        .file(&format!("/{}.narinfo", hash_part(&fixture.lib)))
        .unwrap();
    let narinfo = String::from_utf8(narinfo).unwrap();
    assert_eq!(field(&narinfo, "Compression"), "none");
    let nar = receiver
        .file(&format!("/{}", field(&narinfo, "URL")))
        .unwrap();
    assert_eq!(nar, dump(&fixture.lib));
    // The tree is not in lib's closure: not sent.
    assert!(
        receiver
            .file(&format!("/{}.narinfo", hash_part(&fixture.tree)))
            .is_none()
    );
    client.assert_no_netrc_left();
}

#[test]
fn a_refused_upload_names_what_the_box_said_and_leaves_no_netrc() {
    let fixture = Fixture::build();
    let receiver =
        UploadReceiver::start_refusing(403, "pushing is off: no token has the push scope");
    let client = Client::new();
    let refused = client.push(&receiver.url, Some(TOKEN), &[&fixture.base]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let said = stderr(&refused);
    assert!(said.contains("nix copy to"), "{said}");
    assert!(said.contains("403"), "{said}");
    assert!(said.contains("pushing is off"), "{said}");
    assert!(said.contains("--scope push"), "{said}");
    // Nix's error is passed on once, not repeated inside ours.
    assert_eq!(said.matches("pushing is off").count(), 1, "{said}");
    client.assert_no_netrc_left();
}

#[test]
fn an_interrupted_push_stops_nix_and_removes_the_netrc() {
    let fixture = Fixture::build();
    let receiver = UploadReceiver::start_stalling();
    let client = Client::new();
    let mut command = crate::util::command_in(&client.work.path().join("home"));
    let push = command
        .env("XDG_RUNTIME_DIR", client.runtime())
        .env("ATUIN_BOOTSTRAP_SERVER", &receiver.url)
        .env("ATUIN_BOOTSTRAP_TOKEN", TOKEN)
        .args(["push", &fixture.base])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until Nix's upload hangs at the receiver, then interrupt the push alone.
    let hanging = crate::util::build_server::wait_for(std::time::Duration::from_secs(30), || {
        receiver
            .requests()
            .iter()
            .any(|r| r.method == "PUT")
            .then_some(())
    });
    assert!(hanging.is_some(), "nix never uploaded");
    assert!(
        std::fs::read_dir(client.runtime())
            .unwrap()
            .next()
            .is_some()
    );
    // SAFETY: kill() with our child's pid.
    unsafe { libc::kill(push.id() as libc::pid_t, libc::SIGINT) };
    let output = push.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    client.assert_no_netrc_left();
    // Nix was stopped with it: no `nix copy` to this receiver runs any more.
    let stopped = crate::util::build_server::wait_for(std::time::Duration::from_secs(10), || {
        let ps = Command::new("pgrep")
            .args(["-f", &receiver.url])
            .output()
            .unwrap();
        ps.stdout.is_empty().then_some(())
    });
    assert!(stopped.is_some(), "nix copy still runs after the interrupt");
}

#[test]
fn bad_input_gets_a_clear_error_and_the_contract_s_exit_code() {
    let fixture = Fixture::build();
    let client = Client::new();
    let receiver = UploadReceiver::start();

    // No token: how to make one with the push scope.
    let no_token = client.push(&receiver.url, None, &[&fixture.base]);
    assert_eq!(no_token.status.code(), Some(2));
    assert!(
        stderr(&no_token).contains("token create NAME --scope build,report,push"),
        "{}",
        stderr(&no_token)
    );

    // No ./result here.
    let no_result = client.push(&receiver.url, Some(TOKEN), &[]);
    assert_eq!(no_result.status.code(), Some(2));
    assert!(
        stderr(&no_result).contains("./result") && stderr(&no_result).contains("nix build"),
        "{}",
        stderr(&no_result)
    );

    // A file that is not in the store.
    let outside = client.work.path().join("plain-file");
    std::fs::write(&outside, "x").unwrap();
    let not_store = client.push(&receiver.url, Some(TOKEN), &[outside.to_str().unwrap()]);
    assert_eq!(not_store.status.code(), Some(2));
    assert!(stderr(&not_store).contains("not in the Nix store"));

    // A box that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = client.push(&url, Some(TOKEN), &[&fixture.base]);
    assert_eq!(unreachable.status.code(), Some(3));
    assert!(
        stderr(&unreachable).contains("cannot reach"),
        "{}",
        stderr(&unreachable)
    );

    assert!(receiver.requests().iter().all(|r| r.method != "PUT"));
    client.assert_no_netrc_left();
}

/// The box itself: a client store of its own (a chroot store) holds paths the box does not
/// have; `push` with a token of the push scope sends them; a third store pulls the closure
/// back trusting the push key (pushed paths are signed by it alone: trusting only the build
/// key, the pull fails).
#[test]
fn push_into_the_box_then_pull_it_signed() {
    let fixture = Fixture::build();
    let client = Client::new();
    let client_store = format!("local?root={}", client.work.path().join("store").display());
    fixture.move_to(&client_store);

    let server = crate::util::server::InProcess::start("");
    let token = server.push_token("ci");
    let mut command = crate::util::command_in(&client.work.path().join("home"));
    let pushed = command
        .env("XDG_RUNTIME_DIR", client.runtime())
        .env("NIX_REMOTE", &client_store)
        .env("ATUIN_BOOTSTRAP_SERVER", &server.url)
        .env("ATUIN_BOOTSTRAP_TOKEN", &token)
        .args(["push", "--json", &fixture.tree])
        .output()
        .unwrap();
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    assert_eq!(json(&pushed)["sent_count"], 3);
    client.assert_no_netrc_left();

    let pull = tempfile::tempdir().unwrap();
    let pull_trusting = |key: &str| {
        crate::util::nix::nix(&format!("trusted-public-keys = {key}\n"))
            .env("XDG_CACHE_HOME", pull.path().join("cache"))
            .args(["copy", "--from", &server.url, "--to"])
            .arg(format!("local?root={}", pull.path().join("root").display()))
            .arg(&fixture.tree)
            .output()
            .unwrap()
    };
    let refused = pull_trusting(&server.public_key());
    assert!(
        !refused.status.success(),
        "pushed paths were taken with only the build key trusted"
    );
    let pulled = pull_trusting(&server.push_key());
    assert!(pulled.status.success(), "{}", stderr(&pulled));
}
