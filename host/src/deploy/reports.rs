//! Telling the box: the report of each outcome, and the reports it could not take, kept in
//! the deploy state dir and sent (oldest first) when it answers again, so that what the host
//! did while the box was away is never lost. Not for deciding what to report (see `outcome`).

use std::io::Write;
use std::time::Duration;

use anyhow::Result;

use super::outcome::Outcome;
use super::Agent;
use common::protocol::host::Report;

impl Agent<'_> {
    pub(super) fn send(&self, report: &Report) -> Result<()> {
        let body = serde_json::to_value(report).expect("serialisable report");
        self.api
            .post_json(&format!("/api/v1/hosts/{}/report", self.host), Some(&body))?;
        Ok(())
    }

    /// Sends the reports an earlier run could not, oldest first; stops at the first the box
    /// cannot take (a report it answers with an error is dropped: it will never take it).
    fn deliver_unsent(&self) -> Result<()> {
        let unsent = self.memory.unsent()?;
        for (n, report) in unsent.iter().enumerate() {
            if let Err(e) = self.send(report) {
                if self.api.answers(Duration::from_secs(5)) {
                    self.log
                        .line(&format!("the box refused a queued report, dropped: {e:#}"));
                    continue;
                }
                self.memory.sent(n)?;
                return Err(e);
            }
        }
        if !unsent.is_empty() {
            self.log.line(&format!(
                "sent {} report(s) the box could not take before",
                unsent.len()
            ));
            self.memory.sent(unsent.len())?;
        }
        Ok(())
    }

    /// Best effort, for a turn that goes on whatever happens.
    pub fn send_unsent(&self) {
        if let Err(e) = self.deliver_unsent() {
            self.log
                .line(&format!("queued reports still wait for the box: {e:#}"));
        }
    }

    /// Sends `report` after any queued ones, or queues it.
    pub fn send_or_queue(&self, report: &Report) {
        if let Err(e) = self.deliver_unsent().and_then(|()| self.send(report)) {
            self.log.line(&format!(
                "the report did not reach the box and is kept to send later: {e:#}"
            ));
            if let Err(e) = self.memory.queue(report) {
                self.log.line(&format!("could not keep the report: {e:#}"));
            }
        }
    }

    /// Reports the outcome, tells the person or script, and gives its exit code.
    pub(super) fn finish(
        &self,
        outcome: &Outcome,
        report: bool,
        json: bool,
        out: &mut dyn Write,
    ) -> Result<i32> {
        let code = outcome.exit_code();
        let mut undelivered = None;
        if let Some(report) = outcome.report().filter(|_| report) {
            if let Err(e) = self.deliver_unsent().and_then(|()| self.send(report)) {
                if !outcome.changed_the_host() {
                    return Err(e);
                }
                // What the host did stands; the box hears of it when it answers again.
                self.memory.queue(report)?;
                undelivered = Some(e);
            }
        }
        if json {
            writeln!(out, "{}", outcome.json(&self.host))?;
        } else {
            writeln!(out, "{}", outcome.summary(&self.host))?;
        }
        out.flush()?;
        match undelivered {
            Some(e) => Err(e.context("the report is kept and sent when the box answers")),
            None => Ok(code),
        }
    }
}
