//! A git server over smart HTTP with Basic authentication, for the repository-credential
//! tests: a loopback listener that asks for `user:password` (`401` with `WWW-Authenticate`
//! without it or with another) and hands each request to the real `git http-backend` as CGI.
//! One connection at a time, each closed after its answer: enough for a fetch.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

pub(crate) struct GitHttp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl GitHttp {
    /// Serves the repositories under `root` to whoever sends `user:password`.
    pub(crate) fn start(root: &Path, user: &str, password: &str) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let root = root.to_path_buf();
        let wanted = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve_one(stream, &root, &wanted);
            }
        });
        GitHttp { base }
    }
}

fn serve_one(stream: std::net::TcpStream, root: &PathBuf, wanted: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut out = stream;
    if header("authorization").as_deref() != Some(wanted) {
        out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", length.to_string())
        .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    cgi.stdin.take().unwrap().write_all(&body)?;
    let output = cgi.wait_with_output()?;
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| (at, 2))
        })
        .unwrap_or((output.stdout.len(), 0));
    let head = String::from_utf8_lossy(&output.stdout[..split.0]).to_string();
    let content = &output.stdout[split.0 + split.1..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response.push_str(&format!("{line}\r\n")),
            None => {}
        }
    }
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    )?;
    out.write_all(content)?;
    Ok(())
}

/// The git server behind TLS: nginx terminating https with a fresh self-signed certificate
/// for 127.0.0.1, which a client trusts through `SSL_CERT_FILE` (`cert`). `None` when nginx or
/// openssl is missing.
pub(crate) struct GitHttps {
    /// `https://127.0.0.1:PORT`
    pub base: String,
    pub cert: PathBuf,
    nginx: std::process::Child,
    _http: GitHttp,
}

impl GitHttps {
    pub(crate) fn start(root: &Path, dir: &Path, user: &str, password: &str) -> Option<GitHttps> {
        let http = GitHttp::start(root, user, password);
        std::fs::create_dir_all(dir.join("nginx/logs")).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            // A leaf, not a CA: rustls refuses a CA certificate used by a server.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !made.success() {
            return None;
        }
        let port = super::free_port();
        std::fs::write(
            dir.join("nginx/nginx.conf"),
            format!(
                "user root;\nworker_processes 1;\npid {dir}/nginx/nginx.pid;\nerror_log {dir}/nginx/logs/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {dir}/nginx/body;\n  proxy_temp_path {dir}/nginx/proxy;\n\
                   fastcgi_temp_path {dir}/nginx/fastcgi;\n  uwsgi_temp_path {dir}/nginx/uwsgi;\n  scgi_temp_path {dir}/nginx/scgi;\n\
                   server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n\
                     location / {{ proxy_pass {upstream}; proxy_set_header Authorization $http_authorization; }}\n  }}\n}}\n",
                dir = dir.display(),
                cert = cert.display(),
                key = key.display(),
                upstream = http.base,
            ),
        )
        .unwrap();
        let nginx = Command::new("nginx")
            .arg("-p")
            .arg(dir.join("nginx"))
            .arg("-c")
            .arg(dir.join("nginx/nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(GitHttps {
            base: format!("https://127.0.0.1:{port}"),
            cert,
            nginx,
            _http: http,
        })
    }
}

impl Drop for GitHttps {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}
