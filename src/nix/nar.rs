//! The NAR (Nix ARchive) serialisation of a filesystem tree, produced as it walks, so an
//! archive of any size passes through a few small buffers. Byte-for-byte what
//! `nix-store --dump` prints. Two sinks: any `Write` (copies file contents through a buffer),
//! and a stream of `Bytes` chunks that hands large files over as memory-mapped windows, so
//! their bytes are copied once, into the socket. Not for HTTP; see `cache::nar`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bytes::{Bytes, BytesMut};

const READ_CHUNK: usize = 256 * 1024;
/// Files at least this large are mapped rather than read.
const MAP_THRESHOLD: u64 = 1024 * 1024;
/// Mapped windows: small enough that the few in flight stay a few MiB of resident memory.
const MAP_WINDOW: u64 = 2 * 1024 * 1024;
/// Small pieces are gathered into chunks of about this size.
const CHUNK: usize = 256 * 1024;

/// Where a NAR goes.
pub trait NarSink {
    fn bytes(&mut self, data: &[u8]) -> io::Result<()>;
    /// Exactly `len` bytes of `file`, from its start.
    fn file_contents(&mut self, file: &mut File, len: u64) -> io::Result<()>;
}

/// Writes the NAR of `path` to `sink`; returns the number of bytes written.
pub fn dump(path: &Path, sink: &mut dyn NarSink) -> io::Result<u64> {
    let mut writer = NarWriter { sink, written: 0 };
    writer.string(b"nix-archive-1")?;
    writer.node(path)?;
    Ok(writer.written)
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

/// A sink that emits `Bytes` chunks: small pieces gathered, large files as mapped windows.
pub struct ChunkSink<F: FnMut(Bytes) -> io::Result<()>> {
    emit: F,
    pending: BytesMut,
}

impl<F: FnMut(Bytes) -> io::Result<()>> ChunkSink<F> {
    pub fn new(emit: F) -> Self {
        ChunkSink {
            emit,
            pending: BytesMut::with_capacity(CHUNK),
        }
    }

    /// Emits what is still gathered; call once the dump is done.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush_pending()
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = self.pending.split().freeze();
        self.pending.reserve(CHUNK);
        (self.emit)(chunk)
    }

    fn read_into_pending(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        let mut remaining = len;
        while remaining > 0 {
            if self.pending.len() >= CHUNK {
                self.flush_pending()?;
            }
            let room = (CHUNK - self.pending.len().min(CHUNK)).max(4096);
            let want = remaining.min(room as u64) as usize;
            let start = self.pending.len();
            self.pending.resize(start + want, 0);
            let got = file.read(&mut self.pending[start..])?;
            self.pending.truncate(start + got);
            if got == 0 {
                return Err(shrank());
            }
            remaining -= got as u64;
        }
        Ok(())
    }
}

impl<F: FnMut(Bytes) -> io::Result<()>> NarSink for ChunkSink<F> {
    fn bytes(&mut self, data: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= CHUNK {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn file_contents(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        if len < MAP_THRESHOLD {
            return self.read_into_pending(file, len);
        }
        // Mapping past the end of a file that shrank would fault: check the size first.
        // Store files are read-only, so they do not shrink after this.
        if file.metadata()?.len() < len {
            return Err(shrank());
        }
        self.flush_pending()?;
        let mut offset = 0;
        while offset < len {
            let window = (len - offset).min(MAP_WINDOW);
            // SAFETY: the map is read-only and within the file's checked size; store files
            // are immutable, and unlinking one (a deleted path) keeps its pages valid.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(offset)
                    .len(window as usize)
                    .populate()
                    .map(&*file)?
            };
            (self.emit)(Bytes::from_owner(map))?;
            offset += window;
        }
        Ok(())
    }
}

fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a file in the store path shrank while it was being read",
    )
}

struct NarWriter<'a> {
    sink: &'a mut dyn NarSink,
    written: u64,
}

impl NarWriter<'_> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sink.bytes(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn padding(&mut self, len: u64) -> io::Result<()> {
        let pad = (8 - (len % 8) as usize) % 8;
        self.raw(&[0u8; 8][..pad])
    }

    fn string(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.raw(&(bytes.len() as u64).to_le_bytes())?;
        self.raw(bytes)?;
        self.padding(bytes.len() as u64)
    }

    fn node(&mut self, path: &Path) -> io::Result<()> {
        let meta = fs::symlink_metadata(path)?;
        self.string(b"(")?;
        self.string(b"type")?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            self.string(b"symlink")?;
            self.string(b"target")?;
            let target = fs::read_link(path)?;
            self.string(target.as_os_str().as_bytes())?;
        } else if kind.is_file() {
            self.string(b"regular")?;
            if meta.permissions().mode() & 0o100 != 0 {
                self.string(b"executable")?;
                self.string(b"")?;
            }
            self.string(b"contents")?;
            let len = meta.len();
            self.raw(&len.to_le_bytes())?;
            let mut file = File::open(path)?;
            self.sink.file_contents(&mut file, len)?;
            self.written += len;
            self.padding(len)?;
        } else if kind.is_dir() {
            self.string(b"directory")?;
            let mut names: Vec<_> = fs::read_dir(path)?
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<io::Result<_>>()?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                self.string(b"entry")?;
                self.string(b"(")?;
                self.string(b"name")?;
                self.string(name.as_bytes())?;
                self.string(b"node")?;
                self.node(&path.join(&name))?;
                self.string(b")")?;
            }
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a store path contains a file that is neither regular, directory nor symlink",
            ));
        }
        self.string(b")")
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

    #[test]
    fn both_sinks_agree_on_large_and_small_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        fs::create_dir_all(root.join("sub/empty")).unwrap();
        let big: Vec<u8> = (0..(5 * MAP_WINDOW + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        fs::write(root.join("big"), &big).unwrap();
        fs::write(root.join("sub/small"), b"tiny").unwrap();
        fs::write(root.join("sub/medium"), vec![3u8; 700_000]).unwrap();
        std::os::unix::fs::symlink("big", root.join("link")).unwrap();

        let mut copied = Vec::new();
        let n = dump_to_writer(&root, &mut copied).unwrap();
        let mut chunked = Vec::new();
        let mut sink = ChunkSink::new(|chunk: Bytes| {
            chunked.extend_from_slice(&chunk);
            Ok(())
        });
        let m = dump(&root, &mut sink).unwrap();
        sink.finish().unwrap();
        drop(sink);
        assert_eq!(n, m);
        assert_eq!(copied.len() as u64, n);
        assert!(copied == chunked);
    }
}
