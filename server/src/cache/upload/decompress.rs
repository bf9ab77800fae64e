//! Reading an uploaded NAR through the decompressor its narinfo names: the `?compression=`
//! values of Nix's store URLs. Uploads are read with `bounded`, whose decoders may not take
//! more memory than honest compressors need (a tiny upload asking for a 128 MiB zstd window
//! is refused, not obeyed). Zstd decoder contexts are kept between uploads (a few, small
//! ones only): setting one up for each NAR cost more than checking a small NAR.

use std::io::{self, BufReader, Read};
use std::sync::Mutex;

use zstd::zstd_safe::{DCtx, DParameter};

/// The largest zstd window an upload may use: 8 MiB, what the zstd format asks every decoder
/// to support and more than any level but `--ultra`/`--long` uses.
pub(super) const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// The most memory an xz decoder may take: enough for `xz -7` (16 MiB dictionary) and lower.
pub(super) const XZ_MEMLIMIT: u64 = 20 * 1024 * 1024;

/// How many zstd contexts are kept for the next uploads: one for each core of a small box;
/// more uploads at once make their own.
const KEPT_CONTEXTS: usize = 4;
/// A context that grew larger than this (a NAR with a large window) is not kept, so the
/// contexts kept stay a small part of the server's memory.
const KEPT_CONTEXT_BYTES: usize = 1 << 20;

static ZSTD_CONTEXTS: Mutex<Vec<DCtx<'static>>> = Mutex::new(Vec::new());

/// A zstd decoder context for one upload, taken from those kept (or made, with the window cap
/// set) when first needed, and given back when dropped.
#[derive(Default)]
pub(super) struct ZstdContext(Option<DCtx<'static>>);

impl ZstdContext {
    fn get(&mut self) -> io::Result<&mut DCtx<'static>> {
        if self.0.is_none() {
            let kept = ZSTD_CONTEXTS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let context = match kept {
                Some(context) => context,
                None => {
                    let mut context = DCtx::try_create()
                        .ok_or_else(|| io::Error::other("failed to make a zstd decoder"))?;
                    // Kept by the context across uploads: a session reset keeps parameters.
                    context
                        .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                        .map_err(|code| io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
                    context
                }
            };
            self.0 = Some(context);
        }
        Ok(self.0.as_mut().expect("set above"))
    }
}

impl Drop for ZstdContext {
    fn drop(&mut self) {
        let Some(context) = self.0.take() else { return };
        if context.sizeof() > KEPT_CONTEXT_BYTES {
            return;
        }
        let mut kept = ZSTD_CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_CONTEXTS {
            kept.push(context);
        }
    }
}

/// `input` decompressed as `compression`, with bounded decoder memory; a zstd stream is read
/// `buffer` bytes at a time with `context`.
pub(super) fn bounded<'a, R: Read + 'a>(
    compression: &str,
    input: R,
    context: &'a mut ZstdContext,
    buffer: usize,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        "xz" => {
            let stream =
                xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
                    .map_err(io::Error::other)?;
            Box::new(xz2::read::XzDecoder::new_stream(input, stream))
        }
        "zstd" => {
            // with_context starts a new session: nothing of the last upload's stream is left.
            let buffered = BufReader::with_capacity(buffer.clamp(4096, DCtx::in_size()), input);
            Box::new(zstd::stream::read::Decoder::with_context(
                buffered,
                context.get()?,
            ))
        }
        other => reader(other, input)?,
    })
}

/// `input` decompressed as `compression` (`none`, `xz`, `zstd`, `bzip2` or `br`).
pub(super) fn reader<'a, R: Read + 'a>(
    compression: &str,
    input: R,
) -> io::Result<Box<dyn Read + 'a>> {
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
            ));
        }
    })
}

/// A small body (a narinfo, a log) as sent with `Content-Encoding` (Nix's `narinfo-compression`
/// and `log-compression`), decoded; at most `limit` bytes once decoded.
pub(super) fn decode_body(
    encoding: Option<&str>,
    body: &[u8],
    limit: u64,
) -> Result<Vec<u8>, String> {
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
        assert!(
            reader("xz", &b"not xz at all"[..])
                .unwrap()
                .read_to_end(&mut out)
                .is_err()
        );
        assert!(reader("lz4", &b""[..]).is_err());
    }

    fn read_bounded(data: &[u8], context: &mut ZstdContext) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        bounded("zstd", data, context, data.len())?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_kept_zstd_context_keeps_its_window_cap_and_forgets_a_failed_stream() {
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let small = zstd::encode_all(&plain[..], 3).unwrap();
        let wide = {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            e.window_log(ZSTD_WINDOW_LOG_MAX + 4).unwrap();
            e.long_distance_matching(true).unwrap();
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        for _ in 0..3 {
            let mut context = ZstdContext::default();
            assert_eq!(read_bounded(&small, &mut context).unwrap(), plain);
            drop(context);
            // Half a stream, then dropped: the next upload on this context starts afresh.
            let mut context = ZstdContext::default();
            assert!(read_bounded(&small[..small.len() / 2], &mut context).is_err());
            drop(context);
            let mut context = ZstdContext::default();
            assert!(
                read_bounded(&wide, &mut context).is_err(),
                "the window cap was lost"
            );
            drop(context);
            let mut context = ZstdContext::default();
            assert_eq!(read_bounded(&small, &mut context).unwrap(), plain);
        }
        assert!(ZSTD_CONTEXTS.lock().unwrap().len() <= KEPT_CONTEXTS);
    }
}
