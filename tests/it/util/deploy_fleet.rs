//! A fleet whose hosts are deployable for tests: each `nixosConfigurations.<host>` toplevel is
//! a plain derivation shaped like a NixOS system (`nixos-version`, `kernel`, `initrd`,
//! `kernel-modules`, and its health checks in `etc/atuin-bootstrap/health-checks.json` when
//! given) carrying `bin/switch-to-configuration`, which records `<path> <mode>` in
//! `$DEPLOY_TEST_RECORD`, points `$DEPLOY_TEST_CURRENT` at itself (as NixOS's activation
//! points /run/current-system), and can be made to fail, hang, ignore SIGTERM or find the
//! switch lock held per host and commit. Also a host's side: its profile, current and booted
//! system, deploy state and config, and `deploy` runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::fleet::commit_all;
use super::nix::{NIX_CONFIG, run_ok};

/// What a host's activation does at a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Works,
    Fails,
    Hangs,
    /// Hangs and ignores SIGTERM (only SIGKILL ends it).
    IgnoresTerm,
    /// Fails as switch-to-configuration does when another switch holds its lock, while
    /// `<record>.locked` exists; works otherwise.
    FindsLockHeld,
}

impl Activation {
    fn word(self) -> &'static str {
        match self {
            Activation::Works => "ok",
            Activation::Fails => "fail",
            Activation::Hangs => "hang",
            Activation::IgnoresTerm => "noterm",
            Activation::FindsLockHeld => "locked",
        }
    }
}

pub(crate) struct DeployFleet {
    pub dir: tempfile::TempDir,
    nonce: String,
    version: u32,
    hosts: BTreeMap<String, Activation>,
    /// Health checks carried in a host's system (JSON list), when set.
    checks: BTreeMap<String, String>,
    /// The kernel a host's system boots (changing it needs a reboot).
    kernels: BTreeMap<String, u32>,
}

impl DeployFleet {
    /// A repository with these hosts, all working, committed once.
    pub(crate) fn new(hosts: &[&str]) -> DeployFleet {
        let mut fleet = DeployFleet {
            dir: tempfile::tempdir().unwrap(),
            nonce: super::nonce(),
            version: 1,
            hosts: hosts
                .iter()
                .map(|h| (h.to_string(), Activation::Works))
                .collect(),
            checks: BTreeMap::new(),
            kernels: BTreeMap::new(),
        };
        git(fleet.path(), &["init", "-q", "-b", "main"]);
        fleet.commit();
        fleet
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new commit in which every host's system changes and `host` activates as `how`.
    pub(crate) fn bump(&mut self, host: &str, how: Activation) -> String {
        self.hosts.insert(host.to_string(), how);
        self.version += 1;
        self.commit()
    }

    /// From the next commit on, `host`'s system carries these health checks.
    pub(crate) fn set_checks(&mut self, host: &str, checks: &[&str]) {
        self.checks
            .insert(host.to_string(), serde_json::to_string(checks).unwrap());
    }

    /// A new commit in which `host` boots another kernel.
    pub(crate) fn bump_kernel(&mut self, host: &str) -> String {
        *self.kernels.entry(host.to_string()).or_insert(1) += 1;
        self.version += 1;
        self.commit()
    }

    /// A new commit that changes every host's system.
    pub(crate) fn bump_all(&mut self) -> String {
        self.version += 1;
        self.commit()
    }

    fn commit(&mut self) -> String {
        let hosts: String = self
            .hosts
            .iter()
            .map(|(name, how)| {
                let checks = self.checks.get(name).map_or(String::new(), |c| {
                    c.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace("${", "\\${")
                });
                format!(
                    "    nixosConfigurations.{name}.config.system.build.toplevel = system \"{name}\" \"{}\" \"{checks}\" \"{}\";\n",
                    how.word(),
                    self.kernels.get(name).copied().unwrap_or(1)
                )
            })
            .collect();
        let flake = FLAKE
            .replace("@VERSION@", &self.version.to_string())
            .replace("@NONCE@", &self.nonce)
            .replace("@HOSTS@", &hosts);
        std::fs::write(self.path().join("flake.nix"), flake).unwrap();
        commit_all(self.path(), &format!("v{}", self.version))
    }
}

const FLAKE: &str = r#"{
  outputs = { self }: let
    version = "@VERSION@";
    system = name: behaviour: checks: kernel: derivation {
      name = "nixos-system-${name}-${version}";
      nonce = "@NONCE@";
      inherit checks;
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" ''
        PATH=/bin:/usr/bin
        mkdir -p $out/bin
        echo "${version}" > $out/nixos-version
        ln -s /nix/store/00000000000000000000000000000000-linux-${kernel}/bzImage $out/kernel
        ln -s /nix/store/00000000000000000000000000000000-initrd-${kernel}/initrd $out/initrd
        ln -s /nix/store/00000000000000000000000000000000-modules-${kernel} $out/kernel-modules
        if [ -n "$checks" ]; then
          mkdir -p $out/etc/atuin-bootstrap
          printf '%s' "$checks" > $out/etc/atuin-bootstrap/health-checks.json
        fi
        cat > $out/bin/switch-to-configuration <<EOF
        #!/bin/sh
        echo "$out \$1" >> "\$DEPLOY_TEST_RECORD"
        if [ "\$(cat "\$DEPLOY_TEST_RECORD.hold" 2>/dev/null)" = "$out" ]; then
          echo \$\$ > "\$DEPLOY_TEST_RECORD.held"; exec sleep 3000
        fi
        case ${behaviour} in
          fail) echo "activation broke on purpose" >&2; exit 4 ;;
          hang) echo \$\$ > "\$DEPLOY_TEST_RECORD.hanging"; exec sleep 3000 ;;
          noterm) trap "" TERM; echo \$\$ > "\$DEPLOY_TEST_RECORD.hanging"; sleep 3000; exit 0 ;;
          locked) if [ -e "\$DEPLOY_TEST_RECORD.locked" ]; then echo "Could not acquire lock" >&2; exit 1; fi ;;
        esac
        if [ "\$1" != boot ]; then ln -sfn $out "\$DEPLOY_TEST_CURRENT"; fi
        EOF
        chmod +x $out/bin/switch-to-configuration
      '' ];
    };
  in {
@HOSTS@    packages.x86_64-linux.hello = derivation {
      name = "hello-${version}";
      nonce = "@NONCE@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "echo hello > $out" ];
    };
  };
}
"#;

/// One host of the fleet, on this machine: its profile, current system and deploy state live
/// in a temporary directory, and `deploy` runs as the real binary with them.
pub(crate) struct FleetHost {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub server: String,
    /// Extra lines for the `[deploy]` section.
    pub deploy_settings: String,
    /// Extra lines of Nix configuration (a store, trusted keys).
    pub nix_config: String,
    /// A directory put first on PATH (fake `systemctl`, `systemd-run`).
    pub fake_bin: Option<PathBuf>,
}

impl FleetHost {
    pub(crate) fn new(name: &str, server: &str) -> FleetHost {
        let host = FleetHost {
            name: name.to_string(),
            dir: tempfile::tempdir().unwrap(),
            server: server.to_string(),
            deploy_settings: "health_timeout = \"20s\"\n".to_string(),
            nix_config: String::new(),
            fake_bin: None,
        };
        std::fs::create_dir_all(host.dir.path().join("home")).unwrap();
        host
    }

    pub(crate) fn profile(&self) -> PathBuf {
        self.dir.path().join("profiles/system")
    }

    pub(crate) fn current_system(&self) -> PathBuf {
        self.dir.path().join("current-system")
    }

    /// The stand-in for /run/booted-system.
    pub(crate) fn booted_system(&self) -> PathBuf {
        self.dir.path().join("booted-system")
    }

    /// Points the booted system at `path`, as a boot into it would.
    pub(crate) fn boot_into(&self, path: &str) {
        for link in [self.booted_system(), self.current_system()] {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(path, &link).unwrap();
        }
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.dir.path().join("deploy-state")
    }

    /// Gives the host a store of its own (a chroot store in its directory) in place of the
    /// machine's: its root and its store URL.
    pub(crate) fn own_store(&mut self) -> (PathBuf, String) {
        let root = self.dir.path().join("store");
        let store = format!("local?root={}", root.display());
        self.nix_config = format!("store = {store}\n");
        (root, store)
    }

    /// Puts an executable `name` running `script` into the host's own bin directory, first on
    /// the PATH of its deploys (a fake `systemctl`, `systemd-run`); the executable's path.
    pub(crate) fn fake_tool(&mut self, name: &str, script: &str) -> PathBuf {
        let bin = self.dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let tool = bin.join(name);
        write_executable(&tool, script);
        self.fake_bin = Some(bin);
        tool
    }

    /// The activations so far: `(path, mode)`.
    pub(crate) fn activations(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("record"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (path, mode) = l.split_once(' ').unwrap();
                (path.to_string(), mode.to_string())
            })
            .collect()
    }

    /// The pid of an activation that hangs, once it runs.
    pub(crate) fn hanging_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("record.hanging"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Makes the activation of `path` hang (to catch a deploy in the act); its pid appears in
    /// `held_pid`.
    pub(crate) fn hold_activation_of(&self, path: &str) {
        std::fs::write(self.dir.path().join("record.hold"), path).unwrap();
    }

    pub(crate) fn held_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("record.held"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Makes an activation of the `FindsLockHeld` kind find the switch lock held (or not).
    pub(crate) fn switch_lock_held(&self, held: bool) {
        let file = self.dir.path().join("record.locked");
        if held {
            std::fs::write(file, "").unwrap();
        } else {
            let _ = std::fs::remove_file(file);
        }
    }

    /// Where the current system points (a store path), if anywhere.
    pub(crate) fn running(&self) -> Option<String> {
        std::fs::read_link(self.current_system())
            .ok()
            .map(|p| p.display().to_string())
    }

    /// The profile's current generation: (number, path).
    pub(crate) fn generation(&self) -> Option<(u64, String)> {
        let link = std::fs::read_link(self.profile()).ok()?;
        let name = link.file_name()?.to_string_lossy().into_owned();
        let number = name
            .strip_prefix("system-")?
            .strip_suffix("-link")?
            .parse()
            .ok()?;
        let path = std::fs::read_link(self.dir.path().join("profiles").join(&name)).ok()?;
        Some((number, path.display().to_string()))
    }

    /// Every generation number of the profile.
    pub(crate) fn generations(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = std::fs::read_dir(self.dir.path().join("profiles"))
            .map(|entries| {
                entries
                    .filter_map(|e| {
                        let name = e.ok()?.file_name().to_string_lossy().into_owned();
                        name.strip_prefix("system-")?
                            .strip_suffix("-link")?
                            .parse()
                            .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        numbers.sort();
        numbers
    }

    fn write_config(&self) -> PathBuf {
        let config = self.dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[client]\nserver = {:?}\n[deploy]\nhost = {:?}\nprofile = {:?}\ncurrent_system = {:?}\nbooted_system = {:?}\nstate_dir = {:?}\n{}",
                self.server,
                self.name,
                self.profile().display().to_string(),
                self.current_system().display().to_string(),
                self.booted_system().display().to_string(),
                self.state_dir().display().to_string(),
                self.deploy_settings,
            ),
        )
        .unwrap();
        config
    }

    /// `atuin-bootstrap deploy ARGS` as this host, ready to run.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let config = self.write_config();
        let home = self.dir.path().join("home");
        let mut command = super::command_in(&home);
        command
            .env("NIX_CONFIG", format!("{NIX_CONFIG}{}", self.nix_config))
            .env("DEPLOY_TEST_RECORD", self.dir.path().join("record"))
            .env("DEPLOY_TEST_CURRENT", self.current_system())
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("DEPLOY_TEST_BOOTED", self.booted_system())
            .arg("--config")
            .arg(config)
            .arg("deploy")
            .args(args);
        if let Some(bin) = &self.fake_bin {
            let path = std::env::var("PATH").unwrap_or_default();
            command.env("PATH", format!("{}:{path}", bin.display()));
        }
        command
    }

    /// Runs `deploy ARGS` to its end.
    pub(crate) fn deploy(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

/// The report a `deploy --json` printed.
pub(crate) fn report_of(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "deploy printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Writes a script the host can run (mode 755).
pub(crate) fn write_executable(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    run_ok(Command::new("git").arg("-C").arg(dir).args(args));
}
