//! The client's settings in the user's `config.toml`: `client.server` (and
//! `client.token_file` when a token is given), merged with toml_edit so the user's comments
//! and other keys stay as they were.

use anyhow::{Context, Result};
use toml_edit::{value, DocumentMut, Item, Table};

/// The file with the client settings set; `None` when they already are.
pub fn merge(
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
        assert!(merge(None, "http://box:8780", None)
            .unwrap()
            .unwrap()
            .contains("[client]"));
    }
}
