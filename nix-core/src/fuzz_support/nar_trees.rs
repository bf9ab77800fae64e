//! Generated NARs for property tests: file trees written the way Nix writes them (an oracle
//! kept apart from the product's writer on purpose), and the mutations that break them.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::nar_check::is_valid_entry_name;

/// A file tree as a NAR holds it.
#[derive(Debug, Clone)]
pub enum Node {
    /// A regular file.
    File {
        /// Whether the NAR marks it executable.
        executable: bool,
        /// Its bytes.
        contents: Vec<u8>,
    },
    /// A symlink to this target.
    Symlink(Vec<u8>),
    /// A directory: entry names (sorted, as Nix writes them) and what each is.
    Directory(BTreeMap<Vec<u8>, Node>),
}

/// One NAR token: its length, its bytes, zero padding to 8 bytes.
pub fn token(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend(std::iter::repeat_n(0u8, (8 - bytes.len() % 8) % 8));
}

/// The NAR of `root`, written the way Nix writes it.
pub fn nar(root: &Node) -> Vec<u8> {
    let mut out = Vec::new();
    token(&mut out, b"nix-archive-1");
    write(root, &mut out);
    out
}

fn write(node: &Node, out: &mut Vec<u8>) {
    token(out, b"(");
    token(out, b"type");
    match node {
        Node::File {
            executable,
            contents,
        } => {
            token(out, b"regular");
            if *executable {
                token(out, b"executable");
                token(out, b"");
            }
            token(out, b"contents");
            token(out, contents);
        }
        Node::Symlink(target) => {
            token(out, b"symlink");
            token(out, b"target");
            token(out, target);
        }
        Node::Directory(entries) => {
            token(out, b"directory");
            for (name, child) in entries {
                token(out, b"entry");
                token(out, b"(");
                token(out, b"name");
                token(out, name);
                token(out, b"node");
                write(child, out);
                token(out, b")");
            }
        }
    }
    token(out, b")");
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 1..12)
        .prop_filter("a plain name", |n| is_valid_entry_name(n))
}

/// Trees a few levels deep with small files.
pub fn tree() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(executable, contents)| Node::File {
                executable,
                contents
            }),
        proptest::collection::vec(1u8..=255, 1..60).prop_map(Node::Symlink),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        proptest::collection::btree_map(name(), inner, 0..6).prop_map(Node::Directory)
    })
}

/// One way to break a NAR (positions are taken modulo the NAR's length).
#[derive(Debug, Clone)]
pub enum Mutation {
    /// One byte changed.
    Flip {
        /// Where.
        at: usize,
        /// The new byte.
        to: u8,
    },
    /// The NAR cut short.
    Cut {
        /// Where it ends.
        at: usize,
    },
    /// Bytes put in.
    Insert {
        /// Where.
        at: usize,
        /// What.
        bytes: Vec<u8>,
    },
    /// A length field set to a huge value: the input claims far more than it has.
    Claim {
        /// Which 8-byte word.
        word: usize,
        /// The length it claims.
        len: u64,
    },
}

/// Any of the mutations.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Mutation::Flip { at, to }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..24)
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (
            any::<usize>(),
            prop_oneof![Just(u64::MAX), any::<u64>(), 0..5000u64]
        )
            .prop_map(|(word, len)| Mutation::Claim { word, len }),
    ]
}

/// Applies `mutation` to `bytes` (nothing to an empty input).
pub fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip { at, to } => {
            let at = at % bytes.len();
            bytes[at] = *to;
        }
        Mutation::Cut { at } => bytes.truncate(at % bytes.len()),
        Mutation::Insert { at, bytes: more } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, more.iter().copied());
        }
        Mutation::Claim { word, len } => {
            let at = (word % bytes.len().div_ceil(8)) * 8;
            let end = (at + 8).min(bytes.len());
            bytes[at..end].copy_from_slice(&len.to_le_bytes()[..end - at]);
        }
    }
}
