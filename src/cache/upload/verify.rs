//! Checking an uploaded NAR against its narinfo in one pass: the file's SHA-256 and size
//! (`FileHash`, `FileSize`, when given), then decompressed, the NAR's (`NarHash`, `NarSize`),
//! stopping as soon as it runs past `NarSize`. The plain NAR is written out as it goes when
//! asked (a compressed upload), so the store gets exactly the bytes that were checked.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::decompress;
use crate::http::response::HttpError;
use crate::nix::base32;
use crate::nix::narinfo_parse::UploadedNarinfo;

const CHUNK: usize = 256 * 1024;

/// Checks `upload` against `narinfo`, writing the plain NAR to `plain_out` when given.
pub fn check(
    upload: &Path,
    narinfo: &UploadedNarinfo,
    plain_out: Option<&Path>,
) -> Result<(), HttpError> {
    let file = File::open(upload)
        .map_err(|e| anyhow::anyhow!("failed to open the upload {}: {e}", upload.display()))?;
    let mut counted = Counted {
        inner: file,
        hash: Sha256::new(),
        size: 0,
    };
    let mut out = match plain_out {
        Some(path) => Some(BufWriter::with_capacity(
            CHUNK,
            File::create(path)
                .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", path.display()))?,
        )),
        None => None,
    };
    let mut nar_hash = Sha256::new();
    let mut nar_size: u64 = 0;
    {
        let bad_data = |e: io::Error| {
            HttpError::BadRequest(format!(
                "the NAR does not decompress as {}: {e}",
                narinfo.compression
            ))
        };
        let mut reader =
            decompress::reader(&narinfo.compression, &mut counted).map_err(bad_data)?;
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad_data(e)),
            };
            nar_size += n as u64;
            if nar_size > narinfo.nar_size {
                return Err(mismatch(format!(
                    "the NAR is larger than its NarSize ({} bytes)",
                    narinfo.nar_size
                )));
            }
            nar_hash.update(&buffer[..n]);
            if let Some(out) = out.as_mut() {
                out.write_all(&buffer[..n])
                    .map_err(|e| anyhow::anyhow!("failed to write the plain NAR: {e}"))?;
            }
        }
    }
    if let Some(mut out) = out {
        out.flush()
            .map_err(|e| anyhow::anyhow!("failed to write the plain NAR: {e}"))?;
    }
    // The rest of the file, if the decompressor stopped early: it counts for FileHash.
    io::copy(&mut counted, &mut io::sink())
        .map_err(|e| anyhow::anyhow!("failed to read the upload: {e}"))?;
    if nar_size != narinfo.nar_size {
        return Err(mismatch(format!(
            "the NAR has {nar_size} bytes, its NarSize says {}",
            narinfo.nar_size
        )));
    }
    let nar_hash: [u8; 32] = nar_hash.finalize().into();
    if nar_hash != narinfo.nar_hash {
        return Err(mismatch(format!(
            "NarHash mismatch: the NAR's hash is sha256:{}, its narinfo says sha256:{}",
            base32::encode(&nar_hash),
            base32::encode(&narinfo.nar_hash)
        )));
    }
    if let Some(size) = narinfo.file_size {
        if size != counted.size {
            return Err(mismatch(format!(
                "the file has {} bytes, its FileSize says {size}",
                counted.size
            )));
        }
    }
    if let Some(expected) = narinfo.file_hash {
        let file_hash: [u8; 32] = counted.hash.finalize().into();
        if file_hash != expected {
            return Err(mismatch(format!(
                "FileHash mismatch: the file's hash is sha256:{}, its narinfo says sha256:{}",
                base32::encode(&file_hash),
                base32::encode(&expected)
            )));
        }
    }
    Ok(())
}

fn mismatch(message: String) -> HttpError {
    HttpError::Unprocessable(message)
}

/// A reader that hashes and counts what passes through.
struct Counted<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.hash.update(&buffer[..n]);
        self.size += n as u64;
        Ok(n)
    }
}
