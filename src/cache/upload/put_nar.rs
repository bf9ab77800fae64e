//! `PUT /nar/<file hash>.nar[.xz|.zst|.bz2|.br]`: a NAR as Nix uploads it, kept under its file
//! name until its narinfo arrives; and `HEAD`/`GET` of such a name, which Nix asks before
//! uploading: `200` while one is waiting, `404` otherwise (so Nix sends it).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{is_upload_name, receive, Uploads};
use crate::http::response::{text, HttpError, HttpResult};

pub async fn respond(uploads: &Uploads, name: &str, request: Request<Incoming>) -> HttpResult {
    if !is_upload_name(name) {
        return Err(HttpError::BadRequest(format!(
            "malformed NAR upload name {name:?} (expected <hash>.nar with .xz, .zst, .bz2 or .br)"
        )));
    }
    let (parts, body) = request.into_parts();
    let (temp, size) = receive::to_file(
        body,
        &parts.headers,
        &uploads.incoming_dir(),
        uploads.max_size,
        uploads.idle_timeout,
        "the NAR",
    )
    .await?;
    let kept = uploads.nars_dir().join(name);
    temp.persist(&kept)
        .map_err(|e| anyhow::anyhow!("failed to keep the upload {}: {e}", kept.display()))?;
    tracing::debug!("received NAR {name} ({size} bytes)");
    Ok(text(StatusCode::OK, format!("received {size} bytes\n")))
}

/// Whether a NAR of this upload name is waiting for its narinfo.
pub fn held(uploads: &Uploads, name: &str) -> HttpResult {
    if is_upload_name(name) && uploads.nars_dir().join(name).is_file() {
        Ok(text(StatusCode::OK, String::new()))
    } else {
        Err(HttpError::NotFound("no such NAR in this cache".into()))
    }
}
