//! What the tests know of the repository's examples and of config files: the values the
//! example fleet in examples/ was rendered with, and what the binary makes of a config file
//! (`config show --json`), for the example configs and those the Nix modules render alike.

use std::path::Path;

/// What `config show --json` makes of `file`; the file must be accepted.
pub(crate) fn config_show(file: &Path) -> serde_json::Value {
    let home = tempfile::tempdir().unwrap();
    let output = super::command_in(home.path())
        .args(["config", "show", "--json", "--config"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} was refused: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The values the example fleet was rendered with.
pub(crate) fn example_values(host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("hostName", host.to_string()),
        ("system", "x86_64-linux".to_string()),
        ("stateVersion", "25.05".to_string()),
        ("serverUrl", "http://buildbox:8780".to_string()),
        (
            "publicKey",
            "buildbox-1:QGfEw8W0HiHTcKQuRlP9RyqHcaDWYB7fAT8BxXkaEsE=".to_string(),
        ),
        ("atuinServer", "http://buildbox:8888".to_string()),
        ("userName", "me".to_string()),
        ("secretsDir", "/home/me/fleet/secrets".to_string()),
        (
            "tailscaleAuthKeyFile",
            "/home/me/fleet/secrets/tailscale-auth-key".to_string(),
        ),
        (
            "syncthingKeyFile",
            "/home/me/fleet/secrets/syncthing/key.pem".to_string(),
        ),
        (
            "syncthingCertFile",
            "/home/me/fleet/secrets/syncthing/cert.pem".to_string(),
        ),
        (
            "webhookSecretFile",
            "/home/me/fleet/secrets/webhook-secret".to_string(),
        ),
        ("netrcFile", "/home/me/fleet/secrets/netrc".to_string()),
        ("repoDir", "/home/me/fleet".to_string()),
        (
            "fleetRepoUrl",
            "https://git.example.org/me/fleet.git".to_string(),
        ),
    ]
}
