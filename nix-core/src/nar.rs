//! The NAR (Nix ARchive) serialisation of a filesystem tree, pushed into a sink as it walks, so
//! an archive of any size passes through one small buffer. Byte-for-byte what
//! `nix-store --dump` prints. For a NAR pulled chunk by chunk (downloads), see `nar_stream`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const READ_CHUNK: usize = 256 * 1024;

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
}
