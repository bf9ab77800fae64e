//! Answers a request's questions from one reading of the token file: which stored token was
//! presented (every hash compared in constant time), whether any token (or any with a scope)
//! exists, whether a host is bound. Never reads the file itself: the store hands it a reading.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::file::{StoredToken, TokenInfo};
use super::scope::Scope;

/// One reading of the token file: every question one request asks is answered from it.
#[derive(Debug, Clone, Default)]
pub struct Tokens(pub(super) Arc<Vec<StoredToken>>);

impl From<Vec<StoredToken>> for Tokens {
    fn from(tokens: Vec<StoredToken>) -> Tokens {
        Tokens(Arc::new(tokens))
    }
}

impl Tokens {
    /// Whether any token exists, that is whether the API's `POST`s need one.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether any token has `scope`.
    pub fn any_with(&self, scope: Scope) -> bool {
        self.0.iter().any(|t| t.scopes().contains(&scope))
    }

    /// Whether a token is bound to `host`.
    pub fn host_is_bound(&self, host: &str) -> bool {
        self.0.iter().any(|t| t.host.as_deref() == Some(host))
    }

    /// The stored token `presented` is, with its name and scopes; `None` when it is none of
    /// them. Every stored hash is compared, in constant time, so the answer's timing tells
    /// nothing about which hash came close.
    pub fn identify(&self, presented: &str) -> Option<TokenInfo> {
        let presented_hash = Sha256::digest(presented.as_bytes());
        let mut found = None;
        for token in self.0.iter() {
            // file::read has checked that every hash is 64 hex digits.
            let stored_hash = hex::decode(&token.sha256).unwrap_or_default();
            let matched: Choice = stored_hash.as_slice().ct_eq(presented_hash.as_slice());
            if bool::from(matched) {
                found = Some(token.info());
            }
        }
        found
    }
}
