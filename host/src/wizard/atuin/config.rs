//! Atuin's client `config.toml`: the sync settings merged in with toml_edit (comments kept),
//! and telling a file that Nix manages (never edited) from one the user owns.

use std::path::Path;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Value};

/// The client config with `sync_address` and `auto_sync = true` set, and `sync_frequency =
/// "5m"` when the user has not chosen a frequency, in `existing` (`None`: no file yet). The
/// user's comments, formatting and other keys stay as they were. `None` when nothing changes.
pub fn merge_config(existing: Option<&str>, sync_address: &str) -> Result<Option<String>> {
    let mut doc: DocumentMut = existing
        .unwrap_or_default()
        .parse()
        .context("the atuin config is not valid TOML")?;
    let mut added_any = false;
    for (key, wanted, keep_users_choice) in [
        ("sync_address", Value::from(sync_address), false),
        ("auto_sync", Value::from(true), false),
        ("sync_frequency", Value::from("5m"), true),
    ] {
        let root = doc.as_table_mut();
        match root.get_mut(key) {
            Some(Item::Value(current)) if keep_users_choice || same_value(current, &wanted) => {}
            Some(Item::Value(current)) => {
                // The old value's decor carries its trailing comment.
                let decor = current.decor().clone();
                *current = wanted;
                *current.decor_mut() = decor;
            }
            _ => {
                root.insert(key, Item::Value(wanted));
                if !added_any && let Some(mut key) = root.key_mut(key) {
                    let prefix =
                        "\n## sync with the fleet's Atuin server (set by bootstrap-new-machine)\n";
                    key.leaf_decor_mut().set_prefix(prefix);
                }
                added_any = true;
            }
        }
    }
    let merged = doc.to_string();
    let merged = match existing {
        None => merged.trim_start().to_string(),
        Some(text) if text == merged => return Ok(None),
        Some(_) => merged,
    };
    Ok(Some(merged))
}

fn same_value(current: &Value, wanted: &Value) -> bool {
    match (current, wanted) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        _ => false,
    }
}

/// Whether `path` is managed by Nix: it resolves into `/nix/store` (a home-manager link, or a
/// file in a linked directory), is a link into the store that no longer resolves, or does not
/// exist yet in a directory in the store. Such a file is reported, never edited.
pub fn is_nix_managed(path: &Path) -> bool {
    let in_store =
        |path: &Path| std::fs::canonicalize(path).is_ok_and(|real| real.starts_with("/nix/store"));
    if path.exists() {
        return in_store(path);
    }
    std::fs::read_link(path).is_ok_and(|target| target.starts_with("/nix/store"))
        || path.parent().is_some_and(in_store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_a_trailing_comment_on_a_changed_value() {
        let merged = merge_config(
            Some("sync_address = \"https://old\" # mine\n"),
            "http://new:8888",
        )
        .unwrap()
        .unwrap();
        assert!(
            merged.starts_with("sync_address = \"http://new:8888\" # mine\n"),
            "{merged}"
        );
    }
}
