//! `PUT /nar/<file hash>.nar[.xz|.zst|.bz2|.br]`: a NAR as Nix uploads it, checked while it
//! arrives (`check_stream`) and kept under its file name, with the facts found, until its
//! narinfo arrives; and `HEAD`/`GET` of such a name, which Nix asks before uploading: `200`
//! while one is waiting, `404` otherwise (so Nix sends it). The name must be the hash of the
//! bytes sent, as Nix names them. Refused (`400`) when the bytes are not one NAR or have a bad
//! entry name, `413` past a size limit, `408` when the body takes longer than
//! `server.request_timeout` for each started 64 MiB of it, `507` when the disk has no room;
//! a refusal leaves no file.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::receive::{announced_length, drain_in_background};
use super::temp::{TempFile, random_name};
use super::{Uploads, check_stream, compression_of, is_upload_name};
use crate::http::response::{HttpError, HttpResult, text};
use nix_core::base32;

/// A body gets `server.request_timeout` for each started slice of this many bytes.
pub(crate) const TIME_SLICE_BYTES: u64 = 64 * 1024 * 1024;
/// Without a Content-Length, disk space is reserved in steps of this many bytes.
const RESERVE_STEP: u64 = 16 * 1024 * 1024;
/// Chunks in flight between the connection and the checking thread.
const CHUNKS_IN_FLIGHT: usize = 16;
/// Small frames are gathered into chunks of about this size before they go to the checking
/// thread: one hand-over (and thread wake-up) for each 16 KiB frame cost more CPU than the
/// hashing, on a box whose cores the pushing client shares.
const CHUNK: usize = 512 * 1024;
/// A body announced this small is gathered whole and checked where it is (see
/// `check_stream::run_whole`)...
const SMALL_BODY: u64 = 256 * 1024;
/// ...as long as it decompresses to no more than this: a small bomb must not hold a runtime
/// thread; past this it is checked again on a blocking thread.
const SMALL_NAR: u64 = 2 * 1024 * 1024;

pub(crate) async fn respond(
    uploads: &Uploads,
    name: &str,
    request: Request<Incoming>,
) -> HttpResult {
    let Some((compression, stem)) = compression_of(name) else {
        return Err(HttpError::BadRequest(format!(
            "malformed NAR upload name {name:?} (expected <hash>.nar with .xz, .zst, .bz2 or .br)"
        )));
    };
    let (parts, body) = request.into_parts();
    let announced = announced_length(&parts.headers);
    if let Some(length) = announced.filter(|&l| l > uploads.max_size) {
        drain_in_background(body);
        return Err(too_large(uploads.max_size, Some(length)));
    }
    let mut reservation = match uploads
        .budget
        .reserve(announced.unwrap_or(RESERVE_STEP), "the NAR")
    {
        Ok(reservation) => reservation,
        Err(refusal) => {
            drain_in_background(body);
            return Err(refusal);
        }
    };
    // A turn to be received; the time limit starts with it.
    let _turn = uploads
        .turns
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let started = Instant::now();
    let temp = TempFile::new(
        uploads
            .incoming_dir()
            .join(format!("{}.part", random_name())),
    );
    let small = announced.is_some_and(|a| a <= SMALL_BODY);
    let mut whole = BytesMut::new();
    let mut gathered = BytesMut::new();
    let (sender, chunks) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let checking = (!small).then(|| {
        let file = temp.path().to_path_buf();
        let max_nar_size = uploads.max_nar_size;
        tokio::task::spawn_blocking(move || {
            check_stream::run(chunks, &file, compression, max_nar_size)
        })
    });
    let mut body = body;
    let mut size: u64 = 0;
    let received: Result<(), HttpError> = async {
        loop {
            let allowed = uploads.idle_timeout * slices(announced.unwrap_or(size));
            let deadline = (started + allowed).min(Instant::now() + uploads.idle_timeout);
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(frame) => frame,
                Err(_) if started.elapsed() >= allowed => {
                    return Err(HttpError::TooSlow(format!(
                        "the NAR took longer than {} for each started 64 MiB \
                         (server.request_timeout)",
                        humantime::format_duration(uploads.idle_timeout)
                    )));
                }
                Err(_) => return Err(HttpError::RequestTimeout),
            };
            let Some(frame) = frame else { return Ok(()) };
            let frame = frame.map_err(|e| {
                HttpError::BadRequest(format!("the upload did not arrive whole: {e}"))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            size += data.len() as u64;
            if size > uploads.max_size || announced.is_some_and(|a| size > a) {
                return Err(too_large(uploads.max_size, None));
            }
            if size > reservation.bytes() {
                reservation.grow(RESERVE_STEP.max(size - reservation.bytes()), "the NAR")?;
            }
            if small {
                whole.extend_from_slice(&data);
                continue;
            }
            let chunk = if gathered.is_empty() && data.len() >= CHUNK {
                data
            } else {
                gathered.extend_from_slice(&data);
                if gathered.len() < CHUNK {
                    continue;
                }
                gathered.split().freeze()
            };
            if sender.send(chunk).await.is_err() {
                // The checking thread stopped: its answer says why.
                return Ok(());
            }
        }
    }
    .await;
    if received.is_ok() && !gathered.is_empty() {
        // A send fails only when the checking thread stopped: its answer says why.
        let _ = sender.send(gathered.split().freeze()).await;
    }
    drop(sender);
    let arrived = started.elapsed();
    let checked = match checking {
        Some(checking) => checking
            .await
            .map_err(|e| anyhow::anyhow!("the NAR check stopped: {e}"))?,
        None if received.is_ok() => {
            let whole = whole.freeze();
            let max_nar_size = uploads.max_nar_size;
            let limit = max_nar_size.min(SMALL_NAR);
            match check_stream::run_whole(whole.clone(), temp.path(), compression, limit) {
                Err(HttpError::TooLarge(_)) if limit < max_nar_size => {
                    let file = temp.path().to_path_buf();
                    tokio::task::spawn_blocking(move || {
                        check_stream::run_whole(whole, &file, compression, max_nar_size)
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("the NAR check stopped: {e}"))?
                }
                checked => checked,
            }
        }
        None => Ok(Default::default()),
    };
    if let Err(refusal) = received {
        match refusal {
            // Too slow to be worth reading on: hyper answers once the body is let go.
            HttpError::TooSlow(_) | HttpError::RequestTimeout => drop(body),
            _ => drain_in_background(body),
        }
        return Err(refusal);
    }
    let facts = match checked {
        Ok(facts) => facts,
        Err(refusal) => {
            drain_in_background(body);
            return Err(refusal);
        }
    };
    if !names_hash(stem, &facts.file_hash) {
        return Err(HttpError::BadRequest(format!(
            "the NAR's bytes have the hash sha256:{}, not the one its name {name:?} says",
            base32::encode(&facts.file_hash)
        )));
    }
    let kept = uploads.nars_dir().join(name);
    temp.persist(&kept)
        .map_err(|e| anyhow::anyhow!("failed to keep the upload {}: {e}", kept.display()))?;
    uploads
        .received
        .lock()
        .expect("received lock")
        .insert(name.to_string(), facts);
    tracing::debug!(
        "received NAR {name} ({size} bytes, {} as a NAR): arrived in {arrived:?}, kept after {:?}",
        facts.nar_size,
        started.elapsed()
    );
    Ok(text(StatusCode::OK, format!("received {size} bytes\n")))
}

/// Whether Nix's name for a file (its SHA-256, base-32 or base-16) is `hash`.
fn names_hash(stem: &str, hash: &[u8; 32]) -> bool {
    match stem.len() {
        52 => stem == base32::encode(hash),
        64 => stem == hex::encode(hash),
        _ => false,
    }
}

/// How many time slices a body of `size` bytes gets: one for each started 64 MiB.
fn slices(size: u64) -> u32 {
    size.div_ceil(TIME_SLICE_BYTES).clamp(1, u32::MAX as u64) as u32
}

fn too_large(limit: u64, announced: Option<u64>) -> HttpError {
    let said = announced
        .map(|a| format!(" (it announces {a} bytes)"))
        .unwrap_or_default();
    HttpError::TooLarge(format!(
        "the NAR is larger than this cache takes ({limit} bytes, cache.max_upload_size){said}"
    ))
}

/// Whether a NAR of this upload name is waiting for its narinfo.
pub(crate) fn held(uploads: &Uploads, name: &str) -> HttpResult {
    if is_upload_name(name) && uploads.nars_dir().join(name).is_file() {
        Ok(text(StatusCode::OK, String::new()))
    } else {
        Err(HttpError::NotFound("no such NAR in this cache".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_gets_a_slice_of_time_for_each_started_64_mib() {
        assert_eq!(slices(0), 1);
        assert_eq!(slices(1), 1);
        assert_eq!(slices(TIME_SLICE_BYTES), 1);
        assert_eq!(slices(TIME_SLICE_BYTES + 1), 2);
        assert_eq!(slices(100 * 1024 * 1024 * 1024), 1600);
    }

    #[test]
    fn names_are_the_hash_of_the_bytes() {
        let hash = [7u8; 32];
        assert!(names_hash(&base32::encode(&hash), &hash));
        assert!(names_hash(&hex::encode(hash), &hash));
        assert!(!names_hash(&base32::encode(&[8u8; 32]), &hash));
        assert!(!names_hash("0123", &hash));
    }
}
