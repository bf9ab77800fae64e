//! What a push sends: the store paths the user named (links such as `./result` followed, a
//! file inside a store path taken as that path) and their closure with NAR sizes, as the
//! local store reports it (`nix path-info -r --json`, never substituting).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use common::exit::usage;
use nix_core::command;
use nix_core::store_path::StoreDir;

/// One store path with the size of its NAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SizedPath {
    pub path: String,
    pub nar_size: u64,
}

/// The store path `given` is or points into.
pub(super) fn resolve(given: &Path, store: &StoreDir) -> Result<String> {
    // A store path named as such may live in another store (`NIX_REMOTE=local?root=…`), not
    // on this file system: the store itself says whether it has it.
    if let Some(name) = given.to_str().and_then(|text| store.basename_of(text))
        && std::fs::symlink_metadata(given).is_err()
    {
        return Ok(store.path_of(name));
    }
    let real = std::fs::canonicalize(given).map_err(|e| {
        let hint = if given == Path::new("./result") || given == Path::new("result") {
            " (run `nix build` first, or name the store paths to push)"
        } else {
            ""
        };
        usage(format!(
            "cannot push {}: {}{hint}",
            given.display(),
            reason(&e)
        ))
    })?;
    let text = real.to_string_lossy();
    // The store directory may itself be reached through a link.
    let real_store = std::fs::canonicalize(store.as_str())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| store.as_str().to_string());
    let basename = [store.as_str(), real_store.as_str()]
        .iter()
        .find_map(|dir| text.strip_prefix(dir))
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split('/').next())
        .filter(|name| nix_core::store_path::is_valid_basename(name));
    match basename {
        Some(name) => Ok(store.path_of(name)),
        None => Err(usage(format!(
            "cannot push {}: it is {}, which is not in the Nix store {}",
            given.display(),
            real.display(),
            store.as_str()
        ))),
    }
}

fn reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or link".to_string(),
        _ => error.to_string(),
    }
}

/// The closure of `paths` in the local store, each path once, sorted.
pub(super) fn closure(paths: &[String], env: &BTreeMap<String, String>) -> Result<Vec<SizedPath>> {
    let output = command::local_closure_info(paths)
        .command()
        .env_clear()
        .envs(env)
        .output()
        .context("failed to run nix path-info (is Nix installed and on PATH?)")?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        return Err(usage(format!(
            "cannot push: the local Nix store does not have {}: {}",
            paths.join(" "),
            last_error(&said)
        )));
    }
    parse_path_info(&output.stdout)
}

/// The last line Nix wrote that says what went wrong.
fn last_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("error:"))
        .or(lines.last())
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| "nix path-info failed".to_string())
}

/// `nix path-info --json`: a list of objects with `path` (Nix 2.8 to 2.18), or an object keyed
/// by path (newer Nix); an invalid path is `"valid": false` or `null`.
pub(super) fn parse_path_info(json: &[u8]) -> Result<Vec<SizedPath>> {
    let value: Value =
        serde_json::from_slice(json).context("nix path-info printed something that is not JSON")?;
    let entries: Vec<(String, &Value)> = match &value {
        Value::Array(items) => items
            .iter()
            .map(|item| (item["path"].as_str().unwrap_or("").to_string(), item))
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(path, item)| (path.clone(), item))
            .collect(),
        _ => anyhow::bail!("nix path-info printed JSON of an unknown shape"),
    };
    let mut paths = Vec::new();
    for (path, info) in entries {
        let size = info["narSize"].as_u64();
        match size {
            Some(nar_size) if info["valid"] != Value::Bool(false) && !path.is_empty() => {
                paths.push(SizedPath { path, nar_size })
            }
            _ => {
                return Err(usage(format!(
                    "cannot push {path}: it is not a valid path of the local Nix store"
                )));
            }
        }
    }
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    paths.dedup_by(|a, b| a.path == b.path);
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/nix/store/007i5w51jwg4iqi9q1n9vlmjpj5cckbx-fixture-tree";
    const B: &str = "/nix/store/d2hp3ma8xm9ibdbzh791cxbw7r7v2yy3-fixture-lib";

    #[test]
    fn reads_both_shapes_of_path_info() {
        let old = format!(
            r#"[{{"path":"{A}","narSize":10,"references":["{B}"]}},{{"path":"{B}","narSize":5}}]"#
        );
        let new = format!(r#"{{"{B}":{{"narSize":5}},"{A}":{{"narSize":10}}}}"#);
        for json in [old, new] {
            let paths = parse_path_info(json.as_bytes()).unwrap();
            assert_eq!(
                paths,
                vec![
                    SizedPath {
                        path: A.into(),
                        nar_size: 10
                    },
                    SizedPath {
                        path: B.into(),
                        nar_size: 5
                    }
                ]
            );
        }
    }

    #[test]
    fn an_invalid_path_is_a_usage_error() {
        for json in [
            format!(r#"[{{"path":"{A}","valid":false}}]"#),
            format!(r#"{{"{A}":null}}"#),
        ] {
            let error = parse_path_info(json.as_bytes()).unwrap_err();
            assert_eq!(common::exit::code_of(&error), common::exit::USAGE);
            assert!(error.to_string().contains(A), "{error}");
        }
    }

    #[test]
    fn resolves_links_and_files_inside_a_store_path() {
        let dir = std::env::temp_dir().join(format!("push-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = StoreDir::new(dir.join("store").display().to_string());
        let path = store.path_of("007i5w51jwg4iqi9q1n9vlmjpj5cckbx-fixture-tree");
        std::fs::create_dir_all(format!("{path}/bin")).unwrap();
        std::fs::write(format!("{path}/bin/tool"), "").unwrap();
        let link = dir.join("result");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(resolve(&link, &store).unwrap(), path);
        assert_eq!(
            resolve(Path::new(&format!("{path}/bin/tool")), &store).unwrap(),
            path
        );
        let outside = resolve(&dir, &store).unwrap_err();
        assert!(outside.to_string().contains("not in the Nix store"));
        let missing = resolve(&dir.join("nothing"), &store).unwrap_err();
        assert_eq!(common::exit::code_of(&missing), common::exit::USAGE);
        assert!(missing.to_string().contains("no such file or link"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
