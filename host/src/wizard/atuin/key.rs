//! The Atuin key as a user gives it: the base64 form `atuin key --base64` prints, or the
//! 24-word mnemonic `atuin key` prints; checked before anything is changed. A leaf.

use anyhow::Result;

/// The base64 form has no spaces; the mnemonic is 24 words.
pub(super) fn is_base64_key(key: &str) -> bool {
    !key.trim().contains(char::is_whitespace)
}

/// Refuses a key atuin could not read before anything is changed, which would leave a key file
/// or a new account behind.
pub(super) fn check_key_form(key: &str) -> Result<()> {
    use base64::Engine;
    let readable = if is_base64_key(key) {
        // 32 bytes, raw or in the msgpack form `atuin key --base64` prints.
        base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .is_ok_and(|bytes| bytes.len() >= 32)
    } else {
        key.split_whitespace().count() == 24
    };
    anyhow::ensure!(
        readable,
        "the atuin key is neither base64 as `atuin key --base64` prints it nor the 24 words \
         `atuin key` prints"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms_are_told_apart() {
        assert!(is_base64_key("3AAgzPTM8H/M7W7M9MzI+zPs=\n"));
        assert!(!is_base64_key("visual loop win target"));
        let key = "3AAgzPTM8H/M7W7M9MzIzLXM5GvMpsy/zNbM1czJzL/MrczbSMzzzOEEzLRazMIFEsyVfEgZzPs=";
        assert!(check_key_form(key).is_ok());
        assert!(check_key_form(&["abandon"; 24].join(" ")).is_ok());
        assert!(check_key_form("not-a-key").is_err());
        assert!(check_key_form("only four words here").is_err());
    }
}
