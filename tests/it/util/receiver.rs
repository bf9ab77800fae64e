//! A tiny HTTP receiver for alert tests: a real TCP listener on loopback that reads each
//! request (line, headers, body), answers with the next status of a script (then 200), and
//! hands what it got to the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) struct Receiver {
    pub url: String,
    got: mpsc::Receiver<Received>,
}

impl Receiver {
    /// Listens on a free port; the first requests get `first_statuses`, the rest 200.
    pub(crate) fn start(first_statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (sender, got) = mpsc::channel();
        let mut statuses = first_statuses.to_vec();
        statuses.reverse();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let answered = statuses.pop().unwrap_or(200);
                let Some(request) = read_request(&stream, answered) else {
                    continue;
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {answered} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                if sender.send(request).is_err() {
                    return;
                }
            }
        });
        Receiver { url, got }
    }

    /// The next request, waiting up to `timeout`.
    pub(crate) fn next(&self, timeout: Duration) -> Option<Received> {
        self.got.recv_timeout(timeout).ok()
    }
}

fn read_request(stream: &std::net::TcpStream, answered: u16) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let (method, path, headers) = read_head(&mut reader)?;
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        path,
        headers,
        body,
        answered,
    })
}

/// A request's method, path and headers.
pub(crate) type Head = (String, String, Vec<(String, String)>);

/// A request's head; `None` at the end of the connection.
pub(crate) fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Some((method, path, headers))
}
