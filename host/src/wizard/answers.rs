//! The wizard's answers: each from its flag, else (on a terminal) a question with a default,
//! else (with `--yes`) the default. Without a terminal and without `--yes`, every answer that
//! no flag gave is named in one error, so a script knows what to pass.

use std::path::PathBuf;

use anyhow::Result;

use super::detect::Machine;
use crate::wizard::BootstrapArgs;
use crate::wizard::Profile;
use common::exit::usage;

/// Everything the wizard needs to know.
#[derive(Debug, Clone)]
pub(super) struct Answers {
    pub server: String,
    pub hostname: String,
    pub profile: &'static str,
    pub repo: PathBuf,
}

/// How questions get answered.
pub(super) enum Asker {
    Terminal,
    /// `--yes`: every default, no questions.
    Defaults,
    /// Not a terminal and no `--yes`: nothing may be asked.
    Nobody,
}

pub(super) fn resolve(
    args: &BootstrapArgs,
    machine: &Machine,
    configured_server: Option<String>,
    asker: &Asker,
) -> Result<Answers> {
    let default_repo = machine.home.join("fleet");
    let mut missing = Vec::new();
    let server = answer(
        args.server.clone(),
        asker,
        configured_server.clone(),
        "--server URL",
        &mut missing,
        || ask("Build server URL", configured_server.as_deref()),
    )?;
    let hostname = answer(
        args.hostname.clone(),
        asker,
        Some(machine.hostname.clone()),
        "--hostname NAME",
        &mut missing,
        || ask("Host name in the fleet", Some(&machine.hostname)),
    )?;
    let suggested = machine.suggested_profile();
    let profile = answer(
        args.profile.map(profile_name),
        asker,
        Some(suggested),
        "--profile laptop|desktop|server|wsl",
        &mut missing,
        || ask_profile(suggested),
    )?;
    let repo = answer(
        args.repo.clone(),
        asker,
        Some(default_repo.clone()),
        "--repo DIR",
        &mut missing,
        || {
            ask(
                "Fleet repository checkout",
                Some(&default_repo.display().to_string()),
            )
            .map(PathBuf::from)
        },
    )?;
    if !missing.is_empty() {
        let missing = missing.join(", ");
        return Err(usage(match asker {
            // --yes was given: what is missing has no default to take.
            Asker::Defaults => format!(
                "--yes takes the defaults, but these have none: pass {missing} (the server URL \
                 may also come from ATUIN_BOOTSTRAP_SERVER or client.server)"
            ),
            Asker::Nobody => format!(
                "not a terminal, so nothing can be asked: pass {missing} (or --yes to take the \
                 defaults)"
            ),
            Asker::Terminal => format!("missing: pass {missing} (or --yes to take the defaults)"),
        }));
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

/// One answer: its flag, else a question on a terminal, else (with `--yes`) the default;
/// `None` (and `flag` added to `missing`) when none of those gives one.
fn answer<T>(
    flag: Option<T>,
    asker: &Asker,
    default: Option<T>,
    flag_usage: &'static str,
    missing: &mut Vec<&'static str>,
    question: impl FnOnce() -> Result<T>,
) -> Result<Option<T>> {
    let given = match (flag, asker) {
        (Some(value), _) => Some(value),
        (None, Asker::Terminal) => Some(question()?),
        (None, Asker::Defaults) => default,
        (None, Asker::Nobody) => None,
    };
    if given.is_none() {
        missing.push(flag_usage);
    }
    Ok(given)
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

pub(super) fn profile_name(profile: Profile) -> &'static str {
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
pub(super) fn confirm(asker: &Asker, prompt: &str, default: bool) -> Result<bool> {
    match asker {
        Asker::Terminal => dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(default)
            .interact()
            .map_err(|e| usage(format!("no answer: {e}"))),
        _ => Ok(default),
    }
}
