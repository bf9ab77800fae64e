//! Tells, cheaply and without delay, whether Nix may have changed its database since the last
//! look: an inotify watch on the database directory. Every commit Nix makes writes to the
//! database or its WAL, which queues an event in the kernel before the writing command
//! returns; draining the queue (one non-blocking read) before each answer therefore never
//! misses a change that finished before the request came. Works for root and for the
//! daemon's unprivileged clients alike (the directory is world-readable on NixOS).

use std::path::Path;
use std::sync::Mutex;

use inotify::{Inotify, WatchMask};

pub(super) struct ChangeWatch {
    state: Mutex<WatchState>,
}

struct WatchState {
    inotify: Inotify,
    generation: u64,
    buffer: Vec<u8>,
}

impl ChangeWatch {
    /// Watches `db_dir` (`/nix/var/nix/db`); `None` when it cannot (no directory, no inotify).
    pub(super) fn new(db_dir: &Path) -> Option<ChangeWatch> {
        let inotify = Inotify::init().ok()?;
        let mask = WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::CLOSE_WRITE
            | WatchMask::ATTRIB
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        if let Err(e) = inotify.watches().add(db_dir, mask) {
            tracing::info!(
                "cannot watch {} ({e}); narinfos will not be remembered",
                db_dir.display()
            );
            return None;
        }
        Some(ChangeWatch {
            state: Mutex::new(WatchState {
                inotify,
                generation: 0,
                buffer: vec![0u8; 16 * 1024],
            }),
        })
    }

    /// A number that differs from every earlier answer when the database may have changed
    /// since then; `None` when that cannot be told (the watch failed).
    pub(super) fn marker(&self) -> Option<u64> {
        // Draining and reading the generation under one lock: a thread that finds the queue
        // empty because another one just drained it still sees that thread's bump.
        let mut state = self.state.lock().expect("watch lock");
        let WatchState {
            inotify,
            generation,
            buffer,
        } = &mut *state;
        loop {
            match inotify.read_events(buffer) {
                Ok(events) => {
                    if events.count() > 0 {
                        *generation += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(*generation),
                Err(e) => {
                    tracing::warn!("reading database change events failed: {e}");
                    return None;
                }
            }
        }
    }
}
