//! Checks that bytes are one well-formed NAR as they are read, never holding more than one
//! token: the `nix-archive-1` magic, nodes of type regular (optionally executable), symlink
//! or directory, directory entries in strictly ascending byte order, and every entry name a
//! plain file name (not empty, not `.` or `..`, no `/`, no NUL, at most 255 bytes). File
//! contents are read through and dropped. Refusals name the entry, with its path inside the
//! NAR, so an upload can be refused before anything of it is kept.

use std::io::{self, Read};

/// Deeper nesting than this is refused (the walk is recursive).
const MAX_DEPTH: usize = 256;
/// The longest token other than file contents: a symlink target (Linux's PATH_MAX).
const MAX_TOKEN: u64 = 4096;
/// The longest entry name (Linux's NAME_MAX).
const MAX_NAME: usize = 255;

/// Why bytes are not a NAR.
#[derive(Debug)]
pub enum NarError {
    /// The reader failed (not a property of the NAR).
    Read(io::Error),
    /// Not a NAR, or a NAR with a bad entry: the message says which.
    Invalid(String),
}

impl std::fmt::Display for NarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NarError::Read(e) => write!(f, "{e}"),
            NarError::Invalid(message) => f.write_str(message),
        }
    }
}

impl From<io::Error> for NarError {
    fn from(e: io::Error) -> NarError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return NarError::Invalid("the NAR ends in the middle".into());
        }
        NarError::Read(e)
    }
}

fn invalid(message: impl Into<String>) -> NarError {
    NarError::Invalid(message.into())
}

/// Reads one whole NAR from `input` and then its end: anything after the NAR is refused.
pub fn check(input: &mut impl Read) -> Result<(), NarError> {
    let mut nar = Walker { input };
    if nar.string()? != b"nix-archive-1" {
        return Err(invalid("not a NAR (no nix-archive-1 magic)"));
    }
    nar.node("", 0)?;
    let mut rest = [0u8; 1];
    loop {
        match nar.input.read(&mut rest) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(invalid("bytes follow the end of the NAR")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether `name` may be a directory entry of a NAR.
pub fn is_valid_entry_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && name.len() <= MAX_NAME
        && !name.iter().any(|&b| b == b'/' || b == 0)
}

struct Walker<'a, R> {
    input: &'a mut R,
}

impl<R: Read> Walker<'_, R> {
    fn u64(&mut self) -> io::Result<u64> {
        let mut bytes = [0u8; 8];
        self.input.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn padding(&mut self, len: u64) -> Result<(), NarError> {
        let pad = ((8 - len % 8) % 8) as usize;
        let mut bytes = [0u8; 8];
        self.input.read_exact(&mut bytes[..pad])?;
        if bytes[..pad].iter().any(|&b| b != 0) {
            return Err(invalid("not a NAR (non-zero padding)"));
        }
        Ok(())
    }

    fn string(&mut self) -> Result<Vec<u8>, NarError> {
        let len = self.u64()?;
        if len > MAX_TOKEN {
            return Err(invalid(format!(
                "not a NAR (a {len}-byte token where at most {MAX_TOKEN} are expected)"
            )));
        }
        let mut bytes = vec![0u8; len as usize];
        self.input.read_exact(&mut bytes)?;
        self.padding(len)?;
        Ok(bytes)
    }

    fn expect(&mut self, token: &[u8], at: &str) -> Result<(), NarError> {
        let found = self.string()?;
        if found != token {
            return Err(invalid(format!(
                "not a NAR at {}: expected {:?}, found {:?}",
                shown(at),
                String::from_utf8_lossy(token),
                String::from_utf8_lossy(&found)
            )));
        }
        Ok(())
    }

    /// A node from its `(` to its `)`; `at` is its path inside the NAR.
    fn node(&mut self, at: &str, depth: usize) -> Result<(), NarError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "the NAR nests deeper than {MAX_DEPTH} directories at {}",
                shown(at)
            )));
        }
        self.expect(b"(", at)?;
        self.expect(b"type", at)?;
        match self.string()?.as_slice() {
            b"regular" => self.regular(at),
            b"symlink" => {
                self.expect(b"target", at)?;
                let target = self.string()?;
                if target.is_empty() || target.contains(&0) {
                    return Err(invalid(format!(
                        "the NAR's symlink {} has an empty target or one with a NUL byte",
                        shown(at)
                    )));
                }
                self.expect(b")", at)
            }
            b"directory" => self.directory(at, depth),
            other => Err(invalid(format!(
                "not a NAR at {}: unknown node type {:?}",
                shown(at),
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn regular(&mut self, at: &str) -> Result<(), NarError> {
        let mut tag = self.string()?;
        if tag == b"executable" {
            self.expect(b"", at)?;
            tag = self.string()?;
        }
        if tag != b"contents" {
            return Err(invalid(format!(
                "not a NAR at {}: expected \"contents\", found {:?}",
                shown(at),
                String::from_utf8_lossy(&tag)
            )));
        }
        let len = self.u64()?;
        let copied = io::copy(&mut (&mut *self.input).take(len), &mut io::sink())?;
        if copied != len {
            return Err(invalid("the NAR ends in the middle"));
        }
        self.padding(len)?;
        self.expect(b")", at)
    }

    fn directory(&mut self, at: &str, depth: usize) -> Result<(), NarError> {
        let mut previous: Option<Vec<u8>> = None;
        loop {
            match self.string()?.as_slice() {
                b")" => return Ok(()),
                b"entry" => {}
                other => {
                    return Err(invalid(format!(
                        "not a NAR in directory {}: expected \"entry\", found {:?}",
                        shown(at),
                        String::from_utf8_lossy(other)
                    )));
                }
            }
            self.expect(b"(", at)?;
            self.expect(b"name", at)?;
            let name = self.string()?;
            let path = format!("{at}/{}", String::from_utf8_lossy(&name).escape_debug());
            if !is_valid_entry_name(&name) {
                return Err(invalid(format!(
                    "the NAR has an entry named {:?} in {} (names must be plain file names: \
                     not empty, '.' or '..', without '/' or NUL)",
                    String::from_utf8_lossy(&name),
                    shown(at)
                )));
            }
            if previous.as_ref().is_some_and(|p| *p >= name) {
                return Err(invalid(format!(
                    "the NAR's entries are not sorted or not unique at {path}"
                )));
            }
            self.expect(b"node", &path)?;
            self.node(&path, depth + 1)?;
            self.expect(b")", &path)?;
            previous = Some(name);
        }
    }
}

/// The root shown as `/`.
fn shown(at: &str) -> &str {
    if at.is_empty() { "/" } else { at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
        out.extend(std::iter::repeat_n(0u8, (8 - bytes.len() % 8) % 8));
    }

    /// A NAR of a directory with these entries, each a small regular file.
    fn dir_nar(names: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for t in [&b"nix-archive-1"[..], b"(", b"type", b"directory"] {
            token(&mut out, t);
        }
        for name in names {
            for t in [&b"entry"[..], b"(", b"name", name, b"node", b"(", b"type"] {
                token(&mut out, t);
            }
            token(&mut out, b"regular");
            token(&mut out, b"contents");
            token(&mut out, b"hello");
            token(&mut out, b")");
            token(&mut out, b")");
        }
        token(&mut out, b")");
        out
    }

    #[test]
    fn takes_what_nix_writes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/file"), vec![1u8; 100_003]).unwrap();
        std::fs::write(root.join("a"), b"").unwrap();
        std::os::unix::fs::symlink("sub/file", root.join("link")).unwrap();
        let mut nar = Vec::new();
        crate::nar::dump_to_writer(&root, &mut nar).unwrap();
        check(&mut &nar[..]).unwrap();
        check(&mut &dir_nar(&[b"a", b"b"])[..]).unwrap();
    }

    #[test]
    fn refuses_bad_names_naming_them() {
        for (name, shown) in [
            (&b".."[..], "\"..\""),
            (b".", "\".\""),
            (b"a/b", "\"a/b\""),
            (b"/abs", "\"/abs\""),
            (b"", "\"\""),
            (b"nul\0", "\"nul\\0\""),
        ] {
            let nar = dir_nar(&[name]);
            match check(&mut &nar[..]) {
                Err(NarError::Invalid(message)) => {
                    assert!(message.contains(shown), "{shown}: {message}")
                }
                other => panic!("{shown}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_what_is_not_one_nar() {
        let good = dir_nar(&[b"a"]);
        for bad in [
            b"not a nar at all".to_vec(),
            good[..good.len() - 8].to_vec(),
            [good.clone(), vec![0u8; 8]].concat(),
            dir_nar(&[b"b", b"a"]),
            dir_nar(&[b"a", b"a"]),
            good.iter()
                .map(|&b| if b == b'y' { b'x' } else { b })
                .collect(),
        ] {
            assert!(
                matches!(check(&mut &bad[..]), Err(NarError::Invalid(_))),
                "{:?}",
                String::from_utf8_lossy(&bad)
            );
        }
    }
}

/// Property tests: a NAR upload is a stranger's bytes. Any bytes, and any valid NAR cut, grown
/// or with a byte changed, are taken or refused as `Invalid` without a panic, in time bounded
/// by the input (a length field claiming exabytes reads only what is there); every NAR made
/// from a generated tree is taken.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_support::nar_trees::{mutate, mutation, nar, token, tree};

    fn taken_or_invalid(bytes: &[u8]) -> Result<(), TestCaseError> {
        match check(&mut &bytes[..]) {
            Ok(()) | Err(NarError::Invalid(_)) => Ok(()),
            Err(NarError::Read(e)) => Err(TestCaseError::fail(format!(
                "bytes in memory gave a read error: {e}"
            ))),
        }
    }

    proptest! {
        #![proptest_config(crate::fuzz_support::config(1))]

        #[test]
        fn any_bytes_are_taken_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            taken_or_invalid(&bytes)?;
        }

        #[test]
        fn a_magic_then_any_bytes_are_taken_or_refused(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            let mut input = Vec::new();
            token(&mut input, b"nix-archive-1");
            input.extend(bytes);
            taken_or_invalid(&input)?;
        }

        #[test]
        fn every_valid_nar_is_taken(root in tree()) {
            let bytes = nar(&root);
            if let Err(e) = check(&mut &bytes[..]) {
                return Err(TestCaseError::fail(format!("{e}")));
            }
        }

        #[test]
        fn a_mutated_nar_is_taken_or_refused(
            root in tree(),
            mutations in proptest::collection::vec(mutation(), 1..4),
        ) {
            let mut bytes = nar(&root);
            for m in &mutations {
                mutate(&mut bytes, m);
            }
            taken_or_invalid(&bytes)?;
        }
    }
}
