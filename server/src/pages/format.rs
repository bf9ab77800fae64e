//! How the pages say things: times as "3 min ago" (with the exact time kept in the
//! element), durations, short revisions, and each job and host state as an icon, a word and
//! a colour class — never the colour alone. Pure.

use std::fmt::Write;
use std::time::SystemTime;

use super::html::Escaped;
use crate::builds::jobs::model::JobState;
use common::protocol::host::HostState;
use common::timestamp;

/// `<time>` with the exact time as its `datetime` and title, "3 min ago" as its text;
/// a dash when there is no time.
pub(super) fn time_ago(at: Option<&str>, now: SystemTime) -> String {
    let Some(at) = at else {
        return "<span class=\"mute\">—</span>".to_string();
    };
    let words = match timestamp::parse(at) {
        Some(then) => ago(now.duration_since(then).map_or(0, |d| d.as_secs())),
        None => at.to_string(),
    };
    format!(
        "<time datetime=\"{0}\" title=\"{0}\">{1}</time>",
        Escaped(at),
        Escaped(&words)
    )
}

/// `seconds` ago, in the largest unit that fits.
pub(super) fn ago(seconds: u64) -> String {
    match seconds {
        0..=4 => "just now".to_string(),
        5..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => {
            let days = seconds / 86_400;
            format!("{days} day{} ago", if days == 1 { "" } else { "s" })
        }
    }
}

/// A job's run time: from start to end, or to now while it runs; `None` before it starts.
pub(super) fn run_time(
    started: Option<&str>,
    finished: Option<&str>,
    now: SystemTime,
) -> Option<u64> {
    let started = timestamp::parse(started?)?;
    let end = finished.and_then(timestamp::parse).unwrap_or(now);
    Some(end.duration_since(started).map_or(0, |d| d.as_secs()))
}

/// `45s`, `3m 05s`, `2h 03m`.
pub(super) fn duration(seconds: u64) -> String {
    let mut out = String::new();
    if seconds < 60 {
        let _ = write!(out, "{seconds}s");
    } else if seconds < 3600 {
        let _ = write!(out, "{}m {:02}s", seconds / 60, seconds % 60);
    } else {
        let _ = write!(out, "{}h {:02}m", seconds / 3600, (seconds % 3600) / 60);
    }
    out
}

/// The first 8 characters of a commit id.
pub(super) fn short_rev(rev: &str) -> &str {
    rev.get(..8).unwrap_or(rev)
}

/// A job's state as a badge: icon and word, coloured by class.
pub(super) fn job_state(state: JobState) -> String {
    let (icon, class) = match state {
        JobState::Queued => ("◷", "mute"),
        JobState::Running => ("▶", "run"),
        JobState::Succeeded => ("✓", "ok"),
        JobState::Failed => ("✗", "bad"),
        JobState::Cancelled => ("⊘", "mute"),
    };
    badge(icon, state.as_str(), class, state.as_str())
}

/// A host's state as a badge.
pub(super) fn host_state(state: HostState) -> String {
    let (icon, class) = match state {
        HostState::NeverSeen => ("?", "mute"),
        HostState::UpToDate => ("✓", "ok"),
        HostState::Behind => ("↓", "warn"),
        HostState::Deploying => ("▶", "run"),
        HostState::RolledBack => ("↺", "bad"),
        HostState::Failed => ("✗", "bad"),
        HostState::Local => ("✎", "warn"),
        HostState::RebootNeeded => ("⟳", "warn"),
    };
    badge(icon, state.words(), class, state.as_str())
}

fn badge(icon: &str, word: &str, class: &str, name: &str) -> String {
    format!(
        "<span class=\"st {class}\" data-state=\"{name}\"><span aria-hidden=\"true\">{icon}</span> {word}</span>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(ago(2), "just now");
        assert_eq!(ago(42), "42 s ago");
        assert_eq!(ago(125), "2 min ago");
        assert_eq!(ago(7300), "2 h ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(duration(7), "7s");
        assert_eq!(duration(185), "3m 05s");
        assert_eq!(duration(7380), "2h 03m");
        let now = timestamp::parse("2026-11-26T06:10:00Z").unwrap();
        assert_eq!(run_time(Some("2026-11-26T06:00:00Z"), None, now), Some(600));
        assert_eq!(
            run_time(
                Some("2026-11-26T06:00:00Z"),
                Some("2026-11-26T06:00:30Z"),
                now
            ),
            Some(30)
        );
        assert_eq!(run_time(None, None, now), None);
        let html = time_ago(Some("2026-11-26T06:09:00Z"), now);
        assert!(html.contains("datetime=\"2026-11-26T06:09:00Z\""), "{html}");
        assert!(html.contains(">1 min ago<"), "{html}");
        assert!(time_ago(None, now + Duration::from_secs(1)).contains('—'));
        assert_eq!(short_rev("0b1c2d3e4f5a"), "0b1c2d3e");
        assert_eq!(short_rev("abc"), "abc");
    }

    #[test]
    fn states_carry_a_word_and_an_icon_not_only_a_colour() {
        let failed = job_state(JobState::Failed);
        assert!(failed.contains("failed") && failed.contains('✗') && failed.contains("bad"));
        let back = host_state(HostState::RolledBack);
        assert!(back.contains("rolled back") && back.contains("data-state=\"rolled_back\""));
    }
}
