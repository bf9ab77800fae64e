//! Sending a kept NAR from its memory map, in windows that are views of the map (no copy),
//! each read ahead by the kernel on the blocking thread that makes it.

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::SEND_WINDOW;
use crate::http::body::ChunkSource;

/// A mapped file's bytes `start..end`, in windows that are views of the map.
pub(crate) struct MappedChunks {
    pub map: Arc<memmap2::Mmap>,
    pub start: usize,
    pub end: usize,
}

struct Window {
    map: Arc<memmap2::Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

impl ChunkSource for MappedChunks {
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.start >= self.end {
            return Ok(None);
        }
        let end = self.end.min(self.start + SEND_WINDOW);
        let window = Window {
            map: self.map.clone(),
            start: self.start,
            end,
        };
        // Ask the kernel to read the window ahead here, on the blocking thread, so the
        // socket write that copies it rarely waits for the disk.
        let _ = self
            .map
            .advise_range(memmap2::Advice::WillNeed, self.start, end - self.start);
        self.start = end;
        Ok(Some(Bytes::from_owner(window)))
    }
}
