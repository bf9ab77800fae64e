//! `Range: bytes=…` of a response whose length is known: one range (the first of several is
//! not picked: a client asking for several gets the whole body, as RFC 9110 allows), or the
//! whole body when the header is absent, malformed or under an `If-Range` (we send no
//! validator it could match). Knows no endpoint.

use hyper::header::{HeaderMap, IF_RANGE, RANGE};

#[derive(Debug, PartialEq, Eq)]
pub enum Ranged {
    /// Send everything (200).
    Whole,
    /// Send bytes `start..=end` (206).
    Part { start: u64, end: u64 },
    /// Nothing of the body is in the range (416).
    Unsatisfiable,
}

pub fn requested(headers: &HeaderMap, len: u64) -> Ranged {
    if headers.contains_key(IF_RANGE) {
        return Ranged::Whole;
    }
    match headers.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => parse(value, len),
        None => Ranged::Whole,
    }
}

fn parse(value: &str, len: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-N`: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start: len.saturating_sub(suffix),
                    end: len - 1,
                }
            }
        }
        (false, Some(start), last) if last.is_some() || last_is_empty(last, spec) => {
            if start >= len {
                return Ranged::Unsatisfiable;
            }
            match last {
                Some(end) if end < start => Ranged::Whole,
                Some(end) => Ranged::Part {
                    start,
                    end: end.min(len - 1),
                },
                None => Ranged::Part {
                    start,
                    end: len - 1,
                },
            }
        }
        _ => Ranged::Whole,
    }
}

/// `N-` (open end) as opposed to `N-garbage`.
fn last_is_empty(last: Option<u64>, spec: &str) -> bool {
    last.is_none() && spec.trim().ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse("bytes=0-9", 100), Ranged::Part { start: 0, end: 9 });
        assert_eq!(parse("bytes=90-", 100), Ranged::Part { start: 90, end: 99 });
        assert_eq!(
            parse("bytes=90-500", 100),
            Ranged::Part { start: 90, end: 99 }
        );
        assert_eq!(parse("bytes=-10", 100), Ranged::Part { start: 90, end: 99 });
        assert_eq!(parse("bytes=-500", 100), Ranged::Part { start: 0, end: 99 });
        assert_eq!(parse("bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=5-2", 100), Ranged::Whole);
        assert_eq!(parse("bytes=0-1,5-6", 100), Ranged::Whole);
        assert_eq!(parse("items=0-1", 100), Ranged::Whole);
        assert_eq!(parse("bytes=x-1", 100), Ranged::Whole);
        assert_eq!(parse("bytes=1-x", 100), Ranged::Whole);
    }
}
