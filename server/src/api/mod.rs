//! The JSON API under `/api/v1/`: one handler per endpoint (routing is the server's), and the
//! state every request shares. Reads stay open; every POST but the webhooks needs a token once
//! any exists (see `auth`).

pub mod auth;
pub mod hosts;
pub mod jobs;
pub mod paths;
pub mod pins;
mod state;
pub mod status;
pub mod token;
pub mod webhooks;

pub use state::{AppState, Settings};
