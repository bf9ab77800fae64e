//! One `atuin` invocation, as data: its arguments, secrets passed through the environment
//! (shown redacted), and what goes to its stdin; how it is shown in plans and errors; and
//! atuin's stderr as one readable line. A leaf: it runs nothing (see `runner`).

/// One `atuin` invocation: its arguments, secrets passed through the environment (shown
/// redacted), and what goes to its stdin.
pub(super) struct AtuinCommand {
    pub(super) args: Vec<String>,
    pub(super) secrets: Vec<(&'static str, String)>,
    pub(super) stdin: Option<String>,
}

impl AtuinCommand {
    pub(super) fn plain(args: &[&str]) -> Self {
        AtuinCommand {
            args: args.iter().map(|a| a.to_string()).collect(),
            secrets: Vec::new(),
            stdin: None,
        }
    }

    /// The command line without its environment: the step's name in errors.
    pub(super) fn step(&self) -> String {
        let mut words = vec!["atuin".to_string()];
        words.extend(self.args.iter().map(|arg| shell_word(arg)));
        words.join(" ")
    }

    /// The command line for plans and reports, secrets redacted.
    pub(super) fn display(&self) -> String {
        let mut words: Vec<String> = self
            .secrets
            .iter()
            .map(|(name, _)| format!("{name}=<redacted>"))
            .collect();
        words.push("atuin".to_string());
        words.extend(self.args.iter().map(|arg| shell_word(arg)));
        if self.stdin.is_some() {
            words.push("< script".to_string());
        }
        words.join(" ")
    }
}

pub(super) fn shell_word(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=@:,+".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// An ATUIN_SESSION for commands run outside a shell: 32 hex digits, like atuin's own.
pub(super) fn session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:032x}", nanos ^ (u128::from(std::process::id()) << 64))
}

/// The one line of atuin's stderr that says what went wrong: its `Error:` line, else the
/// first line with text.
pub(super) fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines = || text.lines().map(str::trim).filter(|line| !line.is_empty());
    lines()
        .find_map(|line| line.strip_prefix("Error:"))
        .or_else(|| lines().next())
        .map_or_else(
            || "it printed no error".to_string(),
            |line| line.trim().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_picks_atuins_error_line() {
        let stderr =
            b" ERROR error=bad\nError: invalid login details\n\nLocation:\n    src/x.rs:1:1\n";
        assert_eq!(one_line(stderr), "invalid login details");
        assert_eq!(one_line(b"\n  something broke \n"), "something broke");
        assert_eq!(one_line(b""), "it printed no error");
    }
}
