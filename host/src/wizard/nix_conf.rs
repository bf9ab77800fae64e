//! Cache trust in a Nix configuration file (machines that are not NixOS): adds the build
//! server to `extra-substituters` and its key to `extra-trusted-public-keys`, never touching
//! `substituters` or `trusted-public-keys`, so the official cache stays; on a machine that
//! pushes, `netrc-file` too (unless it names another file). With `--published-cache`, the
//! box's bucket goes in as a second substituter after the box, and `connect-timeout = 3`
//! (unless set) so a sleeping box costs seconds before Nix moves on to the bucket. The merge
//! is pure text editing.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::atuin;
use super::detect::Machine;
use super::plan::{FileChange, Plan};
use crate::wizard::BootstrapArgs;

/// Trusts the box's cache in `--nix-conf`, or `/etc/nix/nix.conf` off NixOS (on NixOS the host
/// configuration carries it); `netrc` is the push netrc, on a machine that pushes.
pub(super) fn plan(
    plan: &mut Plan,
    args: &BootstrapArgs,
    machine: &Machine,
    server: &str,
    key: Option<&str>,
    netrc: Option<&str>,
) -> Result<()> {
    let target = match (&args.nix_conf, machine.is_nixos) {
        (Some(file), _) => file.clone(),
        // On NixOS the host configuration carries the cache; see the rebuild command.
        (None, true) => {
            if let Some(url) = &args.published_cache {
                plan.notes.push(format!(
                    "to read the box's bucket when it sleeps, set services.atuin-bootstrap.client.publishedCacheUrl = \"{url}\"; in this host's configuration"
                ));
            }
            return Ok(());
        }
        (None, false) => PathBuf::from("/etc/nix/nix.conf"),
    };
    let Some(key) = key else {
        plan.notes.push(format!(
            "{} not changed: the server's cache key is unknown",
            target.display()
        ));
        return Ok(());
    };
    if atuin::is_nix_managed(&target) {
        let netrc = netrc
            .map(|file| format!(" and netrc-file = {file}"))
            .unwrap_or_default();
        plan.notes.push(format!(
            "{} is managed by Nix (a link into the store): add extra-substituters = {server} and extra-trusted-public-keys = {key}{netrc} where it is defined",
            target.display()
        ));
        return Ok(());
    }
    let existing = std::fs::read_to_string(&target).unwrap_or_default();
    let mut text = merge(&existing, server, key).unwrap_or_else(|| existing.clone());
    if let Some(url) = &args.published_cache {
        text = merge_published(&text, url);
    }
    if let Some(file) = netrc {
        match set_netrc_file(&text, file) {
            Ok(Some(with_netrc)) => text = with_netrc,
            Ok(None) => {}
            Err(other) => plan.notes.push(format!(
                "{} already has netrc-file = {other}: add the line of {file} to that file so \
                 uploads to the box authenticate",
                target.display()
            )),
        }
    }
    if text != existing {
        let mut change = FileChange::new(target.clone(), text, "trust the build box's cache");
        change.needs_root = !writable(&target);
        plan.files.push(change);
        if target.starts_with("/etc/nix") {
            plan.notes.push(
                "restart the Nix daemon to apply it: sudo systemctl restart nix-daemon".into(),
            );
        }
    }
    Ok(())
}

/// A file we may write, or may create in its directory.
fn writable(path: &Path) -> bool {
    let probe = if path.exists() {
        path
    } else {
        path.parent().unwrap_or(Path::new("/"))
    };
    common::os::is_writable(probe)
}

/// The file with the server and key added; `None` when both are already there.
pub(super) fn merge(existing: &str, server: &str, key: &str) -> Option<String> {
    let mut lines: Vec<String> = existing.lines().map(str::to_string).collect();
    let mut changed = false;
    for (setting, value) in [
        ("extra-substituters", server),
        ("extra-trusted-public-keys", key),
    ] {
        let found = lines
            .iter()
            .position(|line| setting_name(line) == Some(setting));
        match found {
            Some(index) => {
                let line = &lines[index];
                let (head, values) = line.split_once('=').expect("a setting line has '='");
                let mut items: Vec<&str> = values.split_whitespace().collect();
                if !items.contains(&value) {
                    items.push(value);
                    lines[index] = format!("{} = {}", head.trim_end(), items.join(" "));
                    changed = true;
                }
            }
            None => {
                if !changed
                    && !lines
                        .iter()
                        .any(|l| l.contains("added by bootstrap-new-machine"))
                {
                    lines.push(
                        "# added by bootstrap-new-machine (atuin-bootstrap): the fleet's build box"
                            .into(),
                    );
                }
                lines.push(format!("{setting} = {value}"));
                changed = true;
            }
        }
    }
    changed.then(|| lines.join("\n") + "\n")
}

/// The file with the bucket after the box in `extra-substituters` (its key is the box's), and
/// `connect-timeout = 3` unless a timeout is set: Nix's timeout is global, and 3 s is long for
/// a host on the LAN or tailnet yet short enough that a sleeping box costs seconds, not the
/// default 0 (the kernel's minutes); Nix then leaves a failed substituter alone for a while.
pub(super) fn merge_published(existing: &str, url: &str) -> String {
    let mut lines: Vec<String> = existing.lines().map(str::to_string).collect();
    match lines
        .iter()
        .position(|line| setting_name(line) == Some("extra-substituters"))
    {
        Some(index) => {
            let (head, values) = lines[index]
                .split_once('=')
                .expect("a setting line has '='");
            let mut items: Vec<&str> = values.split_whitespace().collect();
            if !items.contains(&url) {
                items.push(url);
                lines[index] = format!("{} = {}", head.trim_end(), items.join(" "));
            }
        }
        None => lines.push(format!("extra-substituters = {url}")),
    }
    if !lines
        .iter()
        .any(|line| setting_name(line) == Some("connect-timeout"))
    {
        lines.push("connect-timeout = 3".into());
    }
    lines.join("\n") + "\n"
}

/// The file with `netrc-file = file` added; `None` when it is already there, `Err` with the
/// other file when it names another one (left as it is: that file may hold other hosts).
pub(super) fn set_netrc_file(existing: &str, file: &str) -> Result<Option<String>, String> {
    let current = existing
        .lines()
        .filter(|line| setting_name(line) == Some("netrc-file"))
        .filter_map(|line| line.split_once('=').map(|(_, value)| value.trim()))
        .next_back();
    match current {
        Some(value) if value == file => Ok(None),
        Some(other) => Err(other.to_string()),
        None => {
            let mut text = existing.to_string();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "# uploads to the build box (nix copy --to) authenticate with the API token\nnetrc-file = {file}\n"
            ));
            Ok(Some(text))
        }
    }
}

fn setting_name(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if line.starts_with('#') {
        return None;
    }
    line.split_once('=').map(|(name, _)| name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_once_and_keeps_the_official_cache() {
        let original =
            "# mine\nsubstituters = https://cache.nixos.org\nextra-substituters = https://other\n";
        let merged = merge(original, "http://box:8780", "box-1:abc=").unwrap();
        assert!(merged.contains("# mine\nsubstituters = https://cache.nixos.org\n"));
        assert!(merged.contains("extra-substituters = https://other http://box:8780\n"));
        assert!(merged.contains("extra-trusted-public-keys = box-1:abc=\n"));
        assert_eq!(merge(&merged, "http://box:8780", "box-1:abc="), None);
        let fresh = merge("", "http://box:8780", "box-1:abc=").unwrap();
        assert!(fresh.starts_with("# added by bootstrap-new-machine"));
    }

    #[test]
    fn the_bucket_follows_the_box_with_a_short_connect_timeout() {
        let with_box = merge("", "http://box:8780", "box-1:abc=").unwrap();
        let both = merge_published(&with_box, "https://cache.example.org");
        assert!(
            both.contains("extra-substituters = http://box:8780 https://cache.example.org\n"),
            "{both}"
        );
        assert!(both.contains("connect-timeout = 3\n"));
        assert_eq!(merge_published(&both, "https://cache.example.org"), both);
        let own_timeout = merge_published("connect-timeout = 10\n", "https://c");
        assert!(
            !own_timeout.contains("connect-timeout = 3"),
            "{own_timeout}"
        );
    }

    #[test]
    fn netrc_file_is_added_once_and_another_one_is_left_alone() {
        let with = set_netrc_file("substituters = x\n", "/s/netrc")
            .unwrap()
            .unwrap();
        assert!(with.starts_with("substituters = x\n"));
        assert!(with.ends_with("netrc-file = /s/netrc\n"));
        assert_eq!(set_netrc_file(&with, "/s/netrc"), Ok(None));
        assert_eq!(
            set_netrc_file("netrc-file = /etc/nix/netrc\n", "/s/netrc"),
            Err("/etc/nix/netrc".to_string())
        );
        assert_eq!(
            set_netrc_file("# netrc-file = /old\n", "/s/netrc")
                .unwrap()
                .unwrap(),
            "# netrc-file = /old\n# uploads to the build box (nix copy --to) authenticate with the API token\nnetrc-file = /s/netrc\n"
        );
    }
}
