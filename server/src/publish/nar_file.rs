//! A store path's NAR, compressed into a temporary file before it is uploaded: S3 wants each
//! object's length before its first byte, and the narinfo wants the file's hash and size
//! (`FileHash`, `FileSize`), so the file is made whole first, read from the store as the NAR
//! is made (`nar_stream`), never held in memory. The NAR's own hash is checked against the
//! store's on the way: a path that changed on disk is not published under the old hash.
//! The file is removed when dropped.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use common::config::PublishCompression;
use nix_core::nar_stream::NarStream;
use nix_core::path_info::PathInfo;

/// zstd's level: as the cache's own (fast, about xz's size at a fraction of its time).
const ZSTD_LEVEL: i32 = 3;
/// xz's preset: Nix's default.
const XZ_PRESET: u32 = 6;

/// A compressed NAR on disk.
#[derive(Debug)]
pub(super) struct NarFile {
    path: PathBuf,
    /// SHA-256 of the file (the compressed bytes).
    pub file_hash: [u8; 32],
    pub file_size: u64,
}

impl NarFile {
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the compressed NAR of `info`'s path (read from `on_disk`) at `temp`.
    #[cfg(test)]
    pub(super) fn make(
        info: &PathInfo,
        on_disk: &Path,
        compression: PublishCompression,
        temp: PathBuf,
    ) -> Result<NarFile> {
        Self::make_watched(info, on_disk, compression, temp, u64::MAX, &mut |_| {})
    }

    /// `make`, telling `written` each time another `every` bytes of the file are on disk (so
    /// they may be uploaded while the rest is being made).
    pub(super) fn make_watched(
        info: &PathInfo,
        on_disk: &Path,
        compression: PublishCompression,
        temp: PathBuf,
        every: u64,
        written: &mut dyn FnMut(u64),
    ) -> Result<NarFile> {
        let file =
            File::create(&temp).with_context(|| format!("failed to create {}", temp.display()))?;
        // Owned from here on, so every way out removes it.
        let mut made = NarFile {
            path: temp,
            file_hash: [0; 32],
            file_size: 0,
        };
        let counted = Counted {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            size: 0,
            every,
            next_mark: every,
            written,
        };
        let mut nar_hash = Sha256::new();
        let mut nar = NarStream::new(on_disk);
        let counted = match compression {
            PublishCompression::None => {
                let mut out = counted;
                pump(&mut nar, &mut nar_hash, &mut out, &info.path)?;
                out
            }
            PublishCompression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(counted, ZSTD_LEVEL)
                    .context("failed to start zstd")?;
                pump(&mut nar, &mut nar_hash, &mut encoder, &info.path)?;
                encoder.finish().context("failed to finish zstd")?
            }
            PublishCompression::Xz => {
                let mut encoder = xz2::write::XzEncoder::new(counted, XZ_PRESET);
                pump(&mut nar, &mut nar_hash, &mut encoder, &info.path)?;
                encoder.finish().context("failed to finish xz")?
            }
        };
        let nar_hash: [u8; 32] = nar_hash.finalize().into();
        if nar.written() != info.nar_size || nar_hash != info.nar_hash {
            bail!(
                "{} on disk is not what the store recorded (NAR of {} bytes, {} recorded, or \
                 another hash): not published",
                info.path,
                nar.written(),
                info.nar_size
            );
        }
        let Counted {
            mut inner,
            hash,
            size,
            ..
        } = counted;
        inner
            .flush()
            .with_context(|| format!("failed to write {}", made.path.display()))?;
        made.file_hash = hash.finalize().into();
        made.file_size = size;
        Ok(made)
    }
}

impl Drop for NarFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies the NAR's chunks into `out`, hashing them.
fn pump(nar: &mut NarStream, hash: &mut Sha256, out: &mut impl Write, path: &str) -> Result<()> {
    while let Some(chunk) = nar
        .next_chunk()
        .with_context(|| format!("failed to read {path} from the store"))?
    {
        hash.update(&chunk);
        out.write_all(&chunk)
            .with_context(|| format!("failed to write the compressed NAR of {path}"))?;
    }
    Ok(())
}

/// A writer that hashes and counts what goes through it, and tells when another `every`
/// bytes are on disk.
struct Counted<'a, W> {
    inner: W,
    hash: Sha256,
    size: u64,
    every: u64,
    next_mark: u64,
    written: &'a mut dyn FnMut(u64),
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Never past a mark in one write, so the mark is flushed exactly.
        let room = (self.next_mark - self.size).min(buf.len() as u64) as usize;
        let n = self.inner.write(&buf[..room])?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        if self.size == self.next_mark {
            self.inner.flush()?;
            (self.written)(self.size);
            self.next_mark = self.next_mark.saturating_add(self.every);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nar_of(dir: &Path) -> Vec<u8> {
        let mut nar = Vec::new();
        nix_core::nar::dump_to_writer(dir, &mut nar).unwrap();
        nar
    }

    fn info_of(dir: &Path) -> PathInfo {
        let nar = nar_of(dir);
        PathInfo {
            path: "/nix/store/00000000000000000000000000000000-x".into(),
            deriver: None,
            nar_hash: Sha256::digest(&nar).into(),
            nar_size: nar.len() as u64,
            references: Vec::new(),
            signatures: Vec::new(),
            content_address: None,
            ultimate: false,
        }
    }

    #[test]
    fn compressed_files_decompress_to_the_nar_and_hash_right() {
        let work = tempfile::tempdir().unwrap();
        let tree = work.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(tree.join("a"), "hello ".repeat(1000)).unwrap();
        let info = info_of(&tree);
        let nar = nar_of(&tree);
        for compression in [
            PublishCompression::Zstd,
            PublishCompression::Xz,
            PublishCompression::None,
        ] {
            let temp = work.path().join(compression.as_str());
            let made = NarFile::make(&info, &tree, compression, temp.clone()).unwrap();
            let bytes = std::fs::read(made.path()).unwrap();
            assert_eq!(bytes.len() as u64, made.file_size);
            assert_eq!(<[u8; 32]>::from(Sha256::digest(&bytes)), made.file_hash);
            let plain = match compression {
                PublishCompression::Zstd => zstd::decode_all(&bytes[..]).unwrap(),
                PublishCompression::Xz => {
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(
                        &mut xz2::read::XzDecoder::new(&bytes[..]),
                        &mut out,
                    )
                    .unwrap();
                    out
                }
                PublishCompression::None => bytes.clone(),
            };
            assert_eq!(plain, nar);
            drop(made);
            assert!(!temp.exists(), "the temporary file is removed");
        }
        // A path whose contents differ from what the store recorded is refused.
        std::fs::write(tree.join("a"), "changed").unwrap();
        let temp = work.path().join("changed");
        assert!(NarFile::make(&info, &tree, PublishCompression::Zstd, temp.clone()).is_err());
        assert!(!temp.exists());
    }
}
