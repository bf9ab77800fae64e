//! The status pages, served as HTML by the same process: `/` (the repository, the queue,
//! the running job with its progress, recent jobs, the fleet and how to use the cache) and
//! `/jobs/{id}` (a job and its log, live while it runs). Rendered on the server, so they are
//! complete and correct with JavaScript off; one small script of ours (`assets`) keeps them
//! live with it on. Everything from outside is escaped (`html`). Reads only: a page never
//! changes anything.

mod assets;
mod cache_help;
mod fleet_table;
mod format;
mod html;
pub(crate) mod job_page;
mod jobs_table;
mod log_tail;
pub(crate) mod status_page;

pub(crate) use assets::respond as asset;

use hyper::header::{HOST, HeaderMap};

/// The address of job `id`'s page on the server at `base_url`.
pub(crate) fn job_url(base_url: &str, id: u64) -> String {
    format!("{}/jobs/{id}", base_url.trim_end_matches('/'))
}

/// The address of host `name`'s row on the status page of the server at `base_url`.
pub(crate) fn host_url(base_url: &str, name: &str) -> String {
    format!("{}/#host-{name}", base_url.trim_end_matches('/'))
}

/// Where the browser reached this server, for the snippets a page shows (a host uses the
/// same name to reach the cache).
pub(crate) struct Site {
    pub base_url: String,
}

impl Site {
    /// The request's `Host` when it is a plain host name or address with an optional port;
    /// else `fallback` (the server's own base URL).
    pub(crate) fn from_request(headers: &HeaderMap, fallback: &str) -> Site {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_plain_host(h));
        Site {
            base_url: match host {
                Some(host) => format!("http://{host}"),
                None => fallback.to_string(),
            },
        }
    }
}

fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn the_host_header_names_the_site_when_it_is_plain() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            Site::from_request(&headers, "http://box:8780").base_url,
            "http://box:8780"
        );
        headers.insert(HOST, HeaderValue::from_static("buildbox.tail.ts.net:8780"));
        assert_eq!(
            Site::from_request(&headers, "x").base_url,
            "http://buildbox.tail.ts.net:8780"
        );
        headers.insert(HOST, HeaderValue::from_static("[::1]:8780"));
        assert_eq!(
            Site::from_request(&headers, "x").base_url,
            "http://[::1]:8780"
        );
        headers.insert(HOST, HeaderValue::from_static("evil\"><script>"));
        assert_eq!(Site::from_request(&headers, "x").base_url, "x");
    }
}
