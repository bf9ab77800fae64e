//! Renders the `.narinfo` text of a path: what a binary-cache client reads before it fetches
//! a NAR. Pure: the caller supplies the path facts, the NAR URL and the signatures.

use std::fmt::Write as _;

use super::path_info::PathInfo;
use super::store_path::StoreDir;

/// How NARs are sent: `Compression:` in the narinfo and the encoding of `/nar/…` bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is (`Compression: none`).
    None,
    /// Compressed with zstd (`Compression: zstd`).
    Zstd,
}

impl Compression {
    /// The compression a `cache.compression` value names; `None` for any other word.
    pub fn parse(text: &str) -> Option<Compression> {
        match text {
            "none" => Some(Compression::None),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The word Nix writes in a narinfo's `Compression:` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }
}

/// The narinfo of `info`. Uncompressed NARs carry `FileHash`/`FileSize` (equal to the NAR's);
/// compressed ones leave them out, since they are made on the fly (Nix accepts that).
pub fn render(
    store: &StoreDir,
    info: &PathInfo,
    nar_url: &str,
    compression: Compression,
    signatures: &[String],
) -> String {
    let nar_hash = info.nar_hash_nix32();
    let file = (compression == Compression::None).then_some((nar_hash.as_str(), info.nar_size));
    render_file(store, info, nar_url, compression.as_str(), file, signatures)
}

/// The narinfo of `info` whose NAR is a file kept as it is: its compression (any of Nix's
/// names) and, when known, its `FileHash` (`sha256:…`) and `FileSize`.
pub fn render_file(
    store: &StoreDir,
    info: &PathInfo,
    nar_url: &str,
    compression: &str,
    file: Option<(&str, u64)>,
    signatures: &[String],
) -> String {
    let nar_hash = info.nar_hash_nix32();
    let mut text = String::with_capacity(512 + 64 * info.references.len());
    let _ = writeln!(text, "StorePath: {}", info.path);
    let _ = writeln!(text, "URL: {nar_url}");
    let _ = writeln!(text, "Compression: {compression}");
    if let Some((file_hash, file_size)) = file {
        let _ = writeln!(text, "FileHash: {file_hash}");
        let _ = writeln!(text, "FileSize: {file_size}");
    }
    let _ = writeln!(text, "NarHash: {nar_hash}");
    let _ = writeln!(text, "NarSize: {}", info.nar_size);
    // Written as Nix writes it: "References: " even when empty, since Nix's parser takes the
    // value from two characters past the colon.
    text.push_str("References: ");
    for (i, reference) in info.references.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(store.basename_of(reference).unwrap_or(reference));
    }
    text.push('\n');
    if let Some(deriver) = &info.deriver {
        let _ = writeln!(
            text,
            "Deriver: {}",
            store.basename_of(deriver).unwrap_or(deriver)
        );
    }
    for signature in signatures {
        let _ = writeln!(text, "Sig: {signature}");
    }
    if let Some(ca) = &info.content_address {
        let _ = writeln!(text, "CA: {ca}");
    }
    text
}
