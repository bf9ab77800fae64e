//! The server under abuse, bounded in count and time (loopback only): clients that ask for a
//! NAR and never read, a flood of many-file NAR downloads, slow-loris headers and bodies, a
//! seeded fuzz pass over every endpoint, and kill -9 during a build and a burst of POSTs.
//! Figures are printed; assertions are generous upper bounds or plain facts (answered, not
//! lost, no 5xx, no server path in an answer).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fixtures::single_package_flake;
use crate::util::fleet::Fleet;
use crate::util::http::{field, get, get_json, narinfo_fields, post};
use crate::util::nix::{NIX_CONFIG, build};
use crate::util::server::Spawned;

/// A server for the cache tests, with the given extra config lines.
struct CacheBox {
    server: Spawned,
    _dir: tempfile::TempDir,
}

fn start(extra: &str) -> CacheBox {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate_dir = {:?}\n{extra}\n",
            state.display().to_string()
        ),
    )
    .unwrap();
    let mut command = Command::new(crate::util::binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("NIX_CONFIG", NIX_CONFIG)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null());
    let server = Spawned::start(command, &dir.path().join("server.log"));
    CacheBox { server, _dir: dir }
}

impl CacheBox {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    fn addr(&self) -> SocketAddr {
        self.server
            .url
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    fn nar_url(&self, path: &str) -> String {
        let hash = crate::util::nix::hash_part(path);
        let narinfo = get(&self.url(&format!("/{hash}.narinfo"))).text();
        let url = field(&narinfo_fields(&narinfo), "URL").unwrap().to_string();
        self.url(&format!("/{url}"))
    }

    /// The server's resident memory in KiB: all of it (`VmRSS`), or only its own (`RssAnon`,
    /// without the store files it has mapped).
    fn memory_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.server.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn rss_kib(&self) -> u64 {
        self.memory_kib("VmRSS")
    }
}

/// More open files for this test process (a few hundred sockets at once); returns how many
/// sockets a test may open, leaving room for the other tests running beside it.
fn raise_open_files() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit/getrlimit with a valid pointer to an rlimit of the right type.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    (limit.rlim_cur as usize).saturating_sub(400).max(50)
}

/// How long `/api/v1/health` takes to answer now.
fn health_latency(base: &str) -> Duration {
    let started = Instant::now();
    let reply = get(&format!("{base}/api/v1/health"));
    assert_eq!(reply.status, 200);
    started.elapsed()
}

/// A connection with a tiny receive window that sends `request` and never reads.
fn stalled(addr: SocketAddr, request: &str) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// Reads until the server closes; the bytes read.
fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<usize> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut total = 0;
    let mut buffer = [0u8; 65536];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(total),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(total),
            Err(_) => return None,
        }
    }
}

#[test]
fn readers_that_never_read_are_dropped_and_starve_nothing() {
    let readers = raise_open_files().min(600);
    let flake = single_package_flake("big", "head -c 16777216 /dev/urandom > $out");
    let path = build(flake.path(), "big");
    let server = start("send_timeout = \"3s\"\n[cache]\nmax_concurrent_nars = 2");
    let nar = server.nar_url(&path);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
        nar.trim_start_matches(&server.server.url)
    );
    let mut stalled: Vec<TcpStream> = (0..readers)
        .map(|_| stalled(server.addr(), &request))
        .collect();
    let stalled_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));

    // Everything else still answers: health, the API, a narinfo, and a whole other download.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        slowest = slowest.max(health_latency(&server.server.url));
    }
    assert_eq!(get(&server.url("/api/v1/status")).status, 200);
    let started = Instant::now();
    let whole = get(&nar);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, crate::util::nix::dump(&path));
    let download = started.elapsed();
    let rss = server.rss_kib();
    let anonymous = server.memory_kib("RssAnon");
    println!(
        "{readers} stalled readers: health at worst {slowest:?}, a 16 MiB NAR in {download:?}, server RSS {} MiB ({} MiB its own, the rest the NAR's mapped store pages)",
        rss / 1024,
        anonymous / 1024
    );
    assert!(
        anonymous < 256 * 1024,
        "{} MiB of the server's own memory",
        anonymous / 1024
    );
    assert!(slowest < Duration::from_secs(2), "health took {slowest:?}");
    assert!(
        download < Duration::from_secs(20),
        "download took {download:?}"
    );

    // After the send timeout the stalled readers are dropped, long before they could have
    // read it all. (Reading earlier would un-stall them: wait the timeout out first.)
    let dropped_by = stalled_at + Duration::from_secs(3 + 5);
    std::thread::sleep(dropped_by.saturating_duration_since(Instant::now()));
    for stream in stalled.iter_mut().take(3) {
        let read = read_to_close(stream, Duration::from_secs(60))
            .expect("a stalled reader was never dropped");
        assert!(
            read < 16 * 1024 * 1024,
            "a stalled reader got the whole NAR"
        );
    }
}

#[test]
fn a_flood_of_many_file_nars_leaves_the_api_answering() {
    let flake = single_package_flake(
        "many",
        "mkdir $out; i=0; while [ $i -lt 3000 ]; do echo file $i > $out/f$i; i=$((i+1)); done",
    );
    let path = build(flake.path(), "many");
    let server = start("[cache]\nmax_concurrent_nars = 2");
    let nar = server.nar_url(&path);
    let expected = crate::util::nix::dump(&path);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (latencies, served, peak_rss) = std::thread::scope(|scope| {
        let downloaders: Vec<_> = (0..48)
            .map(|_| {
                scope.spawn(|| {
                    let mut served = 0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let reply = get(&nar);
                        assert_eq!(reply.status, 200);
                        assert!(reply.body == expected, "a NAR came out wrong under load");
                        served += 1;
                    }
                    served
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut peak_rss = 0;
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until {
            latencies.push(health_latency(&server.server.url));
            peak_rss = peak_rss.max(server.rss_kib());
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let served: usize = downloaders.into_iter().map(|d| d.join().unwrap()).sum();
        (latencies, served, peak_rss)
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    let p99 = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
    println!(
        "48 clients downloading a 3,000-file NAR for 6 s: {served} served, health p99 {p99:?}, max {:?}, peak RSS {} MiB",
        sorted.last().unwrap(),
        peak_rss / 1024
    );
    assert!(served > 0);
    assert!(
        p99 < Duration::from_secs(2),
        "health p99 {p99:?} under load"
    );
}

#[test]
fn slow_loris_headers_and_bodies_are_cut_off() {
    let connections = raise_open_files().min(200);
    let server = start("request_timeout = \"2s\"");
    let mut slow: Vec<TcpStream> = (0..connections)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHo").unwrap();
            s
        })
        .collect();
    assert!(health_latency(&server.server.url) < Duration::from_secs(2));
    for stream in slow.iter_mut().take(5) {
        read_to_close(stream, Duration::from_secs(15)).expect("a slow header was never cut off");
    }
    // A body that never finishes arriving: 408.
    let mut trickle = TcpStream::connect(server.addr()).unwrap();
    trickle
        .write_all(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"targets\"",
        )
        .unwrap();
    trickle
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = String::new();
    let _ = trickle.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// A small deterministic generator, so a failing fuzz run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() as usize % items.len()]
    }
}

#[test]
fn a_seeded_fuzz_pass_gets_no_5xx_and_no_server_path() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.wait_first_fetch();
    let seed = 0x5eed_u64;
    let mut rng = Lcg(seed);
    let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    let paths = [
        "/",
        "/nix-cache-info",
        "/api/v1/health",
        "/api/v1/status",
        "/api/v1/jobs",
        "/api/v1/jobs/1",
        "/api/v1/jobs/1/log",
        "/api/v1/jobs/1/cancel",
        "/api/v1/hosts",
        "/api/v1/hosts/laptop",
        "/api/v1/hosts/laptop/report",
        "/api/v1/webhooks/github",
        "/api/v1/webhooks/forgejo",
        "/nar/",
        "/log/",
    ];
    let noise = [
        "",
        "x",
        "..",
        "%2e%2e",
        "../../etc/passwd",
        "00000000000000000000000000000000",
        "00000000000000000000000000000000.narinfo",
        "?limit=-1",
        "?follow=true&wait=1",
        "?wait=99999999999999999999",
        "/%00",
        "/\u{e9}",
        "?state=bogus",
    ];
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "{\"targets\":[1]}",
        "{\"targets\":[\"../x\"]}",
        "{\"rev\":\"zz\"}",
        "{\"state\":\"deployed\",\"path\":\"/nix/store/x\"}",
        "\u{0}\u{1}\u{2}",
    ];
    let state_dir = build_box.state.display().to_string();
    let mut seen = std::collections::BTreeMap::new();
    for round in 0..2000 {
        let method = rng.pick(&methods);
        let path = format!("{}{}", rng.pick(&paths), rng.pick(&noise));
        let body = rng.pick(&bodies);
        let mut headers = vec![("Content-Type", "application/json")];
        match rng.next() % 4 {
            0 => headers.push(("Authorization", "Bearer nope")),
            1 => headers.push(("Accept-Encoding", "zstd, gzip")),
            2 => headers.push(("X-Hub-Signature-256", "sha256=00")),
            _ => {}
        }
        let url = build_box.url(&path);
        let reply = match crate::util::http::try_send(method, &url, &headers, Some(body.as_bytes()))
        {
            Some(reply) => reply,
            None => continue, // a request the client library itself refuses to send
        };
        assert!(
            reply.status < 500,
            "round {round} (seed {seed:#x}): {method} {path} with {body:?} answered {}: {}",
            reply.status,
            reply.text()
        );
        assert!(
            !reply.text().contains(&state_dir),
            "round {round}: {method} {path} leaked a server path: {}",
            reply.text()
        );
        *seen.entry(reply.status).or_insert(0) += 1;
    }
    println!("fuzz (seed {seed:#x}, 2000 requests): statuses {seen:?}");
    assert_eq!(get(&build_box.url("/api/v1/health")).status, 200);
}

#[test]
fn kill_9_during_a_build_and_a_burst_of_posts_loses_nothing_accepted() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let mut build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.settle();
    let (_, hang) = build_box.request(r#"{"targets":["hang"]}"#);
    let hang = hang["id"].as_u64().unwrap();
    build_box.wait_job(hang, |j| j["state"] == "running");
    let names = [
        "hello", "greet", "step1", "step2", "chain", "laptop", "desktop",
    ];
    let url = build_box.url("/api/v1/jobs");
    let accepted = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (url, accepted) = (&url, &accepted);
            scope.spawn(move || {
                for i in 0..40 {
                    let mask = (thread * 40 + i) % 127 + 1;
                    let targets: Vec<&str> = names
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| mask & (1 << bit) != 0)
                        .map(|(_, n)| *n)
                        .collect();
                    let body = serde_json::json!({ "targets": targets }).to_string();
                    match crate::util::http::try_send("POST", url, &[], Some(body.as_bytes())) {
                        Some(reply) if reply.status == 201 || reply.status == 200 => accepted
                            .lock()
                            .unwrap()
                            .push(reply.json()["id"].as_u64().unwrap()),
                        _ => return, // the server is gone
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(2500));
        // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
        unsafe { libc::kill(build_box.server.child.id() as i32, libc::SIGKILL) };
    });
    let _ = build_box.server.child.wait();
    let accepted = accepted.into_inner().unwrap();
    assert!(!accepted.is_empty(), "nothing was accepted before the kill");
    build_box.restart(work.path());
    for id in accepted.iter().chain([&hang]) {
        let job = get_json(&build_box.url(&format!("/api/v1/jobs/{id}")));
        assert_eq!(job["id"], *id, "job {id} was lost");
    }
    let requeued = build_box.job(hang);
    assert!(
        matches!(requeued["state"].as_str(), Some("queued" | "running")),
        "{requeued}"
    );
    println!(
        "kill -9 during a build and {} accepted POSTs: none lost",
        accepted.len()
    );
    // Stop the hanging build again.
    let _ = post(
        &build_box.url(&format!("/api/v1/jobs/{hang}/cancel")),
        "",
        &[],
    );
    let _ = wait_for(Duration::from_secs(30), || {
        (build_box.job(hang)["state"] == "cancelled").then_some(())
    });
}

/// A zstd frame of raw RLE blocks (4 bytes for each 128 KiB of zeros): `blocks` × 128 KiB once
/// decoded, about `blocks` × 4 bytes sent. Made by hand, as a real attacker would, so the test
/// does not spend a minute compressing a gigabyte.
fn zstd_bomb(blocks: usize) -> Vec<u8> {
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    // No content size, no checksum, no dictionary; a 1 MiB window (log 20: exponent 10).
    frame.extend_from_slice(&[0x00, 10 << 3]);
    const BLOCK: u32 = 128 * 1024;
    for i in 0..blocks {
        let last = (i + 1 == blocks) as u32;
        let header = last | (1 << 1) | (BLOCK << 3);
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(0);
    }
    frame
}

#[test]
fn a_log_bomb_is_refused_and_the_memory_stays_low() {
    let server = start("");
    let state = server._dir.path().join("state");
    let token = server::tokens::TokenStore::new(&state)
        .create("pusher", &[server::tokens::Scope::Push])
        .unwrap();
    // 8,448 blocks: 33 KB sent, 1.03 GiB once decoded.
    let bomb = zstd_bomb(8448);
    assert!(bomb.len() < 34 * 1024, "{}", bomb.len());
    let drv = "0123456789abcdfghijklmnpqrsvwxyz-bomb.drv";
    let url = server.url(&format!("/log/{drv}"));
    let bearer = format!("Bearer {token}");
    let started = Instant::now();
    let answers: Vec<crate::util::http::Reply> = std::thread::scope(|scope| {
        let sent: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    crate::util::http::try_send(
                        "PUT",
                        &url,
                        &[("Authorization", &bearer), ("Content-Encoding", "zstd")],
                        Some(&bomb),
                    )
                    .expect("the server answered")
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        while sent.iter().any(|s| !s.is_finished()) {
            slowest = slowest.max(health_latency(&server.server.url));
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("health during three log bombs: at worst {slowest:?}");
        sent.into_iter().map(|s| s.join().unwrap()).collect()
    });
    for answer in &answers {
        assert_eq!(answer.status, 413, "{}", answer.text());
        assert!(
            answer.text().contains("cache.max_log_size"),
            "{}",
            answer.text()
        );
    }
    let peak = server.memory_kib("VmHWM");
    let anonymous = server.memory_kib("RssAnon");
    println!(
        "three 33 KB zstd log bombs (1 GiB each decoded) at once: 413 in {:?}, server peak RSS {} MiB, anonymous RSS after {} MiB",
        started.elapsed(),
        peak / 1024,
        anonymous / 1024
    );
    assert!(peak < 200 * 1024, "peak RSS {} MiB", peak / 1024);
    // Nothing of the bombs is left on disk, and no log was kept.
    let uploads = state.join("uploads");
    assert_eq!(
        std::fs::read_dir(uploads.join("incoming")).unwrap().count(),
        0
    );
    assert!(get(&server.url(&format!("/log/{drv}"))).status == 404);

    // A log within the limit, compressed, is kept and served decoded.
    let plain = b"building '/nix/store/x.drv'...\nhello\n".repeat(1000);
    let sent = crate::util::http::try_send(
        "PUT",
        &url,
        &[("Authorization", &bearer), ("Content-Encoding", "zstd")],
        Some(&zstd::encode_all(&plain[..], 3).unwrap()),
    )
    .unwrap();
    assert_eq!(sent.status, 200, "{}", sent.text());
    assert_eq!(get(&server.url(&format!("/log/{drv}"))).body, plain);
}

#[test]
fn phantom_hosts_are_bounded_in_size_and_forgotten() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let server = BuildBox::start(&fleet, work.path(), "[fleet]\nforget_after = \"3s\"");
    let token = server::tokens::TokenStore::new(&server.state)
        .create("reporter", &[server::tokens::Scope::Report])
        .unwrap();
    let bearer = format!("Bearer {token}");
    server.wait_first_fetch();
    let flake_hosts = wait_for(Duration::from_secs(120), || {
        let hosts = get_json(&server.url("/api/v1/status"))["hosts"].clone();
        let hosts = hosts.as_array()?.clone();
        (!hosts.is_empty()).then_some(hosts.len())
    })
    .expect("the flake's hosts were never listed");
    let message = "x".repeat(16 * 1024);
    let body = serde_json::json!({
        "state": "failed",
        "path": format!("/nix/store/{}-phantom", "b".repeat(32)),
        "message": message,
    })
    .to_string();
    let phantoms = 300;
    let started = Instant::now();
    for i in 0..phantoms {
        let reply = post(
            &server.url(&format!("/api/v1/hosts/phantom-{i}/report")),
            &body,
            &[("Authorization", &bearer)],
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let status = get(&server.url("/api/v1/status"));
    let one = get_json(&server.url("/api/v1/hosts/phantom-7"));
    let kept = one["last_report"]["message"].as_str().unwrap();
    println!(
        "{phantoms} phantom hosts with 16 KiB messages in {:?}: status JSON {} KiB, a host's message kept at {} bytes",
        started.elapsed(),
        status.body.len() / 1024,
        kept.len()
    );
    assert!(
        kept.len() <= 4096 && kept.ends_with("(cut)"),
        "{}",
        kept.len()
    );
    assert!(
        status.body.len() < phantoms * 1024,
        "status is {} bytes",
        status.body.len()
    );
    // Silent past fleet.forget_after and not in the flake: forgotten; the flake's hosts stay.
    std::thread::sleep(Duration::from_secs(4));
    let hosts = get_json(&server.url("/api/v1/status"))["hosts"].clone();
    assert_eq!(hosts.as_array().unwrap().len(), flake_hosts, "{hosts}");
    assert_eq!(get(&server.url("/api/v1/hosts/phantom-7")).status, 404);
}

/// `/api/v1/health` timed every 10 ms while `work` runs; its latencies.
fn health_while(base: &str, work: impl FnOnce() + Send) -> Vec<Duration> {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let prober = scope.spawn(|| {
            let mut latencies = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                latencies.push(health_latency(base));
                std::thread::sleep(Duration::from_millis(10));
            }
            latencies
        });
        work();
        std::thread::sleep(Duration::from_millis(500));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        prober.join().unwrap()
    })
}

fn p99_and_max(latencies: &[Duration]) -> (Duration, Duration) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let p99 = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
    (p99, *sorted.last().unwrap())
}

#[test]
fn health_stays_fast_while_stalled_readers_are_set_up() {
    let readers = raise_open_files().min(500);
    let flake = single_package_flake("bigsetup", "head -c 16777216 /dev/urandom > $out");
    let path = build(flake.path(), "bigsetup");
    let server = start("send_timeout = \"20s\"\n[cache]\nmax_concurrent_nars = 2");
    let nar = server.nar_url(&path);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
        nar.trim_start_matches(&server.server.url)
    );
    let mut opened = Vec::new();
    let started = Instant::now();
    let latencies = health_while(&server.server.url, || {
        for _ in 0..readers {
            opened.push(stalled(server.addr(), &request));
        }
    });
    let (p99, max) = p99_and_max(&latencies);
    println!(
        "{readers} stalled NAR readers set up in {:?}: health p99 {p99:?}, max {max:?} ({} probes), peak RSS {} MiB, anonymous RSS {} MiB",
        started.elapsed(),
        latencies.len(),
        server.memory_kib("VmHWM") / 1024,
        server.memory_kib("RssAnon") / 1024
    );
    assert!(p99 < Duration::from_millis(100), "health p99 {p99:?}");
    assert!(max < Duration::from_millis(500), "health max {max:?}");
    drop(opened);
}
