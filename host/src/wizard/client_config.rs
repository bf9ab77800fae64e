//! The client's settings in the user's `config.toml`: `client.server` (and
//! `client.token_file` when a token is given), merged with toml_edit so the user's comments
//! and other keys stay as they were.

use anyhow::{Context, Result};

use super::atuin;
use super::dirs::xdg_config_home;
use super::plan::{FileChange, Plan};
use common::process::Process;
use toml_edit::{DocumentMut, Item, Table, value};

/// The file with the client settings set; `None` when they already are.
pub(super) fn merge(
    existing: Option<&str>,
    server: &str,
    token_file: Option<&str>,
) -> Result<Option<String>> {
    let original = existing.unwrap_or("");
    let mut document: DocumentMut = original
        .parse()
        .context("the existing atuin-bootstrap config is not valid TOML")?;
    if !document.contains_key("client") {
        document["client"] = Item::Table(Table::new());
    }
    let client = document["client"]
        .as_table_mut()
        .context("`client` in the existing config is not a table")?;
    let mut wanted = vec![("server", server)];
    if let Some(token_file) = token_file {
        wanted.push(("token_file", token_file));
    }
    let mut changed = false;
    for (key, wanted_value) in wanted {
        if client.get(key).and_then(|v| v.as_str()) != Some(wanted_value) {
            client[key] = value(wanted_value);
            changed = true;
        }
    }
    Ok(changed.then(|| document.to_string()))
}

/// The client settings in the user's config file, unless Nix manages that file.
pub(super) fn plan(
    plan: &mut Plan,
    process: &Process,
    server: &str,
    token_file: Option<&str>,
) -> Result<()> {
    let dir = process
        .user_config_dir
        .clone()
        .unwrap_or_else(|| xdg_config_home(process).join("atuin-bootstrap"));
    let file = dir.join("config.toml");
    if atuin::is_nix_managed(&file) {
        let token = token_file
            .map(|t| format!(" and tokenFile = {t:?}"))
            .unwrap_or_default();
        plan.notes.push(format!(
            "{} is managed by Nix (home-manager?): set services.atuin-bootstrap.client.serverUrl = {server:?}{token} there",
            file.display()
        ));
        return Ok(());
    }
    let existing = std::fs::read_to_string(&file).ok();
    if let Some(merged) = merge(existing.as_deref(), server, token_file)
        .with_context(|| format!("cannot update {}", file.display()))?
    {
        plan.files
            .push(FileChange::new(file, merged, "bt/bs/bl find the server"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_and_is_idempotent() {
        let original = "# my settings\n[client]\n# the box\nserver = \"http://old:8780\"\n";
        let merged = merge(Some(original), "http://box:8780", Some("/s/token"))
            .unwrap()
            .unwrap();
        assert!(merged.contains("# my settings") && merged.contains("# the box"));
        assert!(merged.contains("server = \"http://box:8780\""));
        assert!(merged.contains("token_file = \"/s/token\""));
        assert_eq!(
            merge(Some(&merged), "http://box:8780", Some("/s/token")).unwrap(),
            None
        );
        assert!(
            merge(None, "http://box:8780", None)
                .unwrap()
                .unwrap()
                .contains("[client]")
        );
    }
}
