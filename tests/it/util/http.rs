//! A small blocking HTTP client for tests, returning status and body whatever the status.

use std::time::{Duration, Instant};

pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

pub(crate) fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    send(method, url, headers, None)
}

/// A POST with a body.
pub(crate) fn post(url: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    send("POST", url, headers, Some(body.as_bytes()))
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    try_send(method, url, headers, body).unwrap_or_else(|| panic!("{method} {url} failed"))
}

/// A request whatever its status; `None` when it could not be made or answered at all (the
/// server is gone, or the client library refused the URL).
pub(crate) fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<Reply> {
    let mut request = agent().request(method, url);
    for (k, v) in headers {
        request = request.set(k, v);
    }
    let result = match body {
        Some(body) => request.send_bytes(body),
        None => request.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|name| {
            let value = response.header(&name).unwrap_or("").to_string();
            (name, value)
        })
        .collect();
    let mut body = Vec::new();
    use std::io::Read;
    response.into_reader().read_to_end(&mut body).ok()?;
    Some(Reply {
        status,
        headers,
        body,
    })
}

pub(crate) fn get(url: &str) -> Reply {
    request("GET", url, &[])
}

pub(crate) fn get_json(url: &str) -> serde_json::Value {
    let reply = get(url);
    assert_eq!(reply.status, 200, "{url}: {}", reply.text());
    serde_json::from_slice(&reply.body).unwrap()
}

/// Waits up to 10 s for `/api/v1/health` to answer.
pub(crate) fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = agent().get(&format!("{base}/api/v1/health")).call()
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became healthy");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Parses a narinfo into its fields (`Sig` may repeat).
pub(crate) fn narinfo_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Sends `request` as raw bytes (no client-side path normalisation) and returns everything
/// the server answered before closing or going quiet.
pub(crate) fn raw(base: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw HTTP answer, 0 when there was none.
pub(crate) fn raw_status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}
