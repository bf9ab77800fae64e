//! The binary cache's request counters: requests by endpoint and status, and bytes sent,
//! as fixed arrays of atomics (no lock, no allocation per request). The route table counts
//! every cache response in one place; a body whose length is known is counted at once, a
//! streamed one (zstd) as its chunks go out. Knows no endpoint beyond its label.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::{Body as _, Frame, SizeHint};

use crate::http::body::Body;

/// A binary-cache endpoint, as the `kind` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheKind {
    CacheInfo,
    Narinfo,
    Nar,
    Log,
}

impl CacheKind {
    pub(crate) const ALL: [CacheKind; 4] = [
        CacheKind::CacheInfo,
        CacheKind::Narinfo,
        CacheKind::Nar,
        CacheKind::Log,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            CacheKind::CacheInfo => "cache_info",
            CacheKind::Narinfo => "narinfo",
            CacheKind::Nar => "nar",
            CacheKind::Log => "log",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Status codes 100–599, one slot each.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

/// Requests and bytes of the cache since the server started.
pub(crate) struct Counters {
    requests: [Box<[AtomicU64; STATUSES]>; 4],
    sent: [AtomicU64; 4],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: std::array::from_fn(|_| Box::new(std::array::from_fn(|_| AtomicU64::new(0)))),
            sent: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    /// Counts `response` to a request of `kind` (without its body for HEAD), and returns it.
    pub(crate) fn record(
        self: &Arc<Self>,
        kind: CacheKind,
        head: bool,
        response: Response<Body>,
    ) -> Response<Body> {
        let status = response.status().as_u16();
        if let Some(slot) = status
            .checked_sub(FIRST_STATUS)
            .and_then(|i| self.requests[kind.index()].get(i as usize))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        if head {
            return response;
        }
        match response.body().size_hint().exact() {
            Some(length) => {
                self.add_sent(kind, length);
                response
            }
            None => {
                let counters = self.clone();
                response.map(|inner| {
                    CountedBody {
                        inner,
                        counters,
                        kind,
                    }
                    .boxed()
                })
            }
        }
    }

    fn add_sent(&self, kind: CacheKind, bytes: u64) {
        if bytes > 0 {
            self.sent[kind.index()].fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Every (status, requests) of `kind` that happened at least once, by status.
    pub(crate) fn requests(&self, kind: CacheKind) -> Vec<(u16, u64)> {
        self.requests[kind.index()]
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then_some((FIRST_STATUS + i as u16, n))
            })
            .collect()
    }

    /// Requests of `kind` answered with `status`.
    pub(crate) fn requests_with(&self, kind: CacheKind, status: u16) -> u64 {
        status
            .checked_sub(FIRST_STATUS)
            .and_then(|i| self.requests[kind.index()].get(i as usize))
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// Body bytes sent for `kind`.
    pub(crate) fn sent(&self, kind: CacheKind) -> u64 {
        self.sent[kind.index()].load(Ordering::Relaxed)
    }
}

/// A streamed body that counts its bytes as they go out.
struct CountedBody {
    inner: Body,
    counters: Arc<Counters>,
    kind: CacheKind,
}

impl hyper::body::Body for CountedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.counters.add_sent(self.kind, data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body;
    use hyper::StatusCode;

    fn reply(status: StatusCode, body: Body) -> Response<Body> {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response
    }

    #[tokio::test]
    async fn statuses_and_bytes_are_counted_whole_or_streamed() {
        let counters = Arc::new(Counters::default());
        counters.record(
            CacheKind::Narinfo,
            false,
            reply(StatusCode::OK, body::full("12345")),
        );
        counters.record(
            CacheKind::Narinfo,
            true,
            reply(StatusCode::OK, body::full("12345")),
        );
        counters.record(
            CacheKind::Narinfo,
            false,
            reply(StatusCode::NOT_FOUND, body::full("")),
        );
        assert_eq!(
            counters.requests(CacheKind::Narinfo),
            vec![(200, 2), (404, 1)]
        );
        assert_eq!(counters.sent(CacheKind::Narinfo), 5);

        let (sender, streamed) = body::channel();
        let response = counters.record(CacheKind::Nar, false, reply(StatusCode::OK, streamed));
        assert_eq!(counters.sent(CacheKind::Nar), 0);
        tokio::spawn(async move {
            sender.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
            sender.send(Ok(Bytes::from_static(b"de"))).await.unwrap();
        });
        let collected = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abcde");
        assert_eq!(counters.sent(CacheKind::Nar), 5);
        assert_eq!(counters.requests_with(CacheKind::Nar, 200), 1);
        assert_eq!(counters.requests_with(CacheKind::Log, 200), 0);
    }
}
