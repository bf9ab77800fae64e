//! A real browser for page tests: headless Chromium driven over the DevTools protocol on a
//! pipe (`--remote-debugging-pipe`: fd 3 in, fd 4 out, NUL-separated JSON), so tests read
//! the live DOM after the page's scripts ran, see every request the page made, and see any
//! JavaScript dialog (an `alert()` that escaped) or console error. Flags as this machine's
//! closed network needs them; a fresh profile per browser.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) struct Browser {
    child: Child,
    to_browser: File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    /// Every event seen so far.
    pub events: Vec<Value>,
    pending: VecDeque<Value>,
    _profile: tempfile::TempDir,
}

/// The browser the tests use.
pub(crate) const CHROMIUM: &str = "chromium";

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into fds.
    let ok = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0;
    assert!(ok, "pipe2 failed");
    // SAFETY: both descriptors were just made and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    /// Starts Chromium with a blank page, attached and with network, page and log events on.
    pub(crate) fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (browser_reads, we_write) = pipe();
        let (we_read, browser_writes) = pipe();
        let (in_fd, out_fd) = (browser_reads.into_raw_fd(), browser_writes.into_raw_fd());
        let mut command = Command::new(CHROMIUM);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                &format!("--window-size={width},{height}"),
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(profile.path().join("chromium.log")).unwrap());
        // SAFETY: only fcntl and dup2 between fork and exec, which are async-signal-safe.
        // The pipe's ends may themselves be 3 or 4: copied out of the way first.
        unsafe {
            command.pre_exec(move || {
                let reads = libc::fcntl(in_fd, libc::F_DUPFD_CLOEXEC, 10);
                let writes = libc::fcntl(out_fd, libc::F_DUPFD_CLOEXEC, 10);
                if reads < 0 || writes < 0 || libc::dup2(reads, 3) < 0 || libc::dup2(writes, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start {CHROMIUM} ({e}): apt-get install chromium (.ci/run does)")
        });
        // SAFETY: the child has its copies; ours are closed once.
        unsafe {
            libc::close(in_fd);
            libc::close(out_fd);
        }
        let (sender, from_browser) = mpsc::channel();
        let reader = File::from(we_read);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        message.pop();
                        if let Ok(value) = serde_json::from_slice::<Value>(&message)
                            && sender.send(value).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser: File::from(we_write),
            from_browser,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            pending: VecDeque::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in [
            "Page.enable",
            "Network.enable",
            "Runtime.enable",
            "Log.enable",
        ] {
            browser.call(domain, json!({}));
        }
        browser
    }

    /// Sends a command (to the attached page once there is one) and waits for its answer.
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        if let Err(e) = self.to_browser.write_all(&bytes) {
            let log = std::fs::read_to_string(self._profile.path().join("chromium.log"));
            panic!("{CHROMIUM} went away ({e}): {}", log.unwrap_or_default());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let value = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{CHROMIUM} did not answer {method}"));
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
            self.events.push(value.clone());
            self.pending.push_back(value);
        }
    }

    /// Collects the events that arrived meanwhile.
    fn drain(&mut self) {
        while let Ok(value) = self.from_browser.try_recv() {
            self.events.push(value.clone());
            self.pending.push_back(value);
        }
    }

    /// Opens `url` and waits until its load event.
    pub(crate) fn goto(&mut self, url: &str) {
        self.pending.clear();
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.drain();
            if self
                .pending
                .iter()
                .any(|e| e["method"] == "Page.loadEventFired")
            {
                return;
            }
            assert!(Instant::now() < deadline, "{url} never finished loading");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of a JavaScript expression in the page.
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page; returns its value.
    pub(crate) fn wait_for(&mut self, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let body = self.eval("document.body ? document.body.innerText : ''");
                panic!("never true: {expression}\nthe page says:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL of every request the page made.
    pub(crate) fn requested_urls(&mut self) -> Vec<String> {
        self.drain();
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }

    /// JavaScript dialogs that opened (`alert()` and friends).
    pub(crate) fn dialogs(&mut self) -> Vec<Value> {
        self.drain();
        self.events
            .iter()
            .filter(|e| e["method"] == "Page.javascriptDialogOpening")
            .cloned()
            .collect()
    }

    /// Errors the page logged: script errors, refused loads (CSP), failed requests.
    pub(crate) fn errors(&mut self) -> Vec<String> {
        self.drain();
        let mut errors = Vec::new();
        for event in &self.events {
            if event["method"] == "Log.entryAdded" && event["params"]["entry"]["level"] == "error" {
                errors.push(event["params"]["entry"]["text"].to_string());
            }
            if event["method"] == "Runtime.exceptionThrown" {
                errors.push(event["params"]["exceptionDetails"].to_string());
            }
        }
        errors
    }

    /// A PNG of the page as shown, the whole page's height.
    pub(crate) fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
