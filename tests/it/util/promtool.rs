//! `promtool check metrics`, Prometheus's own reading of a `/metrics` text: what a scrape of
//! the box would accept. Not the numbers in it (each test checks the ones it caused).

use std::io::Write;
use std::process::{Command, Stdio};

/// Fails the test, with promtool's complaint and the text, unless promtool accepts `text`.
pub(crate) fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: apt-get install prometheus (.ci/run does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
