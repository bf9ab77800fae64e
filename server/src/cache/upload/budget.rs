//! One account of the disk space uploads in flight may still write: each reserves what it
//! will write (its Content-Length, or, without one, room in steps as it grows) before it
//! writes, and gives it back when it ends. A reservation is granted only while the disk's free
//! space, less everything reserved, keeps `KEEP_FREE_BYTES` free, so concurrent uploads cannot
//! all pass a check and then fill the disk together. Bytes already written count twice while
//! their upload runs (in the free space and in its reservation): on the safe side. Only the
//! bytes as sent are ever written: a NAR is decompressed to be checked, never to disk.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::cache::nar_files::free_space;
use crate::http::response::HttpError;

/// Room left on the disk after any upload: a full disk breaks Nix and the server alike.
pub(super) const KEEP_FREE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(super) struct DiskBudget {
    dir: PathBuf,
    reserved: Arc<Mutex<u64>>,
}

/// Bytes held in the account until dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    budget: DiskBudget,
    bytes: u64,
}

impl DiskBudget {
    pub(super) fn new(dir: PathBuf) -> DiskBudget {
        DiskBudget {
            dir,
            reserved: Default::default(),
        }
    }

    /// Reserves `bytes` for `what`, or refuses with `507` when the disk has no room for them.
    pub(super) fn reserve(&self, bytes: u64, what: &str) -> Result<Reservation, HttpError> {
        let mut reservation = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        reservation.grow(bytes, what)?;
        Ok(reservation)
    }

    /// Bytes reserved by every upload in flight.
    #[cfg(test)]
    pub(super) fn reserved(&self) -> u64 {
        *self.reserved.lock().expect("budget lock")
    }
}

impl Reservation {
    /// Reserves `more` bytes besides those held.
    pub(super) fn grow(&mut self, more: u64, what: &str) -> Result<(), HttpError> {
        let mut reserved = self.budget.reserved.lock().expect("budget lock");
        if let Some((available, _)) = free_space(&self.budget.dir) {
            let wanted = reserved
                .saturating_add(more)
                .saturating_add(KEEP_FREE_BYTES);
            if available < wanted {
                return Err(HttpError::InsufficientStorage(format!(
                    "the server's disk has no room for {what} ({more} more bytes, with {} \
                     reserved by uploads in flight and {KEEP_FREE_BYTES} kept free)",
                    *reserved
                )));
            }
        }
        *reserved += more;
        self.bytes += more;
        Ok(())
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut reserved = self.budget.reserved.lock().expect("budget lock");
        *reserved = reserved.saturating_sub(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_and_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let budget = DiskBudget::new(dir.path().to_path_buf());
        let (available, _) = free_space(dir.path()).unwrap();
        let room = available - KEEP_FREE_BYTES;
        let first = budget.reserve(room / 2, "one").unwrap();
        let mut second = budget.reserve(room / 4, "two").unwrap();
        // The third would pass a check of the free space alone; the account refuses it.
        assert!(matches!(
            budget.reserve(room / 2, "three"),
            Err(HttpError::InsufficientStorage(_))
        ));
        assert!(second.grow(room / 2, "two").is_err());
        assert_eq!(budget.reserved(), room / 2 + room / 4);
        drop(first);
        drop(second);
        assert_eq!(budget.reserved(), 0);
        assert!(budget.reserve(room / 2, "three").is_ok());
    }
}
