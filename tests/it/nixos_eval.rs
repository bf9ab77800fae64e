//! The NixOS and home-manager modules evaluated offline, the way a NixOS machine evaluates
//! them: every example host and every host the wizard renders on a NixOS machine (laptop,
//! desktop and server booting through EFI and through BIOS, a carried-over boot loader, the
//! wsl build box) goes through its fleet flake and `lib.evalModules` with nixpkgs' real lib
//! (the vendored nixpkgs.lib tarball) against nix/tests/nixos-stubs, which declare the NixOS
//! options with NixOS's types and carry its root-file-system, boot-loader and user assertions.
//! A failed assertion fails the test, and a host without a boot loader or root file system is
//! shown to be caught. Nixpkgs itself cannot be fetched here: what only a real NixOS shows is
//! listed in the README.
//!
//! Without the tarball (a clone without ../shared) these tests say so loudly and pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use ::host::wizard::boot_loader::BootLoader;
use ::host::wizard::host;

use crate::util::examples::{config_show, example_values};
use crate::util::nix::{NIX_CONFIG, run_ok};

const ROOT_FS: &str = "The ‘fileSystems’ option does not specify your root file system.";
const NO_GRUB_DEVICE: &str = "You must set the option ‘boot.loader.grub.devices’ or \
                              'boot.loader.grub.mirroredBoots' to make the system bootable.";

/// What `nixos-generate-config --show-hardware-config` prints on an EFI laptop…
const EFI_HARDWARE: &str = include_str!("../../nix/tests/fixtures/hardware/efi.nix");

/// …and on a BIOS machine (no EFI system partition).
const BIOS_HARDWARE: &str = include_str!("../../nix/tests/fixtures/hardware/bios.nix");

const BIOS_DISK: &str = "/dev/disk/by-id/ata-SAMSUNG_SSD_870_EVO_1TB_S6PUNX0R123456";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The vendored tarballs: `ATUIN_BOOTSTRAP_VENDOR_DIR`, else a `shared/vendor` folder beside
/// the clone (where CI keeps them).
fn vendor(name: &str) -> PathBuf {
    std::env::var_os("ATUIN_BOOTSTRAP_VENDOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/vendor"))
        .join(name)
}

/// Unpacks `members` of `tarball` (all when empty) into `into`.
fn unpack(tarball: &Path, into: &Path, members: &[&str]) {
    std::fs::create_dir_all(into).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(into)
            .args(members),
    );
}

/// nixpkgs' lib, unpacked from the vendored tarball (with the stand-ins of the two nixpkgs
/// NixOS modules home-manager imports next to it, so the directory is home-manager's
/// `pkgs.path`); `None` (after a note on the real stderr, which the test harness does not
/// swallow) when the tarball is not there.
fn nixpkgs_lib() -> Option<tempfile::TempDir> {
    let tarball = vendor("nixpkgs-lib.tar.gz");
    if !tarball.exists() {
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! NOTE: {} is missing: the NixOS and home-manager module evaluation is SKIPPED.\n\
             !!! Set ATUIN_BOOTSTRAP_VENDOR_DIR to a folder of the tarballs (docs/testing.md); only then does this show that every host evaluates without a failed assertion.\n",
            tarball.display()
        );
        return None;
    }
    let wsl = vendor("nixos-wsl-main.tar.gz");
    if !wsl.exists() {
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! NOTE: {} is missing: the NixOS module evaluation is SKIPPED.\n",
            wsl.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    unpack(&tarball, dir.path(), &[]);
    assert!(dir.path().join("lib/default.nix").exists());
    // NixOS-WSL's modules (and the files they read), as the wsl hosts import them.
    unpack(
        &wsl,
        dir.path(),
        &["nixos-wsl/modules", "nixos-wsl/VERSION"],
    );
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(root().join("nix/tests/home-manager/nixos"))
            .arg(dir.path()),
    );
    Some(dir)
}

/// The home-manager releases people run, unpacked from the vendored tarballs into
/// `<dir>/<release>/home-manager` (`None`, loudly, when one is missing).
const HOME_MANAGER_RELEASES: &[&str] = &["master", "release-25.11", "release-25.05"];

fn home_managers() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    for release in HOME_MANAGER_RELEASES {
        let tarball = vendor(&format!("home-manager-{release}.tar.gz"));
        if !tarball.exists() {
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! NOTE: {} is missing: the home-manager evaluation is SKIPPED.\n",
                tarball.display()
            );
            return None;
        }
        // Its modules only: its 3,700 test files would triple the time.
        unpack(
            &tarball,
            &dir.path().join(release),
            &["home-manager/modules"],
        );
    }
    Some(dir)
}

fn evaluate(harness: &str, args: &[(&str, &Path)]) -> Value {
    let mut command = Command::new("nix-instantiate");
    command
        .env("NIX_CONFIG", NIX_CONFIG)
        .args(["--eval", "--strict", "--json"])
        .arg(root().join("nix/tests").join(harness));
    for (name, value) in args {
        command.arg("--argstr").arg(name).arg(value);
    }
    serde_json::from_slice(&run_ok(&mut command).stdout).unwrap()
}

/// A fleet repository made from the fleet template, with hosts added by `add`.
struct Fleet {
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        use ::host::wizard::templates;
        for (path, text) in templates::fleet(templates::DEFAULT_ATUIN_BOOTSTRAP_URL) {
            std::fs::write(dir.path().join(path), text).unwrap();
        }
        Fleet { dir }
    }

    /// A host as the wizard renders it: `profile` with the example values (host name `name`),
    /// the machine's hardware file and boot loader; `extra` is a module (attribute set body)
    /// the host adds on top of the rendered file.
    fn add(
        &self,
        name: &str,
        profile: &str,
        hardware: Option<&str>,
        boot_loader: Option<&BootLoader>,
        extra: &str,
    ) {
        let values = example_values(name);
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let files = host::render(&host::Inputs {
            profile,
            values: &values,
            unset: &[],
            hardware,
            boot_loader,
        })
        .unwrap();
        let dir = self.dir.path().join("hosts").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            let file = if file == host::DEFAULT && !extra.is_empty() {
                "rendered.nix"
            } else {
                file
            };
            std::fs::write(dir.join(file), text).unwrap();
        }
        if !extra.is_empty() {
            std::fs::write(
                dir.join(host::DEFAULT),
                format!("{{ lib, ... }}:\n{{\n  imports = [ ./rendered.nix ];\n{extra}\n}}\n"),
            )
            .unwrap();
        }
    }

    fn evaluate(&self, lib: &Path) -> Value {
        evaluate_fleet(lib, self.dir.path())
    }
}

/// Every host of the fleet flake in `fleet`, with nixpkgs' lib and NixOS-WSL from `vendored`.
fn evaluate_fleet(vendored: &Path, fleet: &Path) -> Value {
    evaluate(
        "eval-fleet.nix",
        &[
            ("lib", &vendored.join("lib")),
            ("fleet", fleet),
            ("nixosWsl", &vendored.join("nixos-wsl")),
        ],
    )
}

fn failed(host: &Value) -> Vec<String> {
    host["failedAssertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

/// No failed assertion, no warning, and the config file the host's `atuin-bootstrap` reads
/// is accepted by the binary (which refuses unknown keys).
fn assert_builds(name: &str, host: &Value) {
    assert_eq!(failed(host), Vec::<String>::new(), "{name} would not build");
    assert_eq!(host["warnings"], json!([]), "{name}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, host["configToml"].as_str().unwrap()).unwrap();
    config_show(&file);
}

#[test]
fn every_example_host_builds_on_nixos() {
    let Some(lib) = nixpkgs_lib() else { return };
    let hosts = evaluate_fleet(lib.path(), &root().join("examples/fleet"));
    let names: Vec<&String> = hosts.as_object().unwrap().keys().collect();
    assert_eq!(names, ["buildbox", "thinkpad"]);
    for (name, host) in hosts.as_object().unwrap() {
        assert_builds(name, host);
    }
    let thinkpad = &hosts["thinkpad"];
    assert_eq!(thinkpad["bootLoader"]["systemdBoot"], true);
    assert_eq!(thinkpad["bootLoader"]["grub"], false);
    assert_eq!(thinkpad["rootFileSystem"], "/dev/disk/by-label/nixos");
    // NixOS-WSL: no boot loader of its own, no root file system to declare.
    assert_eq!(hosts["buildbox"]["bootLoader"]["grub"], false);
    assert_eq!(hosts["buildbox"]["serverEnabled"], true);
}

#[test]
fn every_profile_the_wizard_renders_on_nixos_builds() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    let bios = BootLoader::Grub {
        device: BIOS_DISK.into(),
    };
    // From a machine's own configuration.nix: GRUB for EFI, as nixos-generate-config suggests.
    let carried = BootLoader::Configured {
        statements: "boot.loader.grub = {\n  enable = true;\n  efiSupport = true;\n  device = \"nodev\";\n};\nboot.loader.efi.canTouchEfiVariables = true;".into(),
    };
    for profile in ["laptop", "desktop", "server"] {
        fleet.add(
            &format!("{profile}-efi"),
            profile,
            Some(EFI_HARDWARE),
            Some(&efi),
            "",
        );
        fleet.add(
            &format!("{profile}-bios"),
            profile,
            Some(BIOS_HARDWARE),
            Some(&bios),
            "",
        );
    }
    fleet.add(
        "laptop-carried",
        "laptop",
        Some(EFI_HARDWARE),
        Some(&carried),
        "",
    );
    fleet.add("wsl", "wsl", Some(EFI_HARDWARE), Some(&efi), "");
    let hosts = fleet.evaluate(lib.path());
    assert_eq!(hosts.as_object().unwrap().len(), 8);
    for (name, host) in hosts.as_object().unwrap() {
        assert_builds(name, host);
        assert_eq!(host["hostName"], name.as_str());
        assert_eq!(host["system"], "x86_64-linux");
        let boot = &host["bootLoader"];
        if name.ends_with("-efi") {
            assert_eq!(boot["systemdBoot"], true, "{name}");
            assert_eq!(boot["grub"], false, "{name}");
            assert_eq!(boot["canTouchEfiVariables"], true, "{name}");
        } else if name.ends_with("-bios") {
            assert_eq!(boot["systemdBoot"], false, "{name}");
            assert_eq!(boot["grubDevices"], json!([BIOS_DISK]), "{name}");
        }
    }
    assert_eq!(
        hosts["laptop-carried"]["bootLoader"]["grubDevices"],
        json!(["nodev"])
    );
    // The wsl profile takes neither file: NixOS-WSL boots it.
    assert_eq!(hosts["wsl"]["bootLoader"]["grub"], false);
    assert!(!fleet.dir.path().join("hosts/wsl/boot-loader.nix").exists());
}

#[test]
fn a_host_without_a_boot_loader_or_root_file_system_is_caught() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    fleet.add("bare", "laptop", None, None, "");
    fleet.add("no-boot-loader", "desktop", Some(BIOS_HARDWARE), None, "");
    fleet.add("no-hardware", "server", None, Some(&efi), "");
    let hosts = fleet.evaluate(lib.path());
    assert_eq!(failed(&hosts["bare"]), [NO_GRUB_DEVICE, ROOT_FS]);
    assert_eq!(failed(&hosts["no-boot-loader"]), [NO_GRUB_DEVICE]);
    assert_eq!(failed(&hosts["no-hardware"]), [ROOT_FS]);
}

#[test]
fn firewall_ports_open_on_the_interface_tailscale_uses() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    fleet.add("plain", "wsl", None, None, "");
    fleet.add(
        "renamed",
        "wsl",
        None,
        None,
        r#"  services.tailscale.interfaceName = "ts-fleet";"#,
    );
    fleet.add(
        "userspace",
        "wsl",
        None,
        None,
        r#"  services.tailscale.interfaceName = "userspace-networking";"#,
    );
    let hosts = fleet.evaluate(lib.path());
    let box_ports = json!({"tcp": [22000, 8780, 8888], "udp": [22000, 21027]});
    assert_eq!(
        hosts["plain"]["firewallInterfaces"],
        json!({ "tailscale0": box_ports })
    );
    assert_eq!(
        hosts["renamed"]["firewallInterfaces"],
        json!({ "ts-fleet": box_ports })
    );
    // No interface at all: tailscaled delivers over loopback, which the firewall accepts.
    assert_eq!(hosts["userspace"]["firewallInterfaces"], json!({}));
    for (name, host) in hosts.as_object().unwrap() {
        assert_builds(name, host);
    }
}

#[test]
fn the_box_trusts_its_own_key_for_pushed_paths() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let key = "box-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=";
    fleet.add(
        "pushable",
        "wsl",
        None,
        None,
        &format!("  services.atuin-bootstrap.server.publicKey = \"{key}\";"),
    );
    let hosts = fleet.evaluate(lib.path());
    let host = &hosts["pushable"];
    assert_eq!(host["serverEnabled"], json!(true));
    let trusted = host["trustedPublicKeys"].as_array().unwrap();
    assert!(trusted.contains(&json!(key)), "{trusted:?}");
    assert_builds("pushable", host);
}

#[test]
fn the_published_bucket_is_a_second_substituter_after_the_box() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    fleet.add("boxonly", "laptop", None, None, "");
    fleet.add(
        "withbucket",
        "laptop",
        None,
        None,
        r#"  services.atuin-bootstrap.client.publishedCacheUrl = "https://nix-cache.example.org";"#,
    );
    let hosts = fleet.evaluate(lib.path());
    let box_only = hosts["boxonly"]["substituters"].as_array().unwrap().clone();
    assert_eq!(box_only.len(), 1, "{box_only:?}");
    assert_eq!(
        hosts["withbucket"]["substituters"],
        json!([box_only[0], "https://nix-cache.example.org"])
    );
}

#[test]
fn a_repository_in_a_home_directory_is_refused() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let url = |url: &str| {
        format!(r#"  services.atuin-bootstrap.server.settings.repo.url = lib.mkForce "{url}";"#)
    };
    fleet.add("home", "wsl", None, None, &url("/home/me/fleet"));
    fleet.add("root", "wsl", None, None, &url("file:///root/fleet"));
    fleet.add("srv", "wsl", None, None, &url("/srv/fleet.git"));
    fleet.add(
        "unprotected",
        "wsl",
        None,
        None,
        &(url("/home/me/fleet")
            + "\n  systemd.services.atuin-bootstrap.serviceConfig.ProtectHome = lib.mkForce false;"),
    );
    let hosts = fleet.evaluate(lib.path());
    for (name, path, under) in [
        ("home", "/home/me/fleet", "/home"),
        ("root", "file:///root/fleet", "/root"),
    ] {
        let messages = failed(&hosts[name]);
        assert_eq!(messages.len(), 1, "{name}: {messages:?}");
        let message = messages[0].split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            message.contains(&format!(
                "repo.url = \"{path}\" is under {under}, which the build server cannot read"
            )) && message.contains("bare repository outside the home directories"),
            "{message}"
        );
    }
    assert_builds("srv", &hosts["srv"]);
    assert_builds("unprotected", &hosts["unprotected"]);
}

#[test]
fn the_deploy_unit_is_there_only_when_enabled_and_activation_never_stops_it() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    let deploy = r#"  services.atuin-bootstrap.client.tokenFile = "/home/me/fleet/secrets/atuin-bootstrap-token";
  services.atuin-bootstrap.client.deploy = {
    enable = true;
    mode = "boot";
    healthChecks = [ "unit:sshd.service" "http://127.0.0.1:8080/health" "tcp:127.0.0.1:22" "test -e /run/booted-system" ];
  };"#;
    fleet.add("off", "server", Some(EFI_HARDWARE), Some(&efi), "");
    fleet.add("follows", "server", Some(EFI_HARDWARE), Some(&efi), deploy);
    fleet.add("box", "wsl", None, None, deploy);
    // Not using the box's cache, but following it: the box's key is still trusted.
    fleet.add(
        "no-cache",
        "server",
        Some(EFI_HARDWARE),
        Some(&efi),
        &format!("{deploy}\n  services.atuin-bootstrap.client.useCache = false;"),
    );
    // The agent's other [deploy] keys.
    fleet.add(
        "tuned",
        "server",
        Some(EFI_HARDWARE),
        Some(&efi),
        r#"  services.atuin-bootstrap.client.deploy = {
    enable = true;
    activationTimeout = "1h";
    reboot = "window";
    rebootWindow = "02:30-04:00";
    allowPushed = true;
  };"#,
    );
    fleet.add(
        "no-token",
        "laptop",
        Some(EFI_HARDWARE),
        Some(&efi),
        "  services.atuin-bootstrap.client.deploy.enable = true;",
    );
    let hosts = fleet.evaluate(lib.path());

    assert_eq!(hosts["off"]["deployUnit"], Value::Null);
    assert_builds("off", &hosts["off"]);
    for name in ["follows", "box"] {
        let host = &hosts[name];
        assert_builds(name, host);
        let unit = &host["deployUnit"];
        assert_eq!(unit["restartIfChanged"], false, "{name}");
        assert_eq!(unit["stopIfChanged"], false, "{name}");
        assert_eq!(unit["unitConfig"]["X-StopOnRemoval"], false, "{name}");
        assert_eq!(unit["serviceConfig"]["Restart"], "always", "{name}");
        assert!(unit["serviceConfig"].get("User").is_none(), "runs as root");
        let exec = unit["serviceConfig"]["ExecStart"].as_str().unwrap();
        assert!(
            exec.ends_with(
                "/bin/atuin-bootstrap --config /etc/atuin-bootstrap/config.toml deploy --watch"
            ),
            "{exec}"
        );
        // A stop or restart of the agent never takes the activation (or any child) with it.
        assert_eq!(unit["serviceConfig"]["KillMode"], "process", "{name}");
        // What shell checks can run: the unit's path and NixOS's defaults, no curl.
        assert_eq!(
            unit["path"],
            json!([
                "nix",
                "bash",
                "coreutils",
                "systemd",
                "coreutils",
                "findutils",
                "gnugrep",
                "gnused",
                "systemd"
            ])
        );
        let path = unit["environment"]["PATH"].as_str().unwrap();
        assert!(!path.contains("curl"), "{path}");
        // The checks travel with the system the agent is about to run.
        let checks: Value =
            serde_json::from_str(host["healthChecksJson"].as_str().unwrap()).unwrap();
        assert_eq!(
            checks,
            json!([
                "unit:sshd.service",
                "http://127.0.0.1:8080/health",
                "tcp:127.0.0.1:22",
                "test -e /run/booted-system"
            ]),
            "{name}"
        );
        assert_eq!(unit["wantedBy"], json!(["multi-user.target"]));
        assert!(
            unit["after"]
                .as_array()
                .unwrap()
                .contains(&json!("network-online.target"))
        );

        // The settings it runs with, as the binary reads them.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, host["configToml"].as_str().unwrap()).unwrap();
        let keys = &config_show(&file)["keys"];
        assert_eq!(keys["deploy.host"]["value"], name);
        assert_eq!(keys["deploy.mode"]["value"], "boot");
        assert_eq!(keys["deploy.interval"]["value"], 60);
        assert_eq!(keys["deploy.health_timeout"]["value"], 120);
        assert_eq!(keys["deploy.health_checks"]["value"], checks);
        assert_eq!(
            keys["client.token_file"]["value"],
            "/home/me/fleet/secrets/atuin-bootstrap-token"
        );
        // Left to the agent's defaults unless set.
        for key in [
            "activation_timeout",
            "reboot",
            "reboot_window",
            "allow_pushed",
        ] {
            assert!(
                keys.get(format!("deploy.{key}"))
                    .is_none_or(|k| k["source"] == "default"),
                "{key}"
            );
        }
    }
    assert_eq!(hosts["off"]["healthChecksJson"], Value::Null);

    let key = "buildbox-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=";
    let no_cache = &hosts["no-cache"];
    assert_builds("no-cache", no_cache);
    assert_eq!(no_cache["trustedPublicKeys"], json!([key]));
    assert_eq!(no_cache["substituters"], json!([]), "no substituter");

    // Rendered as the agent reads them ([deploy] of /etc/atuin-bootstrap/config.toml).
    let tuned = &hosts["tuned"];
    assert_eq!(failed(tuned), Vec::<String>::new());
    let toml = tuned["configToml"].as_str().unwrap();
    for line in [
        "activation_timeout = \"1h\"",
        "reboot = \"window\"",
        "reboot_window = \"02:30-04:00\"",
        "allow_pushed = true",
    ] {
        assert!(toml.contains(line), "{line} in {toml}");
    }
    assert_eq!(failed(&hosts["no-token"]), Vec::<String>::new());
    let warnings = hosts["no-token"]["warnings"].to_string();
    assert!(warnings.contains("without"), "{warnings}");
}

/// The wsl profile's commented `builders = [ … ];` and `emulatedSystems` lines, uncommented;
/// and how many lines that was.
fn uncomment_remote_build_example(text: &str) -> (String, usize) {
    let mut inside = false;
    let mut count = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let code = line.trim_start().strip_prefix("# ");
            let starts = code
                .is_some_and(|c| c.starts_with("builders = [") || c.starts_with("emulatedSystems"));
            if starts || inside {
                inside = code.is_some_and(|c| c.starts_with("builders = ["))
                    || (inside && code != Some("];"));
                count += 1;
                line.replacen("# ", "", 1)
            } else {
                line.to_string()
            }
        })
        .collect();
    (lines.join("\n") + "\n", count)
}

#[test]
fn remote_builders_and_emulated_systems_reach_nix() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let builders = r#"  services.atuin-bootstrap.server.builders = [
    {
      hostName = "pi.tailnet.example";
      systems = [ "aarch64-linux" "armv7l-linux" ];
      sshUser = "nixremote";
      sshKey = "/var/lib/atuin-bootstrap/.ssh/builder_ed25519";
      maxJobs = 4;
      supportedFeatures = [ "big-parallel" ];
      mandatoryFeatures = [ "arm-only" ];
    }
    {
      hostName = "big.tailnet.example";
      system = "x86_64-linux";
      protocol = "ssh";
      speedFactor = 2;
      publicHostKey = "c3NoLWVkMjU1MTkgQUFBQQ==";
    }
  ];
  services.atuin-bootstrap.server.emulatedSystems = [ "aarch64-linux" "riscv64-linux" ];"#;
    fleet.add("box", "wsl", None, None, builders);
    fleet.add("plain", "wsl", None, None, "");
    fleet.add(
        "emulating",
        "wsl",
        None,
        None,
        r#"  services.atuin-bootstrap.server.emulatedSystems = [ "riscv64-linux" ];"#,
    );
    // The wsl profile's commented example, uncommented.
    fleet.add("uncommented", "wsl", None, None, "");
    let file = fleet
        .dir
        .path()
        .join("hosts/uncommented")
        .join(host::DEFAULT);
    let text = std::fs::read_to_string(&file).unwrap();
    let (text, uncommented) = uncomment_remote_build_example(&text);
    assert_eq!(uncommented, 10, "{text}");
    std::fs::write(&file, text).unwrap();
    fleet.add(
        "bad",
        "wsl",
        None,
        None,
        r#"  services.atuin-bootstrap.server.builders = [
    { hostName = "nosystem"; sshKey = "/nix/store/00000000000000000000000000000000-key"; }
  ];
  services.atuin-bootstrap.server.emulatedSystems = [ "x86_64-linux" ];"#,
    );
    let hosts = fleet.evaluate(lib.path());

    let host = &hosts["box"];
    assert_builds("box", host);
    let nix = &host["remoteBuilds"];
    assert_eq!(nix["distributedBuilds"], true);
    let machines = nix["buildMachines"].as_array().unwrap();
    assert_eq!(machines.len(), 2, "{nix}");
    assert_eq!(machines[0]["hostName"], "pi.tailnet.example");
    assert_eq!(
        machines[0]["protocol"], "ssh-ng",
        "ssh-ng unless asked otherwise"
    );
    assert_eq!(
        machines[0]["systems"],
        json!(["aarch64-linux", "armv7l-linux"])
    );
    assert_eq!(machines[0]["maxJobs"], 4);
    assert_eq!(machines[1]["protocol"], "ssh");
    assert_eq!(machines[1]["speedFactor"], 2);
    // /etc/nix/machines, which Nix (and so the server's status) reads.
    assert_eq!(
        nix["machinesFile"],
        "ssh-ng://nixremote@pi.tailnet.example aarch64-linux,armv7l-linux \
         /var/lib/atuin-bootstrap/.ssh/builder_ed25519 4 1 big-parallel,arm-only arm-only -\n\
         ssh://big.tailnet.example x86_64-linux - 1 2 - - c3NoLWVkMjU1MTkgQUFBQQ==\n"
    );
    // The server reads that file as Nix does.
    let parsed = server::parse_machines(
        nix["machinesFile"].as_str().unwrap(),
        "x86_64-linux",
        &mut |_| None,
    );
    assert_eq!(parsed[0].uri, "ssh-ng://nixremote@pi.tailnet.example");
    assert_eq!(parsed[0].features(), ["big-parallel", "arm-only"]);
    assert_eq!(parsed[1].uri, "ssh://big.tailnet.example");
    assert_eq!(
        parsed[1].public_host_key.as_deref(),
        Some("c3NoLWVkMjU1MTkgQUFBQQ==")
    );
    assert_eq!(
        nix["nixSettings"]["builders"], "(unset)",
        "Nix's @/etc/nix/machines"
    );
    assert_eq!(nix["nixSettings"]["builders-use-substitutes"], true);
    assert_eq!(
        nix["emulatedSystems"],
        json!(["aarch64-linux", "riscv64-linux"])
    );
    // pi builds aarch64-linux: with the emulated systems in extra-platforms the box would
    // build them itself under QEMU, so NixOS is told not to add them (nixpkgs' advice).
    assert_eq!(nix["addEmulatedSystemsToNixSandbox"], false);
    assert_eq!(nix["nixSettings"]["extra-platforms"], Value::Null);
    // NixOS-WSL: WSLInterop registered again next to QEMU's, so .exe files still run (its
    // warning otherwise: checked by assert_builds).
    assert_eq!(
        nix["registrations"],
        json!(["WSLInterop", "aarch64-linux", "riscv64-linux"])
    );
    assert_eq!(host["wslInteropRegister"], true);

    // Emulation alone: the systems reach Nix's extra-platforms.
    let alone = &hosts["emulating"];
    assert_builds("emulating", alone);
    assert_eq!(
        alone["remoteBuilds"]["addEmulatedSystemsToNixSandbox"],
        true
    );
    assert_eq!(
        alone["remoteBuilds"]["nixSettings"]["extra-platforms"],
        json!(["riscv64-linux", "i686-linux"])
    );
    assert_eq!(alone["wslInteropRegister"], true);

    let example = &hosts["uncommented"];
    assert_builds("uncommented", example);
    let example = &example["remoteBuilds"];
    assert_eq!(
        example["buildMachines"][0]["systems"],
        json!(["aarch64-linux"])
    );
    assert_eq!(example["distributedBuilds"], true);
    assert_eq!(example["emulatedSystems"], json!(["aarch64-linux"]));
    assert_eq!(example["addEmulatedSystemsToNixSandbox"], false);

    // Neither set: no machines, distributed builds off, nothing emulated.
    let plain = &hosts["plain"]["remoteBuilds"];
    assert_eq!(plain["buildMachines"], json!([]));
    assert_eq!(plain["distributedBuilds"], false);
    assert_eq!(plain["machinesFile"], Value::Null);
    assert_eq!(plain["emulatedSystems"], json!([]));
    assert_eq!(plain["nixSettings"]["builders"], Value::Null);
    assert_eq!(
        plain["nixSettings"]["builders-use-substitutes"],
        Value::Null
    );

    // A builder without a system, a key in the store, the box's own system emulated.
    let messages: Vec<String> = failed(&hosts["bad"])
        .iter()
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let has = |text: &str| messages.iter().any(|m| m.contains(text));
    assert!(
        has(
            "every builder needs `system` or `systems` (the systems it builds for); missing on: nosystem."
        ),
        "{messages:#?}"
    );
    assert!(
        has("services.atuin-bootstrap.server.builders.*.sshKey = \"/nix/store/"),
        "{messages:#?}"
    );
    assert!(
        has("emulatedSystems names x86_64-linux, this machine's own system"),
        "{messages:#?}"
    );
    // NixOS's own bare assert never sees the machine's own system: the message above is
    // what the user reads.
    assert_eq!(hosts["bad"]["remoteBuilds"]["registrations"], json!([]));
    assert_eq!(hosts["plain"]["wslInteropRegister"], false);
}

/// Every release's every case, evaluated in one call.
fn evaluate_homes(lib: &Path) -> Option<Value> {
    let homes = home_managers()?;
    Some(evaluate(
        "eval-home.nix",
        &[("nixpkgs", lib), ("homeManagers", homes.path())],
    ))
}

fn home_files(home: &Value) -> Vec<&str> {
    home["files"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn home_manager_judged_by_its_real_releases() {
    let Some(lib) = nixpkgs_lib() else { return };
    let Some(homes) = evaluate_homes(lib.path()) else {
        return;
    };
    assert_eq!(
        homes.as_object().unwrap().len(),
        HOME_MANAGER_RELEASES.len()
    );
    for release in HOME_MANAGER_RELEASES {
        let cases = &homes[release];
        for (case, home) in cases.as_object().unwrap() {
            assert_eq!(home["failedAssertions"], json!([]), "{release} {case}");
            assert_eq!(home["warnings"], json!([]), "{release} {case}");
        }

        // The files a first run of Atuin and of bootstrap-new-machine leave are replaced.
        let home = &cases["standard"];
        assert_eq!(home["atuinConfigForced"], true, "{release}");
        assert_eq!(home["clientConfigForced"], true, "{release}");
        assert_eq!(home["atuinSyncAddress"], "http://buildbox:8888");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, home["clientConfigText"].as_str().unwrap()).unwrap();
        assert_eq!(
            config_show(&file)["keys"]["client.server"]["value"],
            "http://buildbox:8780"
        );

        // Atuin off: no entry for its file at all (an entry with only `force` has no source,
        // which home-manager before 25.11 reads and throws on).
        let off = &cases["atuin-off"];
        assert!(
            !home_files(off).contains(&".config/atuin/config.toml"),
            "{release}: {:?}",
            home_files(off)
        );

        // zsh is taken over only when asked, or when home-manager may back up ~/.zshrc.
        assert_eq!(home["zshManaged"], false, "{release}");
        assert!(!home_files(home).contains(&".zshrc"), "{release}");
        for case in ["zsh", "on-nixos-backups"] {
            let home = &cases[case];
            assert_eq!(home["zshManaged"], true, "{release} {case}");
            let zshrc = home["zshrc"].as_str().unwrap();
            assert_eq!(
                zshrc.matches("atuin init zsh").count(),
                1,
                "{release} {case}: {zshrc}"
            );
        }

        // Under a NixOS with the terminal module, /etc/zshrc already initialises Atuin.
        let nixos = &cases["on-nixos-terminal"];
        assert_eq!(nixos["atuinZshIntegration"], false, "{release}");
        assert!(
            !nixos["zshrc"].as_str().unwrap().contains("atuin init"),
            "{release}"
        );
    }
}

/// `text` without the attribute set that starts at the line `start` (up to its closing `};`
/// at the same indentation).
fn without_block(text: &str, start: &str) -> String {
    let mut out = String::new();
    let mut skipping: Option<String> = None;
    for line in text.lines() {
        if let Some(indent) = &skipping {
            if line == format!("{indent}}};") {
                skipping = None;
            }
            continue;
        }
        if line.trim_start() == start {
            skipping = Some(line[..line.len() - line.trim_start().len()].to_string());
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(skipping.is_none(), "{start} is not closed");
    out
}

#[test]
fn a_box_without_the_client_and_a_client_without_the_box_build() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    // The wsl box with its client block removed: the fleet flake still imports the client
    // module (its options are declared, never defined).
    fleet.add("server-only", "wsl", None, None, "");
    let file = fleet
        .dir
        .path()
        .join("hosts/server-only")
        .join(host::DEFAULT);
    let text = std::fs::read_to_string(&file).unwrap();
    let text = without_block(&text, "services.atuin-bootstrap.client = {");
    assert!(!text.contains("atuin-bootstrap.client"), "{text}");
    std::fs::write(&file, text).unwrap();
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    fleet.add("client-only", "laptop", Some(EFI_HARDWARE), Some(&efi), "");
    fleet.add("both", "wsl", None, None, "");
    let hosts = fleet.evaluate(lib.path());
    for (name, host) in hosts.as_object().unwrap() {
        assert_builds(name, host);
    }
    let box_only = &hosts["server-only"];
    assert_eq!(box_only["serverEnabled"], true);
    // No key of its own known: nothing trusted, no cache of its own as a substituter.
    assert_eq!(box_only["trustedPublicKeys"], json!([]));
    assert_eq!(box_only["substituters"], json!([]));
    assert!(
        box_only["configToml"]
            .as_str()
            .unwrap()
            .contains("[server]")
    );
    assert_eq!(hosts["client-only"]["serverEnabled"], false);
    assert_eq!(
        hosts["client-only"]["substituters"],
        json!(["http://buildbox:8780"])
    );
}

#[test]
fn the_stand_ins_refuse_what_nixos_and_nixos_wsl_refuse() {
    let Some(lib) = nixpkgs_lib() else { return };
    // Each host is its own fleet: a type error stops the whole evaluation.
    let cases = [
        // NixOS's checkConfig runs `nix show-config` with warnings as errors.
        (
            "  nix.settings.substituter = [ \"http://box:8780\" ];",
            "unknown setting 'substituter'",
        ),
        // nix-gc.nix: singleLineStr.
        (
            "  nix.gc.options = lib.mkForce \"--delete-older-than 30d\\n--max-freed 1G\";",
            "nix.gc.options",
        ),
        // syncthing.nix: JSON values only.
        (
            "  services.syncthing.settings.options.foo = x: x;",
            "services.syncthing.settings.options.foo",
        ),
        // NixOS-WSL declares every wsl.* option.
        ("  wsl.interop.registr = true;", "wsl.interop.registr"),
    ];
    for (extra, expected) in cases {
        let fleet = Fleet::new();
        fleet.add("box", "wsl", None, None, extra);
        let output = Command::new("nix-instantiate")
            .env("NIX_CONFIG", NIX_CONFIG)
            .args(["--eval", "--strict", "--json"])
            .arg(root().join("nix/tests/eval-fleet.nix"))
            .arg("--argstr")
            .arg("lib")
            .arg(lib.path().join("lib"))
            .arg("--argstr")
            .arg("fleet")
            .arg(fleet.dir.path())
            .arg("--argstr")
            .arg("nixosWsl")
            .arg(lib.path().join("nixos-wsl"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(said.contains(expected), "{extra}: {said}");
    }
}

/// `bootstrap-new-machine --yes` for one host of the fleet repository `repo`, in a HOME of
/// its own; what it printed.
fn run_wizard(repo: &Path, server: &str, host: &str, profile: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(crate::util::binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("USER", "me")
        .env("ATUIN_BOOTSTRAP_ARGV0", "bootstrap-new-machine")
        .stdin(std::process::Stdio::null())
        .args(["--server", server, "--hostname", host, "--profile", profile])
        .arg("--repo")
        .arg(repo)
        .arg("--nix-conf")
        .arg(home.path().join("nix.conf"))
        .arg("--yes")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{host}: {printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

#[test]
fn what_the_wizard_writes_builds_for_every_profile_online_and_offline() {
    let Some(lib) = nixpkgs_lib() else { return };
    let server = crate::util::server::InProcess::start("");
    let key = server.public_key();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let offline_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    let repo = tempfile::tempdir().unwrap();
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    let mut hosts = Vec::new();
    for profile in ["laptop", "desktop", "server", "wsl"] {
        for (mode, url) in [("online", &server.url), ("offline", &offline_url)] {
            let host = format!("{profile}-{mode}");
            let printed = run_wizard(repo.path(), url, &host, profile);
            // The commit step locks the inputs and commits flake.lock.
            assert!(
                printed.contains("flake lock && git add -A")
                    && printed.contains(" flake.nix flake.lock && git commit"),
                "{printed}"
            );
            if mode == "offline" {
                assert!(printed.contains("publicKey commented out"), "{printed}");
            }
            // This machine does not run NixOS: its own files come from nixos-generate-config
            // on the machine; here, the fixtures.
            if host::needs_machine_files(profile) {
                let dir = repo.path().join("hosts").join(&host);
                std::fs::write(dir.join(host::HARDWARE), EFI_HARDWARE).unwrap();
                std::fs::write(dir.join(host::BOOT_LOADER), efi.render()).unwrap();
            }
            hosts.push(host);
        }
    }
    let flake = std::fs::read_to_string(repo.path().join("flake.nix")).unwrap();
    assert!(
        flake.contains("atuin-bootstrap.url = \"github:atuin-bootstrap/atuin-bootstrap\";"),
        "{flake}"
    );

    let evaluated = evaluate_fleet(lib.path(), repo.path());
    assert_eq!(evaluated.as_object().unwrap().len(), hosts.len());
    for name in &hosts {
        let host = &evaluated[name];
        assert_eq!(failed(host), Vec::<String>::new(), "{name}");
        // Not NixOS here: the newest release the wizard knows.
        assert_eq!(
            host["stateVersion"],
            ::host::wizard::detect::CURRENT_NIXOS_RELEASE,
            "{name}"
        );
        let is_box = name.starts_with("wsl");
        if name.ends_with("-online") {
            assert_builds(name, host);
            assert!(
                host["trustedPublicKeys"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(key)),
                "{name}"
            );
            if !is_box {
                assert_eq!(host["substituters"], json!([server.url]), "{name}");
            }
        } else {
            // The key is not known: no cache trusted yet, and a warning says why.
            assert_eq!(host["trustedPublicKeys"], json!([]), "{name}");
            assert_eq!(host["substituters"], json!([]), "{name}");
            let warnings = host["warnings"].to_string();
            if !is_box {
                assert!(
                    warnings.contains("publicKey is not set")
                        && warnings.contains("atuin-bootstrap cache public-key"),
                    "{name}: {warnings}"
                );
            }
        }
    }
}

#[test]
fn every_profiles_deploy_example_uses_checks_that_can_pass() {
    let Some(lib) = nixpkgs_lib() else { return };
    let fleet = Fleet::new();
    let efi = BootLoader::SystemdBoot {
        esp: "/boot".into(),
    };
    let profiles = ["laptop", "desktop", "server", "wsl"];
    for profile in profiles {
        let machine = host::needs_machine_files(profile);
        fleet.add(
            profile,
            profile,
            machine.then_some(EFI_HARDWARE),
            machine.then_some(&efi),
            "",
        );
        // The commented deploy lines of the profile, uncommented.
        let file = fleet
            .dir
            .path()
            .join("hosts")
            .join(profile)
            .join(host::DEFAULT);
        let text = std::fs::read_to_string(&file).unwrap();
        let mut uncommented = 0;
        let text: String = text
            .lines()
            .map(|line| {
                let code = line.trim_start().strip_prefix("# ").unwrap_or("");
                if code.starts_with("tokenFile = ") || code.starts_with("deploy.") {
                    uncommented += 1;
                    line.replacen("# ", "", 1) + "\n"
                } else {
                    line.to_string() + "\n"
                }
            })
            .collect();
        assert_eq!(uncommented, 3, "{profile}: {text}");
        std::fs::write(&file, text).unwrap();
    }
    let hosts = fleet.evaluate(lib.path());
    for profile in profiles {
        let host = &hosts[profile];
        assert_builds(profile, host);
        let checks: Vec<String> =
            serde_json::from_str(host["healthChecksJson"].as_str().unwrap()).unwrap();
        assert!(!checks.is_empty(), "{profile}");
        // Built-in checks only: no shell command that needs a tool the unit lacks (curl),
        // nor `systemctl is-system-running`, which any failed unit fails.
        for check in checks {
            assert!(
                check.starts_with("unit:")
                    || check.starts_with("http://")
                    || check.starts_with("tcp:"),
                "{profile}: {check}"
            );
        }
    }
}
