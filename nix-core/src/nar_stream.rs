//! The NAR of a path, pulled chunk by chunk: `nar`'s walk and tokens (the same bytes as
//! `nar::dump` and `nix-store --dump`), driven only when the next chunk is asked for. So a
//! download waiting on a slow client holds an open file and a few names, never a thread or a
//! buffer. Small pieces are gathered into chunks of up to `GATHER` bytes; large files go out
//! as memory-mapped windows (their bytes copied once, into the socket). Not for HTTP; see
//! `http::body`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use bytes::{Bytes, BytesMut};

use crate::nar::{Tokens, Walk, Walked, shrank};

/// Small pieces are gathered into chunks of about this size: small enough that a thousand
/// downloads in flight stay within a few tens of MiB.
const GATHER: usize = 64 * 1024;
/// Files at least this large are mapped rather than read.
const MAP_THRESHOLD: u64 = 1024 * 1024;
/// One mapped window.
const MAP_WINDOW: u64 = 2 * 1024 * 1024;

/// A regular file's contents still to emit, from `offset`.
struct Contents {
    file: File,
    len: u64,
    offset: u64,
}

/// The chunk being gathered, and the count of every byte made.
struct Gathered {
    pending: BytesMut,
    written: u64,
}

impl Gathered {
    /// The gathered chunk; the next one is allocated when something is gathered again, so a
    /// paused download holds no buffer.
    fn take(&mut self) -> Bytes {
        std::mem::take(&mut self.pending).freeze()
    }

    fn reserve(&mut self) {
        if self.pending.capacity() == 0 {
            self.pending.reserve(GATHER);
        }
    }
}

impl Tokens for Gathered {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reserve();
        self.pending.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// A path's NAR, made as it is read.
pub struct NarStream {
    walk: Walk,
    contents: Option<Contents>,
    out: Gathered,
}

impl NarStream {
    /// The NAR of the file, symlink or directory at `path`, not read until pulled.
    pub fn new(path: &Path) -> NarStream {
        NarStream {
            walk: Walk::new(path),
            contents: None,
            out: Gathered {
                pending: BytesMut::new(),
                written: 0,
            },
        }
    }

    /// Bytes made so far.
    pub fn written(&self) -> u64 {
        self.out.written
    }

    /// The next chunk; `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if self.out.pending.len() >= GATHER {
                return Ok(Some(self.out.take()));
            }
            if let Some(contents) = self.contents.take() {
                if let Some(window) = self.contents(contents)? {
                    return Ok(Some(window));
                }
                continue;
            }
            match self.walk.step(&mut self.out)? {
                Walked::Tokens => {}
                Walked::Contents { file, len } => {
                    self.contents = Some(Contents {
                        file,
                        len,
                        offset: 0,
                    })
                }
                Walked::End => {
                    return Ok((!self.out.pending.is_empty()).then(|| self.out.take()));
                }
            }
        }
    }

    /// Some of a file's contents: read into the gathered chunk, or, for a large file, one
    /// mapped window returned as its own chunk (after what was gathered before it). What is
    /// left of the file stays in `self.contents`; the walk writes its padding.
    fn contents(&mut self, contents: Contents) -> io::Result<Option<Bytes>> {
        let Contents {
            mut file,
            len,
            offset,
        } = contents;
        if offset == len {
            return Ok(None);
        }
        if len >= MAP_THRESHOLD {
            if !self.out.pending.is_empty() {
                self.contents = Some(Contents { file, len, offset });
                return Ok(Some(self.out.take()));
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
            self.out.written += window;
            self.contents = Some(Contents {
                file,
                len,
                offset: offset + window,
            });
            return Ok(Some(Bytes::from_owner(map)));
        }
        self.out.reserve();
        let pending = &mut self.out.pending;
        let room = GATHER.saturating_sub(pending.len()).max(4096);
        let want = (len - offset).min(room as u64) as usize;
        let start = pending.len();
        pending.resize(start + want, 0);
        let got = file.read(&mut pending[start..])?;
        pending.truncate(start + got);
        if got == 0 {
            return Err(shrank());
        }
        self.out.written += got as u64;
        self.contents = Some(Contents {
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
    /// A reader of the NAR of `path`, which must come to exactly `expected` bytes.
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
                    ));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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
