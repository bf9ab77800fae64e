//! The `[publish]` keys as the server uses them: which S3-compatible bucket the cache is
//! published to, with which credentials (read from files, never from the TOML), how NARs are
//! compressed, and the URL hosts read the bucket at. Only the settings; publishing is the
//! `publish` part's.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::found::{Found, Sourced, at_least_one, duration, positive_duration, text, text_path};
use super::schema;

/// Publishing, when `publish.bucket` is set.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    /// The S3 API's URL (`https://s3.example.com`, `http://127.0.0.1:3900`).
    pub endpoint: Sourced<String>,
    /// `publish.region`: the S3 region (`us-east-1` by default).
    pub region: Sourced<String>,
    /// `publish.bucket`: the S3 bucket the cache is published to.
    pub bucket: Sourced<String>,
    /// Put before every object key, without leading or trailing `/` (empty: none).
    pub prefix: Sourced<String>,
    /// `publish.access_key_file`: the file holding the access key id.
    pub access_key_file: Sourced<PathBuf>,
    /// `publish.secret_key_file`: the file holding the secret key.
    pub secret_key_file: Sourced<PathBuf>,
    /// `publish.compression`: how the published NARs are compressed.
    pub compression: Sourced<PublishCompression>,
    /// The HTTP URL hosts read the bucket (and prefix) at; announced in the status JSON.
    pub read_url: Option<Sourced<String>>,
    /// `publish.max_concurrent`: uploads at once (at least 1).
    pub max_concurrent: Sourced<u32>,
    /// `publish.alert_after`: failing this long sends `publish_failing`.
    pub alert_after: Sourced<Duration>,
    /// `publish.nar_grace`: how long a NAR stays in the bucket after its narinfo left it.
    pub nar_grace: Sourced<Duration>,
}

/// How published NARs are compressed (Nix reads all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishCompression {
    /// `zstd`: `.nar.zst`.
    Zstd,
    /// `xz`: `.nar.xz`.
    Xz,
    /// `none`: a plain `.nar`.
    None,
}

impl PublishCompression {
    /// The key's text (`zstd`, `xz`, `none`); `None` for anything else.
    pub fn parse(text: &str) -> Option<PublishCompression> {
        match text {
            "zstd" => Some(PublishCompression::Zstd),
            "xz" => Some(PublishCompression::Xz),
            "none" => Some(PublishCompression::None),
            _ => None,
        }
    }

    /// The narinfo's `Compression:` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishCompression::Zstd => "zstd",
            PublishCompression::Xz => "xz",
            PublishCompression::None => "none",
        }
    }

    /// The NAR file's extension, as Nix names them.
    pub fn extension(self) -> &'static str {
        match self {
            PublishCompression::Zstd => ".nar.zst",
            PublishCompression::Xz => ".nar.xz",
            PublishCompression::None => ".nar",
        }
    }
}

/// `None` when `publish.bucket` is unset; an error when it is set without what it needs.
pub(super) fn resolve(found: &Found<'_>) -> Result<Option<PublishSettings>> {
    let Some(bucket) = found.optional(&schema::PUBLISH_BUCKET, |v| Ok(text(v)))? else {
        return Ok(None);
    };
    if bucket.value.is_empty() {
        return Ok(None);
    }
    let needed =
        |key: &schema::KeyDef| format!("{} is needed when publish.bucket is set", key.dotted());
    let endpoint = found
        .optional(&schema::PUBLISH_ENDPOINT, |v| parse_http_url(text(v)))?
        .with_context(|| needed(&schema::PUBLISH_ENDPOINT))?;
    let access_key_file = found
        .optional(&schema::PUBLISH_ACCESS_KEY_FILE, text_path)?
        .with_context(|| needed(&schema::PUBLISH_ACCESS_KEY_FILE))?;
    let secret_key_file = found
        .optional(&schema::PUBLISH_SECRET_KEY_FILE, text_path)?
        .with_context(|| needed(&schema::PUBLISH_SECRET_KEY_FILE))?;
    Ok(Some(PublishSettings {
        endpoint,
        region: found.required(&schema::PUBLISH_REGION, |v| Ok(text(v)))?,
        bucket,
        prefix: found.required(&schema::PUBLISH_PREFIX, |v| {
            Ok(text(v).trim_matches('/').to_string())
        })?,
        access_key_file,
        secret_key_file,
        compression: found.required(&schema::PUBLISH_COMPRESSION, |v| {
            let text = text(v);
            PublishCompression::parse(&text)
                .with_context(|| format!("expected \"zstd\", \"xz\" or \"none\", got {text:?}"))
        })?,
        read_url: found.optional(&schema::PUBLISH_READ_URL, |v| parse_http_url(text(v)))?,
        max_concurrent: found.required(&schema::PUBLISH_MAX_CONCURRENT, at_least_one)?,
        alert_after: found.required(&schema::PUBLISH_ALERT_AFTER, positive_duration)?,
        nar_grace: found.required(&schema::PUBLISH_NAR_GRACE, duration)?,
    }))
}

/// An http(s) URL without a trailing `/`.
fn parse_http_url(text: String) -> Result<String> {
    let text = text.trim().trim_end_matches('/').to_string();
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        bail!("expected an http:// or https:// URL, got {text:?}");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_parse_with_nix_names() {
        for (text, ext) in [("zstd", ".nar.zst"), ("xz", ".nar.xz"), ("none", ".nar")] {
            let parsed = PublishCompression::parse(text).unwrap();
            assert_eq!(parsed.as_str(), text);
            assert_eq!(parsed.extension(), ext);
        }
        assert!(PublishCompression::parse("gzip").is_none());
        assert!(parse_http_url("s3://bucket".into()).is_err());
        assert_eq!(
            parse_http_url("http://127.0.0.1:3900/".into()).unwrap(),
            "http://127.0.0.1:3900"
        );
    }
}
