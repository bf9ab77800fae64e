//! Reading request bodies: at most 1 MiB, within the request timeout, JSON with unknown
//! fields refused.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use serde::de::DeserializeOwned;

use super::response::HttpError;

pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// The whole body, refusing more than 1 MiB or one that takes longer than `timeout` to
/// arrive (a client trickling bytes holds a connection, not the server).
pub(crate) async fn read(
    request: Request<Incoming>,
    timeout: Duration,
) -> Result<bytes::Bytes, HttpError> {
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(HttpError::PayloadTooLarge);
    }
    let collected = tokio::time::timeout(
        timeout,
        Limited::new(request.into_body(), MAX_BODY).collect(),
    )
    .await
    .map_err(|_| HttpError::RequestTimeout)?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(HttpError::PayloadTooLarge)
        }
        Err(e) => Err(HttpError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// The body as `T`; an empty body is `T`'s default.
pub(crate) async fn json<T: DeserializeOwned + Default>(
    request: Request<Incoming>,
    timeout: Duration,
) -> Result<T, HttpError> {
    let bytes = read(request, timeout).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| HttpError::BadRequest(format!("malformed request body: {e}")))
}
