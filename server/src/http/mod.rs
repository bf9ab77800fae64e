//! HTTP plumbing that the cache and the API share, below both: response bodies (whole or
//! streamed from a blocking thread), responses and the one mapping of errors to status codes,
//! and reading request bodies with a size limit. Knows no endpoint.

pub(crate) mod body;
pub(crate) mod range;
pub(crate) mod request_body;
pub(crate) mod response;
pub(crate) mod send_timeout;
