//! `GET /api/v1/status`: what the server says of itself — version, queue, repository, cache
//! keys and the fleet. Fields may be added, never removed or renamed.

use serde::{Deserialize, Serialize};

use super::host::Host;

/// The body of `GET /api/v1/status`: what the server says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The server's version (`atuin-bootstrap --version`'s number).
    pub version: String,
    /// Jobs waiting.
    pub queue: u64,
    /// Ids of the jobs running now.
    pub running: Vec<u64>,
    /// The fleet flake's repository and its branch tip.
    pub repo: RepoStatus,
    /// The binary cache: its keys, priority and NAR cache.
    pub cache: CacheStatus,
    /// Every host, as `GET /api/v1/hosts` lists them (messages cut at 256 bytes).
    #[serde(default)]
    pub hosts: Vec<Host>,
    /// Nix's remote builders (absent from servers older than them).
    #[serde(default)]
    pub builders: Vec<BuilderStatus>,
    /// The flake inputs the server follows (`repo.watch_inputs`; absent from older servers).
    #[serde(default)]
    pub inputs: Vec<InputStatus>,
    /// Paths pushed into the cache and kept (absent from servers older than uploads).
    #[serde(default)]
    pub pushed: PushedStatus,
    /// Publishing to an S3 bucket (`[publish]`); `null` when off (and from older servers).
    #[serde(default)]
    pub publish: Option<PublishStatus>,
}

/// How far the bucket the box publishes to is behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStatus {
    /// The S3 bucket published to (`publish.bucket`).
    pub bucket: String,
    /// Where hosts read the bucket (`publish.read_url`); a host's deploy falls back to it.
    pub read_url: Option<String>,
    /// Paths the box keeps that the bucket lacks, and their NAR bytes.
    pub pending_paths: u64,
    /// The NAR bytes of `pending_paths`.
    pub pending_bytes: u64,
    /// The newest job whose outputs' closures are all in the bucket.
    pub last_job: Option<u64>,
    /// Why the last attempt failed; `null` once one succeeds.
    pub last_error: Option<String>,
    /// When a path was last put into the bucket.
    pub last_published_at: Option<String>,
}

/// A watched flake input: where it comes from, its upstream tip as last fetched, and the
/// commit the fleet's lock file pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStatus {
    /// The input's name in the fleet flake (`repo.watch_inputs`).
    pub name: String,
    /// As a flake names it (`github:owner/repo`, `git+https://…`); `null` until the fleet's
    /// lock file was read.
    pub upstream: Option<String>,
    /// The upstream tip as last fetched.
    pub rev: Option<String>,
    /// The commit the fleet's `flake.lock` pins.
    pub locked: Option<String>,
    /// When the upstream was last fetched (RFC 3339); `null` before the first fetch.
    pub last_poll: Option<String>,
    /// Why the input could not be followed, or its newest commit not built.
    pub last_error: Option<String>,
}

/// Paths pushed with `nix copy --to` and still kept: how many, and their NAR bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PushedStatus {
    /// How many pushed paths are kept.
    pub count: u64,
    /// Their NAR bytes (before compression).
    pub bytes: u64,
}

/// The watched repository; `url` is `null` when none is configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStatus {
    /// `repo.url`, credentials shown as `***`; `null` without a repository.
    pub url: Option<String>,
    /// The watched branch (`repo.branch`).
    pub branch: String,
    /// The branch tip's commit as last fetched; `null` until known.
    pub rev: Option<String>,
    /// When the repository was last fetched (RFC 3339); `null` before the first fetch.
    pub last_poll: Option<String>,
    /// Why the last fetch failed; `null` once one succeeds.
    pub last_error: Option<String>,
    /// Why the newest commit was not built, when it was not (e.g. nothing to build by
    /// default).
    #[serde(default)]
    pub note: Option<String>,
}

/// The binary cache as hosts use it: the keys to trust and its priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStatus {
    /// `name:base64`, one per build key (what the box builds is signed with each).
    pub public_keys: Vec<String>,
    /// `name:base64` of the push key, the only key pushed paths are signed with (absent from
    /// servers older than it).
    #[serde(default)]
    pub push_public_key: Option<String>,
    /// `Priority` in `/nix-cache-info` (`cache.priority`).
    pub priority: u32,
    /// The NARs kept on disk (absent from servers older than the NAR cache).
    #[serde(default)]
    pub nar_cache: NarCacheStatus,
}

/// The NAR cache: its size and how often it answered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NarCacheStatus {
    /// Bytes of NARs kept on disk now.
    pub bytes: u64,
    /// The most bytes kept: `cache.nar_cache_size` as held at start.
    pub limit_bytes: u64,
    /// NAR files kept on disk now.
    pub files: u64,
    /// NAR requests sent from a kept file.
    pub hits: u64,
    /// NAR requests that made their NAR.
    pub misses: u64,
    /// `hits / (hits + misses)` in percent, rounded down; 0 before any request.
    pub hit_rate_percent: u64,
}

/// One of Nix's remote builders (its `builders` setting, `@file` included), as last probed
/// with `nix store ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuilderStatus {
    /// The builder's store URI (`ssh-ng://builder`, …).
    pub uri: String,
    /// The systems it builds for (`x86_64-linux`, …).
    pub systems: Vec<String>,
    /// Builds it runs at once (its `max-jobs`).
    pub max_jobs: u64,
    /// Supported and mandatory features together.
    pub features: Vec<String>,
    /// Whether the last probe reached it.
    pub reachable: bool,
    /// When `reachable` was found; `null` before the first probe ends.
    pub last_checked: Option<String>,
}
