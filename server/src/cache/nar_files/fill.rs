//! Filling a kept NAR while the first request streams it: a `Tee` hands each chunk to a
//! `Writer`, whose thread (at a low priority, so the response and compression keep the CPU)
//! writes a temporary file and renames it into place only when whole.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::Inner;
use crate::http::body::ChunkSource;

/// Writes one NAR beside the response that streams it, on a thread of its own (so the copy
/// into the page cache overlaps with sending: the first request is not slowed by it). The
/// file is renamed into place only by `finish`, when complete; dropped before (a client gone, a
/// failed source) it is removed.
pub(crate) struct Writer {
    sender: Option<std::sync::mpsc::SyncSender<Message>>,
    written: u64,
    exact: Option<u64>,
    limit: u64,
}

enum Message {
    Chunk(Bytes),
    Finish,
}

/// Chunks queued for the writing thread at most; past that the response waits for the disk.
const WRITE_QUEUE: usize = 32;

impl Writer {
    pub(super) fn start(
        inner: Arc<Inner>,
        key: String,
        temp: PathBuf,
        exact: Option<u64>,
    ) -> Option<Writer> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(WRITE_QUEUE);
        let limit = inner.limit;
        let spawned = std::thread::Builder::new()
            .name("nar-cache-write".into())
            .spawn({
                let inner = inner.clone();
                let key = key.clone();
                move || {
                    lower_priority();
                    write_file(&inner, &key, &temp, exact, receiver);
                    inner.lock().writing.remove(&key);
                }
            });
        match spawned {
            Ok(_) => Some(Writer {
                sender: Some(sender),
                written: 0,
                exact,
                limit,
            }),
            Err(e) => {
                tracing::warn!("NAR cache: no thread to write {key}: {e}");
                inner.lock().writing.remove(&key);
                None
            }
        }
    }

    pub(crate) fn write(&mut self, chunk: &Bytes) {
        let Some(sender) = self.sender.as_ref() else {
            return;
        };
        self.written += chunk.len() as u64;
        let too_long = self.exact.is_some_and(|exact| self.written > exact);
        if too_long
            || self.written > self.limit
            || sender.send(Message::Chunk(chunk.clone())).is_err()
        {
            self.sender = None;
        }
    }

    /// Whether all of an exact size has arrived: hyper stops asking a body for more once its
    /// Content-Length is sent, so the end of such a source may never be seen.
    fn is_complete(&self) -> bool {
        self.sender.is_some() && self.exact == Some(self.written)
    }

    /// The NAR is whole: the writing thread puts the file in place when it has written it.
    pub(crate) fn finish(mut self) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Message::Finish);
        }
    }
}

/// The writing thread: `temp` filled from `receiver`, renamed to `key` on `Finish` when of the
/// `exact` size, removed otherwise.
fn write_file(
    inner: &Inner,
    key: &str,
    temp: &Path,
    exact: Option<u64>,
    receiver: std::sync::mpsc::Receiver<Message>,
) {
    let mut file = match File::create(temp) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!("NAR cache: failed to create {}: {e}", temp.display());
            return;
        }
    };
    let mut written = 0u64;
    loop {
        match receiver.recv() {
            Ok(Message::Chunk(chunk)) => {
                if let Err(e) = file.write_all(&chunk) {
                    tracing::warn!("NAR cache: failed to write {}: {e}", temp.display());
                    break;
                }
                written += chunk.len() as u64;
            }
            Ok(Message::Finish) if exact.is_none_or(|exact| exact == written) => {
                drop(file);
                inner.evict(written);
                let target = inner.dir.join(key);
                match fs::rename(temp, &target) {
                    Ok(()) => return inner.lock().insert(key.to_string(), written),
                    Err(e) => {
                        tracing::warn!("NAR cache: failed to keep {}: {e}", target.display());
                        break;
                    }
                }
            }
            Ok(Message::Finish) | Err(_) => break,
        }
    }
    let _ = fs::remove_file(temp);
}

/// A source whose chunks are also written to the cache; complete, the file is kept.
pub(crate) struct Tee<S> {
    pub source: S,
    pub writer: Option<Writer>,
}

impl<S: ChunkSource> ChunkSource for Tee<S> {
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        match self.source.next_chunk() {
            Ok(Some(chunk)) => {
                if let Some(writer) = self.writer.as_mut() {
                    writer.write(&chunk);
                    if writer.is_complete() {
                        self.writer.take().expect("a writer").finish();
                    }
                }
                Ok(Some(chunk))
            }
            Ok(None) => {
                if let Some(writer) = self.writer.take() {
                    writer.finish();
                }
                Ok(None)
            }
            Err(e) => {
                self.writer = None;
                Err(e)
            }
        }
    }
}

/// Makes the calling thread yield the CPU to the server's other work (nice 10): the copy to
/// disk can wait, the client and the compressor should not.
fn lower_priority() {
    // SAFETY: setpriority on this thread's id only changes its scheduling priority.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
