//! The clients `bt`, `bs`, `bl`, `atuin-bootstrap cancel`, `fleet` and `push`: one HTTP client for the API,
//! rendering for people (tables, colour) and the JSON for scripts, waiting and following with
//! a progress bar. Exit codes are the documented ones (see `exit`).

mod api;
pub mod cancel;
pub mod fleet;
mod follow;
pub mod logs;
pub mod push;
mod render;
pub mod status;
pub mod trigger;

pub use api::ApiClient;

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use clap::Args;
use common::config::{Config, Source};
use common::exit::usage;

/// The flags every client shares: which server to talk to, and the token to send it.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server URL (client.server, ATUIN_BOOTSTRAP_SERVER)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API token (client.token, ATUIN_BOOTSTRAP_TOKEN)
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// Finds the server (`--server` > `ATUIN_BOOTSTRAP_SERVER` > `client.server`) and the token
/// (`--token` > `ATUIN_BOOTSTRAP_TOKEN` > `client.token` > `client.token_file`).
pub fn connect(config: &Config) -> Result<ApiClient> {
    connect_with(config, None)
}

/// As `connect`, for a client that only reads (`bs`, `bl`): a token file that cannot be read
/// is said on `warn` and the client goes on without a token, since reads need none.
pub fn connect_reading(config: &Config, warn: &mut dyn Write) -> Result<ApiClient> {
    connect_with(config, Some(warn))
}

fn connect_with(config: &Config, warn: Option<&mut dyn Write>) -> Result<ApiClient> {
    let Some(server) = &config.client_server else {
        let file = config.file.as_ref().map_or(
            "$XDG_CONFIG_HOME/atuin-bootstrap/config.toml".to_string(),
            |f| f.display().to_string(),
        );
        return Err(usage(format!(
            "no server URL: pass --server URL, set ATUIN_BOOTSTRAP_SERVER, or set client.server in {file}"
        )));
    };
    let url = server.value.trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(usage(format!(
            "the server URL {url:?} (from {}) must start with http:// or https://",
            server.source
        )));
    }
    let token = match (&config.client_token, &config.client_token_file) {
        (Some(token), _) => Some(token.value.trim().to_string()),
        (None, Some(file)) => match (read_token_file(&file.value, &file.source), warn) {
            (Ok(token), _) => Some(token),
            (Err(e), Some(warn)) => {
                writeln!(
                    warn,
                    "warning: {e:#}; going on without a token (reading needs none)"
                )?;
                None
            }
            (Err(e), None) => return Err(e),
        },
        (None, None) => None,
    };
    Ok(ApiClient::new(url, server.source.clone(), token))
}

fn read_token_file(path: &Path, source: &Source) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the token file {} (client.token_file, from {source}): {e}",
            path.display()
        ))
    })?;
    Ok(text.trim().to_string())
}
