//! Why a webhook was refused, in one line a forge's delivery log can show.

use std::fmt;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WebhookError {
    MissingSignature,
    BadSignature,
    Malformed(String),
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::MissingSignature => f.write_str("the webhook has no signature header"),
            WebhookError::BadSignature => {
                f.write_str("the webhook signature does not match the body and the shared secret")
            }
            WebhookError::Malformed(reason) => write!(f, "malformed webhook body: {reason}"),
        }
    }
}

impl std::error::Error for WebhookError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_one_line() {
        for error in [
            WebhookError::MissingSignature,
            WebhookError::BadSignature,
            WebhookError::Malformed("the push event has no \"ref\"".to_owned()),
        ] {
            let message = error.to_string();
            assert!(!message.contains('\n') && !message.is_empty(), "{message}");
        }
    }
}
