//! Response bodies: whole ones; pulled ones, each chunk made on a blocking thread only when the
//! client has taken the one before (so a body of any size costs one chunk of memory, and a
//! client that stops reading holds no thread and no share of the work limit); and ones fed
//! by an async task through a small bounded channel (a followed log).

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, SizeHint};
use tokio::sync::{Semaphore, mpsc};

pub(crate) type Body = BoxBody<Bytes, io::Error>;

/// Chunks an async producer may have in flight (followed logs).
const CHUNKS_IN_FLIGHT: usize = 4;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body fed by an async task through the returned sender; an `Err` sent aborts it.
pub(crate) fn channel() -> (mpsc::Sender<io::Result<Bytes>>, Body) {
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let body = ChannelBody {
        receiver,
        remaining: None,
    };
    (sender, body.boxed())
}

/// Where a pulled body's chunks come from: asked for one chunk at a time, on a blocking
/// thread, only when the client has taken the one before.
pub(crate) trait ChunkSource: Send + 'static {
    /// The next chunk; `None` at the end.
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>>;
}

impl ChunkSource for nix_core::nar_stream::NarStream {
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        nix_core::nar_stream::NarStream::next_chunk(self)
    }
}

/// Any reader as a chunk source (a log file, a compressor), `READ_CHUNK` bytes at a time.
pub(crate) struct ReadSource<R>(pub R);

const READ_CHUNK: usize = 64 * 1024;

impl<R: Read + Send + 'static> ChunkSource for ReadSource<R> {
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let mut buffer = BytesMut::zeroed(READ_CHUNK);
        let mut filled = 0;
        while filled < READ_CHUNK {
            match self.0.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buffer.truncate(filled);
        Ok((filled > 0).then(|| buffer.freeze()))
    }
}

/// A body made from `source` as the client takes it: each chunk is made on a blocking thread
/// when the one before has been taken, holding a permit of `work` (when given) only while it
/// is made. A client that does not read holds no thread and no permit, only the source's
/// state. With `exact_len`, the body announces that length, and a source that makes more or
/// less aborts the response instead of sending a body that contradicts its header; a source
/// error aborts it too.
pub(crate) fn pulled(
    source: impl ChunkSource,
    exact_len: Option<u64>,
    work: Option<Arc<Semaphore>>,
) -> Body {
    PulledBody {
        state: std::sync::Mutex::new(State::Idle(Box::new(source))),
        remaining: exact_len,
        work,
    }
    .boxed()
}

type Made = (Box<dyn ChunkSource>, io::Result<Option<Bytes>>);
type Making = Pin<Box<dyn Future<Output = Result<Made, tokio::task::JoinError>> + Send>>;

enum State {
    Idle(Box<dyn ChunkSource>),
    Making(Making),
    Done,
}

struct PulledBody {
    /// In a mutex only to be `Sync` as a boxed body must be; polling has `&mut` and never
    /// locks (`get_mut`).
    state: std::sync::Mutex<State>,
    remaining: Option<u64>,
    work: Option<Arc<Semaphore>>,
}

impl PulledBody {
    fn state(&mut self) -> &mut State {
        self.state.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&self, mut source: Box<dyn ChunkSource>) -> Making {
        let make = move |permit| {
            move || {
                let made = source.next_chunk();
                drop(permit);
                (source, made)
            }
        };
        match self.work.clone() {
            None => Box::pin(tokio::task::spawn_blocking(make(None))),
            Some(work) => match work.clone().try_acquire_owned() {
                Ok(permit) => Box::pin(tokio::task::spawn_blocking(make(Some(permit)))),
                Err(_) => Box::pin(async move {
                    let permit = work.acquire_owned().await.ok();
                    tokio::task::spawn_blocking(make(permit)).await
                }),
            },
        }
    }
}

impl hyper::body::Body for PulledBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            match std::mem::replace(self.state(), State::Done) {
                State::Done => return Poll::Ready(None),
                State::Idle(source) => {
                    let making = self.start(source);
                    *self.state() = State::Making(making);
                }
                State::Making(mut making) => {
                    let made = match making.as_mut().poll(cx) {
                        Poll::Pending => {
                            *self.state() = State::Making(making);
                            return Poll::Pending;
                        }
                        Poll::Ready(made) => made,
                    };
                    return Poll::Ready(match made {
                        Err(e) => Some(Err(io::Error::other(format!(
                            "making the response failed: {e}"
                        )))),
                        Ok((_, Err(e))) => {
                            tracing::debug!("streamed response aborted: {e}");
                            Some(Err(e))
                        }
                        Ok((_, Ok(None))) => match self.remaining {
                            Some(left) if left > 0 => Some(Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("the body ended {left} bytes short of its length"),
                            ))),
                            _ => None,
                        },
                        Ok((source, Ok(Some(chunk)))) => {
                            let len = chunk.len() as u64;
                            match self.remaining.as_mut() {
                                Some(left) if len > *left => Some(Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "the body is longer than its length",
                                ))),
                                left => {
                                    if let Some(left) = left {
                                        *left -= len;
                                    }
                                    *self.state() = State::Idle(source);
                                    Some(Ok(Frame::data(chunk)))
                                }
                            }
                        }
                    });
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state
            .try_lock()
            .is_ok_and(|state| matches!(*state, State::Done))
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

struct ChannelBody {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    remaining: Option<u64>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(remaining) = self.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
