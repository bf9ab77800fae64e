//! API tokens: `token create`, `token list`, `token revoke`, and the server's check of a
//! presented bearer token. Tokens live in `<state dir>/tokens.json` as SHA-256 hashes only, so
//! the file never holds a usable secret (`file`); the store makes and revokes them and reads
//! the file afresh for every question, keeping a reading while the file is the same one
//! (`store`); a reading answers what a request asks, the presented token's identity first
//! (`verify`); each token carries scopes, what it may do (`scope`).
//!
//! This module knows nothing of HTTP: extracting the token from `Authorization` and answering
//! `401`/`403` belong to the server, printing tokens to the command.

mod file;
mod scope;
mod store;
mod verify;

pub use file::TokenInfo;
pub use scope::Scope;
pub use store::{Revoked, TokenStore};
pub use verify::Tokens;
