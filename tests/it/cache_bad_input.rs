//! Hostile and malformed requests: traversal (plain and percent-encoded), bad hashes, huge
//! and odd requests. Each gets a 4xx that names no path of the machine; the server lives on.

use crate::util::http::{get, raw, raw_status, request};
use crate::util::server::InProcess;

fn assert_refused(server: &InProcess, target: &str) {
    let answer = raw(
        &server.url,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let status = raw_status(&answer);
    assert!((400..500).contains(&status), "{target}: {answer}");
    for leak in ["root:", "/etc/", "/nix/var", "/root", "/tmp"] {
        assert!(!answer.contains(leak), "{target} leaked {leak}: {answer}");
    }
}

#[test]
fn traversal_is_refused_plain_and_encoded() {
    let server = InProcess::start("");
    for target in [
        "/nar/../../etc/passwd",
        "/nar/..%2f..%2fetc%2fpasswd",
        "/nar/%2e%2e/%2e%2e/etc/passwd",
        "/log/../../../etc/passwd",
        "/log/..%2F..%2F..%2Fetc%2Fpasswd",
        "/..%2f..%2fetc%2fpasswd.narinfo",
        "/../../etc/passwd",
        "//etc/passwd",
        "/nar/00000000000000000000000000000000-0000000000000000000000000000000000000000000000000000.nar/../../../etc/passwd",
    ] {
        assert_refused(&server, target);
    }
}

#[test]
fn bad_hashes_get_a_4xx() {
    let server = InProcess::start("");
    for target in [
        "/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo",
        "/short.narinfo",
        "/.narinfo",
        "/nar/nothash.nar",
        "/nar/00000000000000000000000000000000.nar",
        "/log/not-a-drv",
    ] {
        assert_refused(&server, target);
    }
    let absent = get(&format!(
        "{}/00000000000000000000000000000000.narinfo",
        server.url
    ));
    assert_eq!(absent.status, 404);
}

#[test]
fn huge_and_odd_requests_get_a_4xx_and_the_server_lives_on() {
    let server = InProcess::start("");
    let long_path = format!("/{}.narinfo", "a".repeat(200_000));
    let answer = raw(
        &server.url,
        format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    let status = raw_status(&answer);
    assert!(status == 0 || (400..500).contains(&status), "{answer}");

    let huge_header = format!(
        "GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1_000_000)
    );
    let answer = raw(&server.url, huge_header.as_bytes());
    let status = raw_status(&answer);
    assert!(status == 0 || (400..500).contains(&status), "{answer}");

    let answer = raw(&server.url, b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n");
    let status = raw_status(&answer);
    assert!(status == 0 || (400..500).contains(&status), "{answer}");

    let post = request("POST", &format!("{}/nix-cache-info", server.url), &[]);
    assert_eq!(post.status, 405);
    let delete = request(
        "DELETE",
        &format!("{}/00000000000000000000000000000000.narinfo", server.url),
        &[],
    );
    assert_eq!(delete.status, 405);

    assert_eq!(get(&format!("{}/api/v1/health", server.url)).status, 200);
}
