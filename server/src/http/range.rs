//! `Range: bytes=…` of a response whose length is known: one range (the first of several is
//! not picked: a client asking for several gets the whole body, as RFC 9110 allows), or the
//! whole body when the header is absent, malformed or under an `If-Range` (we send no
//! validator it could match). Knows no endpoint.

use hyper::header::{HeaderMap, IF_RANGE, RANGE};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// Send everything (200).
    Whole,
    /// Send bytes `start..=end` (206).
    Part { start: u64, end: u64 },
    /// Nothing of the body is in the range (416).
    Unsatisfiable,
}

pub(crate) fn requested(headers: &HeaderMap, len: u64) -> Ranged {
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

/// Property tests: a `Range` header is whatever a client sends. Any value gives a range inside
/// the body or none, without a panic, for any body length; a range written the usual way reads
/// back as written.
#[cfg(test)]
mod fuzz {
    use hyper::header::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn length() -> impl Strategy<Value = u64> {
        prop_oneof![0..4u64, 0..100_000u64, any::<u64>(), Just(u64::MAX)]
    }

    fn inside(ranged: &Ranged, len: u64) -> Result<(), TestCaseError> {
        if let Ranged::Part { start, end } = *ranged {
            prop_assert!(start <= end && end < len, "{ranged:?} of {len}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(nix_core::fuzz_support::config(1))]

        #[test]
        fn any_value_is_a_range_inside_or_none(
            value in prop_oneof!["\\PC{0,40}", "bytes=[0-9 ,-]{0,30}", "bytes= ?[0-9]{0,25}-[0-9]{0,25}"],
            len in length(),
        ) {
            inside(&parse(&value, len), len)?;
        }

        #[test]
        fn any_header_bytes_are_a_range_inside_or_none(
            value in proptest::collection::vec(any::<u8>(), 0..40),
            if_range in any::<bool>(),
            len in length(),
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.insert(RANGE, value);
            }
            if if_range {
                headers.insert(IF_RANGE, HeaderValue::from_static("\"x\""));
            }
            inside(&requested(&headers, len), len)?;
        }

        #[test]
        fn a_written_range_reads_back(len in 1..u64::MAX, a in any::<u64>(), b in any::<u64>()) {
            let (start, end) = ((a % len).min(b % len), (a % len).max(b % len));
            prop_assert_eq!(parse(&format!("bytes={start}-{end}"), len), Ranged::Part { start, end });
            prop_assert_eq!(parse(&format!("bytes={start}-"), len), Ranged::Part { start, end: len - 1 });
            let suffix = end - start + 1;
            prop_assert_eq!(
                parse(&format!("bytes=-{suffix}"), len),
                Ranged::Part { start: len - suffix, end: len - 1 }
            );
        }
    }
}
