//! What a token may do: `build`, `report`, `push`, `deploy`, by name. Entries written
//! before scopes existed have none stored and count as `Scope::DEFAULT` (see `file`).

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Ask for builds and cancel them (`POST /api/v1/jobs`, `…/cancel`).
    Build,
    /// Report a host's deploy state (`POST /api/v1/hosts/NAME/report`).
    Report,
    /// Upload into the binary cache (`nix copy --to`).
    Push,
    /// Pin hosts to a build, release them, ask them to retry (`…/hosts/NAME/pin`, `…/retry`);
    /// never a default scope.
    Deploy,
}

impl Scope {
    /// Every scope, in the order `token list` shows them.
    pub const ALL: [Scope; 4] = [Scope::Build, Scope::Report, Scope::Push, Scope::Deploy];
    /// What a token gets when no scope is named, and what a token stored without scopes has.
    pub const DEFAULT: [Scope; 2] = [Scope::Build, Scope::Report];

    /// The scope's word (`build`, `report`, `push`, `deploy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Build => "build",
            Scope::Report => "report",
            Scope::Push => "push",
            Scope::Deploy => "deploy",
        }
    }

    /// The scope a word names; an error listing the scopes for any other word.
    pub fn parse(text: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim())
            .ok_or_else(|| anyhow!("unknown scope {text:?}: use build, report, push or deploy"))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_parse() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()).unwrap(), scope);
        }
        let error = Scope::parse("admin").unwrap_err().to_string();
        assert!(error.contains("build, report, push or deploy"), "{error}");
    }
}
