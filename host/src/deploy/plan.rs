//! What `deploy --dry-run` prints: the steps a deploy of the box's target would take here,
//! as the commands they run (the download and its checks, the profile, the activation, the
//! health checks). Not for deciding whether to deploy (see `agent`) nor for doing it (see
//! `switch`).

use serde::Serialize;

use super::health;
use super::machine::Machine;
use super::target::{Build, HostView};
use common::config::DeployMode;
use nix_core::command;

/// What a deploy would do.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Plan {
    pub host: String,
    pub from: Option<String>,
    pub to: String,
    pub rev: Option<String>,
    pub job: Option<u64>,
    pub mode: String,
    pub steps: Vec<String>,
}

impl Plan {
    /// The plan for deploying `target` to `host`, which runs `running` now.
    pub(super) fn new(
        machine: &Machine<'_>,
        host: &HostView,
        target: &Build,
        running: Option<String>,
    ) -> Plan {
        let profile = machine.profile.path().display().to_string();
        let mode = machine.mode.as_str();
        let wanted = &target.path;
        let keys = if machine.public_keys.is_empty() {
            vec!["<the box's build keys>".to_string()]
        } else {
            machine.public_keys.clone()
        };
        let mut steps = vec![
            command::copy_from(machine.api.base(), wanted, &keys).shell_line(),
            command::verify_signed(machine.api.base(), wanted, &keys).shell_line(),
            format!(
                "compare the NarHash of every path of {wanted} here with the box's (nix path-info --json --recursive)"
            ),
        ];
        if machine.mode != DeployMode::Test {
            steps.push(format!("nix-env -p {profile} --set {wanted}"));
        }
        steps.push(machine.activator.argv(wanted, mode).join(" "));
        if machine.mode != DeployMode::Boot {
            let checks = health::checks_for(wanted, &machine.checks).unwrap_or_default();
            for check in checks {
                steps.push(format!("health check {check:?}"));
            }
            steps.push(format!("wait for {} to answer", machine.api.base()));
        }
        Plan {
            host: host.name.clone(),
            from: running,
            to: wanted.to_string(),
            rev: target.rev.clone(),
            job: target.job,
            mode: mode.to_string(),
            steps,
        }
    }
}
