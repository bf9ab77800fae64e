//! Response bodies: whole ones, and streamed ones fed by a blocking writer on another thread
//! through a small bounded channel, so a body of any size costs a few chunks of memory and a
//! slow client slows the writer instead of filling memory.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, io::Error>;

const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body fed by an async task through the returned sender; an `Err` sent aborts it.
pub fn channel() -> (mpsc::Sender<io::Result<Bytes>>, Body) {
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let body = ChannelBody {
        receiver,
        remaining: None,
    };
    (sender, body.boxed())
}

/// A body produced by `produce` on a blocking thread, chunk by chunk. With `exact_len`, the
/// body announces that length and anything else the producer sends, more or less, aborts the
/// response instead of sending a body that contradicts its header. A producer error aborts it
/// too.
pub fn streamed<F>(exact_len: Option<u64>, produce: F) -> Body
where
    F: FnOnce(&mut ChunkSender) -> io::Result<()> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut chunks = ChunkSender {
            sender,
            written: 0,
            limit: exact_len,
        };
        let result = produce(&mut chunks).and_then(|()| chunks.check_complete());
        if let Err(e) = result {
            tracing::debug!("streamed response aborted: {e}");
            let _ = chunks.sender.blocking_send(Err(e));
        }
    });
    ChannelBody {
        receiver,
        remaining: exact_len,
    }
    .boxed()
}

/// The producer's end of a streamed body.
pub struct ChunkSender {
    sender: mpsc::Sender<io::Result<Bytes>>,
    written: u64,
    limit: Option<u64>,
}

impl ChunkSender {
    /// Sends one chunk, waiting while the client is slower than the producer.
    pub fn send(&mut self, chunk: Bytes) -> io::Result<()> {
        self.written += chunk.len() as u64;
        if self.limit.is_some_and(|limit| self.written > limit) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "produced more bytes than announced",
            ));
        }
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// A buffered `Write` into this body; `flush` sends what it holds.
    pub fn writer(&mut self) -> ChunkWriter<'_> {
        ChunkWriter {
            chunks: self,
            buffer: BytesMut::with_capacity(CHUNK),
        }
    }

    fn check_complete(&self) -> io::Result<()> {
        match self.limit {
            Some(limit) if self.written != limit => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "produced {} bytes where {limit} were announced",
                    self.written
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// `Write` over a `ChunkSender`, gathering small writes into chunks.
pub struct ChunkWriter<'a> {
    chunks: &'a mut ChunkSender,
    buffer: BytesMut,
}

impl Write for ChunkWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = self.buffer.split().freeze();
        self.buffer.reserve(CHUNK);
        self.chunks.send(chunk)
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
