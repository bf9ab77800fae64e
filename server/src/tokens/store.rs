//! The tokens of one state directory: making a token (its hash stored, the token shown once),
//! listing and revoking them under a lock on the directory, and the reading every question is
//! answered from. Every question looks at the file afresh, so a token made or revoked by
//! another process (an admin on the box) counts at once, without a restart; what it read is
//! kept with the file's identity (device, inode, size, change times) and read again when any
//! of them differs, so a busy server pays one `stat` a request, not two reads. A token may be
//! bound to a host (`--host`): it then reports only for that host, and a token bound to no
//! host may no longer report for it.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::file::{self, FileKey, SETTLE, StoredToken, TOKENS_FILE_NAME, TokenInfo};
use super::scope::Scope;
use super::verify::Tokens;
use common::state_dir::StateDir;

const TOKEN_PREFIX: &str = "abt_";
const TOKEN_RANDOM_BYTES: usize = 32;
const MAX_NAME_LENGTH: usize = 64;

/// The tokens of one state directory.
#[derive(Debug, Clone)]
pub struct TokenStore {
    state_dir: PathBuf,
    /// `SETTLE`, shorter in tests.
    settle: Duration,
    /// The last file read, with what identified it; shared by the clones of one store.
    cache: Arc<Mutex<Option<(FileKey, Tokens)>>>,
}

/// What `revoke` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The token is gone; `left` tokens remain (none: writes are open to anyone).
    Done {
        /// How many tokens are left.
        left: usize,
    },
    /// Nothing changed: it is the last token and the last one was not allowed to go.
    RefusedLast,
}

impl TokenStore {
    /// The tokens kept in `state_dir`'s tokens.json (read on each call).
    pub fn new(state_dir: &Path) -> TokenStore {
        TokenStore {
            state_dir: state_dir.to_path_buf(),
            settle: SETTLE,
            cache: Arc::default(),
        }
    }

    fn tokens_file(&self) -> PathBuf {
        self.state_dir.join(TOKENS_FILE_NAME)
    }

    /// Makes a new random token with `scopes` (none: `Scope::DEFAULT`), stores its hash under
    /// `name` and returns the token, which is never shown again. A name already in use is an
    /// error.
    pub fn create(&self, name: &str, scopes: &[Scope]) -> Result<String> {
        self.create_for(name, scopes, None)
    }

    /// `create`, the token bound to `host` when one is given: it reports only for that host.
    pub fn create_for(&self, name: &str, scopes: &[Scope], host: Option<&str>) -> Result<String> {
        check_name(name)?;
        if let Some(host) = host
            && !common::protocol::host::is_valid_host_name(host)
        {
            bail!("invalid host name {host:?}: use letters, digits, '-', '_' and '.'");
        }
        let mut scopes = if scopes.is_empty() {
            Scope::DEFAULT.to_vec()
        } else {
            scopes.to_vec()
        };
        scopes.sort();
        scopes.dedup();
        StateDir::new(self.state_dir.clone()).ensure()?;
        let _lock = self.lock()?;
        let mut tokens = file::read(&self.tokens_file())?;
        if tokens.iter().any(|t| t.name == name) {
            bail!("a token named {name:?} already exists; revoke it first (token revoke {name})");
        }
        let token = new_token()?;
        tokens.push(StoredToken {
            name: name.to_owned(),
            sha256: hex::encode(Sha256::digest(token.as_bytes())),
            created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            scopes: Some(scopes),
            host: host.map(str::to_owned),
        });
        file::write(&self.tokens_file(), &tokens)?;
        Ok(token)
    }

    /// Names with creation times, oldest first.
    pub fn list(&self) -> Result<Vec<TokenInfo>> {
        let mut tokens: Vec<TokenInfo> = file::read(&self.tokens_file())?
            .iter()
            .map(StoredToken::info)
            .collect();
        // RFC 3339 UTC timestamps of one format sort as text; the stable sort keeps file order
        // for tokens made within the same second.
        tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(tokens)
    }

    /// Removes the token called `name`; there must be one. The last token is removed only
    /// with `allow_last`: without a token, every write is open to anyone.
    pub fn revoke(&self, name: &str, allow_last: bool) -> Result<Revoked> {
        let no_such_token = || {
            anyhow!(
                "no token named {name:?} in {}",
                self.tokens_file().display()
            )
        };
        if !self.state_dir.is_dir() {
            return Err(no_such_token());
        }
        let _lock = self.lock()?;
        let mut tokens = file::read(&self.tokens_file())?;
        let before = tokens.len();
        tokens.retain(|t| t.name != name);
        if tokens.len() == before {
            return Err(no_such_token());
        }
        if tokens.is_empty() && !allow_last {
            return Ok(Revoked::RefusedLast);
        }
        file::write(&self.tokens_file(), &tokens)?;
        Ok(Revoked::Done { left: tokens.len() })
    }

    /// Whether any token exists, that is whether the API's `POST`s need one.
    pub fn any(&self) -> Result<bool> {
        Ok(self.snapshot()?.any())
    }

    /// Whether any token has `scope`.
    pub fn any_with(&self, scope: Scope) -> Result<bool> {
        Ok(self.snapshot()?.any_with(scope))
    }

    /// Whether a token is bound to `host`.
    pub fn host_is_bound(&self, host: &str) -> Result<bool> {
        Ok(self.snapshot()?.host_is_bound(host))
    }

    /// Whether `presented` is one of the stored tokens.
    pub fn verify(&self, presented: &str) -> Result<bool> {
        Ok(self.identify(presented)?.is_some())
    }

    /// The stored token `presented` is; see `Tokens::identify`.
    pub fn identify(&self, presented: &str) -> Result<Option<TokenInfo>> {
        Ok(self.snapshot()?.identify(presented))
    }

    /// The tokens as the file holds them now: read again only when the file is another one
    /// than last time (or changed too recently to tell). A missing file means none.
    pub fn snapshot(&self) -> Result<Tokens> {
        let path = self.tokens_file();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Tokens::default()),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        let key = FileKey::of(&meta);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached_key, tokens)) = cache.as_ref()
            && *cached_key == key
        {
            return Ok(tokens.clone());
        }
        let tokens = Tokens::from(file::read(&self.tokens_file())?);
        // Keyed by the stat taken before the read: a file replaced in between is read again
        // next time, as its key then differs.
        *cache = key.settled(self.settle).then(|| (key, tokens.clone()));
        Ok(tokens)
    }

    /// Holds an exclusive lock on the state directory while a change reads and rewrites the
    /// file, so two `token create`s at once cannot lose one of the tokens. The directory itself
    /// is locked, not a lock file, so no extra file (with its owner to get right) appears.
    fn lock(&self) -> Result<File> {
        let directory = File::open(&self.state_dir).with_context(|| {
            format!(
                "failed to open the state directory {}",
                self.state_dir.display()
            )
        })?;
        directory.lock().with_context(|| {
            format!(
                "failed to lock the state directory {}",
                self.state_dir.display()
            )
        })?;
        Ok(directory)
    }
}

/// 1 to 64 characters of `A-Z a-z 0-9 . _ -`: safe on a command line and in a log line.
fn check_name(name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME_LENGTH || !name.chars().all(allowed) {
        bail!(
            "invalid token name {name:?}: use 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-'"
        );
    }
    Ok(())
}

/// `abt_` and 64 lowercase hex digits of fresh randomness; the prefix makes a leaked token easy
/// to recognise (and to grep for).
fn new_token() -> Result<String> {
    let mut random = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::getrandom(&mut random)
        .map_err(|e| anyhow!("failed to get random bytes for a new token: {e}"))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(random)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        (dir, store)
    }

    #[test]
    fn created_token_verifies_and_others_do_not() {
        let (_dir, store) = store();
        let token = store.create("laptop", &[]).unwrap();
        assert!(token.starts_with("abt_"));
        assert_eq!(token.len(), 4 + 64);
        assert!(store.verify(&token).unwrap());
        assert!(!store.verify("abt_wrong").unwrap());
        assert!(!store.verify("").unwrap());
        assert!(!store.verify(&token[..token.len() - 1]).unwrap());
    }

    #[test]
    fn every_token_verifies_not_only_the_first() {
        let (_dir, store) = store();
        let first = store.create("first", &[]).unwrap();
        let second = store.create("second", &[]).unwrap();
        assert_ne!(first, second);
        assert!(store.verify(&first).unwrap());
        assert!(store.verify(&second).unwrap());
    }

    #[test]
    fn no_file_means_no_tokens() {
        let (dir, store) = store();
        assert!(!dir.path().join("tokens.json").exists());
        assert!(!store.any().unwrap());
        assert!(store.list().unwrap().is_empty());
        assert!(!store.verify("abt_anything").unwrap());
    }

    #[test]
    fn list_shows_names_and_times_oldest_first() {
        let (_dir, store) = store();
        store.create("one", &[]).unwrap();
        store.create("two", &[]).unwrap();
        let listed = store.list().unwrap();
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        for token in &listed {
            humantime::parse_rfc3339(&token.created_at).unwrap();
            assert!(token.created_at.ends_with('Z'), "{}", token.created_at);
        }
    }

    #[test]
    fn list_sorts_by_creation_time_not_file_order() {
        let (dir, store) = store();
        std::fs::write(
            dir.path().join("tokens.json"),
            format!(
                r#"[{{"name":"newer","sha256":"{h}","created_at":"2026-02-01T00:00:00Z"}},
                    {{"name":"older","sha256":"{h}","created_at":"2025-12-31T23:59:59Z"}}]"#,
                h = "ab".repeat(32)
            ),
        )
        .unwrap();
        let names: Vec<String> = store.list().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["older", "newer"]);
    }

    #[test]
    fn revoked_token_no_longer_verifies() {
        let (_dir, store) = store();
        let kept = store.create("kept", &[]).unwrap();
        let revoked = store.create("gone", &[]).unwrap();
        assert_eq!(
            store.revoke("gone", false).unwrap(),
            Revoked::Done { left: 1 }
        );
        assert!(!store.verify(&revoked).unwrap());
        assert!(store.verify(&kept).unwrap());
        assert_eq!(store.revoke("kept", false).unwrap(), Revoked::RefusedLast);
        assert!(
            store.verify(&kept).unwrap(),
            "the last token was refused, not revoked"
        );
        assert_eq!(
            store.revoke("kept", true).unwrap(),
            Revoked::Done { left: 0 }
        );
        assert!(!store.any().unwrap());
    }

    #[test]
    fn revoking_an_unknown_name_is_an_error() {
        let (dir, store) = store();
        store.create("real", &[]).unwrap();
        let error = store.revoke("imaginary", true).unwrap_err().to_string();
        assert!(error.contains("no token named \"imaginary\""), "{error}");
        let missing_dir = TokenStore::new(&dir.path().join("absent"));
        let error = missing_dir.revoke("real", true).unwrap_err().to_string();
        assert!(error.contains("no token named \"real\""), "{error}");
    }

    #[test]
    fn duplicate_name_is_an_error_and_keeps_the_first_token() {
        let (_dir, store) = store();
        let first = store.create("laptop", &[]).unwrap();
        let error = store.create("laptop", &[]).unwrap_err().to_string();
        assert!(error.contains("already exists"), "{error}");
        assert!(error.contains("revoke it first"), "{error}");
        assert!(store.verify(&first).unwrap());
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn bad_names_are_refused() {
        let (dir, store) = store();
        let too_long = "a".repeat(65);
        for name in [
            "",
            "has space",
            "slash/y",
            "ünïcode",
            "new\nline",
            too_long.as_str(),
        ] {
            let error = store.create(name, &[]).unwrap_err().to_string();
            assert!(error.contains("invalid token name"), "{name:?}: {error}");
        }
        assert!(!dir.path().join("tokens.json").exists());
        store.create(&"a".repeat(64), &[]).unwrap();
        store.create("ci-runner_2.example", &[]).unwrap();
    }

    #[test]
    fn file_is_private_and_holds_no_token() {
        let (dir, store) = store();
        let token = store.create("laptop", &[]).unwrap();
        let path = dir.path().join("tokens.json");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token));
        assert!(!text.contains(token.trim_start_matches("abt_")));
        assert!(text.contains(&hex::encode(Sha256::digest(token.as_bytes()))));
    }

    #[test]
    fn another_store_on_the_same_dir_sees_changes_at_once() {
        let (dir, server_view) = store();
        let admin_view = TokenStore::new(dir.path());
        assert!(!server_view.any().unwrap());
        let token = admin_view.create("admin", &[]).unwrap();
        assert!(server_view.any().unwrap());
        assert!(server_view.verify(&token).unwrap());
        admin_view.revoke("admin", true).unwrap();
        assert!(!server_view.verify(&token).unwrap());
        assert!(!server_view.any().unwrap());
    }

    #[test]
    fn create_makes_a_missing_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let store = TokenStore::new(&state_dir);
        let token = store.create("first", &[]).unwrap();
        assert!(store.verify(&token).unwrap());
        let mode = std::fs::metadata(&state_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let (dir, store) = store();
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, "{not json").unwrap();
        for error in [
            store.any().unwrap_err(),
            store.verify("abt_x").unwrap_err(),
            store.create("new", &[]).unwrap_err(),
        ] {
            let message = format!("{error:#}");
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        std::fs::write(
            &path,
            r#"[{"name":"x","sha256":"not-hex","created_at":"2026-01-01T00:00:00Z"}]"#,
        )
        .unwrap();
        let message = format!("{:#}", store.verify("abt_x").unwrap_err());
        assert!(message.contains("64 hex digits"), "{message}");
    }

    #[test]
    fn scopes_default_to_build_and_report_and_push_only_when_asked() {
        let (_dir, store) = store();
        let plain = store.create("plain", &[]).unwrap();
        let pusher = store.create("pusher", &[Scope::Push, Scope::Push]).unwrap();
        let plain = store.identify(&plain).unwrap().unwrap();
        assert_eq!(plain.name, "plain");
        assert_eq!(plain.scopes, Scope::DEFAULT);
        let pusher = store.identify(&pusher).unwrap().unwrap();
        assert_eq!(pusher.scopes, [Scope::Push]);
        assert!(store.any_with(Scope::Push).unwrap());
        store.revoke("pusher", false).unwrap();
        assert!(!store.any_with(Scope::Push).unwrap());
        assert!(store.identify("abt_nothing").unwrap().is_none());
    }

    #[test]
    fn entries_made_before_scopes_count_as_build_and_report() {
        let (dir, store) = store();
        let token = "abt_old";
        std::fs::write(
            dir.path().join("tokens.json"),
            format!(
                r#"[{{"name":"old","sha256":"{}","created_at":"2025-01-01T00:00:00Z"}}]"#,
                hex::encode(Sha256::digest(token.as_bytes()))
            ),
        )
        .unwrap();
        let found = store.identify(token).unwrap().unwrap();
        assert_eq!(found.scopes, [Scope::Build, Scope::Report]);
        assert!(!store.any_with(Scope::Push).unwrap());
        // Rewriting the file (another create) keeps the old entry as it was.
        store.create("new", &[Scope::Push]).unwrap();
        assert_eq!(
            store.identify(token).unwrap().unwrap().scopes,
            Scope::DEFAULT
        );
    }

    #[test]
    fn a_token_may_be_bound_to_a_host() {
        let (_dir, store) = store();
        let bound = store
            .create_for("laptop", &[Scope::Report], Some("laptop"))
            .unwrap();
        let free = store.create("ci", &[]).unwrap();
        assert_eq!(
            store.identify(&bound).unwrap().unwrap().host.as_deref(),
            Some("laptop")
        );
        assert_eq!(store.identify(&free).unwrap().unwrap().host, None);
        assert!(store.host_is_bound("laptop").unwrap());
        assert!(!store.host_is_bound("desktop").unwrap());
        assert_eq!(store.list().unwrap()[0].host.as_deref(), Some("laptop"));
        let error = store.create_for("x", &[], Some("bad/host")).unwrap_err();
        assert!(error.to_string().contains("invalid host name"), "{error}");
        // Deploy is a scope, never a default one.
        assert!(!Scope::DEFAULT.contains(&Scope::Deploy));
    }

    #[test]
    fn a_kept_reading_gives_way_to_a_revoke_or_an_edit_at_once() {
        let dir = tempfile::tempdir().unwrap();
        // Changes in these tests are far apart in clock ticks: no need to wait for them.
        let server = TokenStore {
            settle: Duration::ZERO,
            ..TokenStore::new(dir.path())
        };
        // The admin's command is another process: another store on the same directory.
        let admin = TokenStore::new(dir.path());
        let ci = admin.create("ci", &[Scope::Push]).unwrap();
        let laptop = admin.create("laptop", &[Scope::Push]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(server.verify(&ci).unwrap());
        // Kept: the same reading answers again.
        let first = server.snapshot().unwrap();
        assert!(Arc::ptr_eq(&first.0, &server.snapshot().unwrap().0));

        admin.revoke("ci", false).unwrap();
        assert!(
            !server.verify(&ci).unwrap(),
            "a revoked token still counted"
        );
        assert!(server.verify(&laptop).unwrap());

        // An edit in place (same inode): seen too.
        let path = dir.path().join(TOKENS_FILE_NAME);
        assert!(server.verify(&laptop).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, "[]\n").unwrap();
        assert!(
            !server.verify(&laptop).unwrap(),
            "an emptied file still counted"
        );
        assert!(!server.any().unwrap());
        // Gone altogether: no tokens.
        std::fs::remove_file(&path).unwrap();
        assert!(!server.any().unwrap());
    }
}
