//! Nix's own remote builders: read from Nix's `builders` setting (`nix show-config`, `@file`
//! included), probed without building (`nix store ping`, bounded in time) in the background
//! while the server runs, so the status never waits for a probe and never says more than 30 s
//! old news.

use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use common::protocol::status::BuilderStatus;
use nix_core::command;

/// How long one probe (or reading Nix's configuration) may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two rounds: config read + probes + pause stays within 30 s.
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// `@file` inside `@file` is followed this deep, no deeper (a file naming itself).
const MAX_FILE_DEPTH: usize = 4;

/// One machine line of Nix's `builders` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub uri: String,
    pub systems: Vec<String>,
    pub ssh_key: Option<String>,
    pub max_jobs: u64,
    pub supported_features: Vec<String>,
    pub mandatory_features: Vec<String>,
    pub public_host_key: Option<String>,
}

impl Machine {
    /// Supported and mandatory features, each once.
    pub fn features(&self) -> Vec<String> {
        let mut all = self.supported_features.clone();
        for f in &self.mandatory_features {
            if !all.contains(f) {
                all.push(f.clone());
            }
        }
        all
    }

    /// The store URI `nix store ping` is given: the machine's URI with its ssh key and host
    /// key as store settings, as Nix itself opens it.
    pub fn probe_uri(&self) -> String {
        let mut uri = self.uri.clone();
        if !(uri.starts_with("ssh://") || uri.starts_with("ssh-ng://")) {
            return uri;
        }
        let mut add = |key: &str, value: &str| {
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(&format!("{key}={value}"));
        };
        if let Some(key) = &self.ssh_key {
            add("ssh-key", key);
        }
        if let Some(host_key) = &self.public_host_key {
            add("base64-ssh-public-host-key", host_key);
        }
        uri
    }
}

/// Parses the value of Nix's `builders` setting as Nix 2.8 does: entries separated by `;` or
/// newlines, `#` comments, `@FILE` read through `read_file` (a missing file is no machine),
/// fields `URI SYSTEMS SSH-KEY MAX-JOBS SPEED-FACTOR SUPPORTED-FEATURES MANDATORY-FEATURES
/// PUBLIC-HOST-KEY`, `-` or absent for the default.
pub fn parse_machines(
    value: &str,
    this_system: &str,
    read_file: &mut dyn FnMut(&Path) -> Option<String>,
) -> Vec<Machine> {
    let mut machines = Vec::new();
    parse_into(value, this_system, read_file, 0, &mut machines);
    machines
}

fn parse_into(
    value: &str,
    this_system: &str,
    read_file: &mut dyn FnMut(&Path) -> Option<String>,
    depth: usize,
    machines: &mut Vec<Machine>,
) {
    for entry in value.split(['\n', ';']) {
        let entry = entry.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        if let Some(file) = entry.strip_prefix('@') {
            if depth < MAX_FILE_DEPTH
                && let Some(text) = read_file(Path::new(file.trim()))
            {
                parse_into(&text, this_system, read_file, depth + 1, machines);
            }
            continue;
        }
        let tokens: Vec<&str> = entry.split_whitespace().collect();
        let field = |n: usize| {
            tokens
                .get(n)
                .copied()
                .filter(|t| !t.is_empty() && *t != "-")
        };
        let list = |n: usize| -> Vec<String> {
            field(n)
                .map(|t| {
                    t.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let uri = tokens[0];
        let uri = if uri.contains("://")
            || uri.starts_with('/')
            || ["local", "remote", "auto", "daemon"]
                .iter()
                .any(|w| uri.starts_with(w))
        {
            uri.to_string()
        } else {
            format!("ssh://{uri}")
        };
        let systems = match field(1) {
            Some(_) => list(1),
            None => vec![this_system.to_string()],
        };
        machines.push(Machine {
            uri,
            systems,
            ssh_key: field(2).map(str::to_string),
            max_jobs: field(3).and_then(|t| t.parse().ok()).unwrap_or(1),
            supported_features: list(5),
            mandatory_features: list(6),
            public_host_key: field(7).map(str::to_string),
        });
    }
}

/// The machines Nix is configured with now (its configuration, `NIX_CONFIG` included).
pub(crate) async fn configured_machines() -> Result<Vec<Machine>> {
    Ok(nix_builders().await?.0)
}

/// Who can build for `system`: `Ok(())` when this machine can (its own system, or one of
/// Nix's `extra-platforms`, e.g. through binfmt) or a configured builder says so; else the
/// sentence saying which system and which builders exist.
pub(crate) async fn check_system(system: &str) -> Result<Result<(), String>> {
    if system == nix_core::current_system() {
        return Ok(Ok(()));
    }
    let (machines, extra_platforms) = nix_builders().await?;
    if extra_platforms.iter().any(|p| p == system)
        || machines
            .iter()
            .any(|m| m.systems.iter().any(|s| s == system))
    {
        return Ok(Ok(()));
    }
    let existing = if machines.is_empty() {
        "none is configured (Nix's `builders` setting)".to_string()
    } else {
        machines
            .iter()
            .map(|m| format!("{} ({})", m.uri, m.systems.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Ok(Err(format!(
        "no builder can build for {system}: this machine builds {}, and of the remote builders {existing}",
        nix_core::current_system()
    )))
}

/// A failed build's error, with the builders there are when Nix refused a derivation for a
/// system no machine here has ("a 'aarch64-linux' with features {} is required to build …"):
/// a host whose configuration names another system is built as such, and fails naming them.
pub(crate) async fn name_builders_in(error: String) -> String {
    let Some(system) = required_system(&error) else {
        return error;
    };
    match check_system(&system).await {
        Ok(Err(why)) => format!("{error} ({why})"),
        _ => error,
    }
}

/// `x86_64-linux`, `aarch64-darwin`: an architecture and an OS, no more.
pub(crate) fn is_system_name(system: &str) -> bool {
    system.split_once('-').is_some_and(|(arch, os)| {
        !arch.is_empty()
            && !os.is_empty()
            && system
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) && system.len() <= 64
}

/// The system of Nix's "a 'SYSTEM' with features {…} is required to build" refusal.
fn required_system(error: &str) -> Option<String> {
    let refusal = error.find(" is required to build ")?;
    let before = &error[..refusal];
    let start = before.rfind("a '")? + 3;
    let system = before[start..].split('\'').next()?;
    is_system_name(system).then(|| system.to_string())
}

/// Nix's configured machines and its `extra-platforms`, from `nix show-config`.
async fn nix_builders() -> Result<(Vec<Machine>, Vec<String>)> {
    let output = tokio::time::timeout(
        PROBE_TIMEOUT,
        Command::from(command::show_config().command())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("nix show-config took too long")?
    .context("failed to run nix show-config (is Nix installed and on PATH?)")?;
    if !output.status.success() {
        bail!(
            "nix show-config failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let config: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("nix show-config printed no JSON")?;
    let builders = &config["builders"];
    let value = builders["value"]
        .as_str()
        .or_else(|| builders.as_str())
        .unwrap_or("");
    let machines = parse_machines(value, &nix_core::current_system(), &mut |path| {
        std::fs::read_to_string(path).ok()
    });
    let platforms = &config["extra-platforms"];
    let extra_platforms = platforms["value"]
        .as_array()
        .or_else(|| platforms.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((machines, extra_platforms))
}

/// Whether `nix store ping` reaches the machine within the time allowed.
pub(crate) async fn probe(machine: &Machine) -> bool {
    let ping = Command::from(command::store_ping(&machine.probe_uri()).command())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, ping).await,
        Ok(Ok(status)) if status.success()
    )
}

/// The builders as last probed, refreshed by [`Builders::run`].
#[derive(Default)]
pub(crate) struct Builders {
    list: Mutex<Vec<BuilderStatus>>,
}

impl Builders {
    pub(crate) fn list(&self) -> Vec<BuilderStatus> {
        self.list.lock().expect("builders lock").clone()
    }

    /// Reads Nix's configuration and probes every machine at once, for ever.
    pub(crate) async fn run(self: std::sync::Arc<Self>) {
        loop {
            self.refresh().await;
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    }

    /// One round: the configured machines (keeping what the last round knew of each), then
    /// their probes.
    pub(crate) async fn refresh(&self) {
        let machines = match configured_machines().await {
            Ok(machines) => machines,
            Err(e) => {
                tracing::warn!("cannot read Nix's builders: {e:#}");
                return;
            }
        };
        {
            let before = self.list();
            let mut list = self.list.lock().expect("builders lock");
            *list = machines
                .iter()
                .map(|m| {
                    let known = before.iter().find(|b| b.uri == m.uri);
                    status_of(
                        m,
                        known.is_some_and(|b| b.reachable),
                        known.and_then(|b| b.last_checked.clone()),
                    )
                })
                .collect();
        }
        let probes: Vec<_> = machines
            .iter()
            .cloned()
            .map(|m| tokio::spawn(async move { probe(&m).await }))
            .collect();
        let mut probed = Vec::new();
        for (machine, handle) in machines.iter().zip(probes) {
            let reachable = handle.await.unwrap_or(false);
            probed.push(status_of(
                machine,
                reachable,
                Some(common::timestamp::now()),
            ));
        }
        *self.list.lock().expect("builders lock") = probed;
    }
}

fn status_of(machine: &Machine, reachable: bool, last_checked: Option<String>) -> BuilderStatus {
    BuilderStatus {
        uri: machine.uri.clone(),
        systems: machine.systems.clone(),
        max_jobs: machine.max_jobs,
        features: machine.features(),
        reachable,
        last_checked,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_system_nix_refused_is_read_from_its_message() {
        let error = "a 'aarch64-linux' with features {} is required to build \
                     '/nix/store/abc-arm.drv', but I am a 'x86_64-linux' with features {benchmark}";
        assert_eq!(
            super::required_system(error).as_deref(),
            Some("aarch64-linux")
        );
        assert_eq!(super::required_system("builder for 'x.drv' failed"), None);
        assert_eq!(
            super::required_system("a 'not a system' with features {} is required to build x"),
            None
        );
    }

    use super::*;

    fn parse(value: &str) -> Vec<Machine> {
        parse_machines(value, "x86_64-linux", &mut |_| None)
    }

    #[test]
    fn full_line() {
        let m = parse(
            "ssh-ng://pi@10.0.0.2 aarch64-linux,armv7l-linux /k 4 2 big-parallel,kvm benchmark AAAA",
        );
        assert_eq!(
            m,
            vec![Machine {
                uri: "ssh-ng://pi@10.0.0.2".into(),
                systems: vec!["aarch64-linux".into(), "armv7l-linux".into()],
                ssh_key: Some("/k".into()),
                max_jobs: 4,
                supported_features: vec!["big-parallel".into(), "kvm".into()],
                mandatory_features: vec!["benchmark".into()],
                public_host_key: Some("AAAA".into()),
            }]
        );
        assert_eq!(m[0].features(), ["big-parallel", "kvm", "benchmark"]);
        assert_eq!(
            m[0].probe_uri(),
            "ssh-ng://pi@10.0.0.2?ssh-key=/k&base64-ssh-public-host-key=AAAA"
        );
    }

    #[test]
    fn defaults_dashes_and_separators() {
        let m = parse("host1; ssh-ng://h2?remote-store=local%3Froot%3D/x - - - 1 f1\n# c\n\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].uri, "ssh://host1");
        assert_eq!(m[0].systems, ["x86_64-linux"]);
        assert_eq!(m[0].max_jobs, 1);
        assert!(m[0].features().is_empty());
        assert_eq!(m[0].probe_uri(), "ssh://host1");
        assert_eq!(m[1].uri, "ssh-ng://h2?remote-store=local%3Froot%3D/x");
        assert_eq!(m[1].systems, ["x86_64-linux"]);
        assert_eq!(m[1].ssh_key, None);
        assert_eq!(m[1].features(), ["f1"]);
    }

    #[test]
    fn at_file_is_read_and_a_missing_file_is_nothing() {
        let mut read = |p: &Path| {
            (p == Path::new("/etc/nix/machines"))
                .then(|| "a aarch64-linux\n@/etc/nix/machines\nlocal x86_64-linux".to_string())
        };
        let m = parse_machines("@/etc/nix/machines;@/missing", "x86_64-linux", &mut read);
        // The file names itself: followed a few levels, then not.
        assert_eq!(m.len(), 2 * MAX_FILE_DEPTH);
        assert_eq!(m[0].uri, "ssh://a");
        assert_eq!(m[0].systems, ["aarch64-linux"]);
        assert_eq!(m[m.len() - 1].uri, "local");
        assert!(parse("@/nothing-here").is_empty());
        assert!(parse("").is_empty());
    }
}
