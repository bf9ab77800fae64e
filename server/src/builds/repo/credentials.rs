//! `repo.credentials_file`: the fleet repository's credentials kept out of its URL, in the
//! format git's `credential-store` helper writes (`~/.git-credentials`): one URL a line,
//! `https://user:token@host[:port][/path]`, user and password percent-encoded. The file is read
//! at each fetch (so a rotated token counts at once); the matching line's user and password are
//! put into the URL gix fetches from, in memory only, never into the mirror's config or any
//! message. It does not decide where the credentials are shown (nowhere: `redact`).

use std::path::Path;

use anyhow::{Context, Result};
use percent_encoding::percent_decode_str;

/// A user and password for one URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential {{ user: {:?}, password: *** }}", self.user)
    }
}

/// The credential in `file` for `url`, as git's credential-store picks it: the first line with
/// the same scheme, host and port whose path (if it has one) is the URL's path or a parent
/// of it.
pub(crate) fn lookup(file: &Path, url: &gix::Url) -> Result<Option<Credential>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("failed to read repo.credentials_file {}", file.display()))?;
    let wanted_path = url.path.to_string();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A line that is not a URL is skipped as git skips it; its text is never shown.
        let Ok(stored) = gix::url::parse(line) else {
            continue;
        };
        let same_place = stored.scheme == url.scheme
            && stored.host() == url.host()
            && stored.port_or_default() == url.port_or_default();
        let stored_path = stored.path.to_string();
        let stored_path = stored_path.trim_end_matches('/');
        let path_matches = stored_path.is_empty()
            || wanted_path == stored_path
            || wanted_path.starts_with(&format!("{stored_path}/"));
        if !(same_place && path_matches) {
            continue;
        }
        let (Some(user), Some(password)) = (stored.user(), stored.password()) else {
            continue;
        };
        return Ok(Some(Credential {
            user: decoded(user),
            password: decoded(password),
        }));
    }
    Ok(None)
}

/// gix keeps user info as written; git's credential-store writes it percent-encoded.
fn decoded(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> gix::Url {
        gix::url::parse(text).unwrap()
    }

    #[test]
    fn the_line_of_the_same_host_and_scheme_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "# comment\nnot a url\nhttps://other:x@github.com\n\
             http://wrong-scheme:x@git.example.org\n\
             https://ci:p%40ss%3Aword@git.example.org\n\
             https://later:y@git.example.org\n",
        )
        .unwrap();
        let found = lookup(&file, &url("https://git.example.org/me/fleet.git"))
            .unwrap()
            .unwrap();
        assert_eq!(found.user, "ci");
        assert_eq!(found.password, "p@ss:word");
        assert!(!format!("{found:?}").contains("p@ss"));
        assert_eq!(
            lookup(&file, &url("https://git.example.org:8443/me/fleet.git")).unwrap(),
            None
        );
        assert_eq!(
            lookup(&file, &url("https://gitlab.com/me/fleet")).unwrap(),
            None
        );
    }

    #[test]
    fn a_line_with_a_path_matches_that_path_and_below() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, "http://u:one@127.0.0.1:8080/team\n").unwrap();
        let below = lookup(&file, &url("http://127.0.0.1:8080/team/fleet.git")).unwrap();
        assert_eq!(below.unwrap().password, "one");
        let other = lookup(&file, &url("http://127.0.0.1:8080/teamx/fleet.git")).unwrap();
        assert_eq!(other, None);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_the_key() {
        let error = lookup(Path::new("/nonexistent/creds"), &url("https://h/x")).unwrap_err();
        assert!(format!("{error:#}").contains("repo.credentials_file"));
    }
}
