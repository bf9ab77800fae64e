//! The abuse suite for uploads (`nix copy --to` the box), against the real binary with a push
//! token: decompression bombs with the server's anonymous memory and the disk watched,
//! uploads racing for a small disk, a trickled body, concurrent pushes of one path, NARs with
//! bad entry names, kill -9 in the middle of an upload, and the poisoning flow (content pushed
//! at the output path of a build the box has not made, then built) with a host that trusts
//! only the build key. Figures are printed; assertions are facts or generous bounds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix_core::base32;
use server::tokens::{Scope, TokenStore};
use sha2::{Digest, Sha256};

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::http::{Reply, field, get, get_json, narinfo_fields, try_send};
use crate::util::nix::{NIX_CONFIG, nar_file_head, nar_of_dir, nix, run_ok};
use crate::util::server::Spawned;

/// A spawned server with a push token, restartable on the same state.
struct UploadBox {
    server: Spawned,
    dir: PathBuf,
    token: String,
    _temp: Option<tempfile::TempDir>,
}

impl UploadBox {
    fn start(extra: &str) -> UploadBox {
        let temp = tempfile::tempdir().unwrap();
        let mut started = UploadBox::start_in(temp.path(), extra);
        started._temp = Some(temp);
        started
    }

    fn start_in(dir: &Path, extra: &str) -> UploadBox {
        let state = dir.join("state");
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[server]\nstate_dir = {:?}\n{extra}\n",
                state.display().to_string()
            ),
        )
        .unwrap();
        let tokens = TokenStore::new(&state);
        let token = match std::fs::read_to_string(dir.join("push-token")) {
            Ok(token) => token,
            Err(_) => {
                let token = tokens.create("mallory", &[Scope::Push]).unwrap();
                std::fs::write(dir.join("push-token"), &token).unwrap();
                token
            }
        };
        UploadBox {
            server: spawn(dir),
            dir: dir.to_path_buf(),
            token,
            _temp: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn put(&self, path: &str, body: &[u8]) -> Reply {
        let bearer = format!("Bearer {}", self.token);
        try_send(
            "PUT",
            &self.url(path),
            &[("Authorization", &bearer)],
            Some(body),
        )
        .expect("an answer")
    }

    /// Kills the server (-9) and starts it again on the same state.
    fn kill_and_restart(&mut self) {
        // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
        unsafe { libc::kill(self.server.child.id() as i32, libc::SIGKILL) };
        let _ = self.server.child.wait();
        self.server = spawn(&self.dir);
    }

    /// The server's anonymous resident memory in KiB.
    fn anon_kib(&self) -> u64 {
        anon_kib(self.server.child.id())
    }

    /// Files left in the uploads area.
    fn upload_files(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for dir in ["incoming", "nar", "import"] {
            if let Ok(entries) = std::fs::read_dir(self.state().join("uploads").join(dir)) {
                left.extend(entries.map(|e| e.unwrap().path()));
            }
        }
        left
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(&self.server.log).unwrap_or_default()
    }
}

fn spawn(dir: &Path) -> Spawned {
    let mut command = Command::new(crate::util::binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NIX_CONFIG", NIX_CONFIG)
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null());
    Spawned::start(command, &dir.join("server.log"))
}

fn anon_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Samples `measure` every 10 ms on a thread until the returned guard is read.
struct Watch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(measure: impl Fn() -> u64 + Send + 'static) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(measure(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Watch {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Bytes of the files under `dir`.
fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `<nix32 of the bytes' SHA-256>.nar<ext>`: the name Nix uploads a file under.
fn upload_name(file: &[u8], ext: &str) -> String {
    format!("{}.nar{ext}", base32::encode(&sha256(file)))
}

/// A store path nobody has: a fresh hash part and `name`.
fn fresh_path(name: &str) -> String {
    let hash = sha256(crate::util::nonce().as_bytes());
    format!("/nix/store/{}-{name}", base32::encode(&hash[..20]))
}

/// The narinfo Nix would upload for `path` with this NAR sent as `file` under `name`.
fn narinfo(path: &str, nar: &[u8], compression: &str, file: &[u8], name: &str) -> String {
    format!(
        "StorePath: {path}\nURL: nar/{name}\nCompression: {compression}\nFileHash: sha256:{}\n\
         FileSize: {}\nNarHash: sha256:{}\nNarSize: {}\nReferences: \n",
        base32::encode(&sha256(file)),
        file.len(),
        base32::encode(&sha256(nar)),
        nar.len()
    )
}

fn hash_part(path: &str) -> &str {
    &path["/nix/store/".len().."/nix/store/".len() + 32]
}

/// A zstd stream of `head` then `zeros` zero bytes, made as it goes (never whole in memory
/// before compression), with the given window.
fn zstd_bomb(head: &[u8], zeros: u64, window_log: u32) -> Vec<u8> {
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    encoder.window_log(window_log).unwrap();
    encoder.include_contentsize(false).unwrap();
    encoder.write_all(head).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        encoder.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    encoder.finish().unwrap()
}

#[test]
fn decompression_bombs_are_cut_and_leave_memory_and_disk_alone() {
    let server = UploadBox::start("[cache]\nmax_nar_size = \"64MiB\"");
    let baseline = server.anon_kib();
    // A frame asking for a 128 MiB window (eight at once took RSS to 1 GiB before).
    let window_bomb = zstd_bomb(&nar_file_head(32 << 20), 32 << 20, 27);
    // Within the window, but 2 GiB once decompressed under a 64 MiB max_nar_size.
    let size_bomb = zstd_bomb(&nar_file_head(2 << 30), 2 << 30, 19);
    // An xz stream needing a 64 MiB dictionary.
    let xz_bomb = {
        let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 9 | (1 << 31));
        encoder.write_all(&nar_file_head(16 << 20)).unwrap();
        encoder.write_all(&vec![0u8; 16 << 20]).unwrap();
        encoder.finish().unwrap()
    };
    println!(
        "bombs: window {} bytes, size {} bytes, xz {} bytes",
        window_bomb.len(),
        size_bomb.len(),
        xz_bomb.len()
    );
    let pid = server.server.child.id();
    let memory = Watch::start(move || anon_kib(pid));
    let uploads = server.state().join("uploads");
    let disk = Watch::start(move || du(&uploads));
    let health = {
        let url = server.url("/api/v1/health");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    assert_eq!(get(&url).status, 200);
                    latencies.push(started.elapsed());
                    std::thread::sleep(Duration::from_millis(20));
                }
                latencies
            })
        };
        (stop, thread)
    };
    let answers: Vec<(String, u16, String)> = std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for i in 0..8 {
            for (kind, bytes, ext) in [
                ("window", &window_bomb, ".zst"),
                ("size", &size_bomb, ".zst"),
                ("xz", &xz_bomb, ".xz"),
            ] {
                let server = &server;
                threads.push(scope.spawn(move || {
                    // Each under its own (wrong) name: the bytes are refused before the name.
                    let name = format!("{}{i}.nar{ext}", &"0".repeat(51));
                    let reply = server.put(&format!("/nar/{name}"), bytes);
                    (kind.to_string(), reply.status, reply.text())
                }));
            }
        }
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let peak_anon = memory.peak();
    let peak_disk = disk.peak();
    health.0.store(true, Ordering::Relaxed);
    let mut latencies = health.1.join().unwrap();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    let max = *latencies.last().unwrap();
    for (kind, status, text) in &answers {
        match kind.as_str() {
            "size" => {
                assert_eq!(*status, 413, "{kind}: {text}");
                assert!(text.contains("max_nar_size"), "{kind}: {text}");
            }
            _ => assert_eq!(*status, 400, "{kind}: {text}"),
        }
    }
    println!(
        "24 bombs at once: server anonymous memory {} MiB at start, {} MiB at peak; \
         uploads area at most {} KiB; health p99 {p99:?}, max {max:?} ({} probes)",
        baseline / 1024,
        peak_anon / 1024,
        peak_disk / 1024,
        latencies.len()
    );
    assert!(max < Duration::from_secs(2), "health took {max:?}");
    assert!(
        peak_anon < 96 * 1024,
        "anonymous memory peaked at {peak_anon} KiB"
    );
    assert!(
        peak_disk < 4 << 20,
        "the uploads area reached {peak_disk} bytes"
    );
    assert!(
        server.upload_files().is_empty(),
        "{:?}",
        server.upload_files()
    );
    assert_eq!(get(&server.url("/api/v1/health")).status, 200);
}

/// A tmpfs of `mib` MiB at a new directory, unmounted on drop (root only).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        mounted.then_some(Tmpfs { dir })
    }

    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.dir.path().to_str().unwrap()).unwrap();
        // SAFETY: statvfs is integers only, for which all zero bytes is a valid value.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a zeroed statvfs of the right type.
        unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
        stat.f_bavail as u64 * stat.f_frsize as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Sends `body` as a PUT with its Content-Length in pieces, pausing between them; the status.
fn put_slowly(
    base: &str,
    path: &str,
    token: &str,
    body: &[u8],
    pieces: usize,
    pause: Duration,
) -> u16 {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    for piece in body.chunks(body.len().div_ceil(pieces)) {
        if stream.write_all(piece).is_err() {
            break;
        }
        std::thread::sleep(pause);
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn uploads_racing_for_a_small_disk_are_refused_before_they_fill_it() {
    // 256 MiB stay free after any upload: a 320 MiB disk has room for 64 MiB of uploads.
    let Some(disk) = Tmpfs::mount(320) else {
        println!("skipped: cannot mount a tmpfs here (not root)");
        return;
    };
    let server = UploadBox::start_in(disk.dir.path(), "");
    let free_at_start = disk.free();
    let nars: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let mut nar = nar_file_head(30 << 20);
            nar.extend(std::iter::repeat_n(i as u8, 30 << 20));
            crate::util::nix::nar_token(&mut nar, b")");
            nar
        })
        .collect();
    let free_watch = {
        let path = disk.dir.path().to_path_buf();
        Watch::start(move || {
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: statvfs is integers only, for which all zero bytes is a valid value.
            let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
            // SAFETY: a valid C string and a zeroed statvfs of the right type.
            unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
            u64::MAX - stat.f_bavail as u64 * stat.f_frsize as u64
        })
    };
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = nars
            .iter()
            .map(|nar| {
                let server = &server;
                scope.spawn(move || {
                    let name = upload_name(nar, "");
                    put_slowly(
                        &server.server.url,
                        &format!("/nar/{name}"),
                        &server.token,
                        nar,
                        30,
                        Duration::from_millis(30),
                    )
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let lowest_free = u64::MAX - free_watch.peak();
    println!(
        "three 30 MiB uploads at once on a 320 MiB disk ({} MiB free): answered {statuses:?}; \
         free space never below {} MiB",
        free_at_start >> 20,
        lowest_free >> 20
    );
    assert!(statuses.contains(&507), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 507),
        "{statuses:?}"
    );
    assert!(lowest_free >= 200 << 20, "free space fell to {lowest_free}");
    drop(server);
}

#[test]
fn a_trickled_upload_is_cut_after_the_request_timeout() {
    let server = UploadBox::start("request_timeout = \"2s\"");
    let started = Instant::now();
    // One byte every 300 ms: never idle for the timeout, but 1 MiB would take days.
    let mut body = nar_file_head(1 << 20);
    body.resize((1 << 20) + 64, 0);
    let name = upload_name(&body, "");
    let mut stream = TcpStream::connect(server.server.url.trim_start_matches("http://")).unwrap();
    let head = format!(
        "PUT /nar/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        server.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut answer = Vec::new();
    for byte in &body {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buffer = [0u8; 4096];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                break;
            }
            Err(_) => {}
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never cut");
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    println!(
        "a trickled upload was cut after {:?}: {}",
        started.elapsed(),
        answer.lines().next().unwrap_or("")
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(8));
    let gone = wait_for(Duration::from_secs(5), || {
        server.upload_files().is_empty().then_some(())
    });
    assert!(gone.is_some(), "{:?}", server.upload_files());
}

#[test]
fn concurrent_pushes_of_one_path_all_succeed_and_count_once() {
    let server = UploadBox::start("");
    let path = fresh_path("raced");
    let nar = nar_of_dir(&[b"a", b"b"]);
    let name = upload_name(&nar, "");
    let info = narinfo(&path, &nar, "none", &nar, &name);
    let statuses: Vec<(u16, u16, String)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (server, nar, name, info, path) = (&server, &nar, &name, &info, &path);
                scope.spawn(move || {
                    let put_nar = server.put(&format!("/nar/{name}"), nar);
                    let put_info =
                        server.put(&format!("/{}.narinfo", hash_part(path)), info.as_bytes());
                    (put_nar.status, put_info.status, put_info.text())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (nar_status, info_status, text) in &statuses {
        assert_eq!(*nar_status, 200);
        assert_eq!(*info_status, 200, "{text}");
    }
    let status = get_json(&server.url("/api/v1/status"));
    assert_eq!(status["pushed"]["count"], 1, "{status}");
    let metrics = get(&server.url("/metrics")).text();
    assert!(
        metrics.contains("atuin_bootstrap_pushed_paths_total 1\n"),
        "{metrics}"
    );
    let served = get(&server.url(&format!("/{}.narinfo", hash_part(&path))));
    assert_eq!(served.status, 200);
    // Served back byte for byte.
    let url = field(&narinfo_fields(&served.text()), "URL")
        .unwrap()
        .to_string();
    assert_eq!(get(&server.url(&format!("/{url}"))).body, nar);
    assert!(
        server.upload_files().is_empty(),
        "{:?}",
        server.upload_files()
    );
    println!("6 concurrent pushes of one path: {statuses:?}");
}

#[test]
fn nars_with_bad_entries_or_not_nars_are_refused_naming_the_entry() {
    let server = UploadBox::start("");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (nar_of_dir(&[b".."]), "\"..\""),
        (nar_of_dir(&[b"."]), "\".\""),
        (nar_of_dir(&[b"a/b"]), "\"a/b\""),
        (nar_of_dir(&[b"/abs"]), "\"/abs\""),
        (nar_of_dir(&[b""]), "\"\""),
        (nar_of_dir(&[b"nul\0x"]), "nul"),
        (nar_of_dir(&[b"b", b"a"]), "sorted"),
        (
            b"this is not a NAR, though it has the hash its name says".to_vec(),
            "not a NAR",
        ),
    ];
    for (nar, said) in &cases {
        let path = fresh_path("bad");
        for (file, ext, compression) in [
            (nar.clone(), "", "none"),
            (zstd::encode_all(&nar[..], 3).unwrap(), ".zst", "zstd"),
        ] {
            let name = upload_name(&file, ext);
            let reply = server.put(&format!("/nar/{name}"), &file);
            assert_eq!(
                reply.status,
                400,
                "{said} ({compression}): {}",
                reply.text()
            );
            assert!(reply.text().contains(said), "{said}: {}", reply.text());
            // Its narinfo then finds no NAR: nothing was kept.
            let info = narinfo(&path, nar, compression, &file, &name);
            let reply = server.put(&format!("/{}.narinfo", hash_part(&path)), info.as_bytes());
            assert_eq!(reply.status, 400, "{}", reply.text());
            assert!(
                reply.text().contains("was not uploaded"),
                "{}",
                reply.text()
            );
        }
        assert_eq!(
            get(&server.url(&format!("/{}.narinfo", hash_part(&path)))).status,
            404
        );
    }
    assert!(
        server.upload_files().is_empty(),
        "{:?}",
        server.upload_files()
    );
    assert!(
        !server.server_log().contains(" 500 "),
        "{}",
        server.server_log()
    );
}

#[test]
fn kill_9_in_the_middle_of_an_upload_then_restart_leaves_no_upload_behind() {
    let mut server = UploadBox::start("");
    // One path pushed whole before the kill.
    let kept = fresh_path("kept");
    let nar = nar_of_dir(&[b"kept"]);
    let name = upload_name(&nar, "");
    assert_eq!(server.put(&format!("/nar/{name}"), &nar).status, 200);
    let info = narinfo(&kept, &nar, "none", &nar, &name);
    let reply = server.put(&format!("/{}.narinfo", hash_part(&kept)), info.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A NAR waiting for its narinfo, and one half sent.
    let waiting = nar_of_dir(&[b"waiting"]);
    let waiting_name = upload_name(&waiting, "");
    assert_eq!(
        server.put(&format!("/nar/{waiting_name}"), &waiting).status,
        200
    );
    let mut half = nar_file_head(8 << 20);
    half.resize(4 << 20, 1);
    let mut stream = TcpStream::connect(server.server.url.trim_start_matches("http://")).unwrap();
    let head = format!(
        "PUT /nar/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\n\r\n",
        "1".repeat(52) + ".nar",
        server.token,
        8 << 20
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&half).unwrap();
    let incoming = server.state().join("uploads/incoming");
    let part = wait_for(Duration::from_secs(10), || {
        std::fs::read_dir(&incoming)
            .ok()?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .then_some(())
    });
    assert!(part.is_some(), "no .part file while the upload arrived");
    server.kill_and_restart();
    drop(stream);
    assert!(
        server.upload_files().is_empty(),
        "{:?}",
        server.upload_files()
    );
    assert_eq!(
        get(&server.url(&format!("/nar/{waiting_name}"))).status,
        404,
        "a NAR from before the restart is still offered"
    );
    // The path pushed before the kill is still served, whole.
    let served = get(&server.url(&format!("/{}.narinfo", hash_part(&kept))));
    assert_eq!(served.status, 200, "{}", served.text());
    let url = field(&narinfo_fields(&served.text()), "URL")
        .unwrap()
        .to_string();
    assert_eq!(get(&server.url(&format!("/{url}"))).body, nar);
}

/// The poisoning flow: a push token holder computes the output path of a fleet package the
/// box has not built, pushes other content at it, and waits for the box to build it. The box
/// builds it itself, the job says nothing came by push, the pushed copy is dropped with a
/// warning naming the token, and a host that trusts only the build key gets the box's build.
#[test]
fn content_pushed_at_a_future_build_output_never_reaches_a_host() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.wait_first_fetch();
    let tokens = TokenStore::new(&build_box.state);
    let pusher = tokens.create("mallory", &[Scope::Push]).unwrap();
    let builder = tokens.create("ci", &[Scope::Build]).unwrap();
    let output = String::from_utf8(
        run_ok(nix("").args(["eval", "--raw"]).arg(format!(
            "path:{}#packages.x86_64-linux.greet.outPath",
            fleet.path().display()
        )))
        .stdout,
    )
    .unwrap();
    assert!(
        !Path::new(&output).exists(),
        "{output} is built already; the flow needs a future output"
    );
    // The pusher's content at that path.
    let evil = {
        let mut nar = Vec::new();
        for token in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
        ] {
            crate::util::nix::nar_token(&mut nar, token);
        }
        crate::util::nix::nar_token(&mut nar, b"pwned by mallory\n");
        crate::util::nix::nar_token(&mut nar, b")");
        nar
    };
    let name = upload_name(&evil, "");
    let bearer = format!("Bearer {pusher}");
    let put = |path: &str, body: &[u8]| {
        try_send(
            "PUT",
            &build_box.url(path),
            &[("Authorization", &bearer)],
            Some(body),
        )
        .unwrap()
    };
    assert_eq!(put(&format!("/nar/{name}"), &evil).status, 200);
    let info = narinfo(&output, &evil, "none", &evil, &name);
    let reply = put(&format!("/{}.narinfo", hash_part(&output)), info.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Served meanwhile, but signed by the push key only, and said to be pushed.
    let status = get_json(&build_box.url("/api/v1/status"));
    let build_key = status["cache"]["public_keys"][0]
        .as_str()
        .unwrap()
        .to_string();
    let push_key = status["cache"]["push_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let pushed_narinfo = get(&build_box.url(&format!("/{}.narinfo", hash_part(&output)))).text();
    let push_name = push_key.split(':').next().unwrap();
    let build_name = build_key.split(':').next().unwrap();
    assert!(
        pushed_narinfo.contains(&format!("Sig: {push_name}:")),
        "{pushed_narinfo}"
    );
    assert!(
        !pushed_narinfo.contains(&format!("Sig: {build_name}:")),
        "{pushed_narinfo}"
    );
    let provenance = get_json(&build_box.url(&format!("/api/v1/paths/{output}")));
    assert_eq!(provenance["origin"], "pushed", "{provenance}");
    assert_eq!(provenance["token"], "mallory", "{provenance}");

    // The box builds the package.
    let reply = crate::util::http::post(
        &build_box.url("/api/v1/jobs"),
        r#"{"targets":["greet"]}"#,
        &[("Authorization", &format!("Bearer {builder}"))],
    );
    assert!(matches!(reply.status, 200 | 201), "{}", reply.text());
    let id = reply.json()["id"].as_u64().unwrap();
    let job = build_box.wait_finished(id);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["outputs"]["greet"], output.as_str(), "{job}");
    assert_eq!(job["pushed"], serde_json::json!([]), "{job}");
    let built = std::fs::read_to_string(&output).unwrap();
    assert!(!built.contains("pwned"), "{built}");
    let provenance = get_json(&build_box.url(&format!("/api/v1/paths/{output}")));
    assert_eq!(provenance["origin"], "built", "{provenance}");
    let narinfo_now = get(&build_box.url(&format!("/{}.narinfo", hash_part(&output)))).text();
    assert!(
        narinfo_now.contains(&format!("Sig: {build_name}:")),
        "{narinfo_now}"
    );
    assert!(
        !narinfo_now.contains(&format!("Sig: {push_name}:")),
        "{narinfo_now}"
    );
    let log = std::fs::read_to_string(&build_box.server.log).unwrap();
    assert!(
        log.contains("token mallory pushed") && log.contains("other contents"),
        "{log}"
    );
    assert!(
        !build_box
            .state
            .join(format!("pushed/paths/{}.json", hash_part(&output)))
            .exists()
    );

    // A host trusting only the build key copies the job's output: the box's build.
    let host = tempfile::tempdir().unwrap();
    let copied = crate::util::client_store::nix_copy(
        &build_box.server.url,
        host.path(),
        &output,
        &build_key,
    );
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let on_host =
        std::fs::read_to_string(host.path().join(output.trim_start_matches('/'))).unwrap();
    assert_eq!(on_host, built);
    println!("pushed at {output} before its build: the host got the box's build");
}
