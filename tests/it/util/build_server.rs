//! A spawned build server over a test fleet, and waiting for its jobs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::http::{get_json, post};
use super::nix::NIX_CONFIG;
use super::server::Spawned;

pub(crate) struct BuildBox {
    pub server: Spawned,
    pub home: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    /// Extra environment for the server (after the defaults, so it may replace `NIX_CONFIG`).
    pub env: Vec<(String, String)>,
}

impl BuildBox {
    /// The ids of the jobs whose output `target` keeps a GC root for, in order (none when
    /// it has no roots directory).
    pub(crate) fn root_jobs(&self, target: &str) -> Vec<u64> {
        let mut jobs: Vec<u64> = std::fs::read_dir(self.state.join("gcroots").join(target))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        jobs.sort();
        jobs
    }

    /// Starts `serve` with the fleet as its repository, polling hourly (so only the first
    /// fetch happens by itself); `extra` is appended to the config, inside `[repo]` unless it
    /// opens a table.
    pub(crate) fn start(fleet: &Fleet, work: &Path, extra: &str) -> BuildBox {
        Self::with_poll(&fleet.path().display().to_string(), work, "1h", extra)
    }

    /// Starts `serve` on repository `url`, polling every `poll`.
    pub(crate) fn with_poll(url: &str, work: &Path, poll: &str, extra: &str) -> BuildBox {
        Self::with_env(url, work, poll, extra, &[])
    }

    /// Starts `serve` on repository `url` with extra environment (`NIX_CONFIG`, `NIX_SSHOPTS`).
    pub(crate) fn with_env(
        url: &str,
        work: &Path,
        poll: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> BuildBox {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let home = work.join("home");
        let state = work.join("state");
        std::fs::create_dir_all(&home).unwrap();
        let config = work.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nstate_dir = {:?}\n[repo]\nurl = {url:?}\npoll_interval = {poll:?}\n{extra}\n",
                state.display().to_string(),
            ),
        )
        .unwrap();
        let server = Self::spawn(
            &home,
            &config,
            &work.join("server.log"),
            "127.0.0.1:0",
            &env,
        );
        BuildBox {
            server,
            home,
            state,
            config,
            env,
        }
    }

    fn spawn(
        home: &Path,
        config: &Path,
        log: &Path,
        listen: &str,
        env: &[(String, String)],
    ) -> Spawned {
        let mut command = Command::new(super::binary());
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("NIX_CONFIG", NIX_CONFIG)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", listen])
            .stdin(Stdio::null());
        Spawned::start(command, log)
    }

    /// Starts the server again on the same state (after it was killed).
    pub(crate) fn restart(&mut self, work: &Path) {
        self.server = Self::spawn(
            &self.home,
            &self.config,
            &work.join("server-2.log"),
            "127.0.0.1:0",
            &self.env,
        );
    }

    /// Stops the server (SIGKILL), leaving its state.
    pub(crate) fn stop(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
    }

    /// Starts the server again on the same state, on the address `url` names.
    pub(crate) fn restart_on(&mut self, work: &Path, url: &str) {
        let listen = url.trim_start_matches("http://");
        self.server = Self::spawn(
            &self.home,
            &self.config,
            &work.join("server-3.log"),
            listen,
            &self.env,
        );
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// POSTs a job request; returns (status, job JSON).
    pub(crate) fn request(&self, body: &str) -> (u16, serde_json::Value) {
        let reply = post(&self.url("/api/v1/jobs"), body, &[]);
        (reply.status, reply.json())
    }

    pub(crate) fn job(&self, id: u64) -> serde_json::Value {
        get_json(&self.url(&format!("/api/v1/jobs/{id}")))
    }

    /// Waits until job `id` has ended (or `timeout`), returning it.
    pub(crate) fn wait_finished(&self, id: u64) -> serde_json::Value {
        self.wait_job(id, |job| {
            matches!(
                job["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
    }

    pub(crate) fn wait_job(
        &self,
        id: u64,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait_for(Duration::from_secs(60), || {
            let job = self.job(id);
            done(&job).then_some(job)
        })
        .unwrap_or_else(|| panic!("job {id} never got there: {}", self.job(id)))
    }

    /// Waits until the server's first fetch of the fleet repository is done.
    pub(crate) fn wait_first_fetch(&self) {
        wait_for(Duration::from_secs(30), || {
            get_json(&self.url("/api/v1/status"))["repo"]["rev"]
                .is_string()
                .then_some(())
        })
        .expect("the server never fetched the fleet repository");
    }

    /// Waits until the build of the first fetched tip (and anything else) has ended.
    pub(crate) fn settle(&self) {
        self.wait_first_fetch();
        let rev = get_json(&self.url("/api/v1/status"))["repo"]["rev"].clone();
        wait_for(Duration::from_secs(60), || {
            let jobs = get_json(&self.url("/api/v1/jobs?limit=100"))["jobs"].clone();
            let jobs = jobs.as_array()?.clone();
            let tip_built = jobs
                .iter()
                .any(|j| j["rev"] == rev && j["trigger"] == "poll");
            let all_ended = jobs.iter().all(|j| {
                matches!(
                    j["state"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                )
            });
            (tip_built && all_ended).then_some(())
        })
        .expect("the first tip was never built, or jobs kept running");
    }

    pub(crate) fn log(&self, id: u64) -> String {
        super::http::get(&self.url(&format!("/api/v1/jobs/{id}/log"))).text()
    }
}

/// Polls `check` every 50 ms until it gives a value or `timeout` passes.
pub(crate) fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
