//! Nix's own base-32 encoding (the alphabet without `e o u t`, least significant bits first),
//! used for store path hashes and for `sha256:` hashes in narinfo files and signed fingerprints.
//! Not a general base-32: Nix's variant is incompatible with RFC 4648.

const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Length of the base-32 form of `byte_len` bytes.
pub fn encoded_len(byte_len: usize) -> usize {
    if byte_len == 0 {
        0
    } else {
        (byte_len * 8 - 1) / 5 + 1
    }
}

/// Encodes bytes the way `nix-hash --to-base32` does.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let bit = n * 5;
        let i = bit / 8;
        let j = bit % 8;
        let low = u16::from(bytes[i]) >> j;
        let high = if i + 1 < bytes.len() {
            u16::from(bytes[i + 1]) << (8 - j)
        } else {
            0
        };
        out.push(ALPHABET[usize::from((low | high) & 0x1f)] as char);
    }
    out
}

/// Decodes Nix base-32 into `byte_len` bytes; `None` for a wrong length, a character outside
/// the alphabet or bits set beyond the last byte.
pub fn decode(text: &str, byte_len: usize) -> Option<Vec<u8>> {
    if text.len() != encoded_len(byte_len) {
        return None;
    }
    let mut out = vec![0u8; byte_len];
    for (n, c) in text.bytes().rev().enumerate() {
        let digit = ALPHABET.iter().position(|&a| a == c)? as u16;
        let bit = n * 5;
        let i = bit / 8;
        let j = bit % 8;
        out[i] |= (digit << j) as u8;
        let carry = (digit << j) >> 8;
        if i + 1 < byte_len {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

/// True when `c` may appear in a base-32 string.
pub fn is_digit(c: u8) -> bool {
    ALPHABET.contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256_of_empty_input() {
        // `nix-hash --type sha256 --to-base32 e3b0c4…b855`
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let text = encode(&bytes);
        assert_eq!(text, "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
        assert_eq!(decode(&text, 32).unwrap(), bytes);
    }

    #[test]
    fn rejects_foreign_characters_and_lengths() {
        assert!(decode("e", 1).is_none());
        assert!(decode("00", 2).is_none());
        assert_eq!(encoded_len(20), 32);
    }
}
