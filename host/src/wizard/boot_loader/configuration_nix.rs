//! The boot loader as a machine's own `/etc/nixos/configuration.nix` sets it: its
//! `boot.loader…` statements, found line by line (comments dropped, braces and brackets
//! balanced) so they can be carried into the fleet as they are written. It does not evaluate
//! Nix: a `boot = { loader… }` block is left alone, and the firmware decides instead.

/// The `boot.loader…` statements of a `configuration.nix`, comments dropped and moved to
/// the left margin; `None` when it has none or nests them where they cannot be carried
/// over as they are (`boot = { loader… }`).
pub(super) fn boot_loader_statements(text: &str) -> Option<String> {
    let lines: Vec<String> = text.lines().map(strip_comment).collect();
    let boot_block = lines.iter().any(|l| {
        l.trim_start()
            .strip_prefix("boot")
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    });
    if boot_block && lines.iter().any(|l| l.trim_start().starts_with("loader")) {
        return None;
    }
    let mut statements: Vec<Vec<String>> = Vec::new();
    let mut current: Option<(Vec<String>, i32)> = None;
    for line in lines {
        let trimmed = line.trim_end();
        match current.as_mut() {
            Some((collected, depth)) => {
                collected.push(trimmed.to_string());
                *depth += nesting(trimmed);
                if *depth <= 0 && trimmed.trim_end().ends_with(';') {
                    statements.push(current.take().expect("some").0);
                }
            }
            None => {
                let start = trimmed.trim_start();
                let is_loader = start
                    .strip_prefix("boot.loader")
                    .is_some_and(|rest| rest.starts_with(['.', ' ', '=']));
                if !is_loader {
                    continue;
                }
                let depth = nesting(trimmed);
                if depth <= 0 && trimmed.ends_with(';') {
                    statements.push(vec![trimmed.to_string()]);
                } else {
                    current = Some((vec![trimmed.to_string()], depth));
                }
            }
        }
    }
    if current.is_some() || statements.is_empty() {
        return None;
    }
    // Each statement moved left by its first line's indentation.
    let mut out: Vec<String> = Vec::new();
    for statement in &statements {
        let indent = statement[0].len() - statement[0].trim_start().len();
        for line in statement {
            let keep = line.len() - line.trim_start().len();
            out.push(line[indent.min(keep)..].to_string());
        }
    }
    Some(out.join("\n"))
}

/// The line without a `#` comment (a `#` inside a string stays).
fn strip_comment(line: &str) -> String {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return line[..i].trim_end().to_string(),
            _ => {}
        }
    }
    line.to_string()
}

/// Opening minus closing braces and brackets outside strings.
fn nesting(line: &str) -> i32 {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' if !in_string => depth += 1,
            '}' | ']' if !in_string => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_boot_block_is_not_carried_over() {
        let text = "{\n  boot = {\n    loader.grub.device = \"/dev/sda\";\n  };\n}\n";
        assert_eq!(boot_loader_statements(text), None);
        assert_eq!(
            boot_loader_statements("{ networking.hostName = \"x\"; }"),
            None
        );
    }
}
