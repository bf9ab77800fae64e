//! `bootstrap-new-machine`: joins the machine it runs on to the fleet. Detects the machine,
//! takes answers (flags, questions on a terminal, or `--yes`), asks the build server for its
//! cache key, computes one plan of every file and command, then prints it (`--dry-run`) or
//! applies it. Nothing is changed before the plan is complete, so Ctrl-C at a question
//! leaves everything as it was; files it replaces are backed up; a second run with the same
//! answers changes nothing.

mod answers;
pub mod atuin;
pub mod boot_loader;
mod client_config;
mod detect;
mod fleet_repo;
pub mod host;
mod nix_conf;
mod plan;
mod server_probe;
pub mod templates;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::BootstrapArgs;
use crate::config::Config;
use crate::exit::{usage, Exit, SERVER};
use crate::process::Process;
use answers::{confirm, Asker};
use detect::Machine;
use plan::{FileChange, Plan, PlannedCommand};
use server_probe::Probe;

pub fn run(process: &mut Process, args: BootstrapArgs, config: &Config) -> Result<()> {
    if crate::os::is_root() {
        if let Some(user) = process.var("SUDO_USER").filter(|u| u != "root") {
            return Err(usage(format!(
                "run bootstrap-new-machine as {user}, without sudo: it sets up {user}'s files and \
                 asks for sudo itself, only to write root-owned files such as /etc/nix/nix.conf"
            )));
        }
    }
    let machine = Machine::detect(process);
    let asker = if args.yes {
        Asker::Defaults
    } else if process.stdout_is_terminal && process.stderr_is_terminal {
        Asker::Terminal
    } else {
        Asker::Nobody
    };
    writeln!(process.stderr, "{}", machine.summary())?;
    let configured_server = config.client_server.as_ref().map(|s| s.value.clone());
    let answers = answers::resolve(&args, &machine, configured_server, &asker)?;
    let key = cache_key(process, &args, &answers.server, &asker)?;

    let secrets = answers.repo.join("secrets");
    let atuin_server = args
        .atuin_server
        .clone()
        .unwrap_or_else(|| default_atuin_server(&answers.server));
    let fleet_url = fleet_repo::server_fetch_url(&answers.repo);
    let secrets_text = secrets.display().to_string();
    let repo_text = answers.repo.display().to_string();
    let mut values: Vec<(&str, &str)> = vec![
        ("hostName", &answers.hostname),
        ("system", &machine.system),
        ("serverUrl", &answers.server),
        ("publicKey", key.as_deref().unwrap_or("")),
        ("atuinServer", &atuin_server),
        ("userName", &machine.user),
        ("secretsDir", &secrets_text),
        ("repoDir", &repo_text),
    ];
    let mut unset = Vec::new();
    match &fleet_url {
        Some(url) => values.push(("fleetRepoUrl", url)),
        None => unset.push("fleetRepoUrl"),
    }

    let mut plan = Plan::default();
    if answers.profile == "wsl" && fleet_url.is_none() {
        plan.notes.push(no_fleet_url_note(&answers));
    }
    // The machine's own files, from a NixOS machine whose profile boots NixOS itself.
    let machine_files = machine.is_nixos && host::needs_machine_files(answers.profile);
    let hardware = (machine_files && machine.has_nixos_generate_config)
        .then(fleet_repo::hardware_config)
        .flatten();
    let (boot_loader, boot_problem) = match machine.boot.as_ref().filter(|_| machine_files) {
        Some(facts) => match boot_loader::choose(facts) {
            Ok(chosen) => (Some(chosen), None),
            Err(why) => (None, Some(why)),
        },
        None => (None, None),
    };
    let inputs = host::Inputs {
        profile: answers.profile,
        values: &values,
        unset: &unset,
        hardware: hardware.as_deref(),
        boot_loader: boot_loader.as_ref(),
    };
    fleet_repo::plan(
        &mut plan,
        &answers.repo,
        &answers.hostname,
        &inputs,
        boot_problem,
        machine.is_nixos,
    )?;
    let token_secret = plan_secrets(&mut plan, &args, &secrets)?;
    plan_nix_conf(&mut plan, &args, &machine, &answers.server, key.as_deref())?;
    plan_atuin_config(&mut plan, process, &args, &atuin_server)?;
    plan_client_config(&mut plan, process, &answers.server, token_secret.as_deref())?;
    plan_links(&mut plan, process, &machine);
    plan_syncthing(&mut plan, &machine, &answers.repo, &answers.hostname);
    plan_atuin_account(&mut plan, process, &args, &answers.repo)?;
    let rebuild = rebuild_command(&answers, key.as_deref());
    if machine.is_nixos && args.apply {
        let command = rebuild.clone();
        plan.commands.push(PlannedCommand {
            display: command.clone(),
            run: Box::new(move || run_shell(&command)),
        });
    }

    if args.dry_run {
        writeln!(
            process.stdout,
            "plan for {} (--dry-run: nothing changed)",
            answers.hostname
        )?;
        write!(process.stdout, "{}", plan.describe())?;
        return Ok(());
    }
    fleet_repo::ensure_git_repository(&answers.repo)?;
    let notes = plan.notes.clone();
    let done = plan.apply()?;
    if done.is_empty() {
        writeln!(
            process.stdout,
            "nothing to change: {} is already set up",
            answers.hostname
        )?;
    } else {
        for line in &done {
            writeln!(process.stdout, "{line}")?;
        }
    }
    for note in notes.iter().filter(|n| !n.starts_with("atuin: ")) {
        writeln!(process.stdout, "note: {note}")?;
    }
    writeln!(process.stdout)?;
    if machine.is_nixos && !args.apply {
        writeln!(
            process.stdout,
            "to switch this machine to its fleet configuration, run:"
        )?;
        writeln!(process.stdout, "  {rebuild}")?;
    }
    writeln!(
        process.stdout,
        "so the build server sees the new host, commit and push:\n  cd {} && git add -A hosts/{} .gitignore flake.nix && git commit -m 'Add {}' && git push",
        answers.repo.display(),
        answers.hostname,
        answers.hostname
    )?;
    Ok(())
}

/// The server's cache key: from the server (trusted on first use, or checked against
/// `--trust-key`), or `--trust-key` alone when the server cannot be reached.
fn cache_key(
    process: &mut Process,
    args: &BootstrapArgs,
    server: &str,
    asker: &Asker,
) -> Result<Option<String>> {
    if let Some(key) = &args.trust_key {
        if !server_probe::is_public_key(key) {
            return Err(usage(format!(
                "--trust-key {key:?} is not a Nix public key (name:base64)"
            )));
        }
    }
    match server_probe::probe(server) {
        Probe::Reached { public_keys } => {
            if let Some(expected) = &args.trust_key {
                if !public_keys.contains(expected) {
                    return Err(Exit {
                        code: SERVER,
                        message: format!(
                            "the server at {server} offers the cache key(s) {} but --trust-key says {expected}: refusing to trust it",
                            public_keys.join(", ")
                        ),
                    }
                    .into());
                }
                return Ok(Some(expected.clone()));
            }
            let Some(key) = public_keys.into_iter().next() else {
                return Ok(None);
            };
            writeln!(
                process.stderr,
                "the build server's cache key is {key}\n  fingerprint {}",
                server_probe::fingerprint(&key)
            )?;
            if !confirm(asker, "Trust this key for this machine's Nix?", true)? {
                return Err(usage("the cache key was not trusted; nothing was changed"));
            }
            Ok(Some(key))
        }
        Probe::Unreachable(reason) => {
            writeln!(
                process.stderr,
                "{reason}; setting up offline: the host and client settings are written, {}",
                if args.trust_key.is_some() {
                    "and the cache is trusted with --trust-key"
                } else {
                    "but cache trust needs the server's key: run again when it is reachable, or pass --trust-key"
                }
            )?;
            Ok(args.trust_key.clone())
        }
    }
}

/// What to do when the build box (wsl profile) has no repository URL its service can fetch.
fn no_fleet_url_note(answers: &answers::Answers) -> String {
    let repo = answers.repo.display();
    format!(
        "the build server cannot fetch the fleet from {repo}: it has no remote the server can \
         reach, and the server runs as its own user, without access to home directories. Push \
         the fleet to a git remote (git -C {repo} remote add origin URL && git -C {repo} push -u \
         origin main) or to a bare repository outside /home (e.g. /srv/fleet.git), then set \
         settings.repo.url in hosts/{}/default.nix (commented out until then: the box serves \
         its cache and Atuin, but builds nothing by itself)",
        answers.hostname
    )
}

fn default_atuin_server(server: &str) -> String {
    let without_scheme = server.split_once("://").map_or(server, |(_, rest)| rest);
    let host_port = without_scheme.split('/').next().unwrap_or(without_scheme);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or(v6)),
        None => host_port
            .rsplit_once(':')
            .map_or(host_port, |(h, _)| h)
            .to_string(),
    };
    format!("http://{host}:8888")
}

/// Secret inputs copied into the fleet's gitignored `secrets/` (0600); returns the token's
/// place there.
fn plan_secrets(plan: &mut Plan, args: &BootstrapArgs, secrets: &Path) -> Result<Option<String>> {
    let mut token_place = None;
    for (given, name, purpose) in [
        (
            &args.token_file,
            "atuin-bootstrap-token",
            "the build server's API token",
        ),
        (
            &args.tailscale_auth_key_file,
            "tailscale-auth-key",
            "Tailscale enrolment key",
        ),
        (
            &args.atuin_key_file,
            "atuin-key",
            "the Atuin encryption key",
        ),
    ] {
        let Some(source) = given else { continue };
        let text = std::fs::read_to_string(source)
            .map_err(|e| usage(format!("cannot read {} ({purpose}): {e}", source.display())))?;
        let target = secrets.join(name);
        if name == "atuin-bootstrap-token" {
            token_place = Some(target.display().to_string());
        }
        plan.files
            .push(FileChange::new(target, text.trim().to_string() + "\n", purpose).private());
    }
    Ok(token_place)
}

fn plan_nix_conf(
    plan: &mut Plan,
    args: &BootstrapArgs,
    machine: &Machine,
    server: &str,
    key: Option<&str>,
) -> Result<()> {
    let target = match (&args.nix_conf, machine.is_nixos) {
        (Some(file), _) => file.clone(),
        // On NixOS the host configuration carries the cache; see the rebuild command.
        (None, true) => return Ok(()),
        (None, false) => PathBuf::from("/etc/nix/nix.conf"),
    };
    let Some(key) = key else {
        plan.notes.push(format!(
            "{} not changed: the server's cache key is unknown",
            target.display()
        ));
        return Ok(());
    };
    if atuin::is_nix_managed(&target) {
        plan.notes.push(format!(
            "{} is managed by Nix (a link into the store): add extra-substituters = {server} and extra-trusted-public-keys = {key} where it is defined",
            target.display()
        ));
        return Ok(());
    }
    let existing = std::fs::read_to_string(&target).unwrap_or_default();
    if let Some(merged) = nix_conf::merge(&existing, server, key) {
        let mut change = FileChange::new(target.clone(), merged, "trust the build box's cache");
        change.needs_root = !writable(&target);
        plan.files.push(change);
        if target.starts_with("/etc/nix") {
            plan.notes.push(
                "restart the Nix daemon to apply it: sudo systemctl restart nix-daemon".into(),
            );
        }
    }
    Ok(())
}

/// A file we may write, or may create in its directory.
fn writable(path: &Path) -> bool {
    let probe = if path.exists() {
        path
    } else {
        path.parent().unwrap_or(Path::new("/"))
    };
    crate::os::is_writable(probe)
}

fn xdg_config_home(process: &Process) -> PathBuf {
    process
        .var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(process.var("HOME").unwrap_or_default()).join(".config"))
}

fn atuin_paths(process: &Process, args: &BootstrapArgs) -> atuin::AtuinPaths {
    let config_dir = args
        .atuin_config_dir
        .clone()
        .unwrap_or_else(|| xdg_config_home(process).join("atuin"));
    let mut env = vec![(
        "ATUIN_CONFIG_DIR".to_string(),
        config_dir.display().to_string(),
    )];
    for name in ["HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "PATH"] {
        if let Some(value) = process.var(name) {
            env.push((name.to_string(), value));
        }
    }
    atuin::AtuinPaths {
        home: PathBuf::from(process.var("HOME").unwrap_or_default()),
        config_dir,
        env,
    }
}

fn plan_atuin_config(
    plan: &mut Plan,
    process: &Process,
    args: &BootstrapArgs,
    sync_address: &str,
) -> Result<()> {
    let paths = atuin_paths(process, args);
    let file = paths.config_dir.join("config.toml");
    if atuin::is_nix_managed(&file) {
        plan.notes.push(format!(
            "{} is managed by Nix (home-manager?): set sync_address = {sync_address:?} there",
            file.display()
        ));
        return Ok(());
    }
    let existing = std::fs::read_to_string(&file).ok();
    if let Some(merged) = atuin::merge_config(existing.as_deref(), sync_address)
        .with_context(|| format!("cannot update {}", file.display()))?
    {
        plan.files.push(FileChange::new(
            file,
            merged,
            "Atuin history sync with the box",
        ));
    }
    Ok(())
}

fn plan_client_config(
    plan: &mut Plan,
    process: &Process,
    server: &str,
    token_file: Option<&str>,
) -> Result<()> {
    let dir = process
        .user_config_dir
        .clone()
        .unwrap_or_else(|| xdg_config_home(process).join("atuin-bootstrap"));
    let file = dir.join("config.toml");
    if atuin::is_nix_managed(&file) {
        let token = token_file
            .map(|t| format!(" and tokenFile = {t:?}"))
            .unwrap_or_default();
        plan.notes.push(format!(
            "{} is managed by Nix (home-manager?): set services.atuin-bootstrap.client.serverUrl = {server:?}{token} there",
            file.display()
        ));
        return Ok(());
    }
    let existing = std::fs::read_to_string(&file).ok();
    if let Some(merged) = client_config::merge(existing.as_deref(), server, token_file)
        .with_context(|| format!("cannot update {}", file.display()))?
    {
        plan.files
            .push(FileChange::new(file, merged, "bt/bs/bl find the server"));
    }
    Ok(())
}

fn plan_links(plan: &mut Plan, process: &Process, machine: &Machine) {
    if machine.installed_by_nix {
        return;
    }
    let Some(exe) = process.current_exe.clone() else {
        return;
    };
    let dir = machine.home.join(".local/bin");
    let current = crate::applet::LINKS
        .iter()
        .all(|(name, _)| std::fs::read_link(dir.join(name)).ok().as_deref() == Some(exe.as_path()));
    if current {
        return;
    }
    plan.commands.push(PlannedCommand {
        display: format!("atuin-bootstrap links {}", dir.display()),
        run: Box::new(move || {
            crate::applet::make_links(&exe, &dir)?;
            Ok(format!(
                "linked bt, bs, bl and bootstrap-new-machine in {}",
                dir.display()
            ))
        }),
    });
}

fn plan_atuin_account(
    plan: &mut Plan,
    process: &Process,
    args: &BootstrapArgs,
    repo: &Path,
) -> Result<()> {
    let (Some(user), Some(password_file), Some(key_file)) = (
        &args.atuin_user,
        &args.atuin_password_file,
        &args.atuin_key_file,
    ) else {
        if args.atuin_user.is_some() || args.atuin_password_file.is_some() {
            plan.notes.push("Atuin sync needs --atuin-user, --atuin-password-file and --atuin-key-file together".into());
        }
        return Ok(());
    };
    let password = read_secret(password_file, "the Atuin password")?;
    let key = read_secret(key_file, "the Atuin key")?;
    let paths = atuin_paths(process, args);
    let planned = atuin::Account {
        user,
        password: &password,
        key: &key,
        email: None,
        register: args.atuin_register,
    };
    for command in atuin::planned_commands(&paths, &planned) {
        plan.notes.push(format!("atuin: {command}"));
    }
    let (user, register, repo) = (user.clone(), args.atuin_register, repo.to_path_buf());
    plan.commands.push(PlannedCommand {
        display: format!("atuin login as {user}, import the shell history, sync"),
        run: Box::new(move || {
            let account = atuin::Account {
                user: &user,
                password: &password,
                key: &key,
                email: None,
                register,
            };
            Ok(atuin::join(&paths, &account, &repo)?.join("\n"))
        }),
    });
    Ok(())
}

/// With Syncthing installed: this machine's identity into secrets/ and its (public) device id
/// into its host folder, where every other host learns it.
fn plan_syncthing(plan: &mut Plan, machine: &Machine, repo: &Path, host: &str) {
    let home = repo.join("secrets/syncthing");
    if !machine.has_syncthing || home.join("cert.pem").exists() {
        return;
    }
    let id_file = repo.join("hosts").join(host).join("syncthing-device-id");
    let repo = repo.to_path_buf();
    plan.commands.push(PlannedCommand {
        display: format!("syncthing generate --home {}", home.display()),
        run: Box::new(move || {
            std::fs::create_dir_all(&home)?;
            let output = std::process::Command::new("syncthing")
                .arg("generate")
                .arg(format!("--home={}", home.display()))
                .output()
                .context("failed to run syncthing generate")?;
            anyhow::ensure!(output.status.success(), "syncthing generate failed");
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            let id = text
                .lines()
                .find_map(|l| l.split("Device ID:").nth(1))
                .map(|id| id.trim().to_string())
                .context("syncthing generate printed no device id")?;
            for file in ["key.pem", "cert.pem"] {
                let path = home.join(file);
                if path.exists() {
                    std::fs::set_permissions(
                        &path,
                        std::os::unix::fs::PermissionsExt::from_mode(0o600),
                    )?;
                }
            }
            std::fs::write(&id_file, format!("{id}\n"))?;
            let _ = std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["add", "--intent-to-add", "--"])
                .arg(&id_file)
                .status();
            Ok(format!("Syncthing device id {id} in {}", id_file.display()))
        }),
    });
}

fn read_secret(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| usage(format!("cannot read {} ({what}): {e}", path.display())))
}

fn rebuild_command(answers: &answers::Answers, key: Option<&str>) -> String {
    let mut command = format!(
        "sudo nixos-rebuild switch --flake {}#{} --option extra-substituters {}",
        answers.repo.display(),
        answers.hostname,
        answers.server
    );
    if let Some(key) = key {
        command.push_str(&format!(" --option extra-trusted-public-keys {key}"));
    }
    command
}

fn run_shell(command: &str) -> Result<String> {
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .context("failed to start the rebuild")?;
    anyhow::ensure!(status.success(), "{command} failed ({status})");
    Ok(format!("ran {command}"))
}
