//! What clients may read of the build side's failures: the reason, never a path on the server.
//! A job's `error` and log, the repository's `last_error` and the API's messages go to anyone
//! who can reach the server, and a response never leaks a filesystem path; the server's own
//! log (tracing) keeps the detail.
//!
//! Our own messages are built without paths (`io_reason` words an I/O error without the file it
//! was about). [`PathMask`] is the backstop for what other programs say — Nix naming the
//! mirror in a flake reference, nix-store naming a GC root, gix naming a lock file — which we
//! pass on without building it ourselves. It does not decide what is logged.
//! Credentials in URLs follow a harder rule, kept in `common::credentials`.

use std::path::Path;

/// The word that stands for the server's state directory in client-facing text.
pub(crate) const STATE_DIR_WORD: &str = "<state dir>";

/// An I/O error's reason without the OS error number, lowercase: `permission denied`.
pub(crate) fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    let reason = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text.as_str(),
    };
    lowercase_first(reason)
}

/// The reason of the first I/O error in `error`'s chain, if there is one.
pub(crate) fn io_reason_in(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(io_reason)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !chars.as_str().starts_with(|c: char| c.is_uppercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_string(),
    }
}

/// Replaces every spelling of one directory's path (as given, absolute, with links resolved)
/// with a neutral word.
#[derive(Debug, Clone)]
pub(crate) struct PathMask {
    /// Longest first, so a longer spelling is replaced before a shorter one inside it.
    forms: Vec<String>,
    word: &'static str,
}

impl PathMask {
    pub(crate) fn new(dir: &Path, word: &'static str) -> PathMask {
        let mut forms = vec![dir.display().to_string()];
        if let Ok(absolute) = std::path::absolute(dir) {
            forms.push(absolute.display().to_string());
        }
        if let Ok(real) = dir.canonicalize() {
            forms.push(real.display().to_string());
        }
        let mut forms: Vec<String> = forms
            .into_iter()
            .map(|form| form.trim_end_matches('/').to_string())
            // `/` or an empty path would mask every path separator.
            .filter(|form| form.len() > 1)
            .collect();
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        forms.dedup();
        PathMask { forms, word }
    }

    /// The server's state directory, shown as `<state dir>`.
    pub(crate) fn state_dir(dir: &Path) -> PathMask {
        PathMask::new(dir, STATE_DIR_WORD)
    }

    /// `text` with the directory's path replaced by the word.
    pub(crate) fn hide(&self, text: &str) -> String {
        let mut text = text.to_string();
        for form in &self.forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), self.word);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reasons_have_no_number_and_start_lowercase() {
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(io_reason(&denied), "permission denied");
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(io_reason(&full), "no space left on device");
        let custom = std::io::Error::other("NAR too short");
        assert_eq!(io_reason(&custom), "NAR too short");
        let wrapped = anyhow::Error::new(denied).context("failed to open /var/lib/x/logs/5.log");
        assert_eq!(io_reason_in(&wrapped).as_deref(), Some("permission denied"));
    }

    #[test]
    fn every_spelling_of_the_state_dir_is_hidden() {
        let base = tempfile::tempdir().unwrap();
        let real = base.path().join("real-state");
        std::fs::create_dir(&real).unwrap();
        let link = base.path().join("state");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mask = PathMask::state_dir(&link);
        let text = format!(
            "error: opening '{}/logs/5.log' and 'git+file://{}/repo.git?ref=main': denied",
            link.display(),
            real.display()
        );
        assert_eq!(
            mask.hide(&text),
            "error: opening '<state dir>/logs/5.log' and 'git+file://<state dir>/repo.git?ref=main': denied"
        );
        assert_eq!(mask.hide("nothing to hide"), "nothing to hide");
    }

    #[test]
    fn the_root_directory_is_never_a_mask() {
        let mask = PathMask::state_dir(Path::new("/"));
        assert_eq!(mask.hide("/nix/store/x"), "/nix/store/x");
    }
}
