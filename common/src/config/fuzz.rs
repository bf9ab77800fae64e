//! Property tests of the config file: its text is typed by hand, pasted from examples, or
//! written by a NixOS module from someone's options. Any text is loaded or refused without a
//! panic, and a refusal says where: the line of a TOML error, or the key (`section.name`) or
//! section that is wrong.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::schema::{self, Kind};
use super::{Inputs, load};

/// Loads `text` as the config file, the way the server does.
fn load_text(text: &str) -> anyhow::Result<super::Config> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, text).unwrap();
    let vars = BTreeMap::new();
    load(Inputs {
        config_flag: Some(file),
        vars: &vars,
        flags: Vec::new(),
        user_config_dir: None,
        user_data_dir: Some(dir.path().join("data")),
    })
}

/// Whether a refusal names a line, a key or a section.
fn says_where(message: &str) -> bool {
    message.contains(" at line ")
        || message.contains("has no value")
        || schema::KEYS.iter().any(|k| message.contains(&k.dotted()))
        || message.contains('`')
}

fn toml_value(kind: Option<Kind>) -> BoxedStrategy<String> {
    let any_value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{1,30}",
        any::<bool>().prop_map(|b| b.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "\"\\PC{0,30}\"",
        "'[^'\n]{0,30}'",
        "\\[(\"[a-z0-9:./]{0,10}\", ?){0,3}\\]",
        "\\[[0-9, ]{0,10}\\]",
        "\\{ ?[a-z]{1,5} ?= ?[0-9]{1,3} ?\\}",
        "19[0-9]{2}-0[1-9]-[0-2][0-9]",
        "\\PC{0,20}",
    ];
    match kind {
        Some(Kind::Duration) => prop_oneof![
            "\"[0-9]{1,25}(s|m|h|d|ms|us|ns|y)?\"",
            "\"[0-9]{1,3}h[0-9]{1,3}m\"",
            "[0-9]{1,25}",
            any_value,
        ]
        .boxed(),
        Some(Kind::Text) => prop_oneof![
            "\"[0-9]{1,25}(B|K|M|G|T|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\"",
            "\"(127\\.0\\.0\\.1|\\[::1\\]|[0-9.]{1,20}):[0-9]{1,6}\"",
            "\"(https?|ftp)://[a-z0-9.:/@]{0,30}\"",
            "\"/[a-z/]{0,20}\"",
            "\"[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2}\"",
            any_value,
        ]
        .boxed(),
        _ => any_value.boxed(),
    }
}

/// A line of a config file: mostly a known key with a value of its kind or not.
fn key_line() -> impl Strategy<Value = (String, String)> {
    let known = proptest::sample::select(schema::KEYS.to_vec())
        .prop_flat_map(|key| (Just(key), toml_value(Some(key.kind))))
        .prop_map(|(key, value)| (key.section.to_string(), format!("{} = {value}", key.name)));
    let unknown = ("[a-z_]{1,12}", "[a-z_]{1,14}", toml_value(None))
        .prop_map(|(section, name, value)| (section, format!("{name} = {value}")));
    prop_oneof![6 => known, 1 => unknown]
}

/// A file of sections, each with its lines, plus an occasional stray line.
fn config_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(key_line(), 0..12),
        proptest::option::of("\\PC{0,30}"),
    )
        .prop_map(|(lines, stray)| {
            let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (section, line) in lines {
                sections.entry(section).or_default().push(line);
            }
            let mut text = String::new();
            if let Some(stray) = stray {
                text.push_str(&stray);
                text.push('\n');
            }
            for (section, lines) in sections {
                text.push_str(&format!("[{section}]\n"));
                for line in lines {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            text
        })
}

fn loaded_or_refused_saying_where(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = load_text(text) {
        let message = format!("{e:#}");
        prop_assert!(says_where(&message), "{message}\nfrom:\n{text}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(nix_core::fuzz_support::config(2))]

    #[test]
    fn any_text_is_loaded_or_refused_saying_where(text in "\\PC{0,200}") {
        loaded_or_refused_saying_where(&text)?;
    }

    #[test]
    fn any_keys_are_loaded_or_refused_saying_where(text in config_text()) {
        loaded_or_refused_saying_where(&text)?;
    }
}
