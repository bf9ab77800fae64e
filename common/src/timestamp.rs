//! Times as the API and the state files write them: RFC 3339 in UTC, to the second
//! (`2026-11-26T06:00:00Z`), and read back.

use std::time::SystemTime;

/// `at` as `2026-11-26T06:00:00Z`.
pub fn format(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Now, as `2026-11-26T06:00:00Z`.
pub fn now() -> String {
    format(SystemTime::now())
}

/// A time written as above, as seconds since the Unix epoch; `None` when it is not one.
pub fn unix_seconds(text: &str) -> Option<u64> {
    let at = humantime::parse_rfc3339(text).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

/// A time written as above, parsed; `None` when it is not one.
pub fn parse(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_round_trip() {
        let at = super::parse("2026-11-26T06:00:00Z").unwrap();
        assert_eq!(super::format(at), "2026-11-26T06:00:00Z");
        assert_eq!(super::unix_seconds("1970-01-01T00:01:40Z"), Some(100));
        assert_eq!(super::unix_seconds("yesterday"), None);
    }
}
