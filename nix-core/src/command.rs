//! Nix's command line, spelt once: every `nix`, `nix-store` and `nix-env` invocation the box
//! and the hosts run, as a program and its arguments in order (which experimental features a
//! call turns on, which options it needs, where Nix expects each flag). The callers keep their
//! spawning, I/O, environment and deadlines: a [`NixCommand`] becomes a `std::process::Command`
//! (and `tokio::process::Command::from` that one for async callers, so this leaf needs no
//! tokio). Nothing here runs a process.
//!
//! The arguments are exactly those the integration tests check against real Nix 2.8
//! (`show-config` and `store ping` are its names): a change here is a change of behaviour.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

/// The experimental features a `nix` call turns on for itself: Nix 2.8 ships with the new
/// command line and flakes off, and the host's `nix.conf` is not ours to change.
#[derive(Debug, Clone, Copy)]
enum Features {
    NixCommand,
    Flakes,
}

impl Features {
    fn value(self) -> &'static str {
        match self {
            Features::NixCommand => "nix-command",
            Features::Flakes => "nix-command flakes",
        }
    }
}

/// One invocation of a Nix program: what to run and its arguments, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixCommand {
    program: &'static str,
    args: Vec<OsString>,
}

impl NixCommand {
    fn new(program: &'static str) -> NixCommand {
        NixCommand {
            program,
            args: Vec::new(),
        }
    }

    fn arg(mut self, arg: impl AsRef<OsStr>) -> NixCommand {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> NixCommand {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    fn features(self, features: Features) -> NixCommand {
        self.args(["--extra-experimental-features", features.value()])
    }

    fn option(self, name: &str, value: &str) -> NixCommand {
        self.args(["--option", name, value])
    }

    /// `--override-input NAME REF` for each input, in name order.
    fn overriding(self, inputs: &BTreeMap<String, String>) -> NixCommand {
        inputs.iter().fold(self, |command, (name, reference)| {
            command.args(["--override-input", name, reference])
        })
    }

    /// The new command line, trusting only `keys` and nothing it remembers: every narinfo is
    /// asked again (a miss remembered from before the box built the path would fail a
    /// deploy, a hit remembered from another cache would skip the box's signature).
    fn trusting_only(self, keys: &[String]) -> NixCommand {
        self.features(Features::NixCommand)
            .option("trusted-public-keys", &keys.join(" "))
            .option("require-sigs", "true")
            .option("narinfo-cache-negative-ttl", "0")
            .option("narinfo-cache-positive-ttl", "0")
    }

    /// `nix`, `nix-store` or `nix-env`.
    pub fn program(&self) -> &'static str {
        self.program
    }

    /// The arguments, without the program.
    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// The arguments as text (a store path or URL is always UTF-8 here).
    pub fn text_arguments(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The whole line, words joined by spaces, for a message (not for a shell).
    pub fn line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.text_arguments())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole line as a user types it in a shell: a word with a space or a `<`, or an
    /// empty one, in single quotes.
    pub fn shell_line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.text_arguments().into_iter().map(|a| {
                if a.is_empty() || a.contains(' ') || a.contains('<') {
                    format!("'{a}'")
                } else {
                    a
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A process to run it (found on `PATH`), with nothing else set.
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.program);
        command.args(&self.args);
        command
    }
}

impl From<NixCommand> for Command {
    fn from(nix: NixCommand) -> Command {
        nix.command()
    }
}

/// `nix-store --add-root LINK --realise PATH`: `path` kept alive by the indirect root `link`.
pub fn add_root(link: &Path, path: &str) -> NixCommand {
    NixCommand::new("nix-store")
        .arg("--add-root")
        .arg(link)
        .arg("--realise")
        .arg(path)
}

/// `nix-store --check-validity --print-invalid PATHS`: prints those the store lacks.
pub fn print_invalid(paths: &[String]) -> NixCommand {
    NixCommand::new("nix-store")
        .args(["--check-validity", "--print-invalid"])
        .args(paths)
}

/// `nix-store --query --requisites PATHS`: the closure, one path a line.
pub fn requisites(paths: &[String]) -> NixCommand {
    NixCommand::new("nix-store")
        .args(["--query", "--requisites"])
        .args(paths)
}

/// `nix-store --gc`: the local store's garbage collection.
pub fn collect_garbage() -> NixCommand {
    NixCommand::new("nix-store").arg("--gc")
}

/// `nix-env -p PROFILE --set PATH`: a new generation of `profile` pointing at `path`.
pub fn profile_set(profile: &Path, path: &str) -> NixCommand {
    nix_env(profile).args(["--set", path])
}

/// `nix-env -p PROFILE --switch-generation N`.
pub fn profile_switch_generation(profile: &Path, number: u64) -> NixCommand {
    nix_env(profile).args(["--switch-generation", &number.to_string()])
}

/// `nix-env -p PROFILE --delete-generations N`.
pub fn profile_delete_generation(profile: &Path, number: u64) -> NixCommand {
    nix_env(profile).args(["--delete-generations", &number.to_string()])
}

fn nix_env(profile: &Path) -> NixCommand {
    NixCommand::new("nix-env").arg("-p").arg(profile)
}

/// `nix eval --json --expr EXPRESSION`, flakes on: the value as JSON on stdout.
pub fn eval_json(expression: &str) -> NixCommand {
    NixCommand::new("nix")
        .args(["eval", "--json"])
        .features(Features::Flakes)
        .args(["--expr", expression])
}

/// `nix eval --raw FLAKE#ATTR.drvPath` with `inputs` overridden: the derivation of `attr`.
pub fn derivation_path(
    flake_ref: &str,
    attr: &str,
    inputs: &BTreeMap<String, String>,
) -> NixCommand {
    NixCommand::new("nix")
        .args(["eval", "--raw"])
        .features(Features::Flakes)
        .overriding(inputs)
        .arg(format!("{flake_ref}#{attr}.drvPath"))
}

/// `nix build FLAKE#ATTR…` with `inputs` overridden: the log as internal JSON on stderr (for
/// progress), the results as JSON on stdout, the outputs rooted by `out_link` (and
/// `out_link-N` for the others).
pub fn build(
    flake_ref: &str,
    attrs: &[String],
    out_link: &Path,
    inputs: &BTreeMap<String, String>,
) -> NixCommand {
    NixCommand::new("nix")
        .arg("build")
        .features(Features::Flakes)
        .args(["--log-format", "internal-json", "--json", "--out-link"])
        .arg(out_link)
        .overriding(inputs)
        .args(attrs.iter().map(|attr| format!("{flake_ref}#{attr}")))
}

/// `nix show-config --json`: Nix's settings (its `builders`, its `extra-platforms`).
pub fn show_config() -> NixCommand {
    NixCommand::new("nix")
        .args(["show-config", "--json"])
        .features(Features::NixCommand)
}

/// `nix store ping --store STORE`: whether the store answers.
pub fn store_ping(store: &str) -> NixCommand {
    NixCommand::new("nix")
        .args(["store", "ping"])
        .features(Features::NixCommand)
        .args(["--store", store])
}

/// `nix copy --from CACHE PATH` trusting only `keys`, never building.
pub fn copy_from(cache: &str, path: &str, keys: &[String]) -> NixCommand {
    NixCommand::new("nix")
        .args(["copy", "--from", cache])
        .trusting_only(keys)
        .arg(path)
}

/// `nix store verify --store CACHE --recursive --no-contents --sigs-needed 1 PATH`, trusting
/// only `keys`: whether the cache vouches for every path of the closure with one of them.
pub fn verify_signed(cache: &str, path: &str, keys: &[String]) -> NixCommand {
    NixCommand::new("nix")
        .args(["store", "verify", "--store", cache])
        .args(["--recursive", "--no-contents", "--sigs-needed", "1"])
        .trusting_only(keys)
        .arg(path)
}

/// `nix path-info --json --recursive [--store STORE] PATH`, trusting only `keys`, within
/// Nix's own network bounds: the closure's NarHashes in the local store or a cache.
pub fn closure_info(store: Option<&str>, path: &str, keys: &[String]) -> NixCommand {
    let command = NixCommand::new("nix").args(["path-info", "--json", "--recursive"]);
    let command = match store {
        Some(store) => command.args(["--store", store]),
        None => command,
    };
    command
        .trusting_only(keys)
        .option("connect-timeout", "30")
        .option("stalled-download-timeout", "300")
        .arg(path)
}

/// `nix path-info --recursive --json PATHS` with no substituters: the closure as the local
/// store has it, nothing fetched.
pub fn local_closure_info(paths: &[String]) -> NixCommand {
    NixCommand::new("nix")
        .features(Features::NixCommand)
        .args(["path-info", "--recursive", "--json"])
        .option("substituters", "")
        .args(paths)
}

/// `nix copy --to STORE --netrc-file NETRC PATHS`: an upload to a binary cache.
pub fn copy_to(store: &str, netrc: &Path, paths: &[String]) -> NixCommand {
    NixCommand::new("nix")
        .features(Features::NixCommand)
        .args(["copy", "--to", store, "--netrc-file"])
        .arg(netrc)
        .args(paths)
}

/// `nix flake lock`, flakes on (for a user to run in a fleet repo).
pub fn flake_lock() -> NixCommand {
    NixCommand::new("nix")
        .features(Features::Flakes)
        .args(["flake", "lock"])
}

/// The store URL of an HTTP binary cache that Nix uploads to with `compression`: the server
/// URL with `compression` added to its query.
pub fn upload_store_url(server: &str, compression: &str) -> String {
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}compression={compression}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(command: &NixCommand) -> Vec<String> {
        let mut argv = vec![command.program().to_string()];
        argv.extend(command.text_arguments());
        argv
    }

    fn overrides() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("terminal".to_string(), "git+file:///m?rev=t2".to_string()),
            ("dotfiles".to_string(), "git+file:///d?rev=d1".to_string()),
        ])
    }

    /// `overrides()` on the command line: in name order.
    const FLAKES: [&str; 2] = ["--extra-experimental-features", "nix-command flakes"];

    const OVERRIDDEN: [&str; 6] = [
        "--override-input",
        "dotfiles",
        "git+file:///d?rev=d1",
        "--override-input",
        "terminal",
        "git+file:///m?rev=t2",
    ];

    #[test]
    fn the_store_commands() {
        assert_eq!(
            argv(&add_root(Path::new("/var/lib/x/roots/a/7"), "/nix/store/p")),
            [
                "nix-store",
                "--add-root",
                "/var/lib/x/roots/a/7",
                "--realise",
                "/nix/store/p"
            ]
        );
        let paths = ["/nix/store/a".to_string(), "/nix/store/b".to_string()];
        assert_eq!(
            argv(&print_invalid(&paths)),
            [
                "nix-store",
                "--check-validity",
                "--print-invalid",
                "/nix/store/a",
                "/nix/store/b"
            ]
        );
        assert_eq!(
            argv(&requisites(&paths)),
            [
                "nix-store",
                "--query",
                "--requisites",
                "/nix/store/a",
                "/nix/store/b"
            ]
        );
        assert_eq!(argv(&collect_garbage()), ["nix-store", "--gc"]);
    }

    #[test]
    fn the_profile_commands() {
        let profile = Path::new("/nix/var/nix/profiles/system");
        assert_eq!(
            profile_set(profile, "/nix/store/s").line(),
            "nix-env -p /nix/var/nix/profiles/system --set /nix/store/s"
        );
        assert_eq!(
            profile_switch_generation(profile, 41).line(),
            "nix-env -p /nix/var/nix/profiles/system --switch-generation 41"
        );
        assert_eq!(
            profile_delete_generation(profile, 42).line(),
            "nix-env -p /nix/var/nix/profiles/system --delete-generations 42"
        );
    }

    #[test]
    fn evaluation_and_build_turn_flakes_on_and_override_inputs_in_name_order() {
        assert_eq!(
            argv(&eval_json("1 + 1")),
            [
                "nix",
                "eval",
                "--json",
                "--extra-experimental-features",
                "nix-command flakes",
                "--expr",
                "1 + 1"
            ]
        );
        assert_eq!(
            argv(&derivation_path(
                "git+file:///f?rev=r",
                "hosts.a",
                &overrides()
            )),
            [
                &["nix", "eval", "--raw"][..],
                &FLAKES,
                &OVERRIDDEN,
                &["git+file:///f?rev=r#hosts.a.drvPath"],
            ]
            .concat()
        );
        let attrs = ["hosts.a".to_string(), "packages.b".to_string()];
        assert_eq!(
            argv(&build(
                "git+file:///f?rev=r",
                &attrs,
                Path::new("/s/.building/3/result"),
                &overrides()
            )),
            [
                &["nix", "build"][..],
                &FLAKES,
                &["--log-format", "internal-json", "--json", "--out-link"],
                &["/s/.building/3/result"],
                &OVERRIDDEN,
                &[
                    "git+file:///f?rev=r#hosts.a",
                    "git+file:///f?rev=r#packages.b"
                ],
            ]
            .concat()
        );
        assert_eq!(
            argv(&build("f", &attrs[..1], Path::new("l"), &BTreeMap::new()))[8..],
            ["l", "f#hosts.a"]
        );
    }

    #[test]
    fn the_builders_probes() {
        assert_eq!(
            argv(&show_config()),
            [
                "nix",
                "show-config",
                "--json",
                "--extra-experimental-features",
                "nix-command"
            ]
        );
        assert_eq!(
            argv(&store_ping("ssh://host1")),
            [
                "nix",
                "store",
                "ping",
                "--extra-experimental-features",
                "nix-command",
                "--store",
                "ssh://host1"
            ]
        );
    }

    const TRUST: [&str; 14] = [
        "--extra-experimental-features",
        "nix-command",
        "--option",
        "trusted-public-keys",
        "box-1:AAAA box-2:BBBB",
        "--option",
        "require-sigs",
        "true",
        "--option",
        "narinfo-cache-negative-ttl",
        "0",
        "--option",
        "narinfo-cache-positive-ttl",
        "0",
    ];

    #[test]
    fn a_download_trusts_only_the_keys_and_remembers_nothing() {
        let keys = ["box-1:AAAA".to_string(), "box-2:BBBB".to_string()];
        let mut expected = vec!["nix", "copy", "--from", "http://box:8780"];
        expected.extend(TRUST);
        expected.push("/nix/store/s");
        assert_eq!(
            argv(&copy_from("http://box:8780", "/nix/store/s", &keys)),
            expected
        );

        let mut expected = vec![
            "nix",
            "store",
            "verify",
            "--store",
            "http://box:8780",
            "--recursive",
            "--no-contents",
            "--sigs-needed",
            "1",
        ];
        expected.extend(TRUST);
        expected.push("/nix/store/s");
        assert_eq!(
            argv(&verify_signed("http://box:8780", "/nix/store/s", &keys)),
            expected
        );

        let bounds = [
            "--option",
            "connect-timeout",
            "30",
            "--option",
            "stalled-download-timeout",
            "300",
            "/nix/store/s",
        ];
        let mut expected = vec![
            "nix",
            "path-info",
            "--json",
            "--recursive",
            "--store",
            "http://box:8780",
        ];
        expected.extend(TRUST);
        expected.extend(bounds);
        assert_eq!(
            argv(&closure_info(
                Some("http://box:8780"),
                "/nix/store/s",
                &keys
            )),
            expected
        );
        let mut expected = vec!["nix", "path-info", "--json", "--recursive"];
        expected.extend(TRUST);
        expected.extend(bounds);
        assert_eq!(argv(&closure_info(None, "/nix/store/s", &keys)), expected);
    }

    #[test]
    fn a_push_reads_the_local_closure_and_copies_with_the_netrc() {
        let paths = ["/nix/store/x".to_string()];
        assert_eq!(
            argv(&local_closure_info(&paths)),
            [
                "nix",
                "--extra-experimental-features",
                "nix-command",
                "path-info",
                "--recursive",
                "--json",
                "--option",
                "substituters",
                "",
                "/nix/store/x"
            ]
        );
        assert_eq!(
            argv(&copy_to(
                "http://box?compression=zstd",
                Path::new("/run/p/netrc"),
                &paths
            )),
            [
                "nix",
                "--extra-experimental-features",
                "nix-command",
                "copy",
                "--to",
                "http://box?compression=zstd",
                "--netrc-file",
                "/run/p/netrc",
                "/nix/store/x"
            ]
        );
    }

    #[test]
    fn compression_goes_into_the_query() {
        assert_eq!(
            upload_store_url("http://box:8780", "zstd"),
            "http://box:8780?compression=zstd"
        );
        assert_eq!(
            upload_store_url("http://box:8780?priority=10", "xz"),
            "http://box:8780?priority=10&compression=xz"
        );
    }

    #[test]
    fn lines_for_messages_and_for_a_shell() {
        assert_eq!(
            flake_lock().shell_line(),
            "nix --extra-experimental-features 'nix-command flakes' flake lock"
        );
        assert_eq!(
            local_closure_info(&[]).shell_line(),
            "nix --extra-experimental-features nix-command path-info --recursive --json --option substituters ''"
        );
        assert_eq!(collect_garbage().line(), "nix-store --gc");
    }

    #[test]
    fn a_process_runs_the_program_with_the_arguments() {
        let command: Command = store_ping("local").into();
        assert_eq!(command.get_program(), "nix");
        let args: Vec<&OsStr> = command.get_args().collect();
        assert_eq!(args, store_ping("local").arguments());
        assert_eq!(command.get_envs().count(), 0);
    }
}
