//! Fetching the mirror: creating it when missing (atomically, by a rename), pointing its
//! `origin` and `HEAD`, answering the remote's credential questions from the credentials file
//! only, and turning what went wrong into a `FetchError` that names the remote or the mirror
//! but never a credential. Which commits a build may use is `revisions`; when to fetch is the
//! watcher's.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use gix::bstr::{BString, ByteSlice};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit};
use gix::remote::{Direction, fetch::Tags};

use super::Mirror;
use crate::builds::redact::PathMask;
use crate::builds::repo::credentials;
use crate::builds::repo::fetch_error::{FetchError, git_reason};
use common::credentials::{Secrets, redact_url};

impl Mirror {
    /// Creates the bare mirror when missing, points its `origin` at the configured URL, fetches
    /// the branch into `refs/heads/<branch>` (forced, so a force-push upstream is followed) and
    /// returns the new tip as 40 hex digits. No credential of the URL or of the credentials
    /// file is in the error, its detail included.
    pub(crate) fn fetch(&self) -> Result<String, FetchError> {
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
        if let Some(file) = &self.credentials_file
            && fetch_url.password().is_none()
        {
            found = credentials::lookup(file, &fetch_url).map_err(FetchError::Config)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::repo::mirror::RevisionError;
    use crate::builds::repo::test_repos::{Fixture, commit, git, new_upstream};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

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
        // SAFETY: geteuid takes nothing and cannot fail.
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
}
