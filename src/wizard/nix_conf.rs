//! Cache trust in a Nix configuration file (machines that are not NixOS): adds the build
//! server to `extra-substituters` and its key to `extra-trusted-public-keys`, never touching
//! `substituters` or `trusted-public-keys`, so the official cache stays. Pure text editing.

/// The file with the server and key added; `None` when both are already there.
pub fn merge(existing: &str, server: &str, key: &str) -> Option<String> {
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
}
