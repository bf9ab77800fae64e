//! A real Nix remote builder on loopback: Debian's `sshd` with its own config, key and port,
//! whose sessions use a separate store (`local?root=DIR`) and their own `nix.conf`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const SSHD: &str = "/usr/sbin/sshd";

pub(crate) struct LoopbackBuilder {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl LoopbackBuilder {
    /// `None` when this machine has no sshd (Debian's `openssh-server`).
    pub(crate) fn start(system_features: &str) -> Option<LoopbackBuilder> {
        if !Path::new(SSHD).exists() {
            eprintln!("skipped: no {SSHD} (apt-get install openssh-server)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = super::free_port();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::create_dir_all(d.join("conf")).unwrap();
        for key in ["hostkey", "userkey"] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .unwrap();
            assert!(made.success());
        }
        let machine_conf = std::fs::read_to_string("/etc/nix/nix.conf").unwrap_or_default();
        std::fs::write(
            d.join("conf/nix.conf"),
            format!(
                "{machine_conf}\nsystem-features = {system_features}\nsubstituters =\n\
                 extra-sandbox-paths = /bin /usr /lib /lib64\n\
                 experimental-features = nix-command\n"
            ),
        )
        .unwrap();
        let user_key = std::fs::read_to_string(d.join("userkey.pub")).unwrap();
        std::fs::write(
            d.join("authorized_keys"),
            format!(
                "environment=\"NIX_CONF_DIR={}\" {user_key}",
                d.join("conf").display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nUsePAM no\n\
                 StrictModes no\nPermitUserEnvironment yes\nPermitRootLogin yes\n",
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host builder\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {d}/userkey\n\
                 \x20 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\
                 \x20 ConnectTimeout 3\n  BatchMode yes\n",
                d = d.display()
            ),
        )
        .unwrap();
        let builder = LoopbackBuilder { dir, port };
        builder.resume();
        Some(builder)
    }

    /// Starts sshd (again).
    pub(crate) fn resume(&self) {
        let d = self.dir.path();
        let started = Command::new(SSHD)
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .status()
            .unwrap();
        assert!(started.success());
        // sshd forks and listens before it writes its pid file.
        super::build_server::wait_for(std::time::Duration::from_secs(10), || {
            self.pid().map(|_| ())
        })
        .expect("sshd did not start");
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("sshd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops sshd (the listener; sessions already open end with their client).
    pub(crate) fn stop(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let _ = std::fs::remove_file(self.dir.path().join("sshd.pid"));
            let _ = super::build_server::wait_for(std::time::Duration::from_secs(5), || {
                std::net::TcpStream::connect(("127.0.0.1", self.port))
                    .is_err()
                    .then_some(())
            });
        }
    }

    /// The builder's separate store.
    pub(crate) fn store_root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The box's `builders` value for this machine.
    pub(crate) fn builders_line(&self, systems: &str, features: &str) -> String {
        format!(
            "ssh-ng://builder?remote-store=local%3Froot%3D{} {systems} - 1 1 {features}",
            self.store_root().display()
        )
    }

    /// The box's `NIX_SSHOPTS`.
    pub(crate) fn ssh_opts(&self) -> String {
        format!("-F {}", self.dir.path().join("ssh_config").display())
    }
}

impl Drop for LoopbackBuilder {
    fn drop(&mut self) {
        self.stop();
    }
}
