//! The `--help` of every applet, compared with the committed snapshots in `snapshots/`, so a
//! change to the command line shows up in review. `UPDATE_SNAPSHOTS=1 cargo test` rewrites them.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn help_matches_the_snapshots() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for applet in ["atuin-bootstrap", "bt", "bs", "bl", "bootstrap-new-machine"] {
        let output = Command::new(crate::util::binary())
            .env_clear()
            .env("ATUIN_BOOTSTRAP_ARGV0", applet)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        let help = String::from_utf8(output.stdout).unwrap();
        let file = dir.join(format!("{applet}.help"));
        if update {
            std::fs::write(&file, &help).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(help.as_str()) {
            stale.push(format!("{applet}:\n{help}"));
        }
    }
    assert!(
        stale.is_empty(),
        "--help changed (run UPDATE_SNAPSHOTS=1 cargo test and review):\n{}",
        stale.join("\n")
    );
}
