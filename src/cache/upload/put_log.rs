//! `PUT /log/<derivation base name>` (`nix store copy-log --to`): the build log, kept under the
//! uploads area in Nix's own layout so `GET /log/…` serves it like a log Nix kept. Decoded
//! when sent with a `Content-Encoding`; replaced atomically when sent again.

use hyper::body::Incoming;
use hyper::header::CONTENT_ENCODING;
use hyper::{Request, StatusCode};

use super::{decompress, receive, Uploads};
use crate::http::response::{text, HttpError, HttpResult};
use crate::nix::store_path::is_valid_basename;

pub async fn respond(uploads: &Uploads, drv: &str, request: Request<Incoming>) -> HttpResult {
    if !drv.ends_with(".drv") || !is_valid_basename(drv) {
        return Err(HttpError::BadRequest(format!(
            "{drv:?} is not a derivation's store path name"
        )));
    }
    let encoding = request
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    let (temp, size) = receive::to_file(
        body,
        &parts.headers,
        &uploads.incoming_dir(),
        uploads.max_size,
        uploads.idle_timeout,
        "the log",
    )
    .await?;
    if encoding
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != "identity")
    {
        let raw = std::fs::read(temp.path())
            .map_err(|e| anyhow::anyhow!("failed to read the received log: {e}"))?;
        let plain = decompress::decode_body(encoding.as_deref(), &raw, uploads.max_size)
            .map_err(|e| HttpError::BadRequest(format!("malformed log: {e}")))?;
        std::fs::write(temp.path(), plain)
            .map_err(|e| anyhow::anyhow!("failed to write the received log: {e}"))?;
    }
    let dir = uploads.logs_dir().join("drvs").join(&drv[..2]);
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", dir.display()))?;
    temp.persist(&dir.join(&drv[2..]))
        .map_err(|e| anyhow::anyhow!("failed to keep the log of {drv}: {e}"))?;
    tracing::debug!("received the build log of {drv} ({size} bytes)");
    Ok(text(StatusCode::OK, format!("received the log of {drv}\n")))
}
