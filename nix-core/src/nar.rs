//! The NAR (Nix ARchive) serialisation of a filesystem tree, written once: its tokens (a
//! little-endian length, the bytes, zeros to a multiple of 8) and the walk of a tree in NAR
//! order, byte-for-byte what `nix-store --dump` prints. The walk is an explicit stack that
//! stops after each step, so one writer has two drivers: [`dump`] here pushes the whole
//! archive into a sink (a NAR made in one piece, through one small buffer), and
//! `nar_stream` pulls it chunk by chunk (a download that may wait on its client between
//! chunks). Reading a NAR is `nar_check`'s job, not this one's.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const READ_CHUNK: usize = 256 * 1024;

/// Where a NAR goes.
pub trait NarSink {
    /// NAR bytes that are not a file's contents (tokens, lengths, padding).
    fn bytes(&mut self, data: &[u8]) -> io::Result<()>;
    /// Exactly `len` bytes of `file`, from its start.
    fn file_contents(&mut self, file: &mut File, len: u64) -> io::Result<()>;
}

/// Writes the NAR of `path` to `sink`; returns the number of bytes written.
pub fn dump(path: &Path, sink: &mut dyn NarSink) -> io::Result<u64> {
    let mut out = Counted { sink, written: 0 };
    let mut walk = Walk::new(path);
    loop {
        match walk.step(&mut out)? {
            Walked::Tokens => {}
            Walked::Contents { mut file, len } => {
                out.sink.file_contents(&mut file, len)?;
                out.written += len;
            }
            Walked::End => return Ok(out.written),
        }
    }
}

/// Writes the NAR of `path` to a `Write`.
pub fn dump_to_writer(path: &Path, out: &mut dyn Write) -> io::Result<u64> {
    dump(
        path,
        &mut WriteSink {
            out,
            buffer: Vec::new(),
        },
    )
}

/// A sink over any `Write`: file contents are read through one reused buffer.
pub struct WriteSink<'a> {
    out: &'a mut dyn Write,
    buffer: Vec<u8>,
}

impl NarSink for WriteSink<'_> {
    fn bytes(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)
    }

    fn file_contents(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        if self.buffer.is_empty() {
            self.buffer = vec![0u8; READ_CHUNK];
        }
        let mut remaining = len;
        while remaining > 0 {
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let got = file.read(&mut self.buffer[..want])?;
            if got == 0 {
                return Err(shrank());
            }
            self.out.write_all(&self.buffer[..got])?;
            remaining -= got as u64;
        }
        Ok(())
    }
}

/// A sink that counts what passes.
struct Counted<'a> {
    sink: &'a mut dyn NarSink,
    written: u64,
}

impl Tokens for Counted<'_> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sink.bytes(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// The error of a file that ends before the length its metadata gave.
pub(crate) fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a file in the store path shrank while it was being read",
    )
}

/// Where the walk's tokens go (everything but a file's contents, which its driver writes).
pub(crate) trait Tokens {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// The zeros after `len` bytes, to the next multiple of 8.
fn padding(out: &mut impl Tokens, len: u64) -> io::Result<()> {
    let pad = (8 - (len % 8) as usize) % 8;
    out.raw(&[0u8; 8][..pad])
}

/// One token: its length, its bytes, its padding.
fn string(out: &mut impl Tokens, bytes: &[u8]) -> io::Result<()> {
    out.raw(&(bytes.len() as u64).to_le_bytes())?;
    out.raw(bytes)?;
    padding(out, bytes.len() as u64)
}

/// What one step of the walk did.
pub(crate) enum Walked {
    /// Wrote tokens; more steps follow.
    Tokens,
    /// Wrote a regular file's head: exactly `len` bytes of `file`, from its start, are due
    /// next, written by the driver (read or mapped as suits it); its padding is the next step.
    Contents { file: File, len: u64 },
    /// The archive is complete.
    End,
}

/// The walk of a tree in NAR order. Between steps it holds only what is left, innermost
/// last: a paused download holds a few names per open directory, never a buffer.
pub(crate) struct Walk {
    steps: Vec<Step>,
}

enum Step {
    /// The archive's `nix-archive-1`.
    Magic,
    /// The node at this path, from its opening `(`.
    Node(PathBuf),
    /// The rest of a directory's entries, in NAR (byte) order.
    Entries { dir: PathBuf, names: Names },
    /// The zeros after a file's `len` bytes of contents.
    Padding(u64),
    /// A closing `)` (of a node or of a directory entry).
    Close,
}

impl Walk {
    pub(crate) fn new(path: &Path) -> Walk {
        Walk {
            steps: vec![Step::Node(path.to_path_buf()), Step::Magic],
        }
    }

    /// Writes the next piece: at most one node's head or one entry's, so a driver that checks
    /// its buffer between steps keeps it bounded.
    pub(crate) fn step(&mut self, out: &mut impl Tokens) -> io::Result<Walked> {
        let Some(step) = self.steps.pop() else {
            return Ok(Walked::End);
        };
        match step {
            Step::Magic => string(out, b"nix-archive-1")?,
            Step::Node(path) => return self.node(path, out),
            Step::Entries { dir, mut names } => {
                if let Some(name) = names.next_name() {
                    let name = name.to_vec();
                    let child = dir.join(OsStr::from_bytes(&name));
                    self.steps.push(Step::Entries { dir, names });
                    for token in [&b"entry"[..], b"(", b"name", &name, b"node"] {
                        string(out, token)?;
                    }
                    self.steps.push(Step::Close);
                    self.steps.push(Step::Node(child));
                }
            }
            Step::Padding(len) => padding(out, len)?,
            Step::Close => string(out, b")")?,
        }
        Ok(Walked::Tokens)
    }

    /// Writes a node's head; what follows it goes on the stack (or, for a file's contents,
    /// to the driver).
    fn node(&mut self, path: PathBuf, out: &mut impl Tokens) -> io::Result<Walked> {
        let meta = fs::symlink_metadata(&path)?;
        string(out, b"(")?;
        string(out, b"type")?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            string(out, b"symlink")?;
            string(out, b"target")?;
            let target = fs::read_link(&path)?;
            string(out, target.as_os_str().as_bytes())?;
            string(out, b")")?;
        } else if kind.is_file() {
            string(out, b"regular")?;
            if meta.permissions().mode() & 0o100 != 0 {
                string(out, b"executable")?;
                string(out, b"")?;
            }
            string(out, b"contents")?;
            let len = meta.len();
            out.raw(&len.to_le_bytes())?;
            let file = File::open(&path)?;
            self.steps.push(Step::Close);
            self.steps.push(Step::Padding(len));
            return Ok(Walked::Contents { file, len });
        } else if kind.is_dir() {
            string(out, b"directory")?;
            let names: Vec<OsString> = fs::read_dir(&path)?
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<io::Result<_>>()?;
            self.steps.push(Step::Close);
            self.steps.push(Step::Entries {
                dir: path,
                names: Names::sorted(names),
            });
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a store path contains a file that is neither regular, directory nor symlink",
            ));
        }
        Ok(Walked::Tokens)
    }
}

/// A directory's entry names, packed into one buffer: a download paused in a directory of
/// thousands of files holds a few bytes a name, not an allocation each.
struct Names {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    next: usize,
}

impl Names {
    fn sorted(mut names: Vec<OsString>) -> Names {
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut bytes = Vec::with_capacity(names.iter().map(|n| n.len()).sum());
        let mut ends = Vec::with_capacity(names.len());
        for name in &names {
            bytes.extend_from_slice(name.as_bytes());
            ends.push(bytes.len() as u32);
        }
        Names {
            bytes,
            ends,
            next: 0,
        }
    }

    fn next_name(&mut self) -> Option<&[u8]> {
        let end = *self.ends.get(self.next)? as usize;
        let start = match self.next {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        self.next += 1;
        Some(&self.bytes[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_layout() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"hi").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let mut out = Vec::new();
        let n = dump_to_writer(&file, &mut out).unwrap();
        assert_eq!(n as usize, out.len());
        let mut expected = Vec::new();
        for s in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hi",
            b")",
        ] {
            expected.extend_from_slice(&(s.len() as u64).to_le_bytes());
            expected.extend_from_slice(s);
            expected.resize(expected.len().div_ceil(8) * 8, 0);
        }
        assert_eq!(out, expected);
    }
}

/// Property test: the walk, through either driver, writes what the independent oracle
/// (`fuzz_support::nar_trees`, written the way Nix writes NARs) writes for the same tree put
/// on disk.
#[cfg(test)]
mod fuzz {
    use std::os::unix::ffi::OsStrExt;

    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_support::nar_trees::{Node, nar, tree};
    use crate::nar_stream::NarStream;

    fn put(node: &Node, path: &Path) {
        match node {
            Node::File {
                executable,
                contents,
            } => {
                fs::write(path, contents).unwrap();
                let mode = if *executable { 0o755 } else { 0o644 };
                fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
            }
            Node::Symlink(target) => {
                std::os::unix::fs::symlink(OsStr::from_bytes(target), path).unwrap()
            }
            Node::Directory(entries) => {
                fs::create_dir(path).unwrap();
                for (name, child) in entries {
                    put(child, &path.join(OsStr::from_bytes(name)));
                }
            }
        }
    }

    proptest! {
        // Each case writes a tree of files: a tenth of the cases of a parser's property.
        #![proptest_config(crate::fuzz_support::config(10))]

        #[test]
        fn both_drivers_write_what_nix_writes(root in tree()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("root");
            put(&root, &path);
            let expected = nar(&root);

            let mut pushed = Vec::new();
            let written = dump_to_writer(&path, &mut pushed).unwrap();
            prop_assert_eq!(written, pushed.len() as u64);
            prop_assert!(pushed == expected, "dump differs");

            let mut stream = NarStream::new(&path);
            let mut pulled = Vec::new();
            while let Some(chunk) = stream.next_chunk().unwrap() {
                pulled.extend_from_slice(&chunk);
            }
            prop_assert!(pulled == expected, "the stream differs");
        }
    }
}
