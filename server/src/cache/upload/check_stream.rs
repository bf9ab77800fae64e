//! The work on a NAR upload's bytes as they arrive, on one blocking thread: each chunk is
//! written to the upload's file and hashed (`FileHash`, `FileSize`), decompressed as its name
//! says with bounded decoder memory, and the NAR hashed (`NarHash`, `NarSize`, cut past
//! `cache.max_nar_size`) and checked for structure and entry names (`nix::nar_check`). Nothing
//! is read twice, and nothing decompressed is written. A small body that arrived whole is
//! checked the same way where it is, sparing the hand-over to another thread (most of a
//! closure is small paths, and on a busy machine each hand-over waits for the scheduler).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use bytes::{Buf, Bytes};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::Receiver;

use super::{Received, decompress};
use crate::http::response::HttpError;
use nix_core::nar_check::{self, NarError};

/// Bytes gathered before each write to the file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes of NAR the structure check reads at a time.
const CHECK_BUFFER: usize = 256 * 1024;

/// Receives the body's chunks from `chunks` into `file`, checking them; the facts found. An
/// empty channel before the end (the body failed) reads as the end: the caller knows why.
pub(super) fn run(
    mut chunks: Receiver<Bytes>,
    file: &Path,
    compression: &'static str,
    max_nar_size: u64,
) -> Result<Received, HttpError> {
    let buffers = (WRITE_BUFFER, CHECK_BUFFER);
    check(
        move || chunks.blocking_recv(),
        buffers,
        file,
        compression,
        max_nar_size,
    )
}

/// Checks a body that arrived whole, writing it to `file`.
pub(super) fn run_whole(
    body: Bytes,
    file: &Path,
    compression: &'static str,
    max_nar_size: u64,
) -> Result<Received, HttpError> {
    let buffers = (body.len().min(WRITE_BUFFER), CHECK_BUFFER.min(64 * 1024));
    let mut body = Some(body);
    check(
        move || body.take(),
        buffers,
        file,
        compression,
        max_nar_size,
    )
}

fn check(
    next: impl FnMut() -> Option<Bytes>,
    (write_buffer, check_buffer): (usize, usize),
    file: &Path,
    compression: &'static str,
    max_nar_size: u64,
) -> Result<Received, HttpError> {
    let out = File::create(file)
        .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", file.display()))?;
    let mut sent = Sent {
        next,
        current: Bytes::new(),
        out: BufWriter::with_capacity(write_buffer, out),
        hash: (compression != "none").then(Sha256::new),
        size: 0,
        write_failed: None,
    };
    let mut nar = NarTotals {
        hash: Sha256::new(),
        size: 0,
        limit: max_nar_size,
    };
    let mut zstd_context = decompress::ZstdContext::default();
    let checked = {
        let decoded = decompress::bounded(compression, &mut sent, &mut zstd_context, write_buffer)
            .map_err(|e| {
                HttpError::BadRequest(format!("the NAR does not decompress as {compression}: {e}"))
            })?;
        let counted = Counted {
            inner: decoded,
            totals: &mut nar,
        };
        nar_check::check(&mut BufReader::with_capacity(check_buffer, counted))
    };
    if let Some(e) = sent.write_failed.take() {
        return Err(anyhow::anyhow!("failed to write {}: {e}", file.display()).into());
    }
    if nar.size > nar.limit {
        return Err(HttpError::TooLarge(format!(
            "the NAR is larger than this cache takes once decompressed ({} bytes, \
             cache.max_nar_size)",
            nar.limit
        )));
    }
    match checked {
        Ok(()) => {}
        Err(NarError::Invalid(message)) => return Err(HttpError::BadRequest(message)),
        Err(NarError::Read(e)) => {
            return Err(HttpError::BadRequest(format!(
                "the NAR does not decompress as {compression}: {e}"
            )));
        }
    }
    // What follows the compressed stream counts for FileHash too (and must be read anyway).
    io::copy(&mut sent, &mut io::sink())
        .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", file.display()))?;
    if let Some(e) = sent.write_failed.take() {
        return Err(anyhow::anyhow!("failed to write {}: {e}", file.display()).into());
    }
    sent.out
        .flush()
        .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", file.display()))?;
    let nar_hash: [u8; 32] = nar.hash.finalize().into();
    Ok(Received {
        compression,
        file_hash: match sent.hash {
            Some(hash) => hash.finalize().into(),
            // Sent as it is: the file is the NAR.
            None => nar_hash,
        },
        file_size: sent.size,
        nar_hash,
        nar_size: nar.size,
    })
}

/// The body as sent: its chunks in order, written to the file and hashed on the way.
struct Sent<N> {
    next: N,
    current: Bytes,
    out: BufWriter<File>,
    hash: Option<Sha256>,
    size: u64,
    write_failed: Option<io::Error>,
}

impl<N: FnMut() -> Option<Bytes>> Read for Sent<N> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match (self.next)() {
                Some(chunk) => {
                    if let Err(e) = self.out.write_all(&chunk) {
                        let error = io::Error::new(e.kind(), e.to_string());
                        self.write_failed = Some(e);
                        return Err(error);
                    }
                    if let Some(hash) = self.hash.as_mut() {
                        hash.update(&chunk);
                    }
                    self.size += chunk.len() as u64;
                    self.current = chunk;
                }
                None => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len());
        buffer[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// The decompressed NAR's hash and size so far.
struct NarTotals {
    hash: Sha256,
    size: u64,
    limit: u64,
}

/// The decompressed NAR, hashed and counted into `totals`, failing once past its limit.
struct Counted<'a, R> {
    inner: R,
    totals: &'a mut NarTotals,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        let totals = &mut *self.totals;
        totals.size += n as u64;
        if totals.size > totals.limit {
            return Err(io::Error::other("past cache.max_nar_size"));
        }
        totals.hash.update(&buffer[..n]);
        Ok(n)
    }
}

/// Property tests: the body of a NAR upload is a stranger's bytes. Any body, under any
/// compression, is refused as a bad request (or too large) without a panic; a valid NAR, sent
/// plain or compressed, whole or in chunks, reads back with the hashes and sizes of what was
/// sent; a tiny body that decompresses past `cache.max_nar_size` stops there.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use nix_core::fuzz_support::nar_trees::{mutate, mutation, nar, tree};

    fn compress(compression: &str, plain: &[u8]) -> Vec<u8> {
        match compression {
            "none" => plain.to_vec(),
            "zstd" => zstd::encode_all(plain, 3).unwrap(),
            "xz" => {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(plain).unwrap();
                e.finish().unwrap()
            }
            "bzip2" => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(plain).unwrap();
                e.finish().unwrap()
            }
            other => unreachable!("{other}"),
        }
    }

    fn compression() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec!["none", "zstd", "xz", "bzip2", "br"])
    }

    /// `body` checked as an upload, in chunks of `chunk` bytes when given.
    fn upload(
        body: &[u8],
        chunk: Option<usize>,
        compression: &'static str,
        max_nar_size: u64,
    ) -> Result<Received, HttpError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upload");
        match chunk {
            None => run_whole(
                Bytes::copy_from_slice(body),
                &file,
                compression,
                max_nar_size,
            ),
            Some(size) => {
                let mut chunks: Vec<Bytes> = body
                    .chunks(size.max(1))
                    .map(Bytes::copy_from_slice)
                    .collect();
                chunks.reverse();
                check(
                    move || chunks.pop(),
                    (64, 64),
                    &file,
                    compression,
                    max_nar_size,
                )
            }
        }
    }

    fn refused_as_bad(result: Result<Received, HttpError>) -> Result<(), TestCaseError> {
        match result {
            Ok(_) | Err(HttpError::BadRequest(_)) | Err(HttpError::TooLarge(_)) => Ok(()),
            Err(other) => Err(TestCaseError::fail(format!("refused as {other:?}"))),
        }
    }

    proptest! {
        #![proptest_config(nix_core::fuzz_support::config(4))]

        #[test]
        fn any_body_is_refused_as_bad(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            compression in compression(),
            chunk in proptest::option::of(1..64usize),
        ) {
            refused_as_bad(upload(&body, chunk, compression, 1 << 20))?;
        }

        #[test]
        fn a_valid_nar_reads_back(
            root in tree(),
            compression in proptest::sample::select(vec!["none", "zstd", "xz", "bzip2"]),
            chunk in proptest::option::of(1..4096usize),
        ) {
            let plain = nar(&root);
            let body = compress(compression, &plain);
            let received = upload(&body, chunk, compression, 1 << 20)
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let nar_hash: [u8; 32] = Sha256::digest(&plain).into();
            let file_hash: [u8; 32] = Sha256::digest(&body).into();
            prop_assert_eq!(received.nar_hash, nar_hash);
            prop_assert_eq!(received.nar_size, plain.len() as u64);
            prop_assert_eq!(received.file_hash, file_hash);
            prop_assert_eq!(received.file_size, body.len() as u64);
        }

        #[test]
        fn a_mutated_upload_is_refused_as_bad(
            root in tree(),
            compression in proptest::sample::select(vec!["none", "zstd", "xz", "bzip2"]),
            mutations in proptest::collection::vec(mutation(), 1..3),
        ) {
            let mut body = compress(compression, &nar(&root));
            for m in &mutations {
                mutate(&mut body, m);
            }
            refused_as_bad(upload(&body, None, compression, 1 << 20))?;
        }
    }

    proptest! {
        // Each case compresses megabytes: fewer of them.
        #![proptest_config(nix_core::fuzz_support::config(50))]

        #[test]
        fn a_small_body_decompressing_past_the_limit_stops_there(
            size in (1u64 << 20)..(4 << 20),
            compression in proptest::sample::select(vec!["zstd", "xz", "bzip2"]),
        ) {
            let mut plain = Vec::new();
            for t in [&b"nix-archive-1"[..], b"(", b"type", b"regular", b"contents"] {
                plain.extend_from_slice(&(t.len() as u64).to_le_bytes());
                plain.extend_from_slice(t);
                plain.extend(std::iter::repeat_n(0u8, (8 - t.len() % 8) % 8));
            }
            plain.extend_from_slice(&size.to_le_bytes());
            plain.resize(plain.len() + size as usize, 0);
            let body = compress(compression, &plain);
            prop_assert!(body.len() < 64 * 1024);
            match upload(&body, None, compression, 64 * 1024) {
                Err(HttpError::TooLarge(_)) => {}
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }
    }
}
