//! Reads a `.narinfo` that a client sent (`nix copy --to` uploads one per path) into checked
//! facts: the store path and its references well-formed and inside this store, the hashes and
//! sizes in a form Nix writes. Says what is wrong in words a client can act on. Pure: knows
//! nothing of files or HTTP.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::path_info::parse_sha256;
use super::store_path::{StoreDir, is_valid_basename};

/// What an uploaded narinfo says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedNarinfo {
    /// The full store path.
    pub path: String,
    /// The NAR's location relative to the cache root (`nar/….nar.xz`).
    pub url: String,
    /// `none`, `xz`, `zstd`, `bzip2` or `br`.
    pub compression: String,
    /// SHA-256 of the file as stored (`FileHash:`), when given.
    pub file_hash: Option<[u8; 32]>,
    /// Size in bytes of the file as stored (`FileSize:`), when given.
    pub file_size: Option<u64>,
    /// SHA-256 of the NAR serialisation (`NarHash:`).
    pub nar_hash: [u8; 32],
    /// Size in bytes of the NAR serialisation (`NarSize:`).
    pub nar_size: u64,
    /// Full store paths, sorted.
    pub references: Vec<String>,
    /// The full store path of the derivation, when given.
    pub deriver: Option<String>,
    /// The content address (`CA:`, e.g. `fixed:r:sha256:…`) of a content-addressed path.
    pub content_address: Option<String>,
}

/// The compressions an upload may use (the `?compression=` values of Nix's store URLs).
pub const COMPRESSIONS: [&str; 5] = ["none", "xz", "zstd", "bzip2", "br"];

/// Parses and checks `text` against the store `store`.
pub fn parse(text: &str, store: &StoreDir) -> Result<UploadedNarinfo> {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("malformed narinfo line {line:?} (expected `Key: value`)"))?;
        fields.push((key.trim(), value.trim()));
    }
    let one = |name: &str| -> Result<Option<&str>> {
        let mut found = fields.iter().filter(|(k, _)| *k == name).map(|(_, v)| *v);
        let first = found.next();
        if found.next().is_some() {
            bail!("the narinfo has more than one {name} line");
        }
        Ok(first)
    };
    let required = |name: &str| one(name)?.ok_or_else(|| anyhow!("the narinfo has no {name} line"));

    let path = required("StorePath")?.to_string();
    check_store_path(&path, store).context("bad StorePath")?;
    let url = required("URL")?.to_string();
    if url.contains("..") || url.starts_with('/') || url.contains("://") {
        bail!("bad URL {url:?}: it must name a NAR uploaded to this cache (nar/…)");
    }
    let compression = one("Compression")?.unwrap_or("bzip2").to_string();
    if !COMPRESSIONS.contains(&compression.as_str()) {
        bail!(
            "unsupported Compression {compression:?} (use one of {})",
            COMPRESSIONS.join(", ")
        );
    }
    let nar_hash = parse_hash(required("NarHash")?).context("bad NarHash")?;
    let nar_size = parse_size(required("NarSize")?).context("bad NarSize")?;
    if nar_size == 0 {
        bail!("bad NarSize: 0");
    }
    let file_hash = one("FileHash")?
        .map(parse_hash)
        .transpose()
        .context("bad FileHash")?;
    let file_size = one("FileSize")?
        .map(parse_size)
        .transpose()
        .context("bad FileSize")?;
    let mut references = Vec::new();
    for reference in one("References")?.unwrap_or("").split_whitespace() {
        if !is_valid_basename(reference) {
            bail!("bad reference {reference:?}: not a store path name");
        }
        references.push(store.path_of(reference));
    }
    references.sort();
    references.dedup();
    let deriver = match one("Deriver")? {
        None | Some("") | Some("unknown-deriver") => None,
        Some(name) if is_valid_basename(name) && name.ends_with(".drv") => {
            Some(store.path_of(name))
        }
        Some(name) => bail!("bad Deriver {name:?}: not a derivation's store path name"),
    };
    let content_address = match one("CA")? {
        None | Some("") => None,
        Some(ca) if ca.bytes().all(|b| b.is_ascii_graphic()) => Some(ca.to_string()),
        Some(ca) => bail!("bad CA {ca:?}"),
    };
    Ok(UploadedNarinfo {
        path,
        url,
        compression,
        file_hash,
        file_size,
        nar_hash,
        nar_size,
        references,
        deriver,
        content_address,
    })
}

/// A path directly in `store`, with a well-formed hash part and name, and no `..` anywhere.
pub fn check_store_path(path: &str, store: &StoreDir) -> Result<()> {
    if path.contains("..") {
        bail!("{path:?} contains \"..\"");
    }
    if store.basename_of(path).is_none() {
        bail!(
            "{path:?} is not a store path in {} (a 32-character Nix base-32 hash, '-', and a \
             name of letters, digits and +-._?=)",
            store.as_str()
        );
    }
    Ok(())
}

/// A SHA-256 as Nix writes it: `sha256:<base-32>`, `sha256:<hex>` or `sha256-<base64>`.
pub fn parse_hash(text: &str) -> Result<[u8; 32]> {
    if let Some(encoded) = text.strip_prefix("sha256-") {
        let bytes = BASE64
            .decode(encoded)
            .ok()
            .filter(|b| b.len() == 32)
            .with_context(|| format!("malformed hash {text:?}"))?;
        return Ok(bytes.try_into().expect("32 bytes"));
    }
    if !text.starts_with("sha256:") {
        bail!("{text:?} is not a sha256 hash (sha256:…)");
    }
    parse_sha256(text)
}

fn parse_size(text: &str) -> Result<u64> {
    text.parse::<u64>()
        .with_context(|| format!("{text:?} is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
    const P: &str = "nqlm07bgzi39r04yqlan58b7csfb2ywj";

    fn store() -> StoreDir {
        StoreDir::new("/nix/store")
    }

    fn narinfo(path: &str, references: &str) -> String {
        format!(
            "StorePath: {path}\nURL: nar/abc.nar.xz\nCompression: xz\nFileHash: {HASH}\n\
             FileSize: 100\nNarHash: {HASH}\nNarSize: 120\nReferences: {references}\n\
             Deriver: {P}-x.drv\nSig: someone:abc\n"
        )
    }

    #[test]
    fn parses_what_nix_writes() {
        let text = narinfo(
            &format!("/nix/store/{P}-hello"),
            &format!("{P}-hello {P}-lib"),
        );
        let parsed = parse(&text, &store()).unwrap();
        assert_eq!(parsed.path, format!("/nix/store/{P}-hello"));
        assert_eq!(parsed.compression, "xz");
        assert_eq!(parsed.nar_size, 120);
        assert_eq!(parsed.file_size, Some(100));
        assert_eq!(
            parsed.references,
            [
                format!("/nix/store/{P}-hello"),
                format!("/nix/store/{P}-lib")
            ]
        );
        assert_eq!(parsed.deriver, Some(format!("/nix/store/{P}-x.drv")));
        assert_eq!(parsed.nar_hash, parse_sha256(HASH).unwrap());
    }

    #[test]
    fn refuses_bad_paths_and_references() {
        for (path, references, said) in [
            (format!("/nix/store/{P}-a..b"), String::new(), ".."),
            (
                "/nix/store/../../etc/passwd".to_string(),
                String::new(),
                "..",
            ),
            (
                format!("/elsewhere/{P}-x"),
                String::new(),
                "not a store path",
            ),
            (
                "/nix/store/short-x".to_string(),
                String::new(),
                "not a store path",
            ),
            (
                format!("/nix/store/{P}-x"),
                "../etc".to_string(),
                "bad reference",
            ),
            (
                format!("/nix/store/{P}-x"),
                "nothash-y".to_string(),
                "bad reference",
            ),
        ] {
            let error = format!(
                "{:#}",
                parse(&narinfo(&path, &references), &store()).unwrap_err()
            );
            assert!(error.contains(said), "{path} {references}: {error}");
        }
    }

    #[test]
    fn refuses_malformed_fields() {
        let good = narinfo(&format!("/nix/store/{P}-x"), "");
        for (from, to, said) in [
            ("NarHash: sha256:0mdq", "NarHash: md5:0mdq", "NarHash"),
            ("NarSize: 120", "NarSize: many", "NarSize"),
            ("Compression: xz", "Compression: lz4", "Compression"),
            ("URL: nar/abc.nar.xz", "URL: ../secret", "URL"),
            ("StorePath", "Path", "StorePath"),
        ] {
            let text = good.replacen(from, to, 1);
            assert_ne!(text, good);
            let error = format!("{:#}", parse(&text, &store()).unwrap_err());
            assert!(error.contains(said), "{to}: {error}");
        }
        assert!(parse("just words", &store()).is_err());
    }

    #[test]
    fn hash_forms() {
        let nix32 = parse_hash(HASH).unwrap();
        let hex = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse_hash(hex).unwrap(), nix32);
        let sri = format!("sha256-{}", BASE64.encode(nix32));
        assert_eq!(parse_hash(&sri).unwrap(), nix32);
        assert!(parse_hash("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").is_err());
    }
}

/// Property tests: a narinfo is what a stranger uploads (`nix copy --to`). Any text is refused
/// or taken without a panic, and what `narinfo::render_file` writes reads back as it was.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::base32;
    use crate::narinfo::render_file;
    use crate::path_info::PathInfo;

    const KEYS: [&str; 11] = [
        "StorePath",
        "URL",
        "Compression",
        "FileHash",
        "FileSize",
        "NarHash",
        "NarSize",
        "References",
        "Deriver",
        "CA",
        "Sig",
    ];

    fn store() -> StoreDir {
        StoreDir::new("/nix/store")
    }

    /// A store path base name; without `..`, which the upload refuses on purpose (Nix allows it
    /// inside a name, but no path this cache serves needs it).
    fn basename() -> impl Strategy<Value = String> {
        (
            "[0-9a-dfgi-np-sv-z]{32}",
            "[a-zA-Z0-9+_?=][a-zA-Z0-9+._?=-]{0,20}",
        )
            .prop_filter("no ..", |(_, name)| !name.contains(".."))
            .prop_map(|(hash, name)| format!("{hash}-{name}"))
    }

    /// One line: a known key (or some other word) and a value that is either well-formed or
    /// anything, so the parser's checks past the first line are reached too.
    fn line() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            4 => proptest::sample::select(KEYS.to_vec()).prop_map(str::to_string),
            1 => "\\PC{0,12}",
        ];
        let value = prop_oneof![
            basename().prop_map(|b| format!("/nix/store/{b}")),
            basename(),
            "sha256:[0-9a-z]{52}",
            "sha256:[0-9a-f]{64}",
            "sha256:\\PC{60,66}",
            "sha256:[0-9a-f]{61}é[0-9a-f]",
            "sha256:[0-9a-f]{51}é",
            "sha256-[A-Za-z0-9+/=]{40,48}",
            "[0-9]{1,25}",
            "\\PC{0,40}",
        ];
        (key, value).prop_map(|(k, v)| format!("{k}: {v}"))
    }

    fn facts() -> impl Strategy<Value = (PathInfo, String, String, Option<(String, u64)>)> {
        (
            basename(),
            proptest::option::of(basename().prop_map(|b| format!("{b}.drv"))),
            any::<[u8; 32]>(),
            1..u64::MAX,
            proptest::collection::btree_set(basename(), 0..6),
            proptest::option::of("[!-~]{1,60}"),
            "nar/[a-z0-9]{1,52}\\.nar(\\.xz|\\.zst)?",
            proptest::sample::select(COMPRESSIONS.to_vec()),
            proptest::option::of((any::<[u8; 32]>(), any::<u64>())),
        )
            .prop_map(
                |(base, deriver, nar_hash, nar_size, refs, ca, url, compression, file)| {
                    let store = store();
                    let info = PathInfo {
                        path: store.path_of(&base),
                        deriver: deriver.map(|d| store.path_of(&d)),
                        nar_hash,
                        nar_size,
                        references: refs.iter().map(|r| store.path_of(r)).collect(),
                        signatures: Vec::new(),
                        content_address: ca,
                        ultimate: false,
                    };
                    let file =
                        file.map(|(h, size)| (format!("sha256:{}", base32::encode(&h)), size));
                    (info, url, compression.to_string(), file)
                },
            )
    }

    proptest! {
        #![proptest_config(crate::fuzz_support::config(1))]

        #[test]
        fn any_text_is_refused_or_taken(text in "\\PC{0,300}") {
            let _ = parse(&text, &store());
        }

        #[test]
        fn any_lines_are_refused_or_taken(lines in proptest::collection::vec(line(), 0..14)) {
            let _ = parse(&lines.join("\n"), &store());
        }

        #[test]
        fn what_is_rendered_reads_back((info, url, compression, file) in facts()) {
            let file_ref = file.as_ref().map(|(h, s)| (h.as_str(), *s));
            let text = render_file(&store(), &info, &url, &compression, file_ref, &[]);
            let parsed = parse(&text, &store()).map_err(|e| TestCaseError::fail(format!("{e:#}\n{text}")))?;
            prop_assert_eq!(parsed, UploadedNarinfo {
                path: info.path.clone(),
                url,
                compression,
                file_hash: file.as_ref().map(|(h, _)| parse_hash(h).unwrap()),
                file_size: file.map(|(_, s)| s),
                nar_hash: info.nar_hash,
                nar_size: info.nar_size,
                references: info.references.clone(),
                deriver: info.deriver.clone(),
                content_address: info.content_address.clone(),
            });
        }
    }
}
