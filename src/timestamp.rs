//! Times as the API and the state files write them: RFC 3339 in UTC, to the second
//! (`2026-11-26T06:00:00Z`).

use std::time::SystemTime;

/// `at` as `2026-11-26T06:00:00Z`.
pub fn format(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Now, as `2026-11-26T06:00:00Z`.
pub fn now() -> String {
    format(SystemTime::now())
}
