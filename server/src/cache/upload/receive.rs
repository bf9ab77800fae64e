//! Receiving an upload's body: streamed into a temporary file in the uploads area a buffer at
//! a time (never whole in memory), refused over the size limit (at once when Content-Length
//! says so, else when the bytes say so) or when the disk lacks room, and dropped when the
//! client stops sending for the idle time-out.

use std::path::Path;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderMap};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::temp::{TempFile, random_name};
use crate::cache::nar_files::free_space;
use crate::http::response::HttpError;

/// Bytes gathered before each write to the file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Room left on the disk after any upload: a full disk breaks Nix and the server alike.
const KEEP_FREE_BYTES: u64 = 256 * 1024 * 1024;
/// After a refusal, at most this much of the rest of the body is read and dropped (and for at
/// most `DRAIN_TIME`), so that a client still sending reads the refusal instead of a reset
/// connection, as a lingering close in other servers does.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The Content-Length a request announces, if any.
pub(super) fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Refuses an upload of `size` bytes when it is over `limit` or the disk of `dir` lacks room.
pub(super) fn check_room(dir: &Path, size: u64, limit: u64, what: &str) -> Result<(), HttpError> {
    if size > limit {
        return Err(too_large(what, limit));
    }
    if let Some((available, _)) = free_space(dir)
        && available < size.saturating_add(KEEP_FREE_BYTES)
    {
        return Err(HttpError::InsufficientStorage(format!(
            "the server's disk has no room for {what} of {size} bytes"
        )));
    }
    Ok(())
}

fn too_large(what: &str, limit: u64) -> HttpError {
    HttpError::TooLarge(format!(
        "{what} is larger than this cache takes ({limit} bytes, cache.max_upload_size)"
    ))
}

/// Writes `body` into a new temporary file in `dir`; its size with it.
pub(super) async fn to_file(
    body: Incoming,
    headers: &HeaderMap,
    dir: &Path,
    limit: u64,
    idle_timeout: Duration,
    what: &str,
) -> Result<(TempFile, u64), HttpError> {
    if let Err(refusal) = check_room(dir, announced_length(headers).unwrap_or(0), limit, what) {
        drain_in_background(body);
        return Err(refusal);
    }
    let temp = TempFile::new(dir.join(format!("{}.part", random_name())));
    let file = tokio::fs::File::create(temp.path())
        .await
        .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", temp.path().display()))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut body = body;
    let mut size: u64 = 0;
    loop {
        let frame = tokio::time::timeout(idle_timeout, body.frame())
            .await
            .map_err(|_| HttpError::RequestTimeout)?;
        let Some(frame) = frame else { break };
        let frame = frame
            .map_err(|e| HttpError::BadRequest(format!("the upload did not arrive whole: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > limit {
            drain_in_background(body);
            return Err(too_large(what, limit));
        }
        out.write_all(&data)
            .await
            .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", temp.path().display()))?;
    }
    out.flush()
        .await
        .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", temp.path().display()))?;
    Ok((temp, size))
}

/// Reads and drops what is left of a refused body, bounded in bytes and time, while the
/// refusal is sent.
pub(super) fn drain_in_background(mut body: Incoming) {
    tokio::spawn(async move {
        let drain = async {
            let mut drained: u64 = 0;
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    drained += data.len() as u64;
                    if drained > DRAIN_BYTES {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    });
}
