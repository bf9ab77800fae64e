//! `bootstrap-new-machine` in a temporary HOME and fleet repository against a real server:
//! the files it writes (comments kept), a second run changing nothing, `--dry-run` changing
//! nothing, backups, offline setup, key checks, and the Nix config it writes really making
//! Nix substitute from the server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::fixtures::single_package_flake;
use crate::util::nix;
use crate::util::server::InProcess;

struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let machine = Machine {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(machine.home()).unwrap();
        machine
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    fn nix_conf(&self) -> PathBuf {
        self.dir.path().join("nix.conf")
    }

    fn atuin_config(&self) -> PathBuf {
        self.home().join(".config/atuin/config.toml")
    }

    fn client_config(&self) -> PathBuf {
        self.home().join(".config/atuin-bootstrap/config.toml")
    }

    fn wizard(&self) -> Command {
        let mut command = Command::new(crate::util::binary());
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("USER", "me")
            .env("ATUIN_BOOTSTRAP_ARGV0", "bootstrap-new-machine")
            .stdin(Stdio::null());
        command
    }

    /// The wizard with every answer given.
    fn run(&self, server: &str, extra: &[&str]) -> Output {
        self.wizard()
            .args([
                "--server",
                server,
                "--hostname",
                "thinkpad",
                "--profile",
                "laptop",
                "--repo",
            ])
            .arg(self.repo())
            .arg("--nix-conf")
            .arg(self.nix_conf())
            .arg("--yes")
            .args(extra)
            .output()
            .unwrap()
    }
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with(".git") {
                    stack.push(path);
                }
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn writes_everything_keeps_comments_and_a_second_run_changes_nothing() {
    let server = InProcess::start("");
    let key = server.public_key();
    let machine = Machine::new();
    std::fs::write(
        machine.nix_conf(),
        "# my own nix settings\nsubstituters = https://cache.nixos.org\n",
    )
    .unwrap();
    std::fs::create_dir_all(machine.atuin_config().parent().unwrap()).unwrap();
    std::fs::write(machine.atuin_config(), "# my atuin\nstyle = \"compact\"\n").unwrap();
    let token = machine.dir.path().join("token");
    let secret_token = server::tokens::TokenStore::new(&server.state_dir())
        .create_for("thinkpad", &[], Some("thinkpad"))
        .unwrap();
    std::fs::write(&token, format!("{secret_token}\n")).unwrap();

    let printed = ok(&machine.run(&server.url, &["--token-file", token.to_str().unwrap()]));
    assert!(
        printed.contains("git commit"),
        "prints the commit-and-push step: {printed}"
    );

    let repo = machine.repo();
    assert!(text(&repo.join("flake.nix")).contains("discoverHosts"));
    let host = text(&repo.join("hosts/thinkpad/default.nix"));
    assert!(
        host.contains(&format!("serverUrl = \"{}\"", server.url)),
        "{host}"
    );
    assert!(host.contains(&format!("publicKey = \"{key}\"")), "{host}");
    assert!(!host.contains('@'), "every placeholder filled: {host}");
    let parsed = Command::new("nix-instantiate")
        .arg("--parse")
        .arg(repo.join("hosts/thinkpad/default.nix"))
        .output()
        .unwrap();
    assert!(parsed.status.success());
    assert!(
        text(&repo.join(".gitignore"))
            .lines()
            .any(|l| l == "secrets/")
    );
    let status = String::from_utf8(
        Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["status", "--porcelain"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        status.contains("A  hosts/thinkpad/default.nix")
            || status.contains(" A hosts/thinkpad/default.nix"),
        "{status}"
    );
    assert!(
        !status.contains("secrets"),
        "secrets must stay out of git: {status}"
    );

    let secret = repo.join("secrets/atuin-bootstrap-token");
    assert_eq!(text(&secret), format!("{secret_token}\n"));
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let nix_conf = text(&machine.nix_conf());
    assert!(
        nix_conf.starts_with("# my own nix settings\nsubstituters = https://cache.nixos.org\n"),
        "{nix_conf}"
    );
    assert!(nix_conf.contains(&format!("extra-substituters = {}", server.url)));
    assert!(nix_conf.contains(&format!("extra-trusted-public-keys = {key}")));
    assert!(
        machine
            .dir
            .path()
            .join("nix.conf.atuin-bootstrap-backup")
            .exists(),
        "no backup"
    );

    let atuin = text(&machine.atuin_config());
    assert!(
        atuin.contains("# my atuin") && atuin.contains("style = \"compact\""),
        "{atuin}"
    );
    let host_only = server
        .url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        atuin.contains(&format!("sync_address = \"http://{host_only}:8888\"")),
        "{atuin}"
    );

    let client = text(&machine.client_config());
    assert!(
        client.contains(&format!("server = \"{}\"", server.url)),
        "{client}"
    );
    assert!(
        client.contains(&format!("token_file = \"{}\"", secret.display())),
        "{client}"
    );
    assert_eq!(
        std::fs::read_link(machine.home().join(".local/bin/bt")).unwrap(),
        crate::util::binary()
    );

    // The second run with the same answers: nothing changes, no new backups.
    let before = (snapshot(machine.dir.path()), text(&machine.nix_conf()));
    let again = ok(&machine.run(&server.url, &["--token-file", token.to_str().unwrap()]));
    assert!(again.contains("nothing to change"), "{again}");
    assert_eq!(
        (snapshot(machine.dir.path()), text(&machine.nix_conf())),
        before
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let server = InProcess::start("");
    let machine = Machine::new();
    std::fs::write(machine.nix_conf(), "# mine\n").unwrap();
    let before = snapshot(machine.dir.path());
    let printed = ok(&machine.run(&server.url, &["--dry-run"]));
    assert!(printed.contains("nothing changed"), "{printed}");
    assert!(
        printed.contains(&format!(
            "create {}",
            machine.repo().join("hosts/thinkpad/default.nix").display()
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("change {}", machine.nix_conf().display())),
        "{printed}"
    );
    assert!(
        printed.contains("+extra-substituters"),
        "diffs are shown: {printed}"
    );
    assert_eq!(snapshot(machine.dir.path()), before);
    assert!(!machine.repo().exists());
}

#[test]
fn without_a_terminal_or_yes_the_missing_answers_are_named() {
    let machine = Machine::new();
    let output = machine.wizard().output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for flag in ["--server", "--hostname", "--profile", "--repo"] {
        assert!(stderr.contains(flag), "{flag} not named: {stderr}");
    }
    assert!(!machine.repo().exists());
}

#[test]
fn an_unreachable_server_still_gives_a_complete_offline_setup() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let machine = Machine::new();
    let output = machine.run(&url, &[]);
    ok(&output);
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the build server"));
    assert!(machine.repo().join("hosts/thinkpad/default.nix").exists());
    assert!(
        !machine.nix_conf().exists(),
        "no cache trust without the server's key"
    );
    assert!(text(&machine.client_config()).contains(&url));

    // With --trust-key the cache is trusted offline too.
    let key = nix_core::signing::SecretKey::generate("box-1")
        .unwrap()
        .public_key();
    ok(&machine.run(&url, &["--trust-key", &key]));
    assert!(text(&machine.nix_conf()).contains(&key));
}

#[test]
fn a_trust_key_the_server_does_not_have_is_refused() {
    let server = InProcess::start("");
    let machine = Machine::new();
    let other = nix_core::signing::SecretKey::generate("evil-1")
        .unwrap()
        .public_key();
    let output = machine.run(&server.url, &["--trust-key", &other]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing"));
    assert!(!machine.repo().exists(), "nothing may be written");
}

#[test]
fn a_config_that_nix_manages_is_reported_not_edited() {
    let server = InProcess::start("");
    let machine = Machine::new();
    let dir = single_package_flake("atuinconf", "echo sync_address=x > $out");
    let store_file = nix::build(dir.path(), "atuinconf");
    std::fs::create_dir_all(machine.atuin_config().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&store_file, machine.atuin_config()).unwrap();
    let printed = ok(&machine.run(&server.url, &[]));
    assert_eq!(
        std::fs::read_link(machine.atuin_config()).unwrap().to_str(),
        Some(store_file.as_str())
    );
    assert!(printed.contains("managed by Nix"), "{printed}");
    assert_eq!(text(&machine.atuin_config()), "sync_address=x\n");
}

/// A server URL nothing listens on: the wizard sets up offline, quickly.
fn closed_server_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    url
}

#[test]
fn a_client_config_that_nix_manages_is_reported_not_edited() {
    let url = closed_server_url();
    let dir = single_package_flake("clientconf", "echo '[client]' > $out");
    let built = nix::build(dir.path(), "clientconf");
    // A link into the store as home-manager makes it: one that does not resolve here (a made-up
    // store path), and a real, read-only store file.
    let made_up = "/nix/store/00000000000000000000000000000000-hm_atuin-bootstrapconfig.toml";
    for target in [made_up, built.as_str()] {
        let machine = Machine::new();
        let file = machine.client_config();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &file).unwrap();
        let printed = ok(&machine.run(&url, &[]));
        assert_eq!(
            std::fs::read_link(&file).unwrap().to_str(),
            Some(target),
            "the link was replaced"
        );
        assert!(
            !file
                .with_file_name("config.toml.atuin-bootstrap-backup")
                .exists(),
            "nothing to back up: nothing was written"
        );
        assert!(
            printed.contains(&format!("{} is managed by Nix", file.display()))
                && printed.contains(&format!("serverUrl = \"{url}\"")),
            "{printed}"
        );
    }
}

#[test]
fn a_build_box_gets_its_fleet_remote_and_never_a_home_directory_path() {
    let url = closed_server_url();
    let wsl_box = |machine: &Machine| {
        machine
            .wizard()
            .args([
                "--server",
                &url,
                "--hostname",
                "box",
                "--profile",
                "wsl",
                "--repo",
            ])
            .arg(machine.repo())
            .arg("--nix-conf")
            .arg(machine.nix_conf())
            .arg("--yes")
            .output()
            .unwrap()
    };
    let host_file = |machine: &Machine| text(&machine.repo().join("hosts/box/default.nix"));

    // No remote: the checkout itself is no URL the server's service could read.
    let machine = Machine::new();
    let printed = ok(&wsl_box(&machine));
    let host = host_file(&machine);
    assert!(
        host.contains("    # settings.repo.url = \"…\";\n"),
        "{host}"
    );
    assert!(!host.contains("settings.repo.url = \"/"), "{host}");
    assert!(
        printed.contains("the build server cannot fetch the fleet from")
            && printed.contains("remote add origin"),
        "{printed}"
    );

    // A remote in a home directory is no better; a real remote is the box's URL.
    for (remote, usable) in [
        ("/home/me/fleet.git", false),
        ("https://git.example.org/me/fleet.git", true),
    ] {
        let machine = Machine::new();
        std::fs::create_dir_all(machine.repo()).unwrap();
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["remote", "add", "origin", remote][..],
        ] {
            nix::run_ok(Command::new("git").arg("-C").arg(machine.repo()).args(args));
        }
        ok(&wsl_box(&machine));
        let host = host_file(&machine);
        assert_eq!(
            host.contains(&format!("    settings.repo.url = \"{remote}\";\n")),
            usable,
            "{remote}: {host}"
        );
        assert_eq!(
            !usable,
            host.contains("# settings.repo.url = \"…\";"),
            "{host}"
        );
    }
}

#[test]
fn the_nix_config_it_writes_makes_nix_substitute_from_the_server() {
    let dir = single_package_flake("fromcache", "echo substituted > $out");
    let path = nix::build(dir.path(), "fromcache");
    let server = InProcess::start("");
    let machine = Machine::new();
    ok(&machine.run(&server.url, &[]));

    let client_root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // The written file is the only configuration of this Nix (the default substituter is
    // unreachable here and only slows it down).
    let realised = Command::new("nix-store")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("NIX_USER_CONF_FILES", machine.nix_conf())
        .args(["--store"])
        .arg(client_root.path())
        .args(["--realise", &path])
        .output()
        .unwrap();
    assert!(
        realised.status.success(),
        "nix did not substitute from the server: {}",
        String::from_utf8_lossy(&realised.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(client_root.path().join(path.trim_start_matches('/'))).unwrap(),
        "substituted\n"
    );
}

#[test]
fn the_questions_on_a_terminal_take_answers_and_defaults() {
    use crate::util::tmux::Tmux;
    let server = InProcess::start("");
    let machine = Machine::new();
    let command = format!(
        "env -i PATH={path} HOME={home} USER=me TERM=xterm-256color ATUIN_BOOTSTRAP_ARGV0=bootstrap-new-machine \
         bash -c '{binary} --nix-conf {nix_conf}; echo EXIT=$?; sleep 60'",
        path = std::env::var("PATH").unwrap(),
        home = machine.home().display(),
        binary = crate::util::binary().display(),
        nix_conf = machine.nix_conf().display(),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_screen("Build server URL");
    tmux.keys(&server.url);
    tmux.keys("Enter");
    tmux.wait_screen("Host name in the fleet");
    tmux.keys("C-u");
    tmux.keys("asked-host");
    tmux.keys("Enter");
    tmux.wait_screen("Machine profile");
    tmux.keys("Down");
    tmux.keys("Enter");
    tmux.wait_screen("Fleet repository checkout");
    tmux.keys("Enter"); // the default: ~/fleet
    tmux.wait_screen("Trust this key");
    tmux.keys("y");
    // No token given: the admin's command, then the token file asked for and checked.
    let token = server::tokens::TokenStore::new(&server.state_dir())
        .create_for("asked-host", &[], Some("asked-host"))
        .unwrap();
    let token_file = machine.dir.path().join("asked-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let screen = tmux.wait_screen("File with this machine's API token");
    assert!(
        screen.contains("token create asked-host --scope build,report --host asked-host"),
        "{screen}"
    );
    tmux.keys(token_file.to_str().unwrap());
    tmux.keys("Enter");
    tmux.wait_screen("Will this machine push");
    tmux.keys("n");
    let screen = tmux.wait_screen("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("is valid on the box"), "{screen}");
    assert_eq!(
        text(&machine.home().join("fleet/secrets/atuin-bootstrap-token")),
        format!("{token}\n")
    );
    let host = text(&machine.home().join("fleet/hosts/asked-host/default.nix"));
    // Desktop is suggested on a machine without a battery; one down is "server".
    assert!(
        host.contains("Host \"asked-host\" from the server profile"),
        "{host}"
    );
    assert!(host.contains(&server.url));
    assert!(text(&machine.nix_conf()).contains(&server.public_key()));
}

#[test]
fn ctrl_c_at_a_question_leaves_everything_as_it_was() {
    use crate::util::tmux::Tmux;
    let machine = Machine::new();
    let before = snapshot(machine.dir.path());
    let command = format!(
        "env -i PATH={path} HOME={home} USER=me TERM=xterm-256color ATUIN_BOOTSTRAP_ARGV0=bootstrap-new-machine \
         bash -c '{binary} --nix-conf {nix_conf}; echo EXIT=$?; sleep 60'",
        path = std::env::var("PATH").unwrap(),
        home = machine.home().display(),
        binary = crate::util::binary().display(),
        nix_conf = machine.nix_conf().display(),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_screen("Build server URL");
    tmux.keys("http://127.0.0.1:9");
    tmux.keys("Enter");
    tmux.wait_screen("Host name in the fleet");
    tmux.keys("C-c");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(snapshot(machine.dir.path()), before);
}

#[test]
fn under_sudo_it_asks_to_be_run_as_the_user() {
    let machine = Machine::new();
    let output = machine
        .wizard()
        .env("SUDO_USER", "me")
        .arg("--yes")
        .output()
        .unwrap();
    // SAFETY: geteuid takes nothing and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("without sudo"));
    }
    assert!(!machine.repo().exists());
}

#[test]
fn as_root_it_writes_no_user_account_and_only_secrets_that_will_exist() {
    let closed = closed_server_url();
    let machine = Machine::new();
    let output = machine
        .wizard()
        .env("USER", "root")
        .args([
            "--server",
            &closed,
            "--hostname",
            "box",
            "--profile",
            "server",
        ])
        .arg("--repo")
        .arg(machine.repo())
        .arg("--nix-conf")
        .arg(machine.nix_conf())
        .arg("--yes")
        .output()
        .unwrap();
    let said = ok(&output);
    assert!(said.contains("no user account"), "{said}");
    let host = text(&machine.repo().join("hosts/box/default.nix"));
    for line in host
        .lines()
        .filter(|l| l.contains("users.users") || l.contains("user =") || l.contains("authKeyFile"))
    {
        assert!(line.trim_start().starts_with('#'), "not left out: {line}");
    }
    assert!(!host.contains("\"root\""), "{host}");
    // With the Tailscale key given, its setting points at the copy in secrets/.
    let key = machine.dir.path().join("ts-key");
    std::fs::write(&key, "tskey-auth-123\n").unwrap();
    let output = machine
        .wizard()
        .args([
            "--server",
            &closed,
            "--hostname",
            "laptop2",
            "--profile",
            "laptop",
        ])
        .arg("--repo")
        .arg(machine.repo())
        .arg("--nix-conf")
        .arg(machine.nix_conf())
        .arg("--tailscale-auth-key-file")
        .arg(&key)
        .arg("--yes")
        .output()
        .unwrap();
    ok(&output);
    let host = text(&machine.repo().join("hosts/laptop2/default.nix"));
    let secret = machine.repo().join("secrets/tailscale-auth-key");
    assert!(
        host.contains(&format!("tailscale.authKeyFile = \"{}\"", secret.display())),
        "{host}"
    );
    assert!(secret.exists());
    assert!(host.contains("users.users.\"me\""), "{host}");
}

#[test]
fn a_machine_that_pushes_gets_a_netrc_that_plain_nix_copy_authenticates_with() {
    use base64::Engine;
    let server = InProcess::start("");
    let machine = Machine::new();
    let token = machine.dir.path().join("token");
    let push_token = server::tokens::TokenStore::new(&server.state_dir())
        .create("pusher", &[server::tokens::Scope::Push])
        .unwrap();
    std::fs::write(&token, format!("{push_token}\n")).unwrap();

    // --push without a token: how to make one, and nothing written.
    let before = snapshot(machine.dir.path());
    let refused = machine.run(&server.url, &["--push"]);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("token create NAME --scope push"), "{said}");
    assert_eq!(snapshot(machine.dir.path()), before);

    let token_flag = ["--push", "--token-file", token.to_str().unwrap()];
    ok(&machine.run(&server.url, &token_flag));
    let netrc = machine.repo().join("secrets/netrc");
    assert_eq!(
        text(&netrc),
        format!("machine 127.0.0.1 login atuin-bootstrap password {push_token}\n")
    );
    assert_eq!(
        std::fs::metadata(&netrc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let nix_conf = text(&machine.nix_conf());
    assert!(
        nix_conf.contains(&format!("\nnetrc-file = {}\n", netrc.display())),
        "{nix_conf}"
    );
    let host = text(&machine.repo().join("hosts/thinkpad/default.nix"));
    assert!(
        host.contains(&format!(
            "\n  nix.settings.netrc-file = \"{}\";",
            netrc.display()
        )),
        "{host}"
    );
    let status = Command::new("git")
        .arg("-C")
        .arg(machine.repo())
        .args(["status", "--porcelain", "--ignored=no"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&status.stdout).contains("secrets"));
    let again = ok(&machine.run(&server.url, &token_flag));
    assert!(again.contains("nothing to change"), "{again}");

    // Plain `nix copy --to` with that nix.conf sends the token as the Basic password.
    let receiver = crate::util::upload_receiver::UploadReceiver::start();
    let flake = single_package_flake("pushedbyhand", "echo pushed > $out");
    let path = nix::build(flake.path(), "pushedbyhand");
    let cache = tempfile::tempdir().unwrap();
    nix::run_ok(
        Command::new("nix")
            .env("NIX_USER_CONF_FILES", machine.nix_conf())
            .env("XDG_CACHE_HOME", cache.path())
            .args([
                "--extra-experimental-features",
                "nix-command",
                "copy",
                "--to",
            ])
            .arg(&receiver.url)
            .arg(&path),
    );
    let narinfo = format!("/{}.narinfo", nix::hash_part(&path));
    let put = receiver
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path == narinfo)
        .expect("nix uploaded the narinfo");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("atuin-bootstrap:{push_token}"));
    assert_eq!(
        put.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );

    // A machine that does not push keeps the setting commented out.
    let other = Machine::new();
    ok(&other.run(&server.url, &[]));
    let host = text(&other.repo().join("hosts/thinkpad/default.nix"));
    assert!(
        host.contains("  # nix.settings.netrc-file = \"…\";"),
        "{host}"
    );
    assert!(!text(&other.nix_conf()).contains("netrc-file"));
    assert!(!other.repo().join("secrets/netrc").exists());
}

#[test]
fn the_wizard_checks_its_token_against_the_box_and_says_what_it_may_do() {
    let server = InProcess::start("");
    let store = server::tokens::TokenStore::new(&server.state_dir());
    let machine = Machine::new();
    let token = machine.dir.path().join("token");

    // No token: the exact command for the admin, and the setup goes on.
    let output = machine.run(&server.url, &["--dry-run"]);
    ok(&output);
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        said.contains("atuin-bootstrap token create thinkpad --scope build,report --host thinkpad"),
        "{said}"
    );

    // A token the box does not know: refused, nothing written, the command to make one.
    std::fs::write(&token, "abt_garbage\n").unwrap();
    let before = snapshot(machine.dir.path());
    let refused = machine.run(&server.url, &["--token-file", token.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(said.contains("is not valid on"), "{said}");
    assert!(said.contains("--host thinkpad"), "{said}");
    assert!(!said.contains("abt_garbage"), "{said}");
    assert_eq!(snapshot(machine.dir.path()), before);

    // A push-only token: accepted, its scopes said, and the set that keeps push named.
    let pusher = store
        .create("pusher", &[server::tokens::Scope::Push])
        .unwrap();
    std::fs::write(&token, format!("{pusher}\n")).unwrap();
    let output = machine.run(
        &server.url,
        &[
            "--push",
            "--dry-run",
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    ok(&output);
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        said.contains("token \"pusher\" is valid on the box: push"),
        "{said}"
    );
    assert!(
        said.contains("--scope build,report,push --host thinkpad"),
        "{said}"
    );

    // The machine's own token: valid, nothing to advise.
    let own = store.create_for("thinkpad", &[], Some("thinkpad")).unwrap();
    std::fs::write(&token, format!("{own}\n")).unwrap();
    let output = machine.run(&server.url, &["--token-file", token.to_str().unwrap()]);
    ok(&output);
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        said.contains("build,report, reports only for host thinkpad"),
        "{said}"
    );
    assert!(!said.contains("warning: this token"), "{said}");
}
