//! Nix's formats and command line, with no Nix installed and no I/O of the server's: store
//! paths and their hashes, NAR serialisation and checking, narinfo text, signing keys, where
//! the local store lives, the command lines of Nix's programs. The leaf every other wing
//! builds on; its tests need no Nix.

pub mod base32;
pub mod build_logs;
pub mod command;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz_support;
pub mod nar;
pub mod nar_check;
pub mod nar_stream;
pub mod narinfo;
pub mod narinfo_parse;
pub mod path_info;
pub mod signing;
pub mod store_location;
pub mod store_path;

/// The Nix system of this machine, e.g. `x86_64-linux`.
pub fn current_system() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}
