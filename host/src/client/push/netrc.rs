//! The netrc file `nix copy` authenticates its uploads with: one line naming the box's host
//! and the client's token as the password (Nix sends it as HTTP Basic), written 0600 in a
//! private directory of its own (0700) that is removed when the push ends.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use common::exit::usage;

/// The user name in the netrc line; the box reads only the password.
pub const LOGIN: &str = "atuin-bootstrap";

/// The host part of an `http(s)://` URL as curl matches netrc `machine` names: no scheme,
/// user, port or path, and an IPv6 address without its brackets.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    (!host.is_empty()).then_some(host)
}

/// The netrc line for `host` with `token` as the password. A token netrc cannot carry (empty,
/// or with white space or quotes) is a usage error.
pub fn line(host: &str, token: &str) -> Result<String> {
    let fits = !token.is_empty()
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\');
    if !fits {
        return Err(usage(
            "the API token is empty or holds spaces or quotes, which a netrc file cannot carry; \
             make a new one on the box with `atuin-bootstrap token create NAME --scope push`",
        ));
    }
    Ok(format!("machine {host} login {LOGIN} password {token}\n"))
}

/// A private directory with the netrc file in it; removed with everything in it on drop.
#[derive(Debug)]
pub struct PrivateNetrc {
    dir: PathBuf,
    file: PathBuf,
}

impl PrivateNetrc {
    /// Makes a new 0700 directory under `parent` (a name no one else has) and writes `text`
    /// to `netrc` in it, 0600 from its first byte.
    pub fn write(parent: &Path, text: &str) -> Result<PrivateNetrc> {
        let dir = make_private_dir(parent)?;
        let guard = PrivateNetrc {
            file: dir.join("netrc"),
            dir,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&guard.file)
            .with_context(|| format!("cannot write {}", guard.file.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", guard.file.display()))?;
        Ok(guard)
    }

    /// The netrc file, for `nix copy`'s `netrc-file` setting.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The private directory, for other throwaway files of the same push.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PrivateNetrc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_private_dir(parent: &Path) -> Result<PathBuf> {
    for _ in 0..16 {
        let mut random = [0u8; 8];
        getrandom::getrandom(&mut random)
            .map_err(|e| anyhow::anyhow!("no randomness for a temporary name: {e}"))?;
        let dir = parent.join(format!("atuin-bootstrap-push.{}", hex::encode(random)));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot make a private directory in {}", parent.display())
                });
            }
        }
    }
    anyhow::bail!("cannot find a free temporary name in {}", parent.display())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn host_is_what_curl_matches() {
        assert_eq!(host_of("http://box:8780"), Some("box"));
        assert_eq!(host_of("http://box"), Some("box"));
        assert_eq!(
            host_of("https://cache.example.org/"),
            Some("cache.example.org")
        );
        assert_eq!(host_of("http://127.0.0.1:8780/sub?x=1"), Some("127.0.0.1"));
        assert_eq!(host_of("http://[::1]:8780"), Some("::1"));
        assert_eq!(host_of("http://me@box:8780"), Some("box"));
        assert_eq!(host_of("ftp://box"), None);
        assert_eq!(host_of("http://:8780"), None);
    }

    #[test]
    fn line_is_one_netrc_entry() {
        assert_eq!(
            line("box", "abc123").unwrap(),
            "machine box login atuin-bootstrap password abc123\n"
        );
        for bad in ["", "two words", "quo\"te", "new\nline"] {
            let error = line("box", bad).unwrap_err();
            assert_eq!(common::exit::code_of(&error), common::exit::USAGE);
        }
    }

    #[test]
    fn file_is_private_and_removed_on_drop() {
        let parent = std::env::temp_dir().join(format!("netrc-test-{}", std::process::id()));
        std::fs::create_dir_all(&parent).unwrap();
        let netrc = PrivateNetrc::write(&parent, "machine box login x password y\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(netrc.file()), 0o600);
        assert_eq!(mode(netrc.dir()), 0o700);
        assert_eq!(
            std::fs::read_to_string(netrc.file()).unwrap(),
            "machine box login x password y\n"
        );
        std::fs::write(netrc.dir().join("other"), "x").unwrap();
        let dir = netrc.dir().to_path_buf();
        drop(netrc);
        assert!(!dir.exists());
        assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0);
        std::fs::remove_dir(&parent).unwrap();
    }

    #[test]
    fn two_pushes_get_two_directories() {
        let parent = std::env::temp_dir().join(format!("netrc-test2-{}", std::process::id()));
        std::fs::create_dir_all(&parent).unwrap();
        let a = PrivateNetrc::write(&parent, "a\n").unwrap();
        let b = PrivateNetrc::write(&parent, "b\n").unwrap();
        assert_ne!(a.dir(), b.dir());
        drop((a, b));
        std::fs::remove_dir(&parent).unwrap();
    }
}
