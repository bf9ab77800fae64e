//! The JSON API under `/api/v1/`: one handler per endpoint (routing is the server's), and the
//! state every request shares. Reads stay open; every POST but the webhooks needs a token once
//! any exists (see `auth`).

pub(crate) mod auth;
pub(crate) mod hosts;
pub(crate) mod jobs;
pub(crate) mod paths;
pub(crate) mod pins;
mod state;
pub(crate) mod status;
pub(crate) mod token;
pub(crate) mod webhooks;

pub(crate) use state::AppState;
pub use state::Settings;
