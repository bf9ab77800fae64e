//! The Nix side, checked offline (nixpkgs cannot be fetched here): every .nix file parses, the
//! pure helpers in nix/lib pass their tests, the TOML they render is accepted by the binary
//! (which rejects unknown keys, so module and binary cannot drift apart), and the example
//! fleet is exactly what the templates render.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::examples::{config_show, example_values};
use crate::util::nix::run_ok;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nix_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            nix_files(&path, found);
        } else if name.ends_with(".nix") {
            found.push(path);
        }
    }
}

#[test]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    nix_files(&root(), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let output = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} does not parse: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// nixpkgs: modules must not read `nixpkgs.*` (the package set may be given from outside);
/// the machine's system is `pkgs.stdenv.hostPlatform.system`.
#[test]
fn no_module_reads_the_nixpkgs_options() {
    for entry in std::fs::read_dir(root().join("nix/modules")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("config.nixpkgs."),
            "{} reads config.nixpkgs.*",
            path.display()
        );
    }
}

#[test]
fn the_pure_nix_helpers_pass_their_tests() {
    let output = run_ok(
        Command::new("nix-instantiate")
            .args(["--eval", "--strict"])
            .arg(root().join("nix/tests/lib.nix")),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "true");
}

fn eval_json(expression: &str) -> serde_json::Value {
    let output = run_ok(
        Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--json", "--expr", expression])
            .current_dir(root()),
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn rendered_server_settings_are_accepted_by_the_binary() {
    let toml = eval_json(
        r#"(import ./nix/lib).renderServerConfig {
          server = { listen = "0.0.0.0:8780"; state_dir = "/var/lib/atuin-bootstrap"; };
          cache = { secret_key_files = [ "/run/secrets/cache.sec" ]; priority = 41; compression = "zstd"; };
          repo = { url = "https://git.example.org/fleet.git"; branch = "main"; poll_interval = "5m";
                   webhook_secret_file = "/run/secrets/webhook"; };
          build = { max_parallel_jobs = 2; default_targets = [ "laptop" ]; keep_per_target = 3; };
          client = { server = null; };
          deploy = { host = "laptop"; mode = "boot"; interval = "5m";
                     health_checks = [ "systemctl is-active --quiet sshd.service" "true" ];
                     health_timeout = "90s"; };
          notify = { url = "https://ntfy.example.org/fleet"; format = "ntfy";
                     on = [ "job_failed" "host_rolled_back" ]; };
        }"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, toml.as_str().unwrap()).unwrap();
    let shown = config_show(&file);
    let keys = &shown["keys"];
    assert_eq!(keys["server.listen"]["value"], "0.0.0.0:8780");
    assert_eq!(keys["cache.priority"]["value"], 41);
    assert_eq!(keys["cache.compression"]["value"], "zstd");
    assert_eq!(keys["repo.poll_interval"]["value"], 300);
    assert_eq!(
        keys["build.default_targets"]["value"],
        serde_json::json!(["laptop"])
    );
    assert_eq!(
        keys["build.keep_per_target"]["source"],
        format!("file {}", file.display())
    );
    assert_eq!(keys["deploy.host"]["value"], "laptop");
    assert_eq!(keys["deploy.mode"]["value"], "boot");
    assert_eq!(keys["deploy.interval"]["value"], 300);
    assert_eq!(
        keys["deploy.health_checks"]["value"],
        serde_json::json!(["systemctl is-active --quiet sshd.service", "true"])
    );
    assert_eq!(keys["deploy.health_timeout"]["value"], 90);
    assert_eq!(
        keys["notify.url"]["value"],
        "https://ntfy.example.org/fleet"
    );
    assert_eq!(keys["notify.format"]["value"], "ntfy");
    assert_eq!(
        keys["notify.on"]["value"],
        serde_json::json!(["job_failed", "host_rolled_back"])
    );

    // An unknown key rendered by a module would be refused, not ignored.
    let bad =
        eval_json(r#"(import ./nix/lib).renderServerConfig { cache = { colour = "blue"; }; }"#);
    std::fs::write(&file, bad.as_str().unwrap()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let refused = crate::util::command_in(home.path())
        .args(["config", "show", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn the_example_configs_are_accepted() {
    for name in ["server-config.toml", "client-config.toml"] {
        config_show(&root().join("examples").join(name));
    }
}

#[test]
fn the_example_fleet_is_what_the_templates_render() {
    use host::wizard::boot_loader::BootLoader;
    use host::wizard::templates;
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let fleet = root().join("examples/fleet");
    for (path, text) in templates::fleet(templates::DEFAULT_ATUIN_BOOTSTRAP_URL) {
        let file = fleet.join(path);
        if update {
            std::fs::write(&file, &text).unwrap();
        }
        assert_eq!(std::fs::read_to_string(file).unwrap(), text, "{path}");
    }
    // thinkpad as the wizard renders a laptop on an EFI machine (its hardware file is a
    // hand-written stub, kept as it is); buildbox as a wsl build box with a remote.
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    for (host, profile, boot_loader) in [
        ("thinkpad", "laptop", Some(&efi)),
        ("buildbox", "wsl", None),
    ] {
        let values = example_values(host);
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let files = host::wizard::host::render(&host::wizard::host::Inputs {
            profile,
            values: &values,
            unset: &[],
            hardware: None,
            boot_loader,
        })
        .unwrap();
        for (name, rendered) in files {
            let file = fleet.join("hosts").join(host).join(name);
            if update {
                std::fs::write(&file, &rendered).unwrap();
            }
            assert_eq!(
                std::fs::read_to_string(&file).unwrap_or_default(),
                rendered,
                "{} is stale (UPDATE_SNAPSHOTS=1 cargo test)",
                file.display()
            );
        }
    }
    assert!(
        fleet
            .join("hosts/thinkpad/hardware-configuration.nix")
            .exists()
    );
    let mesh = eval_json(
        r#"let lib = import ./nix/lib; hosts = ./examples/fleet/hosts; in
           { names = builtins.attrNames (lib.discoverHosts hosts);
             thinkpadSees = lib.syncthingDevices hosts "thinkpad"; }"#,
    );
    assert_eq!(mesh["names"], serde_json::json!(["buildbox", "thinkpad"]));
    assert_eq!(
        mesh["thinkpadSees"]["buildbox"]["id"],
        "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2"
    );
}
