//! Reading an uploaded NAR through the decompressor its narinfo names: the `?compression=`
//! values of Nix's store URLs. Uploads are read with `bounded`, whose decoders may not take
//! more memory than honest compressors need (a tiny upload asking for a 128 MiB zstd window
//! is refused, not obeyed).

use std::io::{self, Read};

/// The largest zstd window an upload may use: 8 MiB, what the zstd format asks every decoder
/// to support and more than any level but `--ultra`/`--long` uses.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// The most memory an xz decoder may take: enough for `xz -7` (16 MiB dictionary) and lower.
pub const XZ_MEMLIMIT: u64 = 20 * 1024 * 1024;

/// `input` decompressed as `compression`, with bounded decoder memory.
pub fn bounded<'a, R: Read + 'a>(compression: &str, input: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        "xz" => {
            let stream =
                xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
                    .map_err(io::Error::other)?;
            Box::new(xz2::read::XzDecoder::new_stream(input, stream))
        }
        "zstd" => {
            let mut decoder = zstd::stream::read::Decoder::new(input)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(decoder)
        }
        other => reader(other, input)?,
    })
}

/// `input` decompressed as `compression` (`none`, `xz`, `zstd`, `bzip2` or `br`).
pub fn reader<'a, R: Read + 'a>(compression: &str, input: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        "none" => Box::new(input),
        "xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(input)),
        "zstd" => Box::new(zstd::stream::read::Decoder::new(input)?),
        "bzip2" => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        "br" => Box::new(brotli_decompressor::Decompressor::new(input, 64 * 1024)),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported compression {other:?}"),
            ))
        }
    })
}

/// A small body (a narinfo, a log) as sent with `Content-Encoding` (Nix's `narinfo-compression`
/// and `log-compression`), decoded; at most `limit` bytes once decoded.
pub fn decode_body(encoding: Option<&str>, body: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let compression = match encoding.map(str::trim) {
        None | Some("") | Some("identity") => return Ok(body.to_vec()),
        Some("bz2") => "bzip2",
        Some(other) => other,
    };
    let reader = reader(compression, body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the body does not decode as {compression}: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "the body is larger than {limit} bytes once decoded"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn each_compression_round_trips() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let xz = {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        let zstd = zstd::encode_all(&plain[..], 3).unwrap();
        let bzip2 = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        for (name, data) in [
            ("none", plain.clone()),
            ("xz", xz),
            ("zstd", zstd),
            ("bzip2", bzip2),
        ] {
            let mut out = Vec::new();
            reader(name, &data[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, plain, "{name}");
        }
        let mut out = Vec::new();
        assert!(reader("xz", &b"not xz at all"[..])
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
        assert!(reader("lz4", &b""[..]).is_err());
    }
}
