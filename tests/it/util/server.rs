//! Servers for tests: in-process (the library's `serve` on a listener bound to port 0) and
//! spawned (the real binary, its port read from its log line).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use common::config::{self, Inputs};
use nix_core::store_location::StoreLocation;
use server::listener::{Settings, serve};

/// A server running on a thread of the test process.
pub(crate) struct InProcess {
    pub url: String,
    pub _state_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    /// Starts a server whose config file holds `toml` (the state dir is added).
    pub(crate) fn start(toml: &str) -> InProcess {
        InProcess::start_in(toml, tempfile::tempdir().unwrap())
    }

    /// Stops this server and starts another with `toml` on the same state dir.
    pub(crate) fn restart(mut self, toml: &str) -> InProcess {
        self.stop();
        let state_dir = std::mem::replace(&mut self._state_dir, tempfile::tempdir().unwrap());
        InProcess::start_in(toml, state_dir)
    }

    /// The server's state dir (`server.state_dir`).
    pub(crate) fn state_dir(&self) -> PathBuf {
        self._state_dir.path().join("state")
    }

    /// Starts a server whose config file holds `toml`, on a state dir kept from another.
    pub(crate) fn start_in(toml: &str, state_dir: tempfile::TempDir) -> InProcess {
        let config_file = state_dir.path().join("config.toml");
        std::fs::write(
            &config_file,
            format!(
                "{toml}\n[server]\nstate_dir = {:?}\n",
                state_dir.path().join("state").display().to_string()
            ),
        )
        .unwrap();
        let vars = BTreeMap::new();
        let config = config::load(Inputs {
            config_flag: Some(config_file),
            vars: &vars,
            flags: Vec::new(),
            user_config_dir: None,
            user_data_dir: None,
        })
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let settings = Settings {
                    config,
                    store: StoreLocation::from_env(|_| None),
                };
                serve(settings, listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let address = ready_rx.recv().expect("the server thread died");
        let server = InProcess {
            url: format!("http://{address}"),
            _state_dir: state_dir,
            stop: Some(stop),
            thread: Some(thread),
        };
        super::http::wait_healthy(&server.url);
        server
    }

    pub(crate) fn public_key(&self) -> String {
        let status = super::http::get_json(&format!("{}/api/v1/status", self.url));
        status["cache"]["public_keys"][0]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The push key's public half: what a puller trusts to take pushed paths.
    pub(crate) fn push_key(&self) -> String {
        let status = super::http::get_json(&format!("{}/api/v1/status", self.url));
        status["cache"]["push_public_key"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl InProcess {
    /// A token of the push scope named `name`, made by the real `token create` on the state
    /// dir as the box's admin makes one (with a clean environment); the token it printed.
    pub(crate) fn push_token(&self, name: &str) -> String {
        let created = super::nix::run_ok(
            Command::new(super::binary())
                .env_clear()
                .args(["token", "create", name, "--scope", "push", "--state-dir"])
                .arg(self.state_dir()),
        );
        String::from_utf8_lossy(&created.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string()
    }

    /// Stops the server; its state dir (and config file) stays, for commands run after it.
    pub(crate) fn stop_keeping_state(mut self) -> tempfile::TempDir {
        self.stop();
        std::mem::replace(&mut self._state_dir, tempfile::tempdir().unwrap())
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The real binary running `serve`, killed on drop.
pub(crate) struct Spawned {
    pub url: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Spawned {
    /// Runs `command` (a `serve --listen 127.0.0.1:0 …` invocation) and waits for its
    /// "listening on" line; the rest of its stderr goes to `log`.
    pub(crate) fn start(mut command: Command, log: &Path) -> Spawned {
        command.stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = command.spawn().expect("failed to start the server");
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let mut seen = String::new();
        let url = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!("the server exited before listening:\n{seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_string();
            }
        };
        let log_path = log.to_path_buf();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).unwrap();
            use std::io::Write;
            let _ = file.write_all(seen.as_bytes());
            let _ = std::io::copy(&mut reader, &mut file);
        });
        super::http::wait_healthy(&url);
        Spawned {
            url,
            child,
            log: log.to_path_buf(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
