//! Files that exist only until they are kept: removed when dropped, so every
//! way out of an upload (a refusal, an error, a dropped connection) leaves nothing behind.

use std::io;
use std::path::{Path, PathBuf};

/// A fresh name: 32 random hex digits.
pub(super) fn random_name() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// A file removed on drop unless kept.
#[derive(Debug)]
pub(super) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    pub(super) fn new(path: PathBuf) -> TempFile {
        TempFile { path: Some(path) }
    }

    pub(super) fn path(&self) -> &Path {
        self.path.as_deref().expect("a temp file not yet kept")
    }

    /// Keeps the file where it is (it was moved elsewhere by its new owner).
    pub(super) fn forget(mut self) {
        self.path = None;
    }

    /// Renames it to `to` (atomically, in one filesystem) and keeps it there.
    pub(super) fn persist(mut self, to: &Path) -> io::Result<()> {
        let from = self.path.take().expect("a temp file not yet kept");
        std::fs::rename(&from, to).inspect_err(|_| {
            let _ = std::fs::remove_file(&from);
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
