//! A real Garage cluster for the publishing tests: three nodes on loopback ports in a temp
//! dir, replication factor 3, one bucket (`nix`) with a key that may read and write it, and
//! website access on, so anonymous readers (Nix) get it at
//! `http://nix.web.garage.localhost:WEB/`. Garage is `cargo install garage --version 2.5.0
//! --locked` (`.ci/run` installs it); without it a test fails in CI (`CI=true`) and is
//! skipped, saying so, elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub(crate) const BUCKET: &str = "nix";
pub(crate) const REGION: &str = "garage";

pub(crate) struct Garage {
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
    pub key_id: String,
    pub secret: String,
}

struct Node {
    config: PathBuf,
    child: Option<Child>,
    s3: u16,
    web: u16,
}

/// `garage` from PATH or where `cargo install` puts it; `None` (after saying why) when it is
/// missing outside CI. In CI a missing Garage fails the test.
pub(crate) fn binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin")))
        .map(|dir| dir.join("garage"))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        let hint = "Garage is not installed: `cargo install garage --version 2.5.0 --locked` \
                    (.ci/run does it)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{hint}");
        }
        eprintln!("SKIPPED: {hint}");
    }
    found
}

impl Garage {
    /// Starts the cluster and sets up the bucket; `None` when Garage is missing (not in CI).
    pub(crate) fn start() -> Option<Garage> {
        let garage = binary()?;
        let dir = tempfile::tempdir().unwrap();
        let secret: String = (0..4).map(|_| format!("{:016x}", random_u64())).collect();
        let mut nodes = Vec::new();
        for n in 1..=3 {
            let node_dir = dir.path().join(format!("node{n}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let (rpc, s3, web, admin) = (free_port(), free_port(), free_port(), free_port());
            let config = node_dir.join("garage.toml");
            std::fs::write(
                &config,
                format!(
                    r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"
[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"
[s3_web]
bind_addr = "127.0.0.1:{web}"
root_domain = ".web.garage.localhost"
index = "index.html"
[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "test-admin-token"
"#,
                    d = node_dir.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(node_dir.join("garage.log")).unwrap();
            let child = Command::new(&garage)
                .arg("-c")
                .arg(&config)
                .arg("server")
                .env("RUST_LOG", "garage=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("failed to start garage");
            nodes.push(Node {
                config,
                child: Some(child),
                s3,
                web,
            });
        }
        let mut cluster = Garage {
            _dir: dir,
            nodes,
            key_id: String::new(),
            secret: String::new(),
        };
        cluster.set_up(&garage);
        Some(cluster)
    }

    fn cli(&self, garage: &Path, node: usize, args: &[&str]) -> Result<String, String> {
        let output = Command::new(garage)
            .arg("-c")
            .arg(&self.nodes[node].config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("failed to run garage");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "garage {args:?} failed: {}{}",
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            ))
        }
    }

    fn cli_ok(&self, garage: &Path, node: usize, args: &[&str]) -> String {
        self.cli(garage, node, args)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn set_up(&mut self, garage: &Path) {
        let ids: Vec<String> = (0..3)
            .map(|n| {
                retry(|| self.cli(garage, n, &["node", "id", "-q"]))
                    .trim()
                    .to_string()
            })
            .collect();
        for id in &ids[1..] {
            retry(|| self.cli(garage, 0, &["node", "connect", id]));
        }
        for (n, id) in ids.iter().enumerate() {
            let short = id.split('@').next().unwrap();
            let zone = format!("dc{}", n + 1);
            retry(|| {
                self.cli(
                    garage,
                    0,
                    &["layout", "assign", "-z", &zone, "-c", "1G", short],
                )
            });
        }
        self.cli_ok(garage, 0, &["layout", "apply", "--version", "1"]);
        retry(|| self.cli(garage, 0, &["bucket", "create", BUCKET]));
        let key = self.cli_ok(garage, 0, &["key", "create", "nix-key"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|line| {
                    let (k, v) = line.split_once(':')?;
                    (k.trim() == name).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("no {name} in: {key}"))
        };
        self.key_id = field("Key ID");
        self.secret = field("Secret key");
        self.cli_ok(
            garage,
            0,
            &[
                "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "nix-key",
            ],
        );
        self.cli_ok(garage, 0, &["bucket", "website", "--allow", BUCKET]);
    }

    /// The S3 endpoint of node `n` (0-based).
    pub(crate) fn endpoint(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[n].s3)
    }

    /// The bucket's anonymous read URL through node `n`'s web endpoint.
    pub(crate) fn read_url(&self, n: usize) -> String {
        format!("http://{BUCKET}.web.garage.localhost:{}", self.nodes[n].web)
    }

    /// Writes the key files and returns the `[publish]` section for this cluster (through node 1).
    pub(crate) fn publish_config(&self, dir: &Path, extra: &str) -> String {
        let access = dir.join("s3-access-key");
        let secret = dir.join("s3-secret-key");
        std::fs::write(&access, format!("{}\n", self.key_id)).unwrap();
        std::fs::write(&secret, format!("{}\n", self.secret)).unwrap();
        format!(
            "[publish]\nendpoint = {:?}\nregion = {REGION:?}\nbucket = {BUCKET:?}\n\
             access_key_file = {:?}\nsecret_key_file = {:?}\nread_url = {:?}\n{extra}\n",
            self.endpoint(0),
            access.display().to_string(),
            secret.display().to_string(),
            self.read_url(0),
        )
    }

    /// An anonymous GET through node `n`'s web endpoint: (status, body).
    pub(crate) fn get(&self, n: usize, key: &str) -> (u16, Vec<u8>) {
        let url = format!("http://127.0.0.1:{}/{key}", self.nodes[n].web);
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build();
        match agent
            .get(&url)
            .set("Host", &format!("{BUCKET}.web.garage.localhost"))
            .call()
        {
            Ok(reply) => {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut reply.into_reader(), &mut body).unwrap();
                (200, body)
            }
            Err(ureq::Error::Status(status, _)) => (status, Vec::new()),
            Err(e) => panic!("GET {url}: {e}"),
        }
    }

    /// Kills node `n` (0-based) with SIGKILL.
    pub(crate) fn kill(&mut self, n: usize) {
        if let Some(mut child) = self.nodes[n].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for n in 0..self.nodes.len() {
            self.kill(n);
        }
    }
}

/// Runs `step` until it succeeds (Garage's nodes take a moment to find each other).
fn retry(mut step: impl FnMut() -> Result<String, String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match step() {
            Ok(out) => return out,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    hasher.finish()
}
