//! The Syncthing step: with Syncthing installed, this machine's identity goes into the fleet's
//! `secrets/` and its (public) device id into its host folder, where every other host learns it.

use std::path::Path;

use anyhow::Context;

use super::detect::Machine;
use super::plan::{Plan, PlannedCommand};

/// With Syncthing installed: this machine's identity into secrets/ and its (public) device id
/// into its host folder, where every other host learns it.
pub(super) fn plan(plan: &mut Plan, machine: &Machine, repo: &Path, host: &str) {
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
