//! `PUT /log/<derivation base name>` (`nix store copy-log --to`): the build log, kept under the
//! uploads area in Nix's own layout so `GET /log/…` serves it like a log Nix kept. Decoded
//! when sent with a `Content-Encoding`; replaced atomically when sent again.
//!
//! A pushed log is bounded three ways: its decoded size (`cache.max_log_size`, `413` over it;
//! a few KB of zstd can claim gigabytes, so the decoding is streamed to a file off the async
//! runtime with the decoder's window capped, never whole in memory), the total of all pushed
//! logs ([`total_cap`]: the oldest go first), and time: a log goes once `cache.pushed_ttl` has
//! passed since it was last pushed, as the pushed paths it belongs to do. A log names its
//! derivation, not the outputs, so its age is what ties it to them.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hyper::body::Incoming;
use hyper::header::CONTENT_ENCODING;
use hyper::{Request, StatusCode};

use super::temp::{TempFile, random_name};
use super::{Uploads, receive};
use crate::http::response::{HttpError, HttpResult, text};
use nix_core::store_path::is_valid_basename;

/// The default of `cache.max_log_size`.
pub(crate) const DEFAULT_MAX_LOG_SIZE: u64 = 64 * 1024 * 1024;
/// zstd frames may ask for a window up to 2 GiB (the decoder then allocates it); a log
/// compressed by Nix uses at most 8 MiB (window log 23).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// The memory xz may use to decode one log.
const XZ_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
/// Brotli's decoder buffer.
const BROTLI_BUFFER: usize = 64 * 1024;

/// All pushed logs together take at most this: sixteen logs of the largest size (1 GiB by
/// default). The oldest are removed first.
pub(crate) fn total_cap(max_log_size: u64) -> u64 {
    max_log_size.saturating_mul(16)
}

pub(crate) async fn respond(
    uploads: &Uploads,
    drv: &str,
    request: Request<Incoming>,
) -> HttpResult {
    if !drv.ends_with(".drv") || !is_valid_basename(drv) {
        return Err(HttpError::BadRequest(format!(
            "{drv:?} is not a derivation's store path name"
        )));
    }
    let encoding = request
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty() && e != "identity");
    let max_log = uploads.max_log_size;
    // A compressed body is never larger than what it decodes to by more than a little.
    let body_limit = uploads.max_size.min(max_log.saturating_add(64 * 1024));
    let (parts, body) = request.into_parts();
    let (temp, size) = receive::to_file(
        body,
        &parts.headers,
        &uploads.incoming_dir(),
        body_limit,
        uploads.idle_timeout,
        "the log",
    )
    .await
    .map_err(|refusal| match refusal {
        HttpError::TooLarge(_) if body_limit < uploads.max_size => too_large(max_log),
        other => other,
    })?;
    let logs = uploads.logs_dir();
    let incoming = uploads.incoming_dir();
    let ttl = uploads.pushed_ttl;
    let drv_owned = drv.to_string();
    tokio::task::spawn_blocking(move || {
        let kept = match encoding {
            None if size > max_log => return Err(too_large(max_log)),
            None => temp,
            Some(encoding) => decode_to_file(&encoding, temp.path(), &incoming, max_log)?,
        };
        let dir = logs.join("drvs").join(&drv_owned[..2]);
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", dir.display()))?;
        kept.persist(&dir.join(&drv_owned[2..]))
            .map_err(|e| anyhow::anyhow!("failed to keep the log of {drv_owned}: {e}"))?;
        prune(&logs, total_cap(max_log), ttl);
        Ok(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("the log task failed: {e}"))??;
    tracing::debug!("received the build log of {drv} ({size} bytes)");
    Ok(text(StatusCode::OK, format!("received the log of {drv}\n")))
}

fn too_large(limit: u64) -> HttpError {
    HttpError::TooLarge(format!(
        "the log is larger than this cache takes once decoded ({limit} bytes, cache.max_log_size)"
    ))
}

/// Decodes `raw` (as sent with `Content-Encoding: encoding`) into a new file in `dir`, a
/// buffer at a time; `413` past `limit` decoded bytes.
fn decode_to_file(
    encoding: &str,
    raw: &Path,
    dir: &Path,
    limit: u64,
) -> Result<TempFile, HttpError> {
    let input = std::fs::File::open(raw)
        .map_err(|e| anyhow::anyhow!("failed to read the received log: {e}"))?;
    let input = io::BufReader::new(input);
    let malformed = |e: io::Error| HttpError::BadRequest(format!("malformed log: {e}"));
    let reader = bounded_decoder(encoding, input).map_err(malformed)?;
    let out = TempFile::new(dir.join(format!("{}.part", random_name())));
    let file = std::fs::File::create(out.path())
        .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", out.path().display()))?;
    let mut writer = io::BufWriter::new(file);
    let copied = io::copy(&mut reader.take(limit + 1), &mut writer).map_err(|e| {
        HttpError::BadRequest(format!(
            "malformed log: the body does not decode as {encoding}: {e}"
        ))
    })?;
    if copied > limit {
        return Err(too_large(limit));
    }
    writer
        .flush()
        .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", out.path().display()))?;
    Ok(out)
}

/// A decoder for a `Content-Encoding` whose memory is bounded whatever the stream's header
/// asks for.
fn bounded_decoder<'a, R: io::BufRead + 'a>(
    encoding: &str,
    input: R,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match encoding {
        "zstd" => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(input)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(decoder)
        }
        "xz" => {
            let stream =
                xz2::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, xz2::stream::CONCATENATED)
                    .map_err(io::Error::other)?;
            Box::new(xz2::bufread::XzDecoder::new_stream(input, stream))
        }
        // bzip2's blocks are at most 900 kB by its format.
        "bzip2" | "bz2" => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        "br" => Box::new(brotli_decompressor::Decompressor::new(input, BROTLI_BUFFER)),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported Content-Encoding {other:?}"),
            ));
        }
    })
}

/// Removes logs last pushed more than `ttl` ago, then the oldest until all take at most
/// `cap` bytes. Returns how many went.
pub(crate) fn prune(logs: &Path, cap: u64, ttl: Duration) -> usize {
    let now = SystemTime::now();
    let mut kept: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    let mut removed = 0;
    let shards = std::fs::read_dir(logs.join("drvs")).into_iter().flatten();
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let Ok(meta) = file.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(now);
            if now.duration_since(modified).unwrap_or_default() > ttl {
                removed += remove(&file.path());
            } else {
                kept.push((modified, meta.len(), file.path()));
            }
        }
    }
    let mut total: u64 = kept.iter().map(|(_, len, _)| len).sum();
    kept.sort();
    for (_, len, path) in kept {
        if total <= cap {
            break;
        }
        removed += remove(&path);
        total -= len;
    }
    if removed > 0 {
        tracing::info!("removed {removed} pushed build log(s) (cache.pushed_ttl, total size)");
    }
    removed
}

fn remove(path: &Path) -> usize {
    match std::fs::remove_file(path) {
        Ok(()) => 1,
        Err(e) => {
            tracing::warn!("failed to remove {}: {e}", path.display());
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zstd_bomb_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let plain = vec![b'a'; 8 * 1024 * 1024];
        let bomb = zstd::encode_all(&plain[..], 19).unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, &bomb).unwrap();
        let refused = decode_to_file("zstd", &raw, dir.path(), 1024 * 1024).unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let kept = decode_to_file("zstd", &raw, dir.path(), 16 * 1024 * 1024).unwrap();
        assert_eq!(std::fs::read(kept.path()).unwrap(), plain);
        // Only the kept file is left: the refused one was removed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_zstd_window_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(27).unwrap();
        encoder.long_distance_matching(true).unwrap();
        encoder.write_all(&vec![7u8; 200 * 1024 * 1024]).unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, encoder.finish().unwrap()).unwrap();
        let refused = decode_to_file("zstd", &raw, dir.path(), u64::MAX - 1).unwrap_err();
        assert_eq!(
            refused.status(),
            StatusCode::BAD_REQUEST,
            "{}",
            refused.message()
        );
    }

    #[test]
    fn old_logs_and_the_oldest_past_the_cap_go() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("drvs").join("ab");
        std::fs::create_dir_all(&shard).unwrap();
        let now = SystemTime::now();
        for (name, age_days, len) in [("old", 40, 10), ("a", 3, 100), ("b", 2, 100), ("c", 1, 100)]
        {
            let path = shard.join(name);
            std::fs::write(&path, vec![0u8; len]).unwrap();
            let at = now - Duration::from_secs(age_days * 86400);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        assert_eq!(prune(dir.path(), 250, Duration::from_secs(30 * 86400)), 2);
        assert!(!shard.join("old").exists() && !shard.join("a").exists());
        assert!(shard.join("b").exists() && shard.join("c").exists());
    }
}
