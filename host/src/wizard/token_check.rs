//! The token step: which API token this machine uses, checked against the box before it is
//! kept. The wizard cannot make a token (the box's state dir is not this machine's), so
//! without one it prints the exact command the admin runs on the box, and on a terminal asks
//! for the token file. A token given is asked about (`GET /api/v1/token`): one the box does not
//! know is refused, and what it may do is said, with the scopes to create together when it
//! lacks what this machine needs. When the box cannot be reached the token is kept unchecked,
//! and the wizard says so.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::answers::Asker;
use super::secrets;
use common::exit::usage;
use common::process::Process;

/// What the box said about a token.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The box knows it: its name, scopes and bound host.
    Known {
        name: String,
        scopes: Vec<String>,
        host: Option<String>,
    },
    /// `401`: revoked, mistyped, or made on another box.
    Unknown,
    /// The box could not be asked; why.
    Unchecked(String),
}

/// The command the admin runs on the box to make this machine's token.
pub(super) fn create_command(hostname: &str) -> String {
    format!("atuin-bootstrap token create {hostname} --scope build,report --host {hostname}")
}

/// Finds this machine's token (`--token-file`, the copy an earlier run kept, or on a terminal
/// a path asked for), checks it against `server` and says what it may do. Returns the token
/// file to keep, if any. A token the box does not know is an error (exit 2).
pub(super) fn step(
    process: &mut Process,
    given: Option<PathBuf>,
    secrets_dir: &Path,
    server: &str,
    hostname: &str,
    pushes: bool,
    asker: &Asker,
) -> Result<Option<PathBuf>> {
    let kept = secrets_dir.join("atuin-bootstrap-token");
    let mut source = given
        .clone()
        .or_else(|| kept.exists().then(|| kept.clone()));
    if source.is_none() {
        writeln!(
            process.stderr,
            "this machine has no API token yet: on the box, make one with\n  {}\n\
             and pass the file it is in with --token-file FILE",
            create_command(hostname)
        )?;
        if matches!(asker, Asker::Terminal) {
            let answer: String = dialoguer::Input::new()
                .with_prompt("File with this machine's API token (empty: go on without one)")
                .allow_empty(true)
                .interact_text()
                .map_err(|e| usage(format!("no answer: {e}")))?;
            if !answer.trim().is_empty() {
                source = Some(PathBuf::from(answer.trim()));
            }
        }
    }
    let Some(source) = source else {
        return Ok(None);
    };
    let token = secrets::read(&source, "the build server's API token")?;
    match ask(server, &token) {
        Verdict::Known { name, scopes, host } => {
            let bound = host
                .as_deref()
                .map(|h| format!(", reports only for host {h}"))
                .unwrap_or_default();
            writeln!(
                process.stderr,
                "token {name:?} is valid on the box: {}{bound}",
                scopes.join(",")
            )?;
            for advice in advice(&scopes, host.as_deref(), hostname, pushes) {
                writeln!(process.stderr, "warning: {advice}")?;
            }
        }
        Verdict::Unknown => {
            return Err(usage(format!(
                "the token in {} is not valid on {server} (revoked, mistyped, or made on another \
                 box); make this machine's token on the box with `{}`",
                source.display(),
                create_command(hostname)
            )));
        }
        Verdict::Unchecked(why) => {
            writeln!(
                process.stderr,
                "warning: the token in {} could not be checked ({why}); it is kept as it is",
                source.display()
            )?;
        }
    }
    Ok(given.or(Some(source)).filter(|s| *s != kept))
}

/// Asks the box what `token` is.
pub(super) fn ask(server: &str, token: &str) -> Verdict {
    let url = format!("{}/api/v1/token", server.trim_end_matches('/'));
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(15))
        .build();
    let answer = agent
        .get(&url)
        .set("Authorization", &format!("Bearer {token}"))
        .call();
    let response = match answer {
        Ok(response) => response,
        Err(ureq::Error::Status(401, _)) => return Verdict::Unknown,
        Err(ureq::Error::Status(code, _)) => {
            return Verdict::Unchecked(format!(
                "the box answered {code}; it may be older than GET /api/v1/token"
            ));
        }
        Err(e) => return Verdict::Unchecked(format!("{server} did not answer: {e}")),
    };
    let Ok(body) = response.into_json::<Value>() else {
        return Verdict::Unchecked("the box did not answer with JSON".into());
    };
    let scopes = body["scopes"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Verdict::Known {
        name: body["name"].as_str().unwrap_or("?").to_string(),
        scopes,
        host: body["host"].as_str().map(str::to_string),
    }
}

/// What this machine will miss with a token of `scopes` bound to `host`, and the token to make
/// instead (keeping what it has).
fn advice(scopes: &[String], host: Option<&str>, hostname: &str, pushes: bool) -> Vec<String> {
    let mut needed: Vec<&str> = vec!["build", "report"];
    if pushes {
        needed.push("push");
    }
    let mut want: Vec<String> = scopes.to_vec();
    for scope in &needed {
        if !want.iter().any(|s| s == scope) {
            want.push(scope.to_string());
        }
    }
    let order = ["build", "report", "push", "deploy"];
    want.sort_by_key(|s| order.iter().position(|o| o == s).unwrap_or(order.len()));
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|n| !scopes.iter().any(|s| s == n))
        .collect();
    let mut said = Vec::new();
    if !missing.is_empty() {
        said.push(format!(
            "this token lacks {}: bt needs build, deploy reports need report{}; make one with \
             `atuin-bootstrap token create {hostname} --scope {} --host {hostname}` to keep both",
            missing.join(" and "),
            if pushes { ", push needs push" } else { "" },
            want.join(",")
        ));
    }
    if let Some(bound) = host.filter(|h| *h != hostname) {
        said.push(format!(
            "this token is bound to host {bound}, not {hostname}: the box refuses its reports \
             for {hostname}; make this machine's own with `{}`",
            create_command(hostname)
        ));
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_machine_token_needs_no_advice() {
        assert!(
            advice(
                &owned(&["build", "report"]),
                Some("laptop"),
                "laptop",
                false
            )
            .is_empty()
        );
        assert!(advice(&owned(&["build", "report", "push"]), None, "laptop", true).is_empty());
    }

    #[test]
    fn a_push_only_token_is_told_the_scopes_that_keep_push() {
        let said = advice(&owned(&["push"]), None, "laptop", true);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("lacks build and report"), "{}", said[0]);
        assert!(
            said[0].contains("--scope build,report,push --host laptop"),
            "{}",
            said[0]
        );
    }

    #[test]
    fn a_token_of_another_host_is_named() {
        let said = advice(
            &owned(&["build", "report"]),
            Some("desktop"),
            "laptop",
            false,
        );
        assert!(said[0].contains("bound to host desktop"), "{said:?}");
        assert!(said[0].contains(&create_command("laptop")), "{said:?}");
    }
}
