//! Turning outcomes into HTTP responses: the one place where an error becomes a status code.
//! Messages sent to clients never carry filesystem paths; internal details go to the log.

use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::body::{self, Body};

/// An error a handler answers with.
#[derive(Debug)]
pub(crate) enum HttpError {
    BadRequest(String),
    Unauthorized(String),
    /// A valid caller that may not do this (or nobody may, as uploads while pushing is off).
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed,
    PayloadTooLarge,
    /// A body over a limit other than the API's 1 MiB, saying which.
    TooLarge(String),
    /// The disk has no room for what was sent.
    InsufficientStorage(String),
    /// The request's body did not arrive in time.
    RequestTimeout,
    /// A body cut for arriving too slowly, saying which limit.
    TooSlow(String),
    Conflict(String),
    Unprocessable(String),
    /// Logged in full, answered with a generic message.
    Internal(anyhow::Error),
}

impl HttpError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::PayloadTooLarge | HttpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::RequestTimeout | HttpError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            HttpError::Conflict(_) => StatusCode::CONFLICT,
            HttpError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            HttpError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            HttpError::BadRequest(m)
            | HttpError::Unauthorized(m)
            | HttpError::Forbidden(m)
            | HttpError::TooLarge(m)
            | HttpError::TooSlow(m)
            | HttpError::InsufficientStorage(m)
            | HttpError::NotFound(m)
            | HttpError::Conflict(m)
            | HttpError::Unprocessable(m) => m.clone(),
            HttpError::MethodNotAllowed => "method not allowed".into(),
            HttpError::PayloadTooLarge => "request body is larger than 1 MiB".into(),
            HttpError::RequestTimeout => {
                "the request body did not arrive within the server's request timeout".into()
            }
            HttpError::Internal(_) => "internal server error (see the server's log)".into(),
        }
    }
}

impl From<anyhow::Error> for HttpError {
    fn from(e: anyhow::Error) -> Self {
        HttpError::Internal(e)
    }
}

pub(crate) type HttpResult = Result<Response<Body>, HttpError>;

/// A plain-text error for the cache endpoints, a JSON one for the API.
pub(crate) fn error_response(error: &HttpError, as_json: bool) -> Response<Body> {
    if let HttpError::Internal(e) = error {
        tracing::error!("request failed: {e:#}");
    }
    if as_json {
        json(
            error.status(),
            &serde_json::json!({ "error": error.message() }),
        )
    } else {
        text(error.status(), format!("{}\n", error.message()))
    }
}

pub(crate) fn text(status: StatusCode, text: String) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", text.into_bytes())
}

pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).expect("serialisable value");
    bytes.push(b'\n');
    with_type(status, "application/json", bytes)
}

/// A whole body with its type and length.
pub(crate) fn with_type(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let bytes = bytes.into();
    let mut response = Response::new(body::full(bytes.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}
