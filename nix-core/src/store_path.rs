//! Store paths and their parts: the store directory, the 32-character hash part that names a
//! path in binary-cache URLs, and checks that keep request input from naming anything outside
//! the store. Not for reading the store; see `store`.

use std::path::{Path, PathBuf};

use super::base32;

/// Characters of a store path's hash part.
pub const HASH_PART_LEN: usize = 32;

/// The store directory, normally `/nix/store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDir(String);

impl StoreDir {
    /// The store directory `dir`, without a trailing slash.
    pub fn new(dir: impl Into<String>) -> Self {
        let dir: String = dir.into();
        StoreDir(dir.trim_end_matches('/').to_string())
    }

    /// The directory as text (`/nix/store`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/nix/store/<basename>`.
    pub fn path_of(&self, basename: &str) -> String {
        format!("{}/{}", self.0, basename)
    }

    /// The base name of a full store path, if it lies directly in this store.
    pub fn basename_of<'a>(&self, full: &'a str) -> Option<&'a str> {
        let rest = full.strip_prefix(self.0.as_str())?.strip_prefix('/')?;
        is_valid_basename(rest).then_some(rest)
    }

    /// The directory as a path.
    pub fn to_path_buf(&self) -> PathBuf {
        PathBuf::from(&self.0)
    }

    /// The path of the store entry `basename`.
    pub fn join(&self, basename: &str) -> PathBuf {
        Path::new(&self.0).join(basename)
    }
}

/// A valid hash part: 32 characters of Nix base-32.
pub fn is_valid_hash_part(text: &str) -> bool {
    text.len() == HASH_PART_LEN && text.bytes().all(base32::is_digit)
}

/// A valid store path base name: `<hash part>-<name>`, with the name characters Nix allows
/// (which excludes `/` and never starts with `.`).
pub fn is_valid_basename(text: &str) -> bool {
    let Some((hash, name)) = text.split_at_checked(HASH_PART_LEN) else {
        return false;
    };
    let Some(name) = name.strip_prefix('-') else {
        return false;
    };
    is_valid_hash_part(hash)
        && !name.is_empty()
        && name.len() <= 211
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-._?=".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames() {
        assert!(is_valid_basename("nqlm07bgzi39r04yqlan58b7csfb2ywj-hello"));
        assert!(!is_valid_basename("nqlm07bgzi39r04yqlan58b7csfb2ywj-"));
        assert!(!is_valid_basename("nqlm07bgzi39r04yqlan58b7csfb2ywj-../x"));
        assert!(!is_valid_basename("eqlm07bgzi39r04yqlan58b7csfb2ywj-hello"));
        assert!(!is_valid_basename("short-hello"));
    }

    #[test]
    fn basename_of_full_path() {
        let store = StoreDir::new("/nix/store/");
        let full = "/nix/store/nqlm07bgzi39r04yqlan58b7csfb2ywj-hello";
        assert_eq!(
            store.basename_of(full),
            Some("nqlm07bgzi39r04yqlan58b7csfb2ywj-hello")
        );
        assert_eq!(store.basename_of("/etc/passwd"), None);
    }
}
