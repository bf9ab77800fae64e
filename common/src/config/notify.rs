//! The `[notify]` keys as the server uses them: where alerts go, in which format, and for
//! which events. Only the settings; sending is the `notify` part's.

use anyhow::{Result, bail};

use super::found::Sourced;

/// Alerts: where they are POSTed, how, and for which events.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// `None`: no alerts (the key is empty).
    pub url: Option<Sourced<String>>,
    /// `notify.format`: the body an alert is sent as.
    pub format: Sourced<NotifyFormat>,
    /// `notify.on`: the events that alert.
    pub on: Sourced<Vec<NotifyEvent>>,
}

/// The body an alert is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// `{"event": …, "message": …, "job": …, "host": …, "url": …}`.
    Json,
    /// ntfy's: the message as a plain-text body, with Title, Tags and Click headers.
    Ntfy,
}

impl NotifyFormat {
    /// The key's text (`json`, `ntfy`); an error naming both for anything else.
    pub fn parse(text: &str) -> Result<NotifyFormat> {
        match text {
            "json" => Ok(NotifyFormat::Json),
            "ntfy" => Ok(NotifyFormat::Ntfy),
            other => bail!("expected \"json\" or \"ntfy\", got {other:?}"),
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    /// A job failed.
    JobFailed,
    /// The first succeeded job for a target set after one or more failed ones.
    JobRecovered,
    /// A host reported that it rolled back.
    HostRolledBack,
    /// Publishing to the bucket has failed for longer than `publish.alert_after`.
    PublishFailing,
}

impl NotifyEvent {
    /// Every event an alert can be about.
    pub const ALL: [NotifyEvent; 4] = [
        NotifyEvent::JobFailed,
        NotifyEvent::JobRecovered,
        NotifyEvent::HostRolledBack,
        NotifyEvent::PublishFailing,
    ];

    /// The event's name, as in `notify.on` and the alert's `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::JobFailed => "job_failed",
            NotifyEvent::JobRecovered => "job_recovered",
            NotifyEvent::HostRolledBack => "host_rolled_back",
            NotifyEvent::PublishFailing => "publish_failing",
        }
    }

    /// The event named `text`; an error listing the known names for anything else.
    pub fn parse(text: &str) -> Result<NotifyEvent> {
        NotifyEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown event {text:?} (job_failed, job_recovered, host_rolled_back, publish_failing)"
                )
            })
    }
}

/// An alert URL: empty (none), or http(s).
pub(super) fn parse_url(text: String) -> Result<Option<String>> {
    let text = text.trim().to_string();
    if text.is_empty() {
        return Ok(None);
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        bail!("expected an http:// or https:// URL, got {text:?}");
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_formats_and_urls_parse() {
        for event in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::parse(event.as_str()).unwrap(), event);
        }
        assert!(NotifyEvent::parse("job_exploded").is_err());
        assert_eq!(NotifyFormat::parse("ntfy").unwrap(), NotifyFormat::Ntfy);
        assert!(NotifyFormat::parse("xml").is_err());
        assert_eq!(parse_url(" ".into()).unwrap(), None);
        assert!(parse_url("ftp://x".into()).is_err());
        assert_eq!(
            parse_url("https://ntfy.sh/box".into()).unwrap().as_deref(),
            Some("https://ntfy.sh/box")
        );
    }
}
