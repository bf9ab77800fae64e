//! `GET|HEAD /nar/<hash part>-<NAR hash>.nar[.zst]`: serialises the path from the filesystem
//! as it streams, plain with its exact Content-Length, or zstd-compressed on the fly (when the
//! URL asks for `.zst`, or the client accepts `Content-Encoding: zstd`) — the first time; the
//! NAR is kept as it streams (`nar_files`) and later requests, `Range` included, are sent from
//! that file.

use std::io::Write;

use hyper::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    HeaderMap, HeaderValue,
};
use hyper::{Response, StatusCode};

use super::Cache;
use super::lookup::lookup;
use super::nar_files::{self, Cached, MappedChunks, Tee};
use crate::http::body;
use crate::http::range::{self, Ranged};
use crate::http::response::{HttpError, HttpResult};
use nix_core::base32;
use nix_core::nar;
use nix_core::nar_stream::{NarReader, NarStream};
use nix_core::store_path::{HASH_PART_LEN, is_valid_hash_part};

/// zstd level for on-the-fly compression: fast enough to keep up with a LAN.
const ZSTD_LEVEL: i32 = 3;
/// NARs up to this size are made in one piece instead of pulled: so small that they hold at
/// most a few files, so making them never keeps a worker thread long.
const SMALL_NAR: u64 = 16 * 1024;

pub(crate) async fn respond(
    cache: &Cache,
    name: &str,
    headers: &HeaderMap,
    head: bool,
) -> HttpResult {
    let (hash_part, nar_hash, url_zstd) =
        parse_name(name).ok_or_else(|| HttpError::BadRequest("malformed NAR URL".into()))?;
    // The store is asked first, always: a path deleted from it is not served from a file.
    let Some(found) = lookup(cache, hash_part).await? else {
        cache.nar_files.forget_path(hash_part, None);
        return Err(HttpError::NotFound("no such path in this cache".into()));
    };
    let current_hash = base32::encode(&found.info.nar_hash);
    if current_hash != nar_hash {
        cache.nar_files.forget_path(hash_part, Some(&current_hash));
        return Err(HttpError::NotFound(
            "this NAR is no longer in the cache (the path changed)".into(),
        ));
    }
    let transfer_zstd = !url_zstd && accepts_zstd(headers);
    let zstd = url_zstd || transfer_zstd;
    let key = nar_files::key(hash_part, nar_hash, zstd);
    if let Some(cached) = cache.nar_files.get(&key) {
        return Ok(send_cached(cached, headers, head, transfer_zstd));
    }
    let basename = cache
        .location
        .store_dir
        .basename_of(&found.info.path)
        .ok_or_else(|| anyhow::anyhow!("store returned a foreign path {}", found.info.path))?;
    let path = cache.location.store_dir.join(basename);
    let nar_size = found.info.nar_size;

    let mut response = nar_response(transfer_zstd);
    if !zstd {
        let out = response.headers_mut();
        out.insert(CONTENT_LENGTH, HeaderValue::from(nar_size));
    }
    if head {
        return Ok(response);
    }
    cache.nar_files.record_miss();
    *response.body_mut() = if zstd {
        let nar = NarReader::new(&path, nar_size);
        let compressed = zstd::stream::read::Encoder::new(nar, ZSTD_LEVEL)
            .map_err(|e| anyhow::anyhow!("failed to start zstd: {e}"))?;
        let writer = cache.nar_files.begin(&key, nar_size, None);
        body::pulled(
            Tee {
                source: body::ReadSource(compressed),
                writer,
            },
            None,
            Some(cache.nar_work.clone()),
        )
    } else if nar_size <= SMALL_NAR {
        // A handful of files at most: made here in one piece, sparing the thread hop that
        // dominates small requests (a closure is mostly small paths). Not kept on disk:
        // making it costs about what reading a file would.
        let mut buffer = BoundedBuffer {
            bytes: Vec::with_capacity(nar_size as usize),
            limit: nar_size,
        };
        match nar::dump_to_writer(&path, &mut buffer).and_then(|n| check_size(n, nar_size)) {
            Ok(()) => body::full(buffer.bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HttpError::NotFound("no such path in this cache".into()));
            }
            Err(e) => {
                return Err(anyhow::anyhow!("failed to serialise {}: {e}", found.info.path).into());
            }
        }
    } else {
        let writer = cache.nar_files.begin(&key, nar_size, Some(nar_size));
        body::pulled(
            Tee {
                source: NarStream::new(&path),
                writer,
            },
            Some(nar_size),
            Some(cache.nar_work.clone()),
        )
    };
    Ok(response)
}

/// 200 with the NAR's type (and its content coding), no body yet.
fn nar_response(transfer_zstd: bool) -> Response<body::Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::OK;
    let out = response.headers_mut();
    out.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-nix-nar"),
    );
    if transfer_zstd {
        out.insert(CONTENT_ENCODING, HeaderValue::from_static("zstd"));
    }
    response
}

/// A kept NAR, whole or the range asked for. No permit: sending a file is not making a NAR.
pub(super) fn send_cached(
    cached: Cached,
    headers: &HeaderMap,
    head: bool,
    transfer_zstd: bool,
) -> Response<body::Body> {
    let len = cached.len();
    let mut response = nar_response(transfer_zstd);
    let (start, end) = match range::requested(headers, len) {
        Ranged::Whole => (0, len),
        Ranged::Part { start, end } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let value = format!("bytes {start}-{end}/{len}");
            response.headers_mut().insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("a valid header"),
            );
            (start, end + 1)
        }
        Ranged::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let value = format!("bytes */{len}");
            let out = response.headers_mut();
            out.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("a valid header"),
            );
            out.insert(CONTENT_LENGTH, HeaderValue::from(0));
            return response;
        }
    };
    let out = response.headers_mut();
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    if head {
        return response;
    }
    *response.body_mut() = match cached {
        Cached::Memory(bytes) => body::full(bytes.slice(start as usize..end as usize)),
        Cached::Mapped(map) => body::pulled(
            MappedChunks {
                map,
                start: start as usize,
                end: end as usize,
            },
            Some(end - start),
            None,
        ),
    };
    response
}

/// `<hash part>-<52-char NAR hash>.nar` or `….nar.zst` → its parts and whether zstd was asked.
fn parse_name(name: &str) -> Option<(&str, &str, bool)> {
    let (stem, zstd) = match name.strip_suffix(".nar.zst") {
        Some(stem) => (stem, true),
        None => (name.strip_suffix(".nar")?, false),
    };
    let (hash_part, rest) = stem.split_at_checked(HASH_PART_LEN)?;
    let nar_hash = rest.strip_prefix('-')?;
    (is_valid_hash_part(hash_part)
        && nar_hash.len() == base32::encoded_len(32)
        && nar_hash.bytes().all(base32::is_digit))
    .then_some((hash_part, nar_hash, zstd))
}

/// A buffer that refuses to grow past the size the store announced.
struct BoundedBuffer {
    bytes: Vec<u8>,
    limit: u64,
}

impl Write for BoundedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + data.len()) as u64 > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the NAR is larger than the store says",
            ));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn accepts_zstd(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("zstd") && !refused
        })
}

fn check_size(written: u64, expected: u64) -> std::io::Result<()> {
    if written == expected {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the NAR has {written} bytes where the store says {expected}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let hash = "nqlm07bgzi39r04yqlan58b7csfb2ywj";
        let nar = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
        assert_eq!(
            parse_name(&format!("{hash}-{nar}.nar")),
            Some((hash, nar, false))
        );
        assert_eq!(
            parse_name(&format!("{hash}-{nar}.nar.zst")),
            Some((hash, nar, true))
        );
        assert_eq!(parse_name("../../etc/passwd"), None);
        assert_eq!(parse_name(&format!("{hash}-{nar}.nar.xz")), None);
    }

    #[test]
    fn accept_encoding() {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, zstd;q=0.5"),
        );
        assert!(accepts_zstd(&headers));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("zstd;q=0, gzip"));
        assert!(!accepts_zstd(&headers));
    }
}
