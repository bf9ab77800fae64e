//! HTTP plumbing that the cache and the API share, below both: response bodies (whole or
//! streamed from a blocking thread), responses and the one mapping of errors to status codes,
//! and reading request bodies with a size limit. Knows no endpoint.

pub mod body;
pub mod range;
pub mod request_body;
pub mod response;
pub mod send_timeout;
