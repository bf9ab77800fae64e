//! The fleet's shared scripts, published through Atuin's script sync so every machine can
//! `atuin scripts run NAME -v fleet=PATH`.

use super::command::AtuinCommand;

/// A script every machine of the fleet gets through Atuin's script sync. Bodies are minijinja
/// templates: `{{ fleet }}` is filled by `atuin scripts run NAME -v fleet=PATH`.
pub(super) struct FleetScript {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    pub(super) body: &'static str,
}

pub(super) const FLEET_SCRIPTS: &[FleetScript] = &[
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

pub(super) fn new_script_command(script: &FleetScript) -> AtuinCommand {
    let mut command = AtuinCommand::plain(&["scripts", "new", script.name]);
    command
        .args
        .extend(["--description", script.description, "--tags", "fleet"].map(String::from));
    command.stdin = Some(script.body.to_string());
    command
}

/// Script names from `atuin scripts list`: lines `- NAME` or `- NAME [tags: …]`.
pub(super) fn script_names(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_reads_the_listing() {
        let listing = "Available scripts:\n- rebuild-host [tags: fleet]\n- mine \n";
        assert_eq!(script_names(listing), ["rebuild-host", "mine"]);
        assert!(script_names("No scripts found\n").is_empty());
    }
}
