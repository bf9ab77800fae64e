//! Webhook deliveries already answered, and the job each was answered with. A forge delivers
//! one push again (by hand, or when our answer was slow), under the same delivery id; the
//! repeat must not make another job. They live in the job database, so a redelivery after a
//! restart is known too; only the newest `KEEP` are kept. What a delivery id is (which header)
//! is the webhooks' business, not this file's.

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::{JobHistory, job_by_id};
use crate::builds::jobs::model::Job;
use common::timestamp::now;

/// Deliveries remembered at most: forges redeliver within hours, not thousands of pushes later.
const KEEP: i64 = 1000;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    forge TEXT NOT NULL,
    delivery TEXT NOT NULL,
    job INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (forge, delivery)
);
";

impl JobHistory {
    /// The job delivery `delivery` of `forge` was answered with, when it came before.
    pub(crate) fn job_of_delivery(&self, forge: &str, delivery: &str) -> Result<Option<Job>> {
        let conn = self.lock();
        let job: Option<i64> = conn
            .query_row(
                "SELECT job FROM webhook_deliveries WHERE forge = ?1 AND delivery = ?2",
                params![forge, delivery],
                |row| row.get(0),
            )
            .optional()?;
        match job {
            Some(id) => Ok(job_by_id(&conn, id).optional()?),
            None => Ok(None),
        }
    }

    /// Remembers that delivery `delivery` of `forge` was answered with job `job` (the first
    /// answer stays), forgetting all but the newest `KEEP` deliveries.
    pub(crate) fn remember_delivery(&self, forge: &str, delivery: &str, job: u64) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (forge, delivery, job, received_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![forge, delivery, job as i64, now()],
        )?;
        tx.execute(
            "DELETE FROM webhook_deliveries \
             WHERE seq <= (SELECT MAX(seq) FROM webhook_deliveries) - ?1",
            [KEEP],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::JobHistory;
    use super::KEEP;
    use crate::builds::jobs::model::{NewJob, Trigger};

    #[test]
    fn a_delivery_is_answered_with_its_first_job_and_old_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        let store = JobHistory::open(&path).unwrap();
        let (job, _) = store
            .create(&NewJob {
                targets: vec!["a".into()],
                attrs: vec!["a".into()],
                rev: "r1".into(),
                trigger: Trigger::Webhook,
                inputs: Default::default(),
                failed: None,
            })
            .unwrap();
        assert!(store.job_of_delivery("github", "d-1").unwrap().is_none());
        store.remember_delivery("github", "d-1", job.id).unwrap();
        store.remember_delivery("github", "d-1", 999).unwrap();
        assert_eq!(
            store.job_of_delivery("github", "d-1").unwrap().unwrap().id,
            job.id
        );
        // Another forge's id is another delivery.
        assert!(store.job_of_delivery("forgejo", "d-1").unwrap().is_none());

        // Kept across a restart, and bounded.
        drop(store);
        let store = JobHistory::open(&path).unwrap();
        assert!(store.job_of_delivery("github", "d-1").unwrap().is_some());
        for n in 0..KEEP {
            store
                .remember_delivery("github", &format!("later-{n}"), job.id)
                .unwrap();
        }
        assert!(store.job_of_delivery("github", "d-1").unwrap().is_none());
        assert!(
            store
                .job_of_delivery("github", "later-0")
                .unwrap()
                .is_some()
        );
    }
}
