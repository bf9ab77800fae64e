//! A connection that gives up on a reader who takes nothing: when a write has made no
//! progress for the send timeout (the client's window stays shut), the write fails and the
//! connection is dropped, so a client that asks and never reads holds nothing for long.
//! Reads are passed through (the header read timeout and the request timeout bound them).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::Sleep;

pub(crate) struct SendTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Running while a write waits; reset by any progress.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    pub(crate) fn new(inner: T, timeout: Duration) -> Self {
        SendTimeout {
            inner,
            timeout,
            waiting: None,
        }
    }

    /// After a write was pending: has the reader stalled past the timeout?
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.timeout;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        waiting.as_mut().poll(cx).is_ready()
    }

    fn progressed<R>(&mut self, result: Poll<R>, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        match result {
            Poll::Ready(value) => {
                self.waiting = None;
                Poll::Ready(Ok(value))
            }
            Poll::Pending if self.stalled(cx) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing for the send timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Read + Unpin> Read for SendTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for SendTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        match result {
            Poll::Ready(Ok(n)) => self.progressed(Poll::Ready(n), cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.progressed(Poll::<usize>::Pending, cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        match result {
            Poll::Ready(Ok(n)) => self.progressed(Poll::Ready(n), cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.progressed(Poll::<usize>::Pending, cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        match result {
            Poll::Ready(Ok(())) => self.progressed(Poll::Ready(()), cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.progressed(Poll::<()>::Pending, cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
