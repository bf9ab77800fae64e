//! The NAR of a path, pulled chunk by chunk: the same bytes as `nar::dump` (and
//! `nix-store --dump`), but made only when the next chunk is asked for, with the walk kept as
//! an explicit stack between asks. So a download waiting on a slow client holds an open file
//! and a few names, never a thread or a buffer. Small pieces are gathered into chunks of up to
//! `GATHER` bytes; large files go out as memory-mapped windows (their bytes copied once, into
//! the socket). Not for HTTP; see `http::body`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

/// Small pieces are gathered into chunks of about this size: small enough that a thousand
/// downloads in flight stay within a few tens of MiB.
const GATHER: usize = 64 * 1024;
/// Files at least this large are mapped rather than read.
const MAP_THRESHOLD: u64 = 1024 * 1024;
/// One mapped window.
const MAP_WINDOW: u64 = 2 * 1024 * 1024;

/// What is left to emit, innermost last.
enum Step {
    /// The node at this path, from its opening `(`.
    Node(PathBuf),
    /// The rest of a directory's entries, in NAR (byte) order.
    Entries { dir: PathBuf, names: Names },
    /// A regular file's contents from `offset`, then its padding.
    Contents { file: File, len: u64, offset: u64 },
    /// A closing `)` (of a node or of a directory entry).
    Close,
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

/// A path's NAR, made as it is read.
pub struct NarStream {
    steps: Vec<Step>,
    pending: BytesMut,
    written: u64,
}

impl NarStream {
    pub fn new(path: &Path) -> NarStream {
        let mut stream = NarStream {
            steps: vec![Step::Node(path.to_path_buf())],
            pending: BytesMut::new(),
            written: 0,
        };
        stream.string(b"nix-archive-1");
        stream
    }

    /// Bytes made so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The next chunk; `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if self.pending.len() >= GATHER {
                return Ok(Some(self.take_pending()));
            }
            let Some(step) = self.steps.pop() else {
                return Ok((!self.pending.is_empty()).then(|| self.take_pending()));
            };
            match step {
                Step::Node(path) => self.node(path)?,
                Step::Entries { dir, mut names } => {
                    if let Some(name) = names.next_name() {
                        let name = name.to_vec();
                        let child = dir.join(std::ffi::OsStr::from_bytes(&name));
                        self.steps.push(Step::Entries { dir, names });
                        self.string(b"entry");
                        self.string(b"(");
                        self.string(b"name");
                        self.string(&name);
                        self.string(b"node");
                        self.steps.push(Step::Close);
                        self.steps.push(Step::Node(child));
                    }
                }
                Step::Contents { file, len, offset } => {
                    if let Some(window) = self.contents(file, len, offset)? {
                        return Ok(Some(window));
                    }
                }
                Step::Close => self.string(b")"),
            }
        }
    }

    /// The gathered chunk; the next one is allocated when something is gathered again, so a
    /// paused download holds no buffer.
    fn take_pending(&mut self) -> Bytes {
        std::mem::take(&mut self.pending).freeze()
    }

    fn raw(&mut self, bytes: &[u8]) {
        if self.pending.capacity() == 0 {
            self.pending.reserve(GATHER);
        }
        self.pending.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    fn padding(&mut self, len: u64) {
        let pad = (8 - (len % 8) as usize) % 8;
        self.raw(&[0u8; 8][..pad]);
    }

    fn string(&mut self, bytes: &[u8]) {
        self.raw(&(bytes.len() as u64).to_le_bytes());
        self.raw(bytes);
        self.padding(bytes.len() as u64);
    }

    /// Emits a node's head; what follows it goes on the stack.
    fn node(&mut self, path: PathBuf) -> io::Result<()> {
        let meta = fs::symlink_metadata(&path)?;
        self.string(b"(");
        self.string(b"type");
        let kind = meta.file_type();
        if kind.is_symlink() {
            self.string(b"symlink");
            self.string(b"target");
            let target = fs::read_link(&path)?;
            self.string(target.as_os_str().as_bytes());
            self.string(b")");
        } else if kind.is_file() {
            self.string(b"regular");
            if meta.permissions().mode() & 0o100 != 0 {
                self.string(b"executable");
                self.string(b"");
            }
            self.string(b"contents");
            let len = meta.len();
            self.raw(&len.to_le_bytes());
            let file = File::open(&path)?;
            self.steps.push(Step::Close);
            self.steps.push(Step::Contents {
                file,
                len,
                offset: 0,
            });
        } else if kind.is_dir() {
            self.string(b"directory");
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
        Ok(())
    }

    /// Some of a file's contents: read into the gathered chunk, or, for a large file, one
    /// mapped window returned as its own chunk (after what was gathered before it).
    fn contents(&mut self, mut file: File, len: u64, offset: u64) -> io::Result<Option<Bytes>> {
        if offset == len {
            self.padding(len);
            return Ok(None);
        }
        if len >= MAP_THRESHOLD {
            if !self.pending.is_empty() {
                self.steps.push(Step::Contents { file, len, offset });
                return Ok(Some(self.take_pending()));
            }
            // Mapping past the end of a file that shrank would fault: check the size first.
            // Store files are read-only, so they do not shrink after this.
            if offset == 0 && file.metadata()?.len() < len {
                return Err(shrank());
            }
            let window = (len - offset).min(MAP_WINDOW);
            // SAFETY: the map is read-only and within the file's checked size; store files
            // are immutable, and unlinking one (a deleted path) keeps its pages valid.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(offset)
                    .len(window as usize)
                    .map(&file)?
            };
            self.written += window;
            self.steps.push(Step::Contents {
                file,
                len,
                offset: offset + window,
            });
            return Ok(Some(Bytes::from_owner(map)));
        }
        if self.pending.capacity() == 0 {
            self.pending.reserve(GATHER);
        }
        let room = GATHER.saturating_sub(self.pending.len()).max(4096);
        let want = (len - offset).min(room as u64) as usize;
        let start = self.pending.len();
        self.pending.resize(start + want, 0);
        let got = file.read(&mut self.pending[start..])?;
        self.pending.truncate(start + got);
        if got == 0 {
            return Err(shrank());
        }
        self.written += got as u64;
        self.steps.push(Step::Contents {
            file,
            len,
            offset: offset + got as u64,
        });
        Ok(None)
    }
}

/// The stream as a `Read` (for a compressor), which fails at the end when the NAR's size is
/// not `expected` (the store's word for it).
pub struct NarReader {
    stream: NarStream,
    current: Bytes,
    expected: u64,
}

impl NarReader {
    pub fn new(path: &Path, expected: u64) -> NarReader {
        NarReader {
            stream: NarStream::new(path),
            current: Bytes::new(),
            expected,
        }
    }
}

impl Read for NarReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.stream.next_chunk()? {
                Some(chunk) => self.current = chunk,
                None if self.stream.written() != self.expected => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the NAR has {} bytes where the store says {}",
                            self.stream.written(),
                            self.expected
                        ),
                    ))
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a file in the store path shrank while it was being read",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulled(path: &Path) -> Vec<u8> {
        let mut stream = NarStream::new(path);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next_chunk().unwrap() {
            assert!(!chunk.is_empty());
            out.extend_from_slice(&chunk);
        }
        assert_eq!(stream.written(), out.len() as u64);
        out
    }

    #[test]
    fn the_same_bytes_as_the_pushed_dump() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        fs::create_dir_all(root.join("sub/empty")).unwrap();
        let big: Vec<u8> = (0..(3 * MAP_WINDOW + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        fs::write(root.join("big"), &big).unwrap();
        fs::write(root.join("sub/small"), b"tiny").unwrap();
        fs::write(root.join("sub/medium"), vec![3u8; 700_000]).unwrap();
        fs::write(root.join("exec"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("exec"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("big", root.join("link")).unwrap();
        fs::create_dir_all(root.join("many")).unwrap();
        for i in 0..300 {
            fs::write(root.join(format!("many/{i:04}")), format!("{i}")).unwrap();
        }
        for path in [root.clone(), root.join("sub/small"), root.join("link")] {
            let mut pushed = Vec::new();
            crate::nar::dump_to_writer(&path, &mut pushed).unwrap();
            assert!(pulled(&path) == pushed, "{}", path.display());
        }
    }

    #[test]
    fn the_reader_reads_the_same_and_checks_the_size() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), vec![9u8; 200_000]).unwrap();
        let expected = pulled(dir.path());
        let mut read = Vec::new();
        NarReader::new(dir.path(), expected.len() as u64)
            .read_to_end(&mut read)
            .unwrap();
        assert!(read == expected);
        let mut wrong = NarReader::new(dir.path(), 5);
        assert!(wrong.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn a_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut stream = NarStream::new(&dir.path().join("gone"));
        assert!(stream.next_chunk().is_err());
    }
}
