//! `atuin-bootstrap push [PATH…]`: hands store paths this machine has (default `./result`)
//! and their closure to the box's cache with Nix's own upload protocol, `nix copy --to`,
//! authenticated by a netrc made from the client's token for this run only. Asks the box
//! first which paths it lacks, so it can say (and `--json` print) what was sent.

mod closure;
mod copy;
pub mod netrc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use anyhow::Result;
use indicatif::HumanBytes;
use serde_json::{Value, json};

use super::ApiClient;
use crate::client::ClientArgs;
use clap::{Args, ValueEnum};
use closure::SizedPath;
use common::exit::{INTERRUPTED, usage};
use common::process::Process;
use netrc::PrivateNetrc;
use nix_core::store_location::StoreLocation;
use nix_core::store_path::HASH_PART_LEN;

/// `atuin-bootstrap push [PATH…]`: what to upload, compressed how, and to which box.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Store paths or links to them, e.g. a `nix build` result (default: ./result)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// How the NARs are compressed on the way (the store URL's ?compression=)
    #[arg(long, value_enum, value_name = "METHOD", default_value_t = PushCompression::Zstd)]
    pub compression: PushCompression,
    /// Print what was sent as JSON
    #[arg(long)]
    pub json: bool,
    /// Where the box is, and the token with the push scope that pushing requires.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The compressions Nix's HTTP binary cache store can upload with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
// `help = None` on each value: the docs are for readers; `--help` lists the values bare, as
// it always has.
pub enum PushCompression {
    /// Zstandard (`.nar.zst`), the default.
    #[value(help = None::<&str>)]
    Zstd,
    /// xz (`.nar.xz`), Nix's own default for binary caches.
    #[value(help = None::<&str>)]
    Xz,
    /// bzip2 (`.nar.bz2`).
    #[value(help = None::<&str>)]
    Bzip2,
    /// Brotli (`.nar.br`).
    #[value(help = None::<&str>)]
    Br,
    /// Uncompressed NARs (`.nar`).
    #[value(help = None::<&str>)]
    None,
}

impl PushCompression {
    /// The name as the store URL's `?compression=` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PushCompression::Zstd => "zstd",
            PushCompression::Xz => "xz",
            PushCompression::Bzip2 => "bzip2",
            PushCompression::Br => "br",
            PushCompression::None => "none",
        }
    }
}

/// What the user named when they named nothing.
const DEFAULT_PATH: &str = "./result";

/// Uploads the closure of `args.paths` (`./result` when none) to the box's cache with
/// `nix copy`, sending only the paths the cache lacks, and prints what was sent.
pub fn run(process: &mut Process, client: &ApiClient, args: &PushArgs) -> Result<()> {
    let token = client.token().ok_or_else(|| {
        usage(
            "pushing needs an API token with the push scope: make one on the box with \
             `atuin-bootstrap token create NAME --scope build,report,push` (a machine's token \
             that also builds and reports; `--scope push` for a pusher only), then give it with --token, \
             ATUIN_BOOTSTRAP_TOKEN or client.token_file",
        )
    })?;
    let host = netrc::host_of(client.base()).ok_or_else(|| {
        usage(format!(
            "the server URL {} names no host to authenticate with",
            client.base()
        ))
    })?;
    let netrc_text = netrc::line(host, token)?;

    let store = StoreLocation::from_env(|name| process.var(name)).store_dir;
    let given: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(DEFAULT_PATH)]
    } else {
        args.paths.clone()
    };
    let mut roots = Vec::new();
    for path in &given {
        let resolved = closure::resolve(path, &store)?;
        if !roots.contains(&resolved) {
            roots.push(resolved);
        }
    }
    let closure = closure::closure(&roots, &process.vars)?;
    let mut missing = Vec::new();
    for path in &closure {
        if !client.has_narinfo(hash_part(&path.path))? {
            missing.push(path.clone());
        }
    }
    let compression = args.compression.as_str();
    let store_url = nix_core::command::upload_store_url(client.base(), compression);

    if !missing.is_empty() {
        let netrc = PrivateNetrc::write(&temporary_parent(process), &netrc_text)?;
        remove_on_interrupt(netrc.dir());
        let cache_home = netrc.dir().join("cache");
        let missing_paths: Vec<String> = missing.iter().map(|p| p.path.clone()).collect();
        copy::Copy {
            store_url: &store_url,
            netrc: netrc.file(),
            cache_home: &cache_home,
            paths: &missing_paths,
            env: &process.vars,
            running: &NIX_COPY,
            interrupted: &INTERRUPTED_NOW,
        }
        .run(&mut process.stderr)?;
    }

    let report = Report {
        server: client.base(),
        store_url: &store_url,
        compression,
        roots: &roots,
        closure: &closure,
        sent: &missing,
    };
    if args.json {
        writeln!(process.stdout, "{}", report.json())?;
    } else {
        writeln!(process.stdout, "{}", report.summary())?;
    }
    Ok(())
}

/// Where the private netrc directory goes: the user's runtime directory (a tmpfs only they
/// can enter) when there is one, else `TMPDIR`, else `/tmp`.
fn temporary_parent(process: &Process) -> PathBuf {
    ["XDG_RUNTIME_DIR", "TMPDIR"]
        .iter()
        .filter_map(|name| process.var(name))
        .map(PathBuf::from)
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// Nix's process id while it uploads, 0 otherwise.
static NIX_COPY: AtomicU32 = AtomicU32::new(0);
/// Set by the interrupt handler before it stops Nix, so that Nix's end is not reported as
/// a failed upload while the handler finishes.
static INTERRUPTED_NOW: AtomicBool = AtomicBool::new(false);

/// Ctrl-C (or SIGINT from elsewhere) while Nix uploads: Nix is stopped too, and the token's
/// file goes with the directory before this process ends. (A handler is process-wide.)
fn remove_on_interrupt(dir: &Path) {
    let dir = dir.to_path_buf();
    let _ = ctrlc::set_handler(move || {
        INTERRUPTED_NOW.store(true, Ordering::SeqCst);
        let nix = NIX_COPY.load(Ordering::SeqCst);
        if nix != 0 {
            // SAFETY: kill() with our child's pid and a signal number; no memory is touched.
            unsafe { libc::kill(nix as libc::pid_t, libc::SIGINT) };
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("\ninterrupted: paths already uploaded stay in the box's cache");
        std::process::exit(INTERRUPTED);
    });
}

fn hash_part(path: &str) -> &str {
    let basename = path.rsplit('/').next().unwrap_or(path);
    &basename[..HASH_PART_LEN.min(basename.len())]
}

/// What a push did, for people and for `--json`.
struct Report<'a> {
    server: &'a str,
    store_url: &'a str,
    compression: &'a str,
    roots: &'a [String],
    closure: &'a [SizedPath],
    /// The closure's paths the box did not have: what Nix uploaded.
    sent: &'a [SizedPath],
}

impl Report<'_> {
    fn json(&self) -> Value {
        let sized = |p: &SizedPath| json!({"path": p.path, "nar_size": p.nar_size});
        let roots: Vec<Value> = self
            .roots
            .iter()
            .filter_map(|root| self.closure.iter().find(|p| &p.path == root))
            .map(sized)
            .collect();
        json!({
            "server": self.server,
            "store_url": self.store_url,
            "compression": self.compression,
            "paths": roots,
            "closure_count": self.closure.len(),
            "closure_nar_size": total(self.closure),
            "sent": self.sent.iter().map(sized).collect::<Vec<_>>(),
            "sent_count": self.sent.len(),
            "sent_nar_size": total(self.sent),
        })
    }

    fn summary(&self) -> String {
        let there = self.closure.len() - self.sent.len();
        if self.sent.is_empty() {
            return format!(
                "nothing to push: {} already has all {} paths of the closure",
                self.server,
                self.closure.len()
            );
        }
        format!(
            "pushed {} of {} paths ({} of NARs before compression) to {}; {there} were already there",
            self.sent.len(),
            self.closure.len(),
            HumanBytes(total(self.sent)),
            self.server
        )
    }
}

fn total(paths: &[SizedPath]) -> u64 {
    paths.iter().map(|p| p.nar_size).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_roots_closure_and_what_was_sent() {
        let a = SizedPath {
            path: "/nix/store/007i5w51jwg4iqi9q1n9vlmjpj5cckbx-app".into(),
            nar_size: 10,
        };
        let b = SizedPath {
            path: "/nix/store/d2hp3ma8xm9ibdbzh791cxbw7r7v2yy3-lib".into(),
            nar_size: 5,
        };
        let closure = [a.clone(), b.clone()];
        let roots = [a.path.clone()];
        let sent = [a.clone()];
        let report = Report {
            server: "http://box:8780",
            store_url: "http://box:8780?compression=zstd",
            compression: "zstd",
            roots: &roots,
            closure: &closure,
            sent: &sent,
        };
        let json = report.json();
        assert_eq!(json["paths"], json!([{"path": a.path, "nar_size": 10}]));
        assert_eq!(json["closure_count"], 2);
        assert_eq!(json["closure_nar_size"], 15);
        assert_eq!(json["sent_count"], 1);
        assert_eq!(json["sent_nar_size"], 10);
        assert!(report.summary().starts_with("pushed 1 of 2 paths"));
        assert_eq!(hash_part(&b.path), "d2hp3ma8xm9ibdbzh791cxbw7r7v2yy3");
    }
}
