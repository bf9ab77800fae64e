//! Everything that knows how Nix works: store paths, hashes, NAR serialisation, narinfo text,
//! signing keys, and reading the store's metadata. Knows nothing of HTTP.

pub mod base32;
pub mod build_logs;
pub mod nar;
pub mod nar_check;
pub mod nar_stream;
pub mod narinfo;
pub mod narinfo_parse;
pub mod path_info;
pub mod signing;
pub mod store;
pub mod store_path;

/// The Nix system of this machine, e.g. `x86_64-linux`.
pub fn current_system() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}
