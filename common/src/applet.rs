//! Which mode the binary runs in, from the name it was started under (`bt`, `bs`, `bl`,
//! `bootstrap-new-machine`) or `ATUIN_BOOTSTRAP_ARGV0`; under its own name the subcommand
//! decides. Also `links DIR`, which makes those names.

use std::path::Path;

use anyhow::{Context, Result};

/// The mode the binary runs in, picked from the name it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applet {
    /// `atuin-bootstrap`, with subcommands.
    Main,
    /// `bt` (`atuin-bootstrap trigger`): queue builds on the server.
    Trigger,
    /// `bs` (`atuin-bootstrap status`): server, job and fleet status.
    Status,
    /// `bl` (`atuin-bootstrap logs`): build logs.
    Logs,
    /// `bootstrap-new-machine` (`atuin-bootstrap bootstrap`): join this machine to the fleet.
    Bootstrap,
}

/// The applet names `links` creates, with their modes.
pub const LINKS: &[(&str, Applet)] = &[
    ("bt", Applet::Trigger),
    ("bs", Applet::Status),
    ("bl", Applet::Logs),
    ("bootstrap-new-machine", Applet::Bootstrap),
];

impl Applet {
    /// From `ATUIN_BOOTSTRAP_ARGV0` when set, else the file stem of `argv[0]`.
    pub fn detect(argv0: Option<&str>, override_name: Option<&str>) -> Applet {
        let name = override_name
            .filter(|n| !n.is_empty())
            .or(argv0)
            .map(|n| {
                Path::new(n)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        LINKS
            .iter()
            .find(|(link, _)| *link == name)
            .map_or(Applet::Main, |(_, applet)| *applet)
    }

    /// The name shown in help and errors.
    pub fn name(self) -> &'static str {
        match self {
            Applet::Main => "atuin-bootstrap",
            other => LINKS
                .iter()
                .find(|(_, applet)| *applet == other)
                .map(|(name, _)| *name)
                .expect("every applet has a link name"),
        }
    }
}

/// Makes the `bt`, `bs`, `bl` and `bootstrap-new-machine` symlinks to `exe` in `dir`, and
/// `atuin-bootstrap` itself, so every command the clients suggest (`atuin-bootstrap cancel
/// 14`) works from that directory too (not when `exe` already is `dir/atuin-bootstrap`).
/// Existing links are replaced; an existing regular file is left alone and reported.
pub fn make_links(exe: &Path, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let mut made = Vec::new();
    let main = Path::new(Applet::Main.name());
    let names = LINKS
        .iter()
        .map(|(name, _)| Path::new(name))
        .chain((exe != dir.join(main)).then_some(main));
    for name in names {
        let link = dir.join(name);
        match link.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(&link)
                .with_context(|| format!("failed to replace {}", link.display()))?,
            Ok(_) => anyhow::bail!(
                "{} exists and is not a symlink; move it away and run links again",
                link.display()
            ),
            Err(_) => {}
        }
        std::os::unix::fs::symlink(exe, &link)
            .with_context(|| format!("failed to create the link {}", link.display()))?;
        made.push(link);
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_name_and_override() {
        assert_eq!(Applet::detect(Some("/usr/bin/bt"), None), Applet::Trigger);
        assert_eq!(Applet::detect(Some("bl"), None), Applet::Logs);
        assert_eq!(
            Applet::detect(Some("/x/bootstrap-new-machine"), None),
            Applet::Bootstrap
        );
        assert_eq!(
            Applet::detect(Some("atuin-bootstrap"), Some("bs")),
            Applet::Status
        );
        assert_eq!(
            Applet::detect(Some("bt"), Some("atuin-bootstrap")),
            Applet::Main
        );
        assert_eq!(Applet::detect(None, None), Applet::Main);
    }
}
