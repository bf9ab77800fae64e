//! Running real Nix for tests: flakes enabled, no substituters (the machine has no network,
//! and the default one makes every build wait for a time-out).

use std::path::Path;
use std::process::{Command, Output};

pub(crate) const NIX_CONFIG: &str = "experimental-features = nix-command flakes\nsubstituters =\n";

/// A `nix` command with the test configuration, plus extra config lines.
pub(crate) fn nix(extra_config: &str) -> Command {
    let mut command = Command::new("nix");
    command.env("NIX_CONFIG", format!("{NIX_CONFIG}{extra_config}"));
    command
}

/// Runs a command and returns its output, failing the test with its stderr when it fails.
pub(crate) fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("failed to start a command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `nix build --json` of `flake#attr`; returns the `out` path.
pub(crate) fn build(flake_dir: &Path, attr: &str) -> String {
    let output = run_ok(nix("").args([
        "build",
        "--no-link",
        "--json",
        &format!("path:{}#{attr}", flake_dir.display()),
    ]));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json[0]["outputs"]["out"].as_str().unwrap().to_string()
}

/// `nix-store --dump PATH`.
pub(crate) fn dump(path: &str) -> Vec<u8> {
    run_ok(Command::new("nix-store").args(["--dump", path])).stdout
}

/// The hash part of a store path.
pub(crate) fn hash_part(path: &str) -> String {
    Path::new(path).file_name().unwrap().to_str().unwrap()[..32].to_string()
}

/// `nix path-info --json` of one path.
pub(crate) fn path_info(path: &str) -> serde_json::Value {
    let output = run_ok(nix("").args(["path-info", "--json", path]));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json[0].clone()
}

/// The full closure of a path.
pub(crate) fn closure(path: &str) -> Vec<String> {
    let output = run_ok(Command::new("nix-store").args(["-qR", path]));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Appends a NAR token as Nix writes it: its length, its bytes, zeros up to 8 bytes.
pub(crate) fn nar_token(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend(std::iter::repeat_n(0u8, (8 - bytes.len() % 8) % 8));
}

/// The start of a NAR of one regular file of `len` bytes: what comes before its contents.
pub(crate) fn nar_file_head(len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for token in [
        &b"nix-archive-1"[..],
        b"(",
        b"type",
        b"regular",
        b"contents",
    ] {
        nar_token(&mut out, token);
    }
    out.extend_from_slice(&len.to_le_bytes());
    out
}

/// A NAR of a directory holding a small file under each of `names`, as given (valid or not).
pub(crate) fn nar_of_dir(names: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for token in [&b"nix-archive-1"[..], b"(", b"type", b"directory"] {
        nar_token(&mut out, token);
    }
    for name in names {
        for token in [&b"entry"[..], b"(", b"name", name, b"node", b"(", b"type"] {
            nar_token(&mut out, token);
        }
        for token in [&b"regular"[..], b"contents", b"hi\n", b")", b")"] {
            nar_token(&mut out, token);
        }
    }
    nar_token(&mut out, b")");
    out
}
