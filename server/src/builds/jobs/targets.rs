//! Resolves what a job builds: targets as given (host names, flake attribute paths, other
//! names) to flake attributes, as `nix build .#NAME` would, by one `nix eval` of the fleet
//! flake at the job's revision. No targets means `build.default_targets`, or else every host.

use anyhow::{Context, Result, bail};
use nix_core::command;
use tokio::process::Command;

use common::ansi::strip as strip_ansi;

/// What a job will build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub targets: Vec<String>,
    pub attrs: Vec<String>,
}

/// A resolution that could not be made, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved {
    pub targets: Vec<String>,
    pub error: String,
    pub kind: Unresolvable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolvable {
    /// A target that does not exist at this revision: refused, no job is made.
    Unknown,
    /// No target given, and the flake has nothing to build by default: refused, no job.
    NothingByDefault,
    /// The flake does not evaluate: a failed job records it, so the history shows it.
    Broken,
}

/// `nixosConfigurations.<host>.config.system.build.toplevel`.
pub(crate) fn host_attr(host: &str) -> String {
    format!("nixosConfigurations.{host}.config.system.build.toplevel")
}

/// The host whose system `attr` is, for `nixosConfigurations.<host>.config.system.build.toplevel`.
pub(crate) fn host_of_attr(attr: &str) -> Option<&str> {
    let host = attr
        .strip_prefix("nixosConfigurations.")?
        .strip_suffix(".config.system.build.toplevel")?;
    (!host.is_empty()).then_some(host)
}

/// The names of the flake's `nixosConfigurations` (without evaluating any of them).
pub(crate) async fn host_names(flake_ref: &str) -> Result<Vec<String>> {
    let expression = format!(
        "builtins.attrNames ((builtins.getFlake {}).nixosConfigurations or {{ }})",
        nix_string(flake_ref)
    );
    let value = nix_eval_json(&expression).await?;
    Ok(value
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

pub(crate) async fn resolve(
    flake_ref: &str,
    system: &str,
    requested: &[String],
    default_targets: &[String],
) -> Result<Resolved, Unresolved> {
    let chosen: Vec<String> = if !requested.is_empty() {
        requested.to_vec()
    } else {
        default_targets.to_vec()
    };
    let evaluated = evaluate(flake_ref, system, &chosen)
        .await
        .map_err(|e| Unresolved {
            targets: chosen.clone(),
            error: format!("{e:#}"),
            kind: Unresolvable::Broken,
        })?;
    if chosen.is_empty() {
        if evaluated.hosts.is_empty() {
            return Err(Unresolved {
                targets: Vec::new(),
                error: "nothing to build by default: the flake has no nixosConfigurations and \
                        build.default_targets is empty (name the targets to build)"
                    .into(),
                kind: Unresolvable::NothingByDefault,
            });
        }
        return Ok(Resolved {
            attrs: evaluated.hosts.iter().map(|h| host_attr(h)).collect(),
            targets: evaluated.hosts,
        });
    }
    let mut attrs = Vec::new();
    let mut unknown = Vec::new();
    for (target, attr) in chosen.iter().zip(evaluated.attrs) {
        match attr {
            Some(attr) => attrs.push(attr),
            None => unknown.push(target.clone()),
        }
    }
    if !unknown.is_empty() {
        let list = |names: &[String]| {
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        return Err(Unresolved {
            targets: chosen,
            error: format!(
                "unknown target{} {}: not a host, nor a package of {system}, nor a flake output (hosts: {}; packages: {})",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                list(&evaluated.hosts),
                list(&evaluated.packages),
            ),
            kind: Unresolvable::Unknown,
        });
    }
    Ok(Resolved {
        targets: chosen,
        attrs,
    })
}

struct Evaluated {
    hosts: Vec<String>,
    /// The names of `packages.<system>`.
    packages: Vec<String>,
    /// One per target, `None` for a target that is nothing.
    attrs: Vec<Option<String>>,
}

async fn evaluate(flake_ref: &str, system: &str, names: &[String]) -> Result<Evaluated> {
    let expression = EXPRESSION
        .replace("@FLAKE@", &nix_string(flake_ref))
        .replace("@SYSTEM@", &nix_string(system))
        .replace(
            "@NAMES@",
            &names
                .iter()
                .map(|n| nix_string(n))
                .collect::<Vec<_>>()
                .join(" "),
        );
    let value = nix_eval_json(&expression).await?;
    let strings = |v: &serde_json::Value| -> Vec<Option<String>> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    Ok(Evaluated {
        hosts: strings(&value["hosts"]).into_iter().flatten().collect(),
        packages: strings(&value["packages"]).into_iter().flatten().collect(),
        attrs: strings(&value["attrs"]),
    })
}

/// `nix eval --json --expr EXPRESSION`, with Nix's error as one line.
async fn nix_eval_json(expression: &str) -> Result<serde_json::Value> {
    let output = Command::from(command::eval_json(expression).command())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("failed to run nix eval (is Nix installed and on PATH?)")?;
    if !output.status.success() {
        let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
        let message: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("(use '--show-trace'"))
            .take(6)
            .collect();
        let message = message.join(" ");
        if let Some(hint) = missing_lock_hint(&message) {
            bail!("{hint} (nix: {})", message.trim_start_matches("error: "));
        }
        bail!("the fleet flake does not evaluate: {message}");
    }
    serde_json::from_slice(&output.stdout).context("nix eval printed no JSON")
}

/// What to do when Nix failed because the fleet flake's inputs are not locked: the server
/// evaluates and builds a commit in pure mode, where Nix can neither make nor update
/// flake.lock ("cannot update flake input … in pure mode", or for `nix build` of a locked
/// revision "cannot write modified lock file"). `None` for any other error.
pub(crate) fn missing_lock_hint(nix_message: &str) -> Option<&'static str> {
    let pure_mode = nix_message.contains("flake input") && nix_message.contains("in pure mode");
    let unwritable = nix_message.contains("cannot write modified lock file");
    (pure_mode || unwritable).then_some(
        "the fleet flake has no flake.lock: run `nix flake lock` in the fleet repo and commit \
         flake.lock (or, when an input was added since, flake.lock lacks it: the same command \
         adds it)",
    )
}

/// A Nix string literal of `text`.
fn nix_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Resolves names as `nix build .#NAME` does: a host first (our addition), then
/// `packages.<system>`, `legacyPackages.<system>`, then a top-level output. An attribute path
/// must exist; under `nixosConfigurations.<host>` only the host is looked for, since looking
/// deeper would evaluate the whole system.
const EXPRESSION: &str = r#"
let
  flake = builtins.getFlake @FLAKE@;
  system = @SYSTEM@;
  hosts = builtins.attrNames (flake.nixosConfigurations or { });
  packages = flake.packages.${system} or { };
  legacy = flake.legacyPackages.${system} or { };
  hasPath = set: path:
    path == [ ] || (builtins.isAttrs set && builtins.hasAttr (builtins.head path) set
      && hasPath set.${builtins.head path} (builtins.tail path));
  exists = dotted:
    let path = builtins.filter builtins.isString (builtins.split "\\." dotted);
    in if builtins.head path == "nixosConfigurations" && builtins.length path > 2
      then builtins.elem (builtins.elemAt path 1) hosts
      else hasPath flake path;
  resolve = name:
    if builtins.match ".*\\..*" name != null then (if exists name then name else null)
    else if builtins.elem name hosts then "nixosConfigurations.${name}.config.system.build.toplevel"
    else if builtins.hasAttr name packages then "packages.${system}.${name}"
    else if builtins.hasAttr name legacy then "legacyPackages.${system}.${name}"
    else if builtins.hasAttr name flake then name
    else null;
in { inherit hosts; packages = builtins.attrNames packages; attrs = map resolve [ @NAMES@ ]; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlocked_fleet_is_told_to_lock_and_commit() {
        for nix in [
            "error: cannot update flake input 'dep' in pure mode",
            "error: cannot update unlocked flake input 'nixpkgs' in pure mode",
            "error: cannot write modified lock file of flake 'git+file:///x?rev=ab' (use '--no-write-lock-file' to ignore)",
        ] {
            let hint = missing_lock_hint(nix).unwrap();
            assert!(
                hint.starts_with("the fleet flake has no flake.lock: run `nix flake lock` in the fleet repo and commit flake.lock"),
                "{hint}"
            );
        }
        assert_eq!(missing_lock_hint("error: attribute 'x' missing"), None);
    }

    #[test]
    fn host_attrs_name_their_host() {
        assert_eq!(host_of_attr(&host_attr("laptop")), Some("laptop"));
        assert_eq!(host_of_attr("packages.x86_64-linux.hello"), None);
        assert_eq!(
            host_of_attr("nixosConfigurations..config.system.build.toplevel"),
            None
        );
    }

    #[test]
    fn nix_strings_escape_what_nix_interprets() {
        assert_eq!(nix_string("a\"b\\c${d}"), r#""a\"b\\c\${d}""#);
    }
}
