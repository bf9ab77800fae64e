//! Forge push webhooks (GitHub, Forgejo/Gitea), as pure functions: no HTTP server, no git.
//! The router takes the body and headers, calls these, and decides what a push means (a fetch
//! and a build when it hits the watched branch). Which forge and what its headers name (the
//! event, the delivery) is `forge`; checking the HMAC-SHA256 signature over the exact body
//! bytes with the shared secret from its file is `signature`; reading the pushed branch,
//! commit and repository from the body is `push`; why a webhook is refused is `error`.

mod error;
mod forge;
#[cfg(test)]
mod fuzz;
mod push;
mod signature;

pub(crate) use error::WebhookError;
pub(crate) use forge::{Forge, delivery_id, event_kind};
pub(crate) use push::parse_push;
pub(crate) use signature::{read_secret, verify};
