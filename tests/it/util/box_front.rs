//! A stand-in in front of a real box for deploy tests: every request goes on to the box and
//! its answer comes back, except that the host object can be given fields the box of this
//! branch does not send yet (`target` with `pushed`, `retry_at`), merged over the box's own.
//! Only what cannot be produced for real here is changed; the cache, reports and the rest
//! are the box's.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::receiver::read_head;

pub(crate) struct BoxFront {
    pub url: String,
    extra: Arc<Mutex<serde_json::Map<String, serde_json::Value>>>,
}

impl BoxFront {
    /// A front for the box at `upstream` (`http://127.0.0.1:PORT`).
    pub(crate) fn start(upstream: &str) -> BoxFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let extra = Arc::new(Mutex::new(serde_json::Map::new()));
        let upstream = upstream.to_string();
        let fields = extra.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let upstream = upstream.clone();
                let fields = fields.clone();
                std::thread::spawn(move || serve(stream, &upstream, &fields));
            }
        });
        BoxFront { url, extra }
    }

    /// Sets `field` of every host object the box answers with (`null` included).
    pub(crate) fn set(&self, field: &str, value: serde_json::Value) {
        self.extra.lock().unwrap().insert(field.to_string(), value);
    }
}

fn serve(
    stream: std::net::TcpStream,
    upstream: &str,
    extra: &Mutex<serde_json::Map<String, serde_json::Value>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let Some((method, path, headers)) = read_head(&mut reader) else {
        return;
    };
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut request = ureq::request(&method, &format!("{upstream}{path}"));
    for (name, value) in &headers {
        if ["authorization", "content-type"].contains(&name.to_ascii_lowercase().as_str()) {
            request = request.set(name, value);
        }
    }
    let response = if body.is_empty() && method == "GET" {
        request.call()
    } else {
        request.send_bytes(&body)
    };
    let response = match response {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return,
    };
    let status = response.status();
    let content_type = response.content_type().to_string();
    let mut answer = Vec::new();
    let _ = response.into_reader().read_to_end(&mut answer);
    let is_host = method == "GET"
        && path.starts_with("/api/v1/hosts/")
        && !path["/api/v1/hosts/".len()..].contains('/');
    if is_host
        && status == 200
        && let Ok(serde_json::Value::Object(mut host)) = serde_json::from_slice(&answer)
    {
        for (k, v) in extra.lock().unwrap().iter() {
            host.insert(k.clone(), v.clone());
        }
        answer = serde_json::to_vec(&host).unwrap();
    }
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    let _ = stream.write_all(&answer);
}
