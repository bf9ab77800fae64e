//! A tiny HTTP binary cache that takes Nix's uploads, for push tests: answers
//! `GET /nix-cache-info`, `GET`/`HEAD` of what it holds (404 otherwise), and stores every `PUT`
//! body (or refuses PUTs with a status and text), keeping each request for the test to check.
//! It checks nothing itself: the tests do.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};

use super::receiver::read_head;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as it arrived (bodies are in `files`).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    files: BTreeMap<String, Vec<u8>>,
    requests: Vec<Request>,
}

/// What a `PUT` gets.
#[derive(Clone, Copy)]
enum Puts {
    Taken,
    Refused(u16, &'static str),
    /// Read, then never answered: an upload that hangs.
    Stalled,
}

pub(crate) struct UploadReceiver {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl UploadReceiver {
    /// Takes every upload.
    pub(crate) fn start() -> UploadReceiver {
        Self::start_with(Puts::Taken)
    }

    /// Answers every `PUT` with this status and text instead of taking it.
    pub(crate) fn start_refusing(status: u16, text: &'static str) -> UploadReceiver {
        Self::start_with(Puts::Refused(status, text))
    }

    /// Never answers a `PUT`.
    pub(crate) fn start_stalling() -> UploadReceiver {
        Self::start_with(Puts::Stalled)
    }

    fn start_with(puts: Puts) -> UploadReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state, puts));
            }
        });
        UploadReceiver { url, state }
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// What was uploaded to `path` (e.g. `/<hash>.narinfo`).
    pub(crate) fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.state.lock().unwrap().files.get(path).cloned()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, puts: Puts) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let Some((method, path, headers)) = read_head(&mut reader) else {
            return;
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if method == "PUT"
            && header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let body = match read_body(&mut reader, &header) {
            Some(body) => body,
            None => return,
        };
        let (status, answer) = {
            let mut state = state.lock().unwrap();
            let (status, answer) = match method.as_str() {
                "PUT" => match puts {
                    Puts::Refused(status, text) => (status, text.as_bytes().to_vec()),
                    Puts::Taken => {
                        state.files.insert(path.clone(), body);
                        (200, Vec::new())
                    }
                    Puts::Stalled => (0, Vec::new()),
                },
                "GET" | "HEAD" if path == "/nix-cache-info" => (
                    200,
                    b"StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n".to_vec(),
                ),
                "GET" | "HEAD" => match state.files.get(&path) {
                    Some(file) => (200, file.clone()),
                    None => (404, b"not here".to_vec()),
                },
                _ => (405, Vec::new()),
            };
            state.requests.push(Request {
                method: method.clone(),
                path: path.clone(),
                headers: headers.clone(),
            });
            (status, answer)
        };
        if status == 0 {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method != "HEAD" && writer.write_all(&answer).is_err() {
            return;
        }
    }
}

/// The body by Content-Length, or chunked (newer Nix streams its uploads).
fn read_body(
    reader: &mut BufReader<TcpStream>,
    header: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<u8>> {
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                return Some(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}
