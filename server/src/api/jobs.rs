//! `/api/v1/jobs…`: make, list, show, cancel jobs, and their logs (whole or followed).

use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::api::AppState;
use crate::builds::RequestError;
use crate::builds::jobs::model::{Job, JobState, Trigger};
use crate::builds::jobs::service::Cancelled;
use crate::cache::provenance;
use crate::http::body;
use crate::http::request_body;
use crate::http::response::{self, HttpError, HttpResult};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// How often a followed log looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// The longest `?wait=` a job request may ask for.
const MAX_WAIT_SECONDS: u64 = 60;
/// How long a cancel waits for the build to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    rev: Option<String>,
    /// Build for this Nix system (default: the box's own).
    #[serde(default)]
    system: Option<String>,
}

pub(crate) async fn create(state: &AppState, request: Request<Incoming>) -> HttpResult {
    let wanted: JobRequest =
        request_body::json(request, state.config.request_timeout.value).await?;
    let (job, created) = state
        .builds
        .request_job_for(wanted.targets, wanted.rev, Trigger::Api, wanted.system)
        .await
        .map_err(http_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(status, &with_pushed(state, job).await?))
}

pub(crate) fn http_error(error: RequestError) -> HttpError {
    match error {
        RequestError::BadRequest(m) => HttpError::BadRequest(m),
        RequestError::Unprocessable(m) => HttpError::Unprocessable(m),
        RequestError::Internal(e) => HttpError::Internal(e),
    }
}

pub(crate) async fn list(state: &AppState, query: Option<&str>) -> HttpResult {
    let mut limit = DEFAULT_LIMIT;
    let mut wanted_state = None;
    for (key, value) in query_pairs(query) {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .map_err(|_| {
                        HttpError::BadRequest(format!("limit must be a number, not {value:?}"))
                    })?
                    .min(MAX_LIMIT)
            }
            "state" => {
                wanted_state = Some(JobState::parse(&value).ok_or_else(|| {
                    HttpError::BadRequest(format!(
                        "unknown state {value:?} (queued, running, succeeded, failed, cancelled)"
                    ))
                })?)
            }
            _ => {}
        }
    }
    let mut jobs = Vec::new();
    for job in state.builds.jobs().list(limit, wanted_state)? {
        jobs.push(with_pushed(state, job).await?);
    }
    Ok(response::json(StatusCode::OK, &json!({ "jobs": jobs })))
}

/// The job; with `?wait=SECONDS` (at most 60), answered once the job has ended or the time is
/// up, so a waiting client learns the end at once instead of polling.
pub(crate) async fn get(state: &AppState, id: &str, query: Option<&str>) -> HttpResult {
    let wait = match query_pairs(query).into_iter().find(|(k, _)| k == "wait") {
        None => 0,
        Some((_, value)) => value.parse::<u64>().map_err(|_| {
            HttpError::BadRequest(format!("wait must be a number of seconds, not {value:?}"))
        })?,
    };
    if wait == 0 {
        let job = with_pushed(state, find(state, id)?).await?;
        return Ok(response::json(StatusCode::OK, &job));
    }
    let number = parse_id(id)?;
    let job = state
        .builds
        .jobs()
        .wait_ended(number, Duration::from_secs(wait.min(MAX_WAIT_SECONDS)))
        .await?
        .ok_or_else(|| HttpError::NotFound(format!("no job {number}")))?;
    Ok(response::json(
        StatusCode::OK,
        &with_pushed(state, job).await?,
    ))
}

/// `job` with `pushed` filled in: the paths of its outputs' closures whose only copy in this
/// cache came by push. An output in the box's store has its whole closure there, so this
/// costs one store lookup per output unless something was pushed.
pub(crate) async fn with_pushed(state: &AppState, mut job: Job) -> Result<Job, HttpError> {
    if !job.outputs.is_empty() {
        let outputs: Vec<String> = job.outputs.values().cloned().collect();
        job.pushed = provenance::pushed_in_closure(&state.cache, &outputs).await?;
    }
    Ok(job)
}

fn find(state: &AppState, id: &str) -> Result<Job, HttpError> {
    let number = parse_id(id)?;
    state
        .builds
        .jobs()
        .get(number)?
        .ok_or_else(|| HttpError::NotFound(format!("no job {number}")))
}

fn parse_id(id: &str) -> Result<u64, HttpError> {
    id.parse()
        .map_err(|_| HttpError::NotFound(format!("no job {id:?}")))
}

pub(crate) async fn cancel(state: &AppState, id: &str) -> HttpResult {
    let number = parse_id(id)?;
    let jobs = state.builds.jobs();
    match jobs.cancel(number)? {
        Cancelled::Now(job) => Ok(response::json(StatusCode::OK, &job)),
        Cancelled::NoSuchJob => Err(HttpError::NotFound(format!("no job {number}"))),
        Cancelled::AlreadyFinished(job) => Err(HttpError::Conflict(format!(
            "job {number} already {}",
            job.state.as_str()
        ))),
        Cancelled::Stopping(mut job) => {
            // Answer with the job as it ended, once nix and its builders are gone.
            let deadline = Instant::now() + CANCEL_WAIT;
            while !job.state.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                job = jobs.get(number)?.unwrap_or(job);
            }
            let status = if job.state.is_finished() {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok(response::json(status, &job))
        }
    }
}

pub(crate) fn log(state: &AppState, id: &str, query: Option<&str>) -> HttpResult {
    let job = find(state, id)?;
    let follow = query_pairs(query)
        .into_iter()
        .any(|(k, v)| k == "follow" && matches!(v.as_str(), "true" | "1" | "yes" | ""));
    let path = state.builds.jobs().log_path(job.id);
    let body = if follow && !job.state.is_finished() {
        follow_log(state.builds.clone(), job.id, path)
    } else {
        match std::fs::File::open(&path) {
            Ok(file) => body::pulled(body::ReadSource(file), None, None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => body::empty(),
            Err(e) => {
                return Err(
                    anyhow::anyhow!("failed to open the log of job {}: {e}", job.id).into(),
                );
            }
        }
    };
    let mut reply = Response::new(body);
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(reply)
}

/// Streams the log as it grows, until the job has ended and every line is sent.
fn follow_log(
    builds: std::sync::Arc<crate::builds::BuildServer>,
    id: u64,
    path: std::path::PathBuf,
) -> body::Body {
    let (sender, body) = body::channel();
    tokio::spawn(async move {
        let mut offset: u64 = 0;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            // Read the state first: lines written before it ended are all in the file then.
            let finished = match builds.jobs().get(id) {
                Ok(Some(job)) => job.state.is_finished() || builds.jobs().is_stopping(),
                _ => true,
            };
            if let Ok(mut file) = tokio::fs::File::open(&path).await {
                use tokio::io::AsyncSeekExt;
                if file.seek(std::io::SeekFrom::Start(offset)).await.is_ok() {
                    loop {
                        match file.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                offset += n as u64;
                                let chunk = bytes::Bytes::copy_from_slice(&buffer[..n]);
                                if sender.send(Ok(chunk)).await.is_err() {
                                    return; // the client went away
                                }
                            }
                        }
                    }
                }
            }
            if finished {
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    });
    body
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}
