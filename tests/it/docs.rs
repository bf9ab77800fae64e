//! The docs a newcomer reads, held to the code: docs/reference.md lists every configuration key
//! the schema has (the list comes from the schema, so a key added anywhere is checked), the
//! example configs carry every key, links between the pages resolve, and every shell block
//! marked `<!-- runs-offline -->` in the README and docs/ runs as written against a real
//! server over a fixture fleet (`<!-- runs-offline from "A" through "B" -->` runs the lines
//! from the one holding A to the one holding B as a script of its own, starting its own server).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::config::schema::KEYS;

use crate::util::build_server::BuildBox;
use crate::util::fleet::Fleet;
use crate::util::nix::{NIX_CONFIG, run_ok};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap()
}

/// The README, ARCHITECTURE.md and every page under docs/, as (path, text).
fn pages() -> Vec<(String, String)> {
    let mut found = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(
                    path.strip_prefix(root())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found.into_iter().map(|p| (p.clone(), read(&p))).collect()
}

/// The keys docs/reference.md lists: the first cell of its table rows, `section.key`.
fn reference_keys() -> BTreeSet<String> {
    read("docs/reference.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |").map(|(cell, _)| cell.to_string()))
        .filter(|cell| {
            cell.split_once('.').is_some_and(|(section, name)| {
                !section.is_empty()
                    && section.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        })
        .collect()
}

#[test]
fn the_reference_lists_every_key_of_the_schema() {
    // What the binary knows, from the schema (and the same list `config show --json` prints).
    let schema: BTreeSet<String> = KEYS.iter().map(|k| k.dotted()).collect();
    let home = tempfile::tempdir().unwrap();
    let shown = crate::util::command_in(home.path())
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(0));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let shown: BTreeSet<String> = shown["keys"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(shown, schema, "config show and the schema disagree");

    let listed = reference_keys();
    let missing: Vec<&String> = schema.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "docs/reference.md lacks a row (| `section.key` | default | flag | meaning |) for {missing:?}"
    );
    // A row for a key that no longer exists (a section the schema knows, a name it does not).
    let sections: BTreeSet<&str> = KEYS.iter().map(|k| k.section).collect();
    let stale: Vec<&String> = listed
        .iter()
        .filter(|k| sections.contains(k.split_once('.').unwrap().0) && !schema.contains(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/reference.md lists keys the schema lacks: {stale:?}"
    );
}

#[test]
fn the_example_configs_carry_every_key() {
    let mut carried = BTreeSet::new();
    for file in ["examples/server-config.toml", "examples/client-config.toml"] {
        let mut section = String::new();
        for line in read(file).lines() {
            // A key may be shown commented out (one whose default depends on the machine).
            let line = line.trim().trim_start_matches('#').trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
            } else if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    carried.insert(format!("{section}.{name}"));
                }
            }
        }
    }
    let missing: Vec<String> = KEYS
        .iter()
        .map(|k| k.dotted())
        .filter(|k| !carried.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "examples/*-config.toml lack {missing:?}"
    );
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn the_readme_is_short_and_every_link_between_the_pages_resolves() {
    let readme = read("README.md");
    assert!(
        readme.lines().count() <= 250,
        "README.md has {} lines; the guide is in docs/",
        readme.lines().count()
    );
    let mut broken = Vec::new();
    for (page, text) in pages() {
        // The repository speaks of docs/reference.md, not of the spec it was built from.
        assert!(
            !text.to_lowercase().contains("contract"),
            "{page} speaks of \"the contract\": name docs/reference.md instead"
        );
        let dir = Path::new(&page).parent().unwrap().to_path_buf();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                root().join(&page)
            } else {
                root().join(&dir).join(file)
            };
            if !path.exists() {
                broken.push(format!("{page}: {target} (no such file)"));
            } else if !fragment.is_empty()
                && path.is_file()
                && !anchors(&std::fs::read_to_string(&path).unwrap()).contains(fragment)
            {
                broken.push(format!("{page}: {target} (no such heading)"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// A shell block marked to run offline: where it is, and its text (indentation removed).
struct Runnable {
    place: String,
    /// `Some((from, through))` for a marker that names a range of lines.
    range: Option<(String, String)>,
    script: String,
}

fn runnable_blocks() -> Vec<Runnable> {
    let mut blocks = Vec::new();
    for (page, text) in pages() {
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let Some(marker) = line.trim().strip_prefix("<!-- runs-offline") else {
                continue;
            };
            let marker = marker.trim_end_matches("-->").trim();
            let range = marker.strip_prefix("from ").map(|spec| {
                let quoted: Vec<&str> = spec.split('"').collect();
                assert!(
                    quoted.len() >= 4 && quoted[2].trim() == "through",
                    "{page}:{}: write <!-- runs-offline from \"A\" through \"B\" -->",
                    at + 1
                );
                (quoted[1].to_string(), quoted[3].to_string())
            });
            let fence = lines[at + 1];
            assert_eq!(
                fence.trim(),
                "```sh",
                "{page}:{}: the marker must sit right above a ```sh block",
                at + 1
            );
            let indent = fence.len() - fence.trim_start().len();
            let body: Vec<&str> = lines[at + 2..]
                .iter()
                .take_while(|l| l.trim() != "```")
                .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
                .collect();
            let script = match &range {
                None => body.join("\n"),
                Some((from, through)) => {
                    let start = body.iter().position(|l| l.contains(from.as_str()));
                    let end = body.iter().position(|l| l.contains(through.as_str()));
                    let (Some(start), Some(end)) = (start, end) else {
                        panic!("{page}:{}: no line holds {from:?} or {through:?}", at + 1)
                    };
                    body[start..=end].join("\n")
                }
            };
            blocks.push(Runnable {
                place: format!("{page}:{}", at + 1),
                range,
                script,
            });
        }
    }
    blocks
}

/// Runs `script` under bash as a user pastes it (stopping at the first failure), in `home`,
/// with the applets first on PATH; background jobs it starts are stopped at its end.
fn run_script(place: &str, script: &str, home: &Path, env: &[(&str, String)]) -> String {
    let bin = home.join(".local/bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let wrapped = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT\n{script}\n"
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&wrapped)
        .current_dir(home)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("NIX_CONFIG", NIX_CONFIG)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = format!(
        "{place}:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "a documented command failed: {said}"
    );
    said
}

/// A user's home: the applets in ~/.local/bin, curl failing on HTTP errors (so a refused
/// request fails the block), a clone of the fleet in ~/fleet.
fn user_home(dir: &Path, fleet: &Fleet) -> PathBuf {
    let home = dir.join("user");
    std::fs::create_dir_all(home.join("run")).unwrap();
    run_ok(
        Command::new(crate::util::binary())
            .arg("links")
            .arg(home.join(".local/bin")),
    );
    std::fs::write(home.join(".curlrc"), "fail-with-body\nsilent\nshow-error\n").unwrap();
    run_ok(
        Command::new("git")
            .args(["clone", "-q"])
            .arg(fleet.path())
            .arg(home.join("fleet")),
    );
    home
}

#[test]
fn every_block_marked_runnable_runs_against_a_real_server() {
    let blocks: Vec<Runnable> = runnable_blocks()
        .into_iter()
        .filter(|b| b.range.is_none())
        .collect();
    assert!(
        blocks.len() >= 4,
        "expected the README's and the guide's runnable blocks"
    );
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    let build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.settle();
    let token = run_ok(
        Command::new(crate::util::binary())
            .env_clear()
            .env("HOME", &build_box.home)
            .args([
                "token",
                "create",
                "docs",
                "--scope",
                "build,report,push",
                "--state-dir",
            ])
            .arg(&build_box.state),
    );
    let token = String::from_utf8(token.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let home = user_home(work.path(), &fleet);
    std::fs::write(home.join("token"), format!("{token}\n")).unwrap();
    // ./result for `push` and `nix copy`: a path built here, not on the box.
    let package = crate::util::fixtures::single_package_flake("tool", "echo a tool > $out");
    run_ok(
        crate::util::nix::nix("")
            .current_dir(&home)
            .args(["build", "--out-link"])
            .arg(home.join("result"))
            .arg(format!("path:{}#tool", package.path().display())),
    );

    let url = build_box.server.url.clone();
    let host = url.trim_start_matches("http://").split(':').next().unwrap();
    let env = [
        ("ATUIN_BOOTSTRAP_SERVER", url.clone()),
        ("ATUIN_BOOTSTRAP_TOKEN", token.clone()),
        ("TOKEN", token.clone()),
        (
            "ATUIN_BOOTSTRAP_CONFIG",
            build_box.config.display().to_string(),
        ),
    ];
    for block in &blocks {
        let script = block
            .script
            .replace("http://buildbox:8780", &url)
            .replace("buildbox", host);
        run_script(&block.place, &script, &home, &env);
    }
    // The netrc the cache guide writes holds a token: private from its first byte.
    use std::os::unix::fs::PermissionsExt;
    let netrc = home.join(".config/nix/netrc");
    assert_eq!(
        std::fs::metadata(&netrc).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn the_quickstart_runs_from_serve_to_the_cache_key() {
    let blocks: Vec<Runnable> = runnable_blocks()
        .into_iter()
        .filter(|b| b.range.is_some() && b.place.starts_with("README.md"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "the README's quickstart is marked runnable"
    );
    let quickstart = &blocks[0];
    for step in [
        "serve --repo",
        "token create",
        "bt ",
        "bs",
        "bl",
        "cache public-key",
    ] {
        assert!(
            quickstart.script.contains(step),
            "{step}: {}",
            quickstart.script
        );
    }
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    let home = user_home(work.path(), &fleet);
    // Its own server, on a free port instead of 8780 (other servers may run here).
    let port = crate::util::free_port();
    let listen = format!("127.0.0.1:{port}");
    let script = quickstart.script.replace("127.0.0.1:8780", &listen);
    let said = run_script(
        &quickstart.place,
        &script,
        &home,
        &[("ATUIN_BOOTSTRAP_SERVER__LISTEN", listen.clone())],
    );
    // It built the fleet's hosts and printed the cache's key.
    assert!(said.contains("succeeded"), "{said}");
    let state = home.join(".local/share/atuin-bootstrap");
    let key = std::fs::read_to_string(state.join("cache-key.sec")).unwrap();
    let name = key.split(':').next().unwrap();
    assert!(said.contains(&format!("{name}:")), "{said}");
}
