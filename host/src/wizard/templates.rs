//! The Nix templates, embedded so the wizard works from the binary alone: the fleet flake and
//! the per-host profiles (`laptop`, `desktop`, `server`, `wsl`). The same files are the
//! flake's `templates` output. Placeholders are `@name@` inside Nix strings, so every template
//! parses as it is; `render` fills them with values escaped for a Nix string.

/// The fleet flake's files, by path inside the new repository.
pub const FLEET: &[(&str, &str)] = &[
    (
        "flake.nix",
        include_str!("../../../templates/fleet/flake.nix"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/fleet/.gitignore"),
    ),
    (
        "README.md",
        include_str!("../../../templates/fleet/README.md"),
    ),
];

/// `inputs.atuin-bootstrap.url` of a new fleet when `--atuin-bootstrap-url` names none.
pub const DEFAULT_ATUIN_BOOTSTRAP_URL: &str = "github:atuin-bootstrap/atuin-bootstrap";

/// The fleet flake's files with `@atuinBootstrapUrl@` (flake.nix) filled in.
pub fn fleet(atuin_bootstrap_url: &str) -> Vec<(&'static str, String)> {
    FLEET
        .iter()
        .map(|(path, text)| match *path {
            "flake.nix" => (
                *path,
                text.replace(
                    "@atuinBootstrapUrl@",
                    &escape_nix_string(atuin_bootstrap_url),
                ),
            ),
            _ => (*path, text.to_string()),
        })
        .collect()
}

/// The host profiles: name and `hosts/<name>/default.nix` template.
pub const PROFILES: &[(&str, &str)] = &[
    (
        "laptop",
        include_str!("../../../templates/profiles/laptop/default.nix"),
    ),
    (
        "desktop",
        include_str!("../../../templates/profiles/desktop/default.nix"),
    ),
    (
        "server",
        include_str!("../../../templates/profiles/server/default.nix"),
    ),
    (
        "wsl",
        include_str!("../../../templates/profiles/wsl/default.nix"),
    ),
];

/// The `default.nix` template of a profile (`laptop`, `desktop`, `server` or `wsl`); `None`
/// for any other name.
pub fn profile(name: &str) -> Option<&'static str> {
    PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Replaces every `@key@` with its value, escaped for a double-quoted Nix string. A
/// placeholder left unfilled is an error naming it.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("@{key}@"), &escape_nix_string(value));
    }
    match placeholders(&out).first() {
        Some(left) => Err(format!("the template needs a value for @{left}@")),
        None => Ok(out),
    }
}

/// `render`, with every line that holds a placeholder named in `unset` commented out (`# `
/// after its indentation) and `…` for the value: a setting left for the user to fill in.
pub fn render_leaving_out(
    template: &str,
    values: &[(&str, &str)],
    unset: &[&str],
) -> Result<String, String> {
    let mut text = String::with_capacity(template.len());
    for line in template.split_inclusive('\n') {
        if unset.iter().any(|key| line.contains(&format!("@{key}@"))) {
            let indent = line.len() - line.trim_start().len();
            let mut commented = format!("{}# {}", &line[..indent], &line[indent..]);
            for key in unset {
                commented = commented.replace(&format!("@{key}@"), "…");
            }
            text.push_str(&commented);
        } else {
            text.push_str(line);
        }
    }
    render(&text, values)
}

/// The `@name@` placeholders a text still has.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        let after = &rest[start + 1..];
        match after.find('@') {
            Some(end)
                if end > 0
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                found.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    found.sort();
    found.dedup();
    found
}

fn escape_nix_string(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "\\${")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_has_the_same_placeholders_and_renders() {
        let expected = [
            "atuinServer",
            "hostName",
            "publicKey",
            "repoDir",
            "secretsDir",
            "serverUrl",
            "stateVersion",
            "syncthingCertFile",
            "syncthingKeyFile",
            "system",
            "tailscaleAuthKeyFile",
            "userName",
        ];
        for (name, text) in PROFILES {
            let mut wanted: Vec<&str> = expected.to_vec();
            if *name == "wsl" {
                wanted.push("fleetRepoUrl");
                wanted.push("webhookSecretFile");
            } else {
                // The box (wsl) does not push to itself.
                wanted.push("netrcFile");
            }
            wanted.sort();
            assert_eq!(placeholders(text), wanted, "{name}");
            let values: Vec<(&str, &str)> = wanted.iter().map(|k| (*k, "x\"${y}")).collect();
            let rendered = render(text, &values).unwrap();
            assert!(rendered.contains(r#"x\"\${y}"#), "{name}");
        }
        assert!(render("\"@a@\"", &[]).unwrap_err().contains("@a@"));
    }

    #[test]
    fn the_fleet_flake_gets_the_url_it_is_given() {
        let files = fleet("git+file:///srv/atuin-bootstrap");
        let flake = &files.iter().find(|(p, _)| *p == "flake.nix").unwrap().1;
        assert!(flake.contains("atuin-bootstrap.url = \"git+file:///srv/atuin-bootstrap\";"));
        assert!(placeholders(flake).is_empty());
    }

    #[test]
    fn unset_placeholders_comment_their_lines_out() {
        let rendered = render_leaving_out(
            "{\n  a = \"@a@\";\n  url = \"@url@\";\n}\n",
            &[("a", "1")],
            &["url"],
        )
        .unwrap();
        assert_eq!(rendered, "{\n  a = \"1\";\n  # url = \"…\";\n}\n");
    }
}
