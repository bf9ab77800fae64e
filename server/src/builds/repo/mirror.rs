//! The bare mirror of the fleet repository in the state directory: creating it, fetching the
//! watched branch into `refs/heads/<branch>` with gix, and answering which commits a build may
//! use and how Nix should name them. It does not decide when to fetch (the watcher and the
//! webhooks do), never checks files out (Nix reads the mirror itself through [`Mirror::flake_ref`])
//! and holds no state between calls: every call opens the repository afresh.
//!
//! Everything here blocks on disk and network; async callers use `spawn_blocking`. Fetches of
//! one mirror must not overlap: the caller runs them one at a time.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use gix::bstr::{BString, ByteSlice};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit};
use gix::remote::{fetch::Tags, Direction};
use gix::ObjectId;
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::credentials;
use super::fetch_error::git_reason;
pub use super::fetch_error::FetchError;
use crate::builds::redact::PathMask;
use common::credentials::{redact_url, Secrets};

/// Bytes kept as they are in a flake reference: RFC 3986 "unreserved" characters.
const FLAKE_QUERY_KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, plus the separators of a path.
const FLAKE_PATH_KEPT: &AsciiSet = &FLAKE_QUERY_KEPT.remove(b'/');

/// The fleet repository's mirror: where it lives, where it is fetched from and which branch
/// builds follow.
#[derive(Debug, Clone)]
pub struct Mirror {
    path: PathBuf,
    url: String,
    branch: String,
    /// What is fetched from the remote into `refs/heads/<branch>`: the same branch, or for a
    /// watched flake input the ref its lock file follows (`HEAD`: the remote's default branch).
    remote_ref: String,
    /// `repo.credentials_file`, read at each fetch.
    credentials_file: Option<PathBuf>,
    /// The URL's credentials, scrubbed from every error a fetch returns.
    secrets: Secrets,
}

/// Why a revision given by an API user cannot be built. The messages are meant for that user:
/// they never contain a filesystem path (`Other` keeps its detail in `source()`).
#[derive(Debug)]
pub enum RevisionError {
    /// Not 4 to 40 hex digits.
    Malformed(String),
    /// No commit with this id in the mirror.
    NotFound(String),
    /// The short id matches more than one commit.
    Ambiguous(String),
    /// The commit exists but cannot be reached from the branch tip.
    NotOnBranch { rev: String, branch: String },
    /// The mirror has no branch yet.
    NotFetched,
    /// Reading the mirror failed.
    Other(anyhow::Error),
}

impl fmt::Display for RevisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevisionError::Malformed(rev) => {
                write!(
                    f,
                    "revision {rev:?} is not a commit id (4 to 40 hex digits)"
                )
            }
            RevisionError::NotFound(rev) => write!(f, "no commit {rev} in the fleet repository"),
            RevisionError::Ambiguous(rev) => {
                write!(
                    f,
                    "short commit id {rev} matches several commits; give more digits"
                )
            }
            RevisionError::NotOnBranch { rev, branch } => {
                write!(f, "commit {rev} is not on branch {branch}")
            }
            RevisionError::NotFetched => {
                write!(f, "the fleet repository has not been fetched yet")
            }
            RevisionError::Other(_) => write!(f, "failed to read the fleet repository"),
        }
    }
}

impl std::error::Error for RevisionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RevisionError::Other(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}

impl From<anyhow::Error> for RevisionError {
    fn from(err: anyhow::Error) -> Self {
        RevisionError::Other(err)
    }
}

impl Mirror {
    pub fn new(path: PathBuf, url: String, branch: String) -> Mirror {
        let remote_ref = format!("refs/heads/{branch}");
        Mirror {
            path,
            secrets: Secrets::of_url(&url),
            url,
            branch,
            remote_ref,
            credentials_file: None,
        }
    }

    /// Fetches with the credentials `file` holds for the URL (git's credential-store format).
    pub fn with_credentials_file(mut self, file: Option<PathBuf>) -> Mirror {
        self.credentials_file = file;
        self
    }

    /// The URL as it may be shown: credentials replaced by `***`.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    /// A mirror of `remote_ref` of another repository (a branch name, a full ref name, or
    /// `None` for the remote's default branch, its `HEAD`), kept as `refs/heads/<branch>`.
    pub fn of_ref(path: PathBuf, url: String, remote_ref: Option<&str>, branch: String) -> Mirror {
        let remote_ref = match remote_ref {
            None => "HEAD".to_owned(),
            Some(full) if full.starts_with("refs/") => full.to_owned(),
            Some(name) => format!("refs/heads/{name}"),
        };
        Mirror {
            path,
            secrets: Secrets::of_url(&url),
            url,
            branch,
            remote_ref,
            credentials_file: None,
        }
    }

    /// What is fetched, as people name it: the branch (`main`), or `HEAD`.
    fn fetched_name(&self) -> String {
        self.remote_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.remote_ref)
            .to_owned()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the bare mirror when missing, points its `origin` at the configured URL, fetches
    /// the branch into `refs/heads/<branch>` (forced, so a force-push upstream is followed) and
    /// returns the new tip as 40 hex digits. No credential of the URL or of the credentials
    /// file is in the error, its detail included.
    pub fn fetch(&self) -> Result<String, FetchError> {
        let mut secrets = self.secrets.clone();
        self.fetch_with(&mut secrets)
            .map_err(|error| error.hiding(&secrets))
    }

    fn fetch_with(&self, secrets: &mut Secrets) -> Result<String, FetchError> {
        let url = remote_url(&self.url).map_err(FetchError::Config)?;
        // The mirror's config never holds a credential: gix fetches from `fetch_url`, in memory.
        let mut fetch_url = url.clone();
        let written = url.to_bstring().to_string();
        let shown = redact_url(&written);
        let url = if shown == written {
            url
        } else {
            gix::url::parse(shown.as_str())
                .map_err(|e| FetchError::Config(anyhow::anyhow!("invalid repository url: {e}")))?
        };
        let mut found = None;
        if let Some(file) = &self.credentials_file {
            if fetch_url.password().is_none() {
                found = credentials::lookup(file, &fetch_url).map_err(FetchError::Config)?;
            }
        }
        if let Some(found) = &found {
            secrets.add(&found.password);
            fetch_url.set_user(Some(found.user.clone()));
            fetch_url.set_password(Some(found.password.clone()));
        }
        let branch_ref = self.branch_ref();
        gix::refs::FullName::try_from(branch_ref.as_str())
            .with_context(|| format!("invalid branch name {:?}", self.branch))
            .map_err(FetchError::Config)?;
        if self.remote_ref != "HEAD" {
            gix::refs::FullName::try_from(self.remote_ref.as_str())
                .with_context(|| format!("invalid ref name {:?}", self.fetched_name()))
                .map_err(FetchError::Config)?;
        }
        let refspec = format!("+{}:{branch_ref}", self.remote_ref);

        let in_mirror = |detail| self.mirror_failure(detail);
        let repo = self.open_or_create().map_err(in_mirror)?;
        self.point_origin_at(&repo, &url, &refspec)
            .map_err(in_mirror)?;
        self.point_head_at_branch(&repo).map_err(in_mirror)?;

        let from_remote = |detail: anyhow::Error| self.remote_failure(&url, detail);
        let remote = repo
            .remote_at(fetch_url)
            .and_then(|remote| remote.with_refspecs(Some(refspec.as_str()), Direction::Fetch))
            .map_err(|e| from_remote(e.into()))?
            .with_fetch_tags(Tags::None);
        let prepared = remote
            .connect(Direction::Fetch)
            .and_then(|connection| {
                connection
                    .with_credentials(|action| answer_credentials(found.as_ref(), action))
                    .prepare_fetch(gix::progress::Discard, Default::default())
            })
            .map_err(|e| from_remote(e.into()))?;
        if prepared.ref_map().mappings.is_empty() {
            return Err(FetchError::BranchNotFound {
                url: url.to_bstring().to_string(),
                branch: self.fetched_name(),
            });
        }
        let never_interrupted = AtomicBool::new(false);
        prepared
            .receive(gix::progress::Discard, &never_interrupted)
            .map_err(|e| {
                // Receiving also writes the mirror's refs, which a lock file can stop.
                if self.lock_files().is_empty() {
                    from_remote(e.into())
                } else {
                    self.mirror_failure(e.into())
                }
            })?;

        let tip = self.branch_tip(&repo).map_err(in_mirror)?.ok_or_else(|| {
            self.mirror_failure(anyhow::anyhow!(
                "fetching {} from {url} left no {branch_ref}",
                self.fetched_name()
            ))
        })?;
        Ok(tip.to_string())
    }

    /// A failure in the mirror: `Locked` while a lock file is in the way.
    fn mirror_failure(&self, detail: anyhow::Error) -> FetchError {
        let locks = self.lock_files();
        if locks.is_empty() {
            FetchError::Mirror { detail }
        } else {
            let names: Vec<String> = locks.iter().map(|p| p.display().to_string()).collect();
            FetchError::Locked {
                detail: detail.context(format!("lock files: {}", names.join(", "))),
            }
        }
    }

    /// A failure to read from the remote. The reason is git's own for a local repository (gix
    /// cannot tell it), else gix's whole chain of causes with the mirror's path hidden (it is
    /// in the state dir).
    fn remote_failure(&self, url: &gix::Url, detail: anyhow::Error) -> FetchError {
        let local = (url.scheme == gix::url::Scheme::File)
            .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(&url.path)));
        let reason = local
            .and_then(|path| git_reason(&path))
            .unwrap_or_else(|| PathMask::new(&self.path, "<mirror>").hide(&format!("{detail:#}")));
        // One line: gix words a credential context as `key=value` lines.
        let reason = reason
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let reason = if reason.contains("Could not obtain identity") {
            format!("{reason} (the repository asks for credentials: repo.credentials_file)")
        } else {
            reason
        };
        FetchError::Remote {
            url: url.to_bstring().to_string(),
            branch: self.fetched_name(),
            reason,
            detail,
        }
    }

    /// The lock files git and gix take to change what a fetch changes, where they exist now.
    fn lock_files(&self) -> Vec<PathBuf> {
        let branch_lock = format!("{}.lock", self.branch_ref());
        [
            branch_lock.as_str(),
            "HEAD.lock",
            "packed-refs.lock",
            "config.lock",
            "shallow.lock",
        ]
        .iter()
        .map(|name| self.path.join(name))
        .filter(|path| path.exists())
        .collect()
    }

    /// The branch tip in the mirror (40 hex digits), or `None` when it was never fetched.
    pub fn tip(&self) -> anyhow::Result<Option<String>> {
        let Some(repo) = self.open_existing()? else {
            return Ok(None);
        };
        Ok(self.branch_tip(&repo)?.map(|id| id.to_string()))
    }

    /// Resolves a full or short commit id to the full id of a commit reachable from the branch
    /// tip (the tip included).
    pub fn resolve_on_branch(&self, rev: &str) -> Result<String, RevisionError> {
        if !(4..=40).contains(&rev.len()) || !rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RevisionError::Malformed(rev.to_owned()));
        }
        let Some(repo) = self.open_existing()? else {
            return Err(RevisionError::NotFetched);
        };
        let Some(tip) = self.branch_tip(&repo)? else {
            return Err(RevisionError::NotFetched);
        };
        let commit = find_commit(&repo, rev)?;
        if commit == tip || is_ancestor(&repo, commit, tip)? {
            Ok(commit.to_string())
        } else {
            Err(RevisionError::NotOnBranch {
                rev: rev.to_owned(),
                branch: self.branch.clone(),
            })
        }
    }

    /// Resolves a full or short commit id to the full id of any commit in the mirror, on the
    /// branch or not (a build of a commit a force-push left behind can still be pinned).
    pub fn resolve_commit(&self, rev: &str) -> Result<String, RevisionError> {
        if !(4..=40).contains(&rev.len()) || !rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RevisionError::Malformed(rev.to_owned()));
        }
        let Some(repo) = self.open_existing()? else {
            return Err(RevisionError::NotFetched);
        };
        Ok(find_commit(&repo, rev)?.to_string())
    }

    /// The flake reference Nix builds `rev` from. Nix fetches from the mirror itself and needs
    /// `ref=` besides `rev=` to find a commit that is not the tip.
    pub fn flake_ref(&self, rev: &str) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!(
            "git+file://{}?ref={}&rev={}",
            percent_encode(path.as_os_str().as_bytes(), FLAKE_PATH_KEPT),
            percent_encode(self.branch.as_bytes(), FLAKE_QUERY_KEPT),
            percent_encode(rev.as_bytes(), FLAKE_QUERY_KEPT),
        )
    }

    fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    pub(super) fn open_existing(&self) -> anyhow::Result<Option<gix::Repository>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let repo = gix::open(&self.path)
            .with_context(|| format!("failed to open the mirror {}", self.path.display()))?;
        Ok(Some(repo))
    }

    /// Creates the mirror next to its final place and renames it there, so that an interrupted
    /// creation never leaves a half-made repository behind at `path`.
    fn open_or_create(&self) -> anyhow::Result<gix::Repository> {
        let is_empty_dir =
            fs::read_dir(&self.path).is_ok_and(|mut entries| entries.next().is_none());
        if self.path.exists() && !is_empty_dir {
            return gix::open(&self.path)
                .with_context(|| format!("failed to open the mirror {}", self.path.display()));
        }
        let created = || format!("failed to create the mirror {}", self.path.display());
        let name = self.path.file_name().with_context(created)?;
        let parent = self.path.parent().with_context(created)?;
        fs::create_dir_all(parent).with_context(created)?;
        let mut staging_name = std::ffi::OsString::from(".");
        staging_name.push(name);
        staging_name.push(format!(".creating-{}", std::process::id()));
        let staging = parent.join(staging_name);
        let _ = fs::remove_dir_all(&staging);
        gix::init_bare(&staging).with_context(created)?;
        fs::rename(&staging, &self.path).with_context(created)?;
        gix::open(&self.path).with_context(created)
    }

    /// Writes `remote.origin` into the mirror's config when it differs, so that the mirror
    /// follows a changed URL and stays usable with the git CLI.
    fn point_origin_at(
        &self,
        repo: &gix::Repository,
        url: &gix::Url,
        refspec: &str,
    ) -> anyhow::Result<()> {
        let failed = || {
            format!(
                "failed to set the origin of the mirror {}",
                self.path.display()
            )
        };
        let config_path = repo.git_dir().join("config");
        let mut config = gix::config::File::from_path_no_includes(
            config_path.clone(),
            gix::config::Source::Local,
        )
        .with_context(failed)?;
        let wanted: [(&str, BString); 3] = [
            ("remote.origin.url", url.to_bstring()),
            ("remote.origin.fetch", refspec.into()),
            ("remote.origin.tagOpt", "--no-tags".into()),
        ];
        let mut changed = false;
        for (key, value) in &wanted {
            if config.raw_value(*key).ok().as_ref() != Some(value) {
                config
                    .set_raw_value(*key, value.as_bstr())
                    .with_context(failed)?;
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let mut bytes = Vec::new();
        config.write_to(&mut bytes).with_context(failed)?;
        let staging = config_path.with_extension(format!("writing-{}", std::process::id()));
        fs::write(&staging, bytes).with_context(failed)?;
        fs::rename(&staging, &config_path).with_context(failed)
    }

    /// Points `HEAD` at the branch, for people and tools that open the mirror without naming one.
    fn point_head_at_branch(&self, repo: &gix::Repository) -> anyhow::Result<()> {
        let failed = || {
            format!(
                "failed to point HEAD of the mirror {} at {}",
                self.path.display(),
                self.branch
            )
        };
        let branch_ref = gix::refs::FullName::try_from(self.branch_ref()).with_context(failed)?;
        if repo.head_name().with_context(failed)?.as_ref() == Some(&branch_ref) {
            return Ok(());
        }
        repo.edit_reference(RefEdit {
            change: Change::Update {
                log: LogChange::default(),
                expected: PreviousValue::Any,
                new: gix::refs::Target::Symbolic(branch_ref),
            },
            name: "HEAD".try_into().with_context(failed)?,
            deref: false,
        })
        .with_context(failed)?;
        Ok(())
    }

    pub(super) fn branch_tip(&self, repo: &gix::Repository) -> anyhow::Result<Option<ObjectId>> {
        let failed = || {
            format!(
                "failed to read {} in the mirror {}",
                self.branch_ref(),
                self.path.display()
            )
        };
        let Some(mut reference) = repo
            .try_find_reference(self.branch_ref().as_str())
            .with_context(failed)?
        else {
            return Ok(None);
        };
        Ok(Some(reference.peel_to_id().with_context(failed)?.detach()))
    }
}

/// What a server asked for credentials is told: those of the credentials file, or that there
/// are none. A server never prompts (gix's own helpers would open the terminal), and git's
/// configured helpers are not asked: the credentials are the config's, in one place.
fn answer_credentials(
    found: Option<&credentials::Credential>,
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    use gix::credentials::helper;
    let outcome = match (&action, found) {
        (helper::Action::Get(context), Some(found)) => Some(helper::Outcome {
            username: Some(found.user.clone()),
            password: Some(found.password.clone()),
            oauth_refresh_token: None,
            quit: false,
            next: context.clone().into(),
        }),
        _ => None,
    };
    gix::credentials::protocol::helper_outcome_to_result(outcome, action)
}

/// The URL to fetch from: an existing local directory given without a scheme is a path (made
/// absolute, so it does not depend on the server's working directory); anything else is parsed
/// as git parses remote URLs.
fn remote_url(configured: &str) -> anyhow::Result<gix::Url> {
    let as_path = Path::new(configured);
    if !configured.contains("://") && as_path.is_dir() {
        let absolute = std::path::absolute(as_path)
            .with_context(|| format!("failed to resolve the repository path {configured}"))?;
        return gix::Url::try_from(absolute.as_path())
            .with_context(|| format!("invalid repository path {configured}"));
    }
    gix::url::parse(configured).with_context(|| format!("invalid repository url {configured}"))
}

/// The one commit whose id starts with `hex`. Objects of other kinds do not count, so a short
/// id that also prefixes a tree or blob still names its commit, as in `git rev-parse <id>^{commit}`.
fn find_commit(repo: &gix::Repository, hex: &str) -> Result<ObjectId, RevisionError> {
    let prefix =
        gix::hash::Prefix::from_hex(hex).map_err(|_| RevisionError::Malformed(hex.to_owned()))?;
    let mut candidates = HashSet::new();
    repo.objects
        .lookup_prefix(prefix, Some(&mut candidates))
        .with_context(|| format!("failed to look up {hex} in the mirror"))?;
    let mut commits = Vec::new();
    for id in candidates {
        let header = repo
            .find_header(id)
            .with_context(|| format!("failed to read object {id} in the mirror"))?;
        if header.kind() == gix::object::Kind::Commit {
            commits.push(id);
        }
    }
    match commits.as_slice() {
        [] => Err(RevisionError::NotFound(hex.to_owned())),
        [commit] => Ok(*commit),
        _ => Err(RevisionError::Ambiguous(hex.to_owned())),
    }
}

fn is_ancestor(repo: &gix::Repository, commit: ObjectId, tip: ObjectId) -> anyhow::Result<bool> {
    let failed = || format!("failed to walk the history of {tip} in the mirror");
    for info in repo.rev_walk([tip]).all().with_context(failed)? {
        if info.with_context(failed)?.id == commit {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use tempfile::TempDir;

    /// Runs git in `dir` with no system or user configuration and a fixed identity, and returns
    /// its trimmed stdout.
    fn git(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.org")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.org")
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn new_upstream(dir: &Path) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        dir.to_owned()
    }

    /// Commits `contents` as `file` and returns the new commit id.
    fn commit(repo: &Path, file: &str, contents: &str) -> String {
        fs::write(repo.join(file), contents).unwrap();
        git(repo, &["add", file]);
        git(
            repo,
            &["commit", "-q", "-m", &format!("write {file}: {contents}")],
        );
        git(repo, &["rev-parse", "HEAD"])
    }

    struct Fixture {
        dir: TempDir,
        upstream: PathBuf,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = TempDir::new().unwrap();
            let upstream = new_upstream(&dir.path().join("upstream"));
            Fixture { dir, upstream }
        }

        fn mirror_path(&self) -> PathBuf {
            self.dir.path().join("state/repo/fleet.git")
        }

        fn mirror(&self) -> Mirror {
            self.mirror_of(self.upstream.to_str().unwrap(), "main")
        }

        fn mirror_of(&self, url: &str, branch: &str) -> Mirror {
            Mirror::new(self.mirror_path(), url.to_owned(), branch.to_owned())
        }
    }

    #[test]
    fn first_fetch_creates_a_bare_mirror_and_returns_the_tip() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();

        assert_eq!(mirror.fetch().unwrap(), first);

        let path = fixture.mirror_path();
        assert_eq!(git(&path, &["rev-parse", "--is-bare-repository"]), "true");
        assert_eq!(git(&path, &["rev-parse", "refs/heads/main"]), first);
        assert_eq!(git(&path, &["symbolic-ref", "HEAD"]), "refs/heads/main");
        assert_eq!(
            git(&path, &["config", "remote.origin.url"]),
            fixture.upstream.to_str().unwrap()
        );
        assert_eq!(git(&path, &["fsck", "--no-dangling"]), "");
    }

    #[test]
    fn tip_is_none_before_the_first_fetch_and_the_branch_tip_after() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();

        assert_eq!(mirror.tip().unwrap(), None);
        mirror.fetch().unwrap();
        assert_eq!(mirror.tip().unwrap(), Some(first));
    }

    #[test]
    fn a_new_upstream_commit_is_picked_up_by_the_next_fetch() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let second = commit(&fixture.upstream, "a", "2");
        assert_eq!(mirror.fetch().unwrap(), second);
        assert_eq!(mirror.tip().unwrap(), Some(second.clone()));
        assert_eq!(mirror.fetch().unwrap(), second, "a fetch with nothing new");
    }

    #[test]
    fn a_force_push_upstream_is_followed() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        let dropped = commit(&fixture.upstream, "a", "2");
        let mirror = fixture.mirror();
        assert_eq!(mirror.fetch().unwrap(), dropped);

        git(&fixture.upstream, &["reset", "-q", "--hard", &first]);
        let rewritten = commit(&fixture.upstream, "a", "2 again");
        assert_eq!(mirror.fetch().unwrap(), rewritten);

        assert_eq!(mirror.resolve_on_branch(&rewritten).unwrap(), rewritten);
        assert_eq!(mirror.resolve_on_branch(&first).unwrap(), first);
        assert!(matches!(
            mirror.resolve_on_branch(&dropped),
            Err(RevisionError::NotOnBranch { .. })
        ));
    }

    #[test]
    fn full_and_short_ids_of_commits_on_the_branch_resolve_to_full_ids() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        let second = commit(&fixture.upstream, "a", "2");
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        assert_eq!(mirror.resolve_on_branch(&first).unwrap(), first);
        assert_eq!(mirror.resolve_on_branch(&second).unwrap(), second);
        assert_eq!(mirror.resolve_on_branch(&first[..7]).unwrap(), first);
        assert_eq!(mirror.resolve_on_branch(&second[..7]).unwrap(), second);
        assert_eq!(
            mirror
                .resolve_on_branch(&first[..10].to_uppercase())
                .unwrap(),
            first
        );
    }

    #[test]
    fn a_commit_only_on_another_branch_is_not_on_branch() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        git(&fixture.upstream, &["checkout", "-q", "-b", "other"]);
        let elsewhere = commit(&fixture.upstream, "b", "elsewhere");
        git(&fixture.upstream, &["checkout", "-q", "main"]);
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();
        let upstream = fixture.upstream.to_str().unwrap();
        git(
            &fixture.mirror_path(),
            &["fetch", "-q", upstream, "other:refs/heads/other"],
        );

        let err = mirror.resolve_on_branch(&elsewhere[..8]).unwrap_err();
        match &err {
            RevisionError::NotOnBranch { rev, branch } => {
                assert_eq!((rev.as_str(), branch.as_str()), (&elsewhere[..8], "main"));
            }
            other => panic!("expected NotOnBranch, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("commit {} is not on branch main", &elsewhere[..8])
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let too_long = "a".repeat(41);
        for garbage in [
            "",
            "abc",
            "main",
            "HEAD~1",
            "zzzzzzz",
            " abcdef",
            too_long.as_str(),
        ] {
            assert!(
                matches!(
                    mirror.resolve_on_branch(garbage),
                    Err(RevisionError::Malformed(_))
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn unknown_ids_and_ids_of_trees_are_not_found() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let tree = git(&fixture.upstream, &["rev-parse", "HEAD^{tree}"]);
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let unknown = "0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(
            mirror.resolve_on_branch(unknown),
            Err(RevisionError::NotFound(_))
        ));
        assert!(matches!(
            mirror.resolve_on_branch(&tree),
            Err(RevisionError::NotFound(_))
        ));
    }

    #[test]
    fn a_short_id_shared_by_several_commits_is_ambiguous() {
        // 1000 commits with fixed dates have fixed ids, several of which share 4 leading digits.
        let fixture = Fixture::new();
        let mut script = String::new();
        for i in 0..1000 {
            let message = format!("commit {i}\n");
            let contents = format!("{i}\n");
            script += &format!(
                "commit refs/heads/main\nmark :{}\ncommitter Test <test@example.org> 1700000000 +0000\ndata {}\n{message}",
                i + 1,
                message.len()
            );
            if i > 0 {
                script += &format!("from :{i}\n");
            }
            script += &format!("M 644 inline f\ndata {}\n{contents}\n", contents.len());
        }
        let script_path = fixture.dir.path().join("import");
        fs::write(&script_path, script).unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg("git fast-import --quiet < \"$0\"")
            .arg(&script_path)
            .current_dir(&fixture.upstream)
            .status()
            .unwrap();
        assert!(status.success());
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();

        let commits = git(&fixture.upstream, &["rev-list", "main"]);
        let mut seen = HashSet::new();
        let shared = commits
            .lines()
            .map(|id| &id[..4])
            .find(|prefix| !seen.insert(*prefix))
            .expect("two commits share a 4-digit prefix");
        assert!(matches!(
            mirror.resolve_on_branch(shared),
            Err(RevisionError::Ambiguous(_))
        ));
    }

    #[test]
    fn revisions_before_any_fetch_are_not_fetched() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();
        assert!(matches!(
            mirror.resolve_on_branch("abcdef1"),
            Err(RevisionError::NotFetched)
        ));

        // A mirror whose fetch found no branch has no tip either.
        let release = fixture.mirror_of(fixture.upstream.to_str().unwrap(), "release");
        release.fetch().unwrap_err();
        assert!(fixture.mirror_path().exists());
        assert_eq!(release.tip().unwrap(), None);
        assert!(matches!(
            release.resolve_on_branch("abcdef1"),
            Err(RevisionError::NotFetched)
        ));
    }

    #[test]
    fn fetching_an_unreachable_path_names_the_url_in_one_line() {
        let fixture = Fixture::new();
        let missing = fixture.dir.path().join("no-such-repo");
        let mirror = fixture.mirror_of(missing.to_str().unwrap(), "main");

        let message = format!("{:#}", mirror.fetch().unwrap_err());
        assert!(message.contains(missing.to_str().unwrap()), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_stale_lock_in_the_mirror_is_named_without_its_path() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let mirror = fixture.mirror();
        mirror.fetch().unwrap();
        let lock = fixture.mirror_path().join("refs/heads/main.lock");
        fs::write(&lock, "").unwrap();
        commit(&fixture.upstream, "a", "2");

        let error = mirror.fetch().unwrap_err();
        assert!(matches!(error, FetchError::Locked { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("locked by another git process"),
            "{message}"
        );
        assert!(
            !message.contains(fixture.dir.path().to_str().unwrap()),
            "{message}"
        );
        assert!(error.for_log().contains(lock.to_str().unwrap()));
        fs::remove_file(&lock).unwrap();
        mirror.fetch().unwrap();
    }

    #[test]
    fn a_repository_git_refuses_is_reported_with_gits_reason() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        git(
            &fixture.upstream,
            &["config", "core.repositoryformatversion", "99"],
        );
        let url = fixture.upstream.to_str().unwrap();
        let error = fixture.mirror().fetch().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "failed to fetch branch main from {url}: Expected git repo version <= 1, found 99"
            )
        );
        // The whole story stays for the log.
        assert!(error.for_log().contains("handshake"), "{}", error.for_log());
    }

    #[test]
    fn dubious_ownership_is_reported_with_gits_reason() {
        // Git refuses a repository another user owns; only root can make one here.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to give the repository to another user");
            return;
        }
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let chown = Command::new("chown")
            .args(["-R", "nobody"])
            .arg(&fixture.upstream)
            .status()
            .unwrap();
        assert!(chown.success());
        let message = fixture.mirror().fetch().unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "failed to fetch branch main from {}: detected dubious ownership in repository",
                fixture.upstream.display()
            )),
            "{message}"
        );
        assert!(!message.contains("fill whole buffer"), "{message}");
    }

    #[test]
    fn a_mirror_of_head_follows_the_default_branch_and_one_of_a_ref_that_ref() {
        let fixture = Fixture::new();
        let first = commit(&fixture.upstream, "a", "1");
        git(&fixture.upstream, &["checkout", "-q", "-b", "next"]);
        let next = commit(&fixture.upstream, "b", "next");
        git(&fixture.upstream, &["checkout", "-q", "main"]);
        let url = fixture.upstream.to_str().unwrap().to_owned();
        let path = fixture.dir.path().join("inputs/terminal.git");

        let head = Mirror::of_ref(path.clone(), url.clone(), None, "upstream".into());
        assert_eq!(head.fetch().unwrap(), first);
        assert_eq!(git(&path, &["rev-parse", "refs/heads/upstream"]), first);
        let second = commit(&fixture.upstream, "a", "2");
        assert_eq!(head.fetch().unwrap(), second);
        assert_eq!(head.resolve_on_branch(&second).unwrap(), second);

        let other = fixture.dir.path().join("inputs/next.git");
        let branch = Mirror::of_ref(other, url.clone(), Some("next"), "upstream".into());
        assert_eq!(branch.fetch().unwrap(), next);
        let missing = fixture.dir.path().join("inputs/missing.git");
        let message = Mirror::of_ref(missing, url.clone(), Some("gone"), "upstream".into())
            .fetch()
            .unwrap_err()
            .to_string();
        assert_eq!(message, format!("branch gone not found at {url}"));
    }

    #[test]
    fn a_missing_branch_is_named_with_the_url() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        let url = fixture.upstream.to_str().unwrap();
        let mirror = fixture.mirror_of(url, "release");

        let message = format!("{:#}", mirror.fetch().unwrap_err());
        assert_eq!(message, format!("branch release not found at {url}"));
    }

    #[test]
    fn a_changed_url_re_points_origin() {
        let fixture = Fixture::new();
        commit(&fixture.upstream, "a", "1");
        fixture.mirror().fetch().unwrap();

        let moved = new_upstream(&fixture.dir.path().join("moved"));
        let moved_tip = commit(&moved, "b", "somewhere else");
        let url = format!("file://{}", moved.display());
        let mirror = fixture.mirror_of(&url, "main");

        assert_eq!(mirror.fetch().unwrap(), moved_tip);
        assert_eq!(
            git(&fixture.mirror_path(), &["config", "remote.origin.url"]),
            url
        );
    }

    #[test]
    fn ssh_urls_fetch_through_the_ssh_program() {
        // An `ssh` that runs the remote command here instead of on a host, so the real gix ssh
        // transport (argument quoting, protocol over the child's pipes) is exercised offline.
        let fixture = Fixture::new();
        let tip = commit(&fixture.upstream, "a", "1");
        let fake_ssh = fixture.dir.path().join("bin/ssh");
        fs::create_dir_all(fake_ssh.parent().unwrap()).unwrap();
        fs::write(
            &fake_ssh,
            "#!/bin/sh\n\
             [ \"$1\" = -G ] && exit 0\n\
             while true; do case \"$1\" in -o|-p) shift 2;; -*) shift;; *) break;; esac; done\n\
             shift\n\
             exec sh -c \"$*\"\n",
        )
        .unwrap();
        fs::set_permissions(&fake_ssh, fs::Permissions::from_mode(0o755)).unwrap();
        let path = fixture.mirror_path();
        fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "-q", "--bare"]);
        git(
            &path,
            &["config", "core.sshCommand", fake_ssh.to_str().unwrap()],
        );

        let scp_like = format!("git@fleet.invalid:{}", fixture.upstream.display());
        assert_eq!(fixture.mirror_of(&scp_like, "main").fetch().unwrap(), tip);
        let second = commit(&fixture.upstream, "a", "2");
        let ssh_url = format!("ssh://git@fleet.invalid{}", fixture.upstream.display());
        assert_eq!(fixture.mirror_of(&ssh_url, "main").fetch().unwrap(), second);
    }

    #[test]
    fn flake_ref_encodes_the_path_and_the_branch() {
        let mirror = Mirror::new(
            PathBuf::from("/var/lib/atuin bootstrap/fleet#1.git"),
            "/srv/fleet".to_owned(),
            "release/2026+x".to_owned(),
        );
        assert_eq!(
            mirror.flake_ref("0123456789abcdef0123456789abcdef01234567"),
            "git+file:///var/lib/atuin%20bootstrap/fleet%231.git?ref=release%2F2026%2Bx&rev=0123456789abcdef0123456789abcdef01234567"
        );
    }

    #[test]
    fn nix_builds_a_commit_that_is_not_the_tip_from_the_flake_ref() {
        let fixture = Fixture::new();
        let flake = r#"{ outputs = { self }: { packages.x86_64-linux.hello = derivation { name = "hello"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "PATH=/bin:/usr/bin; echo hi > $out" ]; }; }; }"#;
        let first = commit(&fixture.upstream, "flake.nix", flake);
        let second = commit(
            &fixture.upstream,
            "flake.nix",
            &flake.replace(r#"name = "hello""#, r#"name = "hello-tip""#),
        );
        // A space in the mirror's path checks that Nix decodes what flake_ref encodes.
        let mirror = Mirror::new(
            fixture.dir.path().join("state dir/fleet.git"),
            fixture.upstream.to_str().unwrap().to_owned(),
            "main".to_owned(),
        );
        assert_eq!(mirror.fetch().unwrap(), second);

        let home = fixture.dir.path().join("home");
        fs::create_dir_all(&home).unwrap();
        let output = Command::new("nix")
            .args(["build", "--no-link", "--json"])
            .arg(format!("{}#hello", mirror.flake_ref(&first)))
            .env(
                "NIX_CONFIG",
                "experimental-features = nix-command flakes\nsubstituters =",
            )
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .current_dir(fixture.dir.path())
            .output()
            .expect("nix runs");
        assert!(
            output.status.success(),
            "nix build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let built = String::from_utf8(output.stdout).unwrap();
        assert!(built.contains("-hello\""), "built the tip instead: {built}");
    }
}
