//! `config show`: the effective configuration as TOML, each value followed by where it came
//! from; secrets masked. With `--json`, one object per key for scripts.

use std::fmt::Write as _;

use super::layers::{Source, Value};
use super::{Config, schema};

/// `config show`'s output: TOML with each value's source, or with `json` one object per key.
pub fn render(config: &Config, json: bool) -> String {
    if json {
        return render_json(config);
    }
    let mut out = String::new();
    match &config.file {
        Some(path) => {
            let _ = writeln!(out, "# config file: {}", path.display());
        }
        None => out.push_str("# config file: none (built-in defaults)\n"),
    }
    let mut section = "";
    for (key, found) in &config.entries {
        if key.section != section {
            section = key.section;
            let _ = writeln!(out, "\n[{section}]");
        }
        match found {
            None if key.is(&schema::SERVER_STATE_DIR) => {
                let value = toml_text(&config.state_dir.value.display().to_string());
                let _ = writeln!(out, "{} = {value}  # {}", key.name, Source::Default);
            }
            None if key.is(&schema::CACHE_MAX_CONCURRENT_NARS) => {
                let value = config.max_concurrent_nars.value;
                let _ = writeln!(out, "{} = {value}  # {}", key.name, Source::Default);
            }
            None => {
                let _ = writeln!(out, "# {} is not set", key.name);
            }
            Some((value, source)) => {
                let shown = if key.secret {
                    "\"********\"".to_string()
                } else {
                    toml_value(&without_credentials(key, value))
                };
                let _ = writeln!(out, "{} = {shown}  # {source}", key.name);
            }
        }
    }
    out
}

fn render_json(config: &Config) -> String {
    let mut map = serde_json::Map::new();
    for (key, found) in &config.entries {
        let entry = match found {
            None if key.is(&schema::SERVER_STATE_DIR) => serde_json::json!({
                "value": config.state_dir.value.display().to_string(),
                "source": "default",
            }),
            None if key.is(&schema::CACHE_MAX_CONCURRENT_NARS) => serde_json::json!({
                "value": config.max_concurrent_nars.value,
                "source": "default",
            }),
            None => serde_json::json!({ "value": null, "source": null }),
            Some((value, source)) => serde_json::json!({
                "value": if key.secret {
                    serde_json::json!("********")
                } else {
                    json_value(&without_credentials(key, value))
                },
                "source": source.to_string(),
            }),
        };
        map.insert(key.dotted(), entry);
    }
    let mut text = serde_json::to_string_pretty(&serde_json::json!({
        "file": config.file.as_ref().map(|p| p.display().to_string()),
        "keys": map,
    }))
    .expect("serialisable");
    text.push('\n');
    text
}

/// `repo.url` with its credentials shown as `***`.
fn without_credentials(key: &schema::KeyDef, value: &Value) -> Value {
    match value {
        Value::Text(url) if key.is(&schema::REPO_URL) => {
            Value::Text(crate::credentials::redact_url(url))
        }
        other => other.clone(),
    }
}

fn toml_text(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_value(value: &Value) -> String {
    match value {
        Value::Text(s) => toml_text(s),
        Value::Count(n) => n.to_string(),
        Value::Duration(d) => toml_text(&humantime::format_duration(*d).to_string()),
        Value::List(items) => {
            let quoted: Vec<String> = items.iter().map(|s| toml_text(s)).collect();
            format!("[{}]", quoted.join(", "))
        }
        Value::Bool(b) => b.to_string(),
    }
}

fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Text(s) => s.clone().into(),
        Value::Count(n) => (*n).into(),
        Value::Duration(d) => d.as_secs().into(),
        Value::List(items) => items.clone().into(),
        Value::Bool(b) => (*b).into(),
    }
}
