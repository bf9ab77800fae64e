//! The wizard's answers: each from its flag, else (on a terminal) a question with a default,
//! else (with `--yes`) the default. Without a terminal and without `--yes`, every answer that
//! no flag gave is named in one error, so a script knows what to pass.

use std::path::PathBuf;

use anyhow::Result;

use super::detect::Machine;
use crate::cli::{BootstrapArgs, Profile};
use crate::exit::usage;

/// Everything the wizard needs to know.
#[derive(Debug, Clone)]
pub struct Answers {
    pub server: String,
    pub hostname: String,
    pub profile: &'static str,
    pub repo: PathBuf,
}

/// How questions get answered.
pub enum Asker {
    Terminal,
    /// `--yes`: every default, no questions.
    Defaults,
    /// Not a terminal and no `--yes`: nothing may be asked.
    Nobody,
}

pub fn resolve(
    args: &BootstrapArgs,
    machine: &Machine,
    configured_server: Option<String>,
    asker: &Asker,
) -> Result<Answers> {
    let default_repo = machine.home.join("fleet");
    let mut missing = Vec::new();
    let server = match (&args.server, asker) {
        (Some(server), _) => Some(server.clone()),
        (None, Asker::Terminal) => Some(ask("Build server URL", configured_server.as_deref())?),
        (None, Asker::Defaults) => configured_server.clone(),
        (None, Asker::Nobody) => None,
    };
    if server.is_none() {
        missing.push("--server URL");
    }
    let hostname = match (&args.hostname, asker) {
        (Some(name), _) => Some(name.clone()),
        (None, Asker::Terminal) => Some(ask("Host name in the fleet", Some(&machine.hostname))?),
        (None, Asker::Defaults) => Some(machine.hostname.clone()),
        (None, Asker::Nobody) => None,
    };
    if hostname.is_none() {
        missing.push("--hostname NAME");
    }
    let profile = match (args.profile, asker) {
        (Some(profile), _) => Some(profile_name(profile)),
        (None, Asker::Terminal) => Some(ask_profile(machine.suggested_profile())?),
        (None, Asker::Defaults) => Some(machine.suggested_profile()),
        (None, Asker::Nobody) => None,
    };
    if profile.is_none() {
        missing.push("--profile laptop|desktop|server|wsl");
    }
    let repo = match (&args.repo, asker) {
        (Some(repo), _) => Some(repo.clone()),
        (None, Asker::Terminal) => Some(PathBuf::from(ask(
            "Fleet repository checkout",
            Some(&default_repo.display().to_string()),
        )?)),
        (None, Asker::Defaults) => Some(default_repo),
        (None, Asker::Nobody) => None,
    };
    if repo.is_none() {
        missing.push("--repo DIR");
    }
    if !missing.is_empty() {
        let how = match asker {
            Asker::Nobody => "not a terminal, so nothing can be asked: pass ",
            _ => "missing: pass ",
        };
        return Err(usage(format!(
            "{how}{} (or --yes to take the defaults)",
            missing.join(", ")
        )));
    }
    let hostname = hostname.expect("checked above");
    check_hostname(&hostname)?;
    let server = server
        .expect("checked above")
        .trim_end_matches('/')
        .to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(usage(format!(
            "the server URL {server:?} must start with http:// or https://"
        )));
    }
    Ok(Answers {
        server,
        hostname,
        profile: profile.expect("checked above"),
        repo: absolute(repo.expect("checked above"), machine),
    })
}

fn absolute(path: PathBuf, machine: &Machine) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        return machine.home.join(rest);
    }
    std::path::absolute(&path).unwrap_or(path)
}

fn check_hostname(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if fine {
        Ok(())
    } else {
        Err(usage(format!(
            "{name:?} is not a host name (letters, digits and '-', at most 63)"
        )))
    }
}

pub fn profile_name(profile: Profile) -> &'static str {
    match profile {
        Profile::Laptop => "laptop",
        Profile::Desktop => "desktop",
        Profile::Server => "server",
        Profile::Wsl => "wsl",
    }
}

fn ask(prompt: &str, default: Option<&str>) -> Result<String> {
    let mut input = dialoguer::Input::<String>::new().with_prompt(prompt);
    if let Some(default) = default {
        input = input.default(default.to_string());
    }
    input
        .interact_text()
        .map_err(|e| usage(format!("no answer: {e}")))
}

fn ask_profile(suggested: &'static str) -> Result<&'static str> {
    let profiles = ["laptop", "desktop", "server", "wsl"];
    let default = profiles.iter().position(|p| *p == suggested).unwrap_or(0);
    let chosen = dialoguer::Select::new()
        .with_prompt("Machine profile")
        .items(profiles)
        .default(default)
        .interact()
        .map_err(|e| usage(format!("no answer: {e}")))?;
    Ok(profiles[chosen])
}

/// A yes/no question on a terminal; `default` otherwise.
pub fn confirm(asker: &Asker, prompt: &str, default: bool) -> Result<bool> {
    match asker {
        Asker::Terminal => dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(default)
            .interact()
            .map_err(|e| usage(format!("no answer: {e}"))),
        _ => Ok(default),
    }
}
