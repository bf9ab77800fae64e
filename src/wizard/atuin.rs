//! The wizard's Atuin part: merging the sync settings into the client's `config.toml`, and
//! joining the machine to the fleet's shared history by driving the real `atuin` client
//! (log in, import the local shell history, sync, publish the fleet's scripts). It knows the
//! `atuin` 18.24 command line and files; it does not decide what the wizard asks or plans, and it
//! never talks to the sync server except through `atuin`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};
use toml_edit::{DocumentMut, Item, Value};

/// Where one machine's Atuin lives.
pub struct AtuinPaths {
    /// `--atuin-config-dir`, by default `$XDG_CONFIG_HOME/atuin`.
    pub config_dir: PathBuf,
    pub home: PathBuf,
    /// Extra environment for the `atuin` commands: `HOME`, `XDG_*`, `ATUIN_CONFIG_DIR`, ….
    pub env: Vec<(String, String)>,
}

/// A sync account: who to log in as, and the key that encrypts the shared history.
pub struct Account<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// As `atuin key --base64` prints it, or the 24-word mnemonic `atuin key` prints.
    pub key: &'a str,
    /// For `atuin register`; `<user>@<hostname>.invalid` when not given.
    pub email: Option<&'a str>,
    /// Make the account (the fleet's first machine) instead of logging in to it.
    pub register: bool,
}

/// The client config with `sync_address` and `auto_sync = true` set, and `sync_frequency =
/// "5m"` when the user has not chosen a frequency, in `existing` (`None`: no file yet). The
/// user's comments, formatting and other keys stay as they were. `None` when nothing changes.
pub fn merge_config(existing: Option<&str>, sync_address: &str) -> Result<Option<String>> {
    let mut doc: DocumentMut = existing
        .unwrap_or_default()
        .parse()
        .context("the atuin config is not valid TOML")?;
    let mut added_any = false;
    for (key, wanted, keep_users_choice) in [
        ("sync_address", Value::from(sync_address), false),
        ("auto_sync", Value::from(true), false),
        ("sync_frequency", Value::from("5m"), true),
    ] {
        let root = doc.as_table_mut();
        match root.get_mut(key) {
            Some(Item::Value(current)) if keep_users_choice || same_value(current, &wanted) => {}
            Some(Item::Value(current)) => {
                // The old value's decor carries its trailing comment.
                let decor = current.decor().clone();
                *current = wanted;
                *current.decor_mut() = decor;
            }
            _ => {
                root.insert(key, Item::Value(wanted));
                if !added_any {
                    if let Some(mut key) = root.key_mut(key) {
                        let prefix = "\n## sync with the fleet's Atuin server (set by bootstrap-new-machine)\n";
                        key.leaf_decor_mut().set_prefix(prefix);
                    }
                }
                added_any = true;
            }
        }
    }
    let merged = doc.to_string();
    let merged = match existing {
        None => merged.trim_start().to_string(),
        Some(text) if text == merged => return Ok(None),
        Some(_) => merged,
    };
    Ok(Some(merged))
}

fn same_value(current: &Value, wanted: &Value) -> bool {
    match (current, wanted) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        _ => false,
    }
}

/// Whether `path` is managed by Nix: it resolves into `/nix/store` (a home-manager link, or a
/// file in a linked directory), is a link into the store that no longer resolves, or does not
/// exist yet in a directory in the store. Such a file is reported, never edited.
pub fn is_nix_managed(path: &Path) -> bool {
    let in_store =
        |path: &Path| std::fs::canonicalize(path).is_ok_and(|real| real.starts_with("/nix/store"));
    if path.exists() {
        return in_store(path);
    }
    std::fs::read_link(path).is_ok_and(|target| target.starts_with("/nix/store"))
        || path.parent().is_some_and(in_store)
}

/// The commands `join` would run, for `--dry-run`; secrets are shown as `<redacted>`. Which of
/// them `join` really runs depends on what it finds (a session, local history, scripts).
pub fn planned_commands(paths: &AtuinPaths, account: &Account) -> Vec<String> {
    let login = if account.register {
        register_command(account, &email_of(account)).display()
    } else {
        login_command(account).display()
    };
    let mut commands = Vec::new();
    if account.register {
        commands.push(format!(
            "write the given key to atuin's key file if it has none (config: {})",
            paths.config_dir.display()
        ));
    }
    commands.extend([
        format!("{login} (unless already logged in)"),
        format!(
            "{} (unless atuin already holds history here)",
            ATUIN_IMPORT.join(" ")
        ),
        "atuin sync".to_string(),
    ]);
    for script in FLEET_SCRIPTS {
        commands.push(format!(
            "{} (unless it exists)",
            new_script_command(script).display()
        ));
    }
    commands.push("atuin sync (when a script was published)".to_string());
    commands
}

/// Logs the real `atuin` in as `account` (`atuin register` first when asked), imports the local
/// shell history, syncs, and publishes the fleet's shared scripts that are missing, then syncs
/// again so the other machines get them. Expects `config.toml` to carry `sync_address` already
/// (see [`merge_config`]). A second run finds the session, the history and the scripts and only
/// syncs. Returns what was done, one line each; secrets never appear in it or in errors.
pub fn join(paths: &AtuinPaths, account: &Account, fleet_repo: &Path) -> Result<Vec<String>> {
    check_key_form(account.key)?;
    let atuin = Atuin {
        paths,
        session: session_id(),
    };
    let mut done = Vec::new();

    if account.register {
        // `atuin register` keeps a key it finds (any atuin command may make one), so the
        // account is made with the given key when it is here first.
        let key_file = atuin.key_file()?;
        if !key_file.exists() && is_base64_key(account.key) {
            write_private(&key_file, account.key)?;
            done.push(format!("wrote the given key to {}", key_file.display()));
        }
    }

    match atuin.logged_in_user()? {
        // An empty name: `atuin status` leaves the account out when auto_sync is off.
        Some(user) if user == account.user || user.is_empty() => {
            if !atuin.has_key(account.key)? {
                bail!(
                    "atuin here is logged in with another key than the given one: run `atuin \
                     logout` and try again"
                );
            }
            done.push(format!(
                "atuin is already logged in as {}: kept its session",
                account.user
            ));
        }
        Some(user) => bail!(
            "atuin here is logged in as {user}, not {}: run `atuin logout` first",
            account.user
        ),
        None if account.register => {
            let email = email_of(account);
            let register = register_command(account, &email);
            atuin.run(&register)?;
            done.push(format!(
                "registered {} as {email}: {}",
                account.user,
                register.display()
            ));
            if !atuin.has_key(account.key)? {
                // Registering kept a key that was here before; logging in again with the given
                // key makes atuin re-encrypt its local store with it.
                atuin.run(&AtuinCommand::plain(&["logout"]))?;
                let login = login_command(account);
                atuin.run(&login)?;
                done.push(format!(
                    "switched atuin to the given key: atuin logout; {}",
                    login.display()
                ));
            }
        }
        None => {
            let login = login_command(account);
            atuin.run(&login)?;
            done.push(format!(
                "logged in as {}: {}",
                account.user,
                login.display()
            ));
        }
    }

    done.push(import_history(&atuin)?);
    let sync = AtuinCommand::plain(&["sync"]);
    atuin.run(&sync)?;
    done.push(format!("synced the history: {}", sync.display()));

    let published = atuin.publish_missing_scripts(fleet_repo)?;
    if !published.is_empty() {
        atuin.run(&sync)?;
        done.extend(published);
        done.push(format!(
            "synced the scripts to the fleet: {}",
            sync.display()
        ));
    }
    Ok(done)
}

const ATUIN_IMPORT: [&str; 3] = ["atuin", "import", "auto"];

/// `atuin import` appends every line again on each run, so it runs only while atuin holds no
/// history on this machine: on the first run here, before the first sync brings the fleet's.
fn import_history(atuin: &Atuin) -> Result<String> {
    if atuin.has_history()? {
        return Ok(
            "kept atuin's history as it is: it already holds history here, and another \
                   import would duplicate it"
                .to_string(),
        );
    }
    let import = AtuinCommand::plain(&ATUIN_IMPORT[1..]);
    let output = atuin.output(&import)?;
    if output.status.success() {
        return Ok(format!("imported the shell history: {}", import.display()));
    }
    let reason = one_line(&output.stderr);
    if reason.contains("Could not find history file") {
        return Ok(format!("no shell history to import ({reason})"));
    }
    bail!("{} failed: {reason}", import.step())
}

/// A script every machine of the fleet gets through Atuin's script sync. Bodies are minijinja
/// templates: `{{ fleet }}` is filled by `atuin scripts run NAME -v fleet=PATH`.
struct FleetScript {
    name: &'static str,
    description: &'static str,
    body: &'static str,
}

const FLEET_SCRIPTS: &[FleetScript] = &[
    FleetScript {
        name: "rebuild-host",
        description: "switch this host to its configuration in the fleet flake",
        body: "sudo nixos-rebuild switch --flake \"{{ fleet }}#$(hostname)\"\n",
    },
    FleetScript {
        name: "fleet-hosts",
        description: "list the hosts of the fleet flake",
        body: "ls \"{{ fleet }}/hosts\"\n",
    },
];

fn new_script_command(script: &FleetScript) -> AtuinCommand {
    let mut command = AtuinCommand::plain(&["scripts", "new", script.name]);
    command
        .args
        .extend(["--description", script.description, "--tags", "fleet"].map(String::from));
    command.stdin = Some(script.body.to_string());
    command
}

fn register_command(account: &Account, email: &str) -> AtuinCommand {
    let mut command =
        AtuinCommand::plain(&["register", "--username", account.user, "--email", email]);
    command
        .secrets
        .push(("ATUIN_PASSWORD", account.password.to_string()));
    command
}

fn login_command(account: &Account) -> AtuinCommand {
    let mut command = AtuinCommand::plain(&["login", "--username", account.user]);
    command
        .secrets
        .push(("ATUIN_PASSWORD", account.password.to_string()));
    command
        .secrets
        .push(("ATUIN_ENCRYPTION_KEY", account.key.to_string()));
    command
}

fn email_of(account: &Account) -> String {
    match account.email {
        Some(email) => email.to_string(),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let host = host.trim();
            format!(
                "{}@{}.invalid",
                account.user,
                if host.is_empty() { "localhost" } else { host }
            )
        }
    }
}

/// The base64 form has no spaces; the mnemonic is 24 words.
fn is_base64_key(key: &str) -> bool {
    !key.trim().contains(char::is_whitespace)
}

/// Refuses a key atuin could not read before anything is changed, which would leave a key file
/// or a new account behind.
fn check_key_form(key: &str) -> Result<()> {
    use base64::Engine;
    let readable = if is_base64_key(key) {
        // 32 bytes, raw or in the msgpack form `atuin key --base64` prints.
        base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .is_ok_and(|bytes| bytes.len() >= 32)
    } else {
        key.split_whitespace().count() == 24
    };
    anyhow::ensure!(
        readable,
        "the atuin key is neither base64 as `atuin key --base64` prints it nor the 24 words \
         `atuin key` prints"
    );
    Ok(())
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    // Without a newline, as atuin writes it: atuin compares the bytes when it stores a key.
    file.write_all(text.trim().as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))
}

/// One `atuin` invocation: its arguments, secrets passed through the environment (shown
/// redacted), and what goes to its stdin.
struct AtuinCommand {
    args: Vec<String>,
    secrets: Vec<(&'static str, String)>,
    stdin: Option<String>,
}

impl AtuinCommand {
    fn plain(args: &[&str]) -> Self {
        AtuinCommand {
            args: args.iter().map(|a| a.to_string()).collect(),
            secrets: Vec::new(),
            stdin: None,
        }
    }

    /// The command line without its environment: the step's name in errors.
    fn step(&self) -> String {
        let mut words = vec!["atuin".to_string()];
        words.extend(self.args.iter().map(|arg| shell_word(arg)));
        words.join(" ")
    }

    /// The command line for plans and reports, secrets redacted.
    fn display(&self) -> String {
        let mut words: Vec<String> = self
            .secrets
            .iter()
            .map(|(name, _)| format!("{name}=<redacted>"))
            .collect();
        words.push("atuin".to_string());
        words.extend(self.args.iter().map(|arg| shell_word(arg)));
        if self.stdin.is_some() {
            words.push("< script".to_string());
        }
        words.join(" ")
    }
}

fn shell_word(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=@:,+".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The `atuin` client of one machine.
struct Atuin<'a> {
    paths: &'a AtuinPaths,
    /// Outside a shell hook atuin has no `ATUIN_SESSION`, which search and sync need.
    session: String,
}

impl Atuin<'_> {
    fn output(&self, command: &AtuinCommand) -> Result<Output> {
        let mut process = Command::new("atuin");
        process
            .args(&command.args)
            .current_dir(&self.paths.home)
            // One-line errors, no colour codes; atuin never prompts when stdin is not a terminal
            // and the secrets are in its environment.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .env("ATUIN_SESSION", &self.session)
            .envs(self.paths.env.iter().map(|(k, v)| (k, v)))
            .envs(command.secrets.iter().map(|(k, v)| (k, v)))
            .stdin(if command.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = process
            .spawn()
            .with_context(|| format!("failed to start {} (is atuin installed?)", command.step()))?;
        if let (Some(text), Some(mut stdin)) = (&command.stdin, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .with_context(|| format!("failed to write to {}", command.step()))?;
        }
        child
            .wait_with_output()
            .with_context(|| format!("failed to wait for {}", command.step()))
    }

    /// Runs `command`, failing with atuin's own error when it fails; returns its stdout.
    fn run(&self, command: &AtuinCommand) -> Result<String> {
        let output = self.output(command)?;
        if !output.status.success() {
            bail!("{} failed: {}", command.step(), one_line(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Where atuin keeps this machine's key, as `atuin info` reports it (`key_path` in the
    /// config, else `key` in the data dir: `~/.atuin/data` or `$XDG_DATA_HOME/atuin`).
    fn key_file(&self) -> Result<PathBuf> {
        let info = self.run(&AtuinCommand::plain(&["info"]))?;
        info.lines()
            .find_map(|line| line.trim().strip_prefix("key path:"))
            .map(|path| PathBuf::from(path.trim().trim_matches('"')))
            .context("`atuin info` did not say where the key file is")
    }

    /// The user atuin is logged in as, from `atuin status`; `None` when it is not logged in.
    fn logged_in_user(&self) -> Result<Option<String>> {
        let status = AtuinCommand::plain(&["status"]);
        let output = self.output(&status)?;
        if !output.status.success() {
            let reason = one_line(&output.stderr);
            if reason.contains("not logged in") {
                return Ok(None);
            }
            bail!("{} failed: {reason}", status.step());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let user = stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("Username:"));
        // A status without the remote part (auto_sync off) is still a session.
        Ok(Some(user.unwrap_or_default().trim().to_string()))
    }

    /// Whether the machine's key file holds `key`, compared in the form it was given in.
    fn has_key(&self, key: &str) -> Result<bool> {
        let args: &[&str] = if is_base64_key(key) {
            &["key", "--base64"]
        } else {
            &["key"]
        };
        let current = self.run(&AtuinCommand::plain(args))?;
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(words(&current) == words(key))
    }

    /// Whether atuin's local history has any entry (`atuin search` exits 1 when nothing matches).
    fn has_history(&self) -> Result<bool> {
        let search = AtuinCommand::plain(&[
            "search",
            "--limit",
            "1",
            "--cmd-only",
            "--filter-mode",
            "global",
        ]);
        let output = self.output(&search)?;
        match output.status.code() {
            Some(0) => Ok(!output.stdout.iter().all(u8::is_ascii_whitespace)),
            Some(1) if output.stderr.iter().all(u8::is_ascii_whitespace) => Ok(false),
            _ => bail!("{} failed: {}", search.step(), one_line(&output.stderr)),
        }
    }

    /// Creates the fleet scripts atuin does not have yet; returns one line per script made.
    fn publish_missing_scripts(&self, fleet_repo: &Path) -> Result<Vec<String>> {
        let listing = self.run(&AtuinCommand::plain(&["scripts", "list"]))?;
        let existing = script_names(&listing);
        let mut published = Vec::new();
        for script in FLEET_SCRIPTS.iter().filter(|s| !existing.contains(&s.name)) {
            let command = new_script_command(script);
            self.run(&command)?;
            published.push(format!(
                "published the fleet script {} (run it: atuin scripts run {} -v fleet={}): {}",
                script.name,
                script.name,
                shell_word(&fleet_repo.display().to_string()),
                command.display()
            ));
        }
        Ok(published)
    }
}

/// Script names from `atuin scripts list`: lines `- NAME` or `- NAME [tags: …]`.
fn script_names(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

/// An ATUIN_SESSION for commands run outside a shell: 32 hex digits, like atuin's own.
fn session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:032x}", nanos ^ (u128::from(std::process::id()) << 64))
}

/// The one line of atuin's stderr that says what went wrong: its `Error:` line, else the
/// first line with text.
fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines = || text.lines().map(str::trim).filter(|line| !line.is_empty());
    lines()
        .find_map(|line| line.strip_prefix("Error:"))
        .or_else(|| lines().next())
        .map_or_else(
            || "it printed no error".to_string(),
            |line| line.trim().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(register: bool) -> Account<'static> {
        Account {
            user: "alice",
            password: "hunter2-secret",
            key: "word1 word2 secretword",
            email: None,
            register,
        }
    }

    #[test]
    fn planned_commands_never_show_the_secrets() {
        let paths = AtuinPaths {
            config_dir: "/c".into(),
            home: "/h".into(),
            env: Vec::new(),
        };
        for register in [false, true] {
            let plan = planned_commands(&paths, &account(register)).join("\n");
            assert!(
                !plan.contains("hunter2") && !plan.contains("secretword"),
                "{plan}"
            );
            assert!(plan.contains("ATUIN_PASSWORD=<redacted>"), "{plan}");
            let step = if register {
                "atuin register --username alice"
            } else {
                "atuin login --username alice"
            };
            assert!(plan.contains(step), "{plan}");
            assert!(plan.contains("atuin scripts new rebuild-host"), "{plan}");
        }
    }

    #[test]
    fn one_line_picks_atuins_error_line() {
        let stderr =
            b" ERROR error=bad\nError: invalid login details\n\nLocation:\n    src/x.rs:1:1\n";
        assert_eq!(one_line(stderr), "invalid login details");
        assert_eq!(one_line(b"\n  something broke \n"), "something broke");
        assert_eq!(one_line(b""), "it printed no error");
    }

    #[test]
    fn script_names_reads_the_listing() {
        let listing = "Available scripts:\n- rebuild-host [tags: fleet]\n- mine \n";
        assert_eq!(script_names(listing), ["rebuild-host", "mine"]);
        assert!(script_names("No scripts found\n").is_empty());
    }

    #[test]
    fn merge_keeps_a_trailing_comment_on_a_changed_value() {
        let merged = merge_config(
            Some("sync_address = \"https://old\" # mine\n"),
            "http://new:8888",
        )
        .unwrap()
        .unwrap();
        assert!(
            merged.starts_with("sync_address = \"http://new:8888\" # mine\n"),
            "{merged}"
        );
    }

    #[test]
    fn key_forms_are_told_apart() {
        assert!(is_base64_key("3AAgzPTM8H/M7W7M9MzI+zPs=\n"));
        assert!(!is_base64_key("visual loop win target"));
        let key = "3AAgzPTM8H/M7W7M9MzIzLXM5GvMpsy/zNbM1czJzL/MrczbSMzzzOEEzLRazMIFEsyVfEgZzPs=";
        assert!(check_key_form(key).is_ok());
        assert!(check_key_form(&["abandon"; 24].join(" ")).is_ok());
        assert!(check_key_form("not-a-key").is_err());
        assert!(check_key_form("only four words here").is_err());
    }
}
