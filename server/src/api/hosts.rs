//! `/api/v1/hosts…`: the fleet view, one host, and a host's deploy report (pins and retries:
//! `pins`).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::api::AppState;
use crate::fleet::HostLookup;
use crate::http::request_body;
use crate::http::response::{self, HttpError, HttpResult};
use common::protocol::host::{Report, is_valid_host_name};
use nix_core::store_path::is_valid_basename;

/// Longest message a report may carry; longer ones are cut, with a mark saying so (the host
/// keeps the full text in its own log).
pub(crate) const MAX_MESSAGE: usize = 4 * 1024;
/// Longest message of a host in `/api/v1/status`, which lists every host: the whole message is
/// under `/api/v1/hosts/NAME`.
pub(crate) const MAX_STATUS_MESSAGE: usize = 256;

/// `message` cut to at most `max` bytes (at a character boundary), marked as cut.
pub(crate) fn cut(message: &mut String, max: usize) {
    if message.len() <= max {
        return;
    }
    let mark = " … (cut)";
    let mut end = max.saturating_sub(mark.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(mark);
}

pub(crate) async fn list(state: &AppState) -> HttpResult {
    let hosts = state.fleet.hosts(&state.builds).await?;
    Ok(response::json(StatusCode::OK, &json!({ "hosts": hosts })))
}

pub(crate) async fn get(state: &AppState, name: &str) -> HttpResult {
    check_name(name)?;
    match state.fleet.lookup(&state.builds, name).await? {
        HostLookup::Found(host) => Ok(response::json(StatusCode::OK, &host)),
        HostLookup::Unknown(known) => Err(unknown_host(name, &known)),
    }
}

pub(crate) async fn report(state: &AppState, name: &str, request: Request<Incoming>) -> HttpResult {
    check_name(name)?;
    let Some(mut report) =
        request_body::json::<Option<Report>>(request, state.config.request_timeout.value).await?
    else {
        return Err(HttpError::BadRequest(
            "a report needs a body: {\"state\": …, \"path\": \"/nix/store/…\"}".into(),
        ));
    };
    check_report(&mut report)?;
    let host = state.fleet.report(&state.builds, name, &report).await?;
    Ok(response::json(StatusCode::OK, &host))
}

/// Refuses a report whose paths are not store paths, and cuts its message to `MAX_MESSAGE`.
fn check_report(report: &mut Report) -> Result<(), HttpError> {
    check_store_path(&report.path, "path")?;
    if let Some(wanted) = &report.wanted {
        check_store_path(wanted, "wanted")?;
    }
    if let Some(message) = &mut report.message {
        cut(message, MAX_MESSAGE);
    }
    Ok(())
}

pub(super) fn check_name(name: &str) -> Result<(), HttpError> {
    if is_valid_host_name(name) {
        Ok(())
    } else {
        Err(HttpError::BadRequest(format!(
            "{name:?} is not a host name (letters, digits, '-', '_' and '.')"
        )))
    }
}

fn check_store_path(path: &str, field: &str) -> Result<(), HttpError> {
    let fine = path
        .strip_prefix("/nix/store/")
        .is_some_and(is_valid_basename);
    if fine {
        Ok(())
    } else {
        Err(HttpError::BadRequest(format!(
            "the report's {field} must be a store path (/nix/store/<hash>-<name>), not {path:?}"
        )))
    }
}

pub(super) fn unknown_host(name: &str, known: &[String]) -> HttpError {
    let known = if known.is_empty() {
        "none yet".to_string()
    } else {
        known.join(", ")
    };
    HttpError::NotFound(format!(
        "no host named {name:?} in the fleet (known hosts: {known})"
    ))
}

/// Property tests: a report is a host's body, and a host may be anything that holds a token.
/// Any body is refused as a bad request or taken with store paths and a message of at most
/// `MAX_MESSAGE` bytes, without a panic; a report a host writes reads back as written; any
/// host name in the URL is refused or is a plain name.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use common::protocol::host::ReportState;

    /// The body as the server reads it: JSON of an optional report, then checked.
    fn read(body: &[u8]) -> Result<Option<Report>, HttpError> {
        let report: Option<Report> = serde_json::from_slice(body)
            .map_err(|e| HttpError::BadRequest(format!("malformed request body: {e}")))?;
        report
            .map(|mut report| check_report(&mut report).map(|()| report))
            .transpose()
    }

    fn store_path() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => ("[0-9a-dfgi-np-sv-z]{32}", "[a-zA-Z0-9+_?=-][a-zA-Z0-9+._?=-]{0,30}")
                .prop_map(|(hash, name)| format!("/nix/store/{hash}-{name}")),
            1 => "\\PC{0,60}",
        ]
    }

    fn report() -> impl Strategy<Value = Report> {
        (
            proptest::sample::select(ReportState::ALL.to_vec()),
            store_path(),
            proptest::option::of(prop_oneof![
                "\\PC{0,100}".boxed(),
                // Past `MAX_MESSAGE`, made by repeating: generating 4 KiB a character at a
                // time is slow.
                ("\\PC{1,8}", 500..1500usize)
                    .prop_map(|(s, n)| s.repeat(n))
                    .boxed(),
            ]),
            proptest::option::of(store_path()),
        )
            .prop_map(|(state, path, message, wanted)| Report {
                state,
                path,
                message,
                wanted,
            })
    }

    proptest! {
        #![proptest_config(nix_core::fuzz_support::config(1))]

        #[test]
        fn any_body_is_refused_as_bad_or_taken_checked(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                "\\{\"state\": ?\"[a-z_]{0,14}\", ?\"path\": ?\"\\PC{0,60}\"(, ?\"[a-z]{1,8}\": ?(null|\"\\PC{0,20}\"|[0-9]{1,30}|\\[\\]))?\\}"
                    .prop_map(String::into_bytes),
            ],
        ) {
            match read(&body) {
                Ok(Some(report)) => {
                    prop_assert!(report.path.starts_with("/nix/store/"));
                    prop_assert!(report.message.is_none_or(|m| m.len() <= MAX_MESSAGE));
                }
                Ok(None) | Err(HttpError::BadRequest(_)) => {}
                Err(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }

        #[test]
        fn a_written_report_reads_back(report in report()) {
            let body = serde_json::to_vec(&report).unwrap();
            let fine = |p: &str| p.strip_prefix("/nix/store/").is_some_and(is_valid_basename);
            match read(&body) {
                Ok(Some(read)) => {
                    prop_assert!(fine(&report.path) && report.wanted.as_deref().is_none_or(fine));
                    prop_assert_eq!(&read.state, &report.state);
                    prop_assert_eq!(&read.path, &report.path);
                    prop_assert_eq!(&read.wanted, &report.wanted);
                    let (sent, kept) = (report.message.unwrap_or_default(), read.message.unwrap_or_default());
                    if sent.len() <= MAX_MESSAGE {
                        prop_assert_eq!(kept, sent);
                    } else {
                        prop_assert!(kept.len() <= MAX_MESSAGE && kept.ends_with("(cut)"));
                        prop_assert!(sent.starts_with(kept.trim_end_matches(" … (cut)")));
                    }
                }
                Ok(None) => return Err(TestCaseError::fail("a report read as none")),
                Err(e) => prop_assert!(!fine(&report.path) || !report.wanted.as_deref().is_none_or(fine), "{e:?}"),
            }
        }

        #[test]
        fn any_name_is_refused_or_plain(name in "\\PC{0,70}") {
            if check_name(&name).is_ok() {
                prop_assert!(!name.contains('/') && name != "." && name != ".." && name.len() <= 63);
            }
        }

        #[test]
        fn a_cut_message_fits(message in "\\PC{0,300}", max in 0..300usize) {
            let mut cut_message = message.clone();
            cut(&mut cut_message, max);
            if message.len() <= max {
                prop_assert_eq!(cut_message, message);
            } else {
                prop_assert!(cut_message.len() <= max.max(" … (cut)".len()), "{} > {max}", cut_message.len());
            }
        }
    }
}
