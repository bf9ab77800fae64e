//! The end of a job's log for its page: at most a fixed number of bytes from the end of the
//! file, starting at a line, and where the file ended when it was read (the page's script
//! streams the rest from there). Also the last lines of a failed build. Reads only.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What the page shows of a log.
pub(super) struct Tail {
    pub text: String,
    /// The file's length when it was read: the script follows from this byte.
    pub end: u64,
    /// Bytes at the start that are not shown.
    pub left_out: u64,
}

/// The last `max_bytes` (or fewer) of the log at `path`, from the start of a line; empty
/// when there is no log yet.
pub(super) fn read(path: &Path, max_bytes: u64) -> std::io::Result<Tail> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Tail {
                text: String::new(),
                end: 0,
                left_out: 0,
            });
        }
        Err(e) => return Err(e),
    };
    let end = file.metadata()?.len();
    let start = end.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((end - start) as usize);
    file.take(end - start).read_to_end(&mut bytes)?;
    let mut skipped = 0;
    if start > 0 {
        // Start at a whole line.
        skipped = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    }
    let end = start + bytes.len() as u64;
    Ok(Tail {
        text: String::from_utf8_lossy(&bytes[skipped..]).into_owned(),
        end,
        left_out: start + skipped as u64,
    })
}

/// The last `count` lines of `text` that are not blank.
pub(super) fn last_lines(text: &str, count: usize) -> String {
    let mut lines: Vec<&str> = text
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(count)
        .collect();
    lines.reverse();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_starts_at_a_line_and_knows_where_the_file_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let missing = read(&path, 10).unwrap();
        assert_eq!((missing.text.as_str(), missing.end), ("", 0));
        std::fs::write(&path, "first line\nsecond\nthird\n").unwrap();
        let whole = read(&path, 1000).unwrap();
        assert_eq!(whole.text, "first line\nsecond\nthird\n");
        assert_eq!((whole.end, whole.left_out), (24, 0));
        let tail = read(&path, 10).unwrap();
        assert_eq!(tail.text, "third\n");
        assert_eq!((tail.end, tail.left_out), (24, 18));
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), "b\nc");
    }
}
