//! Delivering alerts: one worker POSTs them in order, each tried again with backoff (1 s,
//! doubling to a minute between tries) for up to 15 minutes while the receiver is down or
//! answers 5xx or 429. A full queue drops the alert with a warning. Nothing here blocks a
//! build or a request: the queue is fed with `try_send`, and a dead receiver is only logged.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::alert::{Alert, Request};
use common::config::NotifyFormat;

/// Alerts waiting for delivery at most.
pub(super) const QUEUE: usize = 128;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// How long an alert is tried before it is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(15 * 60);
/// One try: connecting and the whole exchange.
const TRY_TIMEOUT: Duration = Duration::from_secs(15);

/// Why one try did not deliver.
enum Failure {
    /// Worth trying again: no connection, a time-out, 5xx, 429.
    Passing(String),
    /// The receiver refused the alert itself (another 4xx): trying again will not help.
    Refused(String),
}

/// `url` as logs show it: without a user, password or query, which may hold a token.
pub(super) fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}{path}")
}

/// Delivers every alert of `alerts` to `url`, in order, until the channel closes.
pub(super) async fn run(url: String, format: NotifyFormat, mut alerts: mpsc::Receiver<Alert>) {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(TRY_TIMEOUT)
        .redirects(0)
        .build();
    let target = Target {
        shown: shown(&url),
        url,
    };
    while let Some(alert) = alerts.recv().await {
        deliver(&agent, &target, alert.request(format), &alert).await;
    }
}

/// Where alerts go, and how logs name it.
struct Target {
    url: String,
    shown: String,
}

async fn deliver(agent: &ureq::Agent, target: &Target, request: Request, alert: &Alert) {
    let url = &target.shown;
    let first = Instant::now();
    let mut wait = FIRST_RETRY;
    let request = std::sync::Arc::new(request);
    for attempt in 1.. {
        let (agent, url_owned, sent) = (agent.clone(), target.url.clone(), request.clone());
        let result = tokio::task::spawn_blocking(move || post(&agent, &url_owned, &sent))
            .await
            .unwrap_or_else(|e| Err(Failure::Passing(format!("the sending task failed: {e}"))));
        let reason = match result {
            Ok(()) => {
                tracing::info!("alert {} sent to {url}", alert.event.as_str());
                return;
            }
            Err(Failure::Refused(reason)) => {
                tracing::warn!(
                    "the alert receiver {url} refused the {} alert ({reason}); not trying again",
                    alert.event.as_str()
                );
                return;
            }
            Err(Failure::Passing(reason)) => reason,
        };
        if first.elapsed() + wait > GIVE_UP_AFTER {
            tracing::warn!(
                "gave up sending the {} alert to {url} after {attempt} tries: {reason}",
                alert.event.as_str()
            );
            return;
        }
        if attempt == 1 {
            tracing::warn!(
                "sending the {} alert to {url} failed ({reason}); trying again with backoff",
                alert.event.as_str()
            );
        } else {
            tracing::debug!("alert try {attempt} to {url} failed: {reason}");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

fn post(agent: &ureq::Agent, url: &str, request: &Request) -> Result<(), Failure> {
    let mut call = agent
        .post(url)
        .set("Content-Type", request.content_type)
        .set(
            "User-Agent",
            concat!("atuin-bootstrap/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &request.headers {
        call = call.set(name, value);
    }
    match call.send_bytes(&request.body) {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(status, _)) if status >= 500 || status == 429 => {
            Err(Failure::Passing(format!("it answered {status}")))
        }
        Err(ureq::Error::Status(status, _)) => {
            Err(Failure::Refused(format!("it answered {status}")))
        }
        Err(ureq::Error::Transport(e)) => Err(Failure::Passing(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn logs_name_the_receiver_without_its_secrets() {
        assert_eq!(
            super::shown("https://me:s3cret@ntfy.example.org/fleet?auth=tok#x"),
            "https://ntfy.example.org/fleet"
        );
        assert_eq!(
            super::shown("http://127.0.0.1:9/hook"),
            "http://127.0.0.1:9/hook"
        );
    }
}
