//! Runs `nix copy --to <box>?compression=… --netrc-file F PATHS`: Nix's own upload protocol
//! (PUT of each missing NAR, then its narinfo). What Nix prints goes on to our stderr as it
//! comes; a failure becomes one sentence with Nix's own error (the HTTP status and what the
//! box answered).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use anyhow::{Context, Result};

use common::exit::{Exit, SERVER};
use nix_core::command;

/// What `nix copy` is run with.
pub(super) struct Copy<'a> {
    pub store_url: &'a str,
    pub netrc: &'a Path,
    /// Nix's cache directory for this run (`XDG_CACHE_HOME`): empty, so Nix asks the box what
    /// it has instead of trusting what it remembers from an earlier push.
    pub cache_home: &'a Path,
    pub paths: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    /// Set to Nix's process id while it runs (for an interrupt to stop it).
    pub running: &'a AtomicU32,
    /// Set when an interrupt stops Nix: its handler, not Nix's failure, ends the process.
    pub interrupted: &'a AtomicBool,
}

impl Copy<'_> {
    pub(super) fn command(&self) -> Command {
        let mut command = command::copy_to(self.store_url, self.netrc, self.paths).command();
        command
            .env_clear()
            .envs(self.env)
            .env("XDG_CACHE_HOME", self.cache_home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Runs it, passing Nix's stderr on to `echo` line by line.
    pub(super) fn run(&self, echo: &mut dyn Write) -> Result<()> {
        let mut child = self
            .command()
            .spawn()
            .context("failed to run nix copy (is Nix installed and on PATH?)")?;
        self.running.store(child.id(), Ordering::SeqCst);
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut said = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            let _ = writeln!(echo, "{line}");
            said.push(line);
        }
        let status = child.wait().context("failed to wait for nix copy")?;
        self.running.store(0, Ordering::SeqCst);
        while self.interrupted.load(Ordering::SeqCst) {
            // The interrupt handler removes the netrc and exits with 130 in a moment.
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if status.success() {
            return Ok(());
        }
        let error = nix_error(&said.join("\n"));
        // Nix's own error was passed on as it came: said once, not again in our message.
        let shown = said.iter().any(|l| l.trim_start().starts_with("error:"));
        let what = if shown {
            " (Nix's error is above)".to_string()
        } else {
            format!(": {error}")
        };
        Err(Exit {
            code: SERVER,
            message: format!(
                "nix copy to {} failed{what}{}",
                self.store_url,
                refusal_hint(&error)
            ),
        }
        .into())
    }
}

/// For a refused upload, what the token needs.
fn refusal_hint(error: &str) -> &'static str {
    if error.contains("HTTP error 401") || error.contains("HTTP error 403") {
        " (uploads need a token with the push scope: on the box, `atuin-bootstrap token \
         create NAME --scope build,report,push` for a machine that also builds and reports, \
         `--scope push` for a pusher only)"
    } else {
        ""
    }
}

/// Nix's error, without the `error:` prefix and with its lines joined: for an upload the box
/// refused it names the file, the HTTP status and the box's answer.
fn nix_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("error:"));
    let text = match start {
        Some(i) => lines[i..]
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        None => lines
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("it exited without saying why")
            .to_string(),
    };
    text.trim_start_matches("error:").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_is_nix_s_last_one() {
        let stderr = "copying 2 paths...\nwarning: something\nerror: unable to upload 'nar/x.nar.zst': HTTP error 403\n\n       response body:\n\n       pushing is off\n";
        assert_eq!(
            nix_error(stderr),
            "unable to upload 'nar/x.nar.zst': HTTP error 403 response body: pushing is off"
        );
        assert_eq!(nix_error("just this\n"), "just this");
        assert!(refusal_hint("HTTP error 403 ('Forbidden')").contains("--scope push"));
        assert_eq!(refusal_hint("HTTP error 500"), "");
        assert_eq!(nix_error(""), "it exited without saying why");
    }

    #[test]
    fn nix_gets_the_netrc_and_a_fresh_cache() {
        let env = BTreeMap::from([("PATH".to_string(), "/bin".to_string())]);
        let paths = vec!["/nix/store/x".to_string()];
        let copy = Copy {
            store_url: "http://box?compression=zstd",
            netrc: Path::new("/run/p/netrc"),
            cache_home: Path::new("/run/p/cache"),
            paths: &paths,
            env: &env,
            running: &AtomicU32::new(0),
            interrupted: &AtomicBool::new(false),
        };
        let command = copy.command();
        let expected = command::copy_to(copy.store_url, copy.netrc, &paths);
        assert_eq!(command.get_program(), expected.program());
        assert!(command.get_args().eq(expected.arguments()));
        let cache = command
            .get_envs()
            .find(|(k, _)| *k == "XDG_CACHE_HOME")
            .and_then(|(_, v)| v);
        assert_eq!(cache, Some(std::ffi::OsStr::new("/run/p/cache")));
    }
}
