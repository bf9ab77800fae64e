//! A NAR uploaded while it is being compressed: once the compressed file passes
//! `MULTIPART_ABOVE`, a multipart upload starts and each `PART_SIZE` part goes up (on a few
//! threads) as soon as it is on disk, so compressing and uploading a large NAR overlap instead
//! of following each other. A file that stays small goes up in one PUT once made. A file made
//! already (a pushed NAR) goes up the same two ways. Blocking.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;

use anyhow::{Context, Result};

use super::bucket::{Bucket, MULTIPART_ABOVE, PART_SIZE};
use super::nar_file::NarFile;
use common::config::PublishCompression;
use nix_core::path_info::PathInfo;

/// Parts put at once.
const PARTS_AT_ONCE: usize = 3;
const CONTENT_TYPE: &str = "application/x-nix-nar";

/// Makes the compressed NAR of `info` (at `temp`) and puts it at `key`; the file, for its
/// hash and size.
pub(super) fn put_nar(
    bucket: &Bucket,
    key: &str,
    info: &PathInfo,
    on_disk: &std::path::Path,
    compression: PublishCompression,
    temp: PathBuf,
) -> Result<NarFile> {
    let temp_path = temp.clone();
    let (parts, ready) = mpsc::channel::<(u16, u64, u64)>();
    let ready = Mutex::new(ready);
    let upload_id: Mutex<Option<Result<String, String>>> = Mutex::new(None);
    let etags: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let uploader = || loop {
        let Ok((number, offset, len)) = ready.lock().expect("parts lock").recv() else {
            return;
        };
        if failed.lock().expect("failure lock").is_some() {
            continue;
        }
        let id = {
            let mut id = upload_id.lock().expect("upload id lock");
            id.get_or_insert_with(|| {
                bucket
                    .create_multipart(key, CONTENT_TYPE)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
        };
        let done = id
            .map_err(anyhow::Error::msg)
            .and_then(|id| bucket.put_part(key, &id, number, (&temp_path, offset, len)));
        match done {
            Ok(etag) => etags.lock().expect("etags lock").push((number, etag)),
            Err(e) => {
                failed.lock().expect("failure lock").get_or_insert(e);
            }
        }
    };
    let made = std::thread::scope(|scope| {
        for _ in 0..PARTS_AT_ONCE {
            scope.spawn(uploader);
        }
        let mut sent: u64 = 0;
        let mut send_up_to = |end: u64, parts: &mpsc::Sender<(u16, u64, u64)>| {
            while sent < end {
                let len = (end - sent).min(PART_SIZE);
                let number = u16::try_from(sent / PART_SIZE + 1).unwrap_or(u16::MAX);
                let _ = parts.send((number, sent, len));
                sent += len;
            }
        };
        let made = NarFile::make_watched(
            info,
            on_disk,
            compression,
            temp,
            PART_SIZE,
            &mut |on_disk| {
                // Only once the file is sure to need a multipart upload.
                if on_disk > MULTIPART_ABOVE {
                    send_up_to(on_disk, &parts);
                }
            },
        );
        if let Ok(file) = &made
            && file.file_size > MULTIPART_ABOVE
        {
            send_up_to(file.file_size, &parts);
        }
        drop(parts);
        made
    });
    let upload_id = upload_id.into_inner().expect("upload id lock");
    let abort = |e: anyhow::Error| {
        if let Some(Ok(id)) = &upload_id {
            bucket.abort_multipart(key, id);
        }
        Err(e)
    };
    let file = match made {
        Ok(file) => file,
        Err(e) => return abort(e),
    };
    if let Some(e) = failed.into_inner().expect("failure lock") {
        return abort(e);
    }
    match &upload_id {
        None => bucket.put_file(key, CONTENT_TYPE, file.path(), file.file_size)?,
        Some(Err(e)) => anyhow::bail!("{e}"),
        Some(Ok(id)) => {
            let mut etags = etags.into_inner().expect("etags lock");
            etags.sort();
            let etags: Vec<String> = etags.into_iter().map(|(_, etag)| etag).collect();
            if let Err(e) = bucket
                .complete_multipart(key, id, &etags)
                .with_context(|| format!("failed to complete the upload of {key}"))
            {
                return abort(e);
            }
        }
    }
    Ok(file)
}

/// Puts a file that is whole already (`len` bytes): in one request, or part by part when it is
/// over `MULTIPART_ABOVE`.
pub(super) fn put_whole_file(bucket: &Bucket, key: &str, path: &Path, len: u64) -> Result<()> {
    if len <= MULTIPART_ABOVE {
        return bucket.put_file(key, CONTENT_TYPE, path, len);
    }
    let id = bucket.create_multipart(key, CONTENT_TYPE)?;
    let mut etags = Vec::new();
    let mut sent = 0;
    while sent < len {
        let part = (len - sent).min(PART_SIZE);
        let number = u16::try_from(sent / PART_SIZE + 1).unwrap_or(u16::MAX);
        match bucket.put_part(key, &id, number, (path, sent, part)) {
            Ok(etag) => etags.push(etag),
            Err(e) => {
                bucket.abort_multipart(key, &id);
                return Err(e);
            }
        }
        sent += part;
    }
    bucket
        .complete_multipart(key, &id, &etags)
        .inspect_err(|_| bucket.abort_multipart(key, &id))
        .with_context(|| format!("failed to complete the upload of {key}"))
}
