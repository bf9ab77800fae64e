//! The S3 bucket, as the publisher uses it: put an object from a file or from bytes, delete
//! one. Requests are signed by `rusty-s3` (presigned URLs: signing needs no body, so a NAR
//! streams from its file) and sent by `ureq`, from blocking threads. A file larger than
//! `MULTIPART_ABOVE` goes as a multipart upload, a few parts at once from the file; smaller ones as
//! one PUT with its `Content-Length`. Path-style URLs (`ENDPOINT/BUCKET/KEY`), which Garage,
//! MinIO, R2, B2 and AWS all take. Knows nothing of Nix.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rusty_s3::{Bucket as S3Bucket, Credentials, S3Action, UrlStyle};

use crate::config::PublishSettings;

/// How long a signed request stays valid: longer than any one request takes to start.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// Files above this go as multipart uploads (S3 takes at most 5 GB in one PUT).
pub const MULTIPART_ABOVE: u64 = 64 * 1024 * 1024;
/// One part of a multipart upload (S3 wants at least 5 MiB, at most 10 000 parts).
const PART_SIZE: u64 = 32 * 1024 * 1024;
/// Parts sent at once: a large NAR goes up on more than one connection.
const PARTS_AT_ONCE: u64 = 4;

pub struct Bucket {
    bucket: S3Bucket,
    credentials: Credentials,
    prefix: String,
    agent: ureq::Agent,
    /// `endpoint bucket/prefix`, for messages.
    described: String,
}

impl Bucket {
    /// The configured bucket, with the credentials read from their files now.
    pub fn open(settings: &PublishSettings) -> Result<Bucket> {
        let endpoint = settings
            .endpoint
            .value
            .parse()
            .with_context(|| format!("bad publish.endpoint {:?}", settings.endpoint.value))?;
        let bucket = S3Bucket::new(
            endpoint,
            UrlStyle::Path,
            settings.bucket.value.clone(),
            settings.region.value.clone(),
        )
        .map_err(|e| anyhow!("bad publish.endpoint or publish.bucket: {e}"))?;
        let read = |path: &Path, what: &str| -> Result<String> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read the {what} {}", path.display()))?;
            let text = text.trim().to_string();
            if text.is_empty() {
                bail!("the {what} {} is empty", path.display());
            }
            Ok(text)
        };
        let credentials = Credentials::new(
            read(&settings.access_key_file.value, "access key file")?,
            read(&settings.secret_key_file.value, "secret key file")?,
        );
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .user_agent(concat!("atuin-bootstrap/", env!("CARGO_PKG_VERSION")))
            .build();
        let prefix = settings.prefix.value.clone();
        Ok(Bucket {
            described: format!(
                "{} {}{}{}",
                settings.endpoint.value,
                settings.bucket.value,
                if prefix.is_empty() { "" } else { "/" },
                prefix
            ),
            bucket,
            credentials,
            prefix,
            agent,
        })
    }

    /// `endpoint bucket/prefix`.
    pub fn describe(&self) -> &str {
        &self.described
    }

    fn object(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Puts `bytes` at `key`.
    pub fn put_bytes(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<()> {
        let object = self.object(key);
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        let sent = self
            .agent
            .put(url.as_str())
            .set("Content-Type", content_type)
            .send_bytes(bytes);
        checked(sent, "PUT", &object).map(drop)
    }

    /// Puts the file at `path` (`len` bytes) at `key`, streamed from the file.
    pub fn put_file(&self, key: &str, content_type: &str, path: &Path, len: u64) -> Result<()> {
        if len > MULTIPART_ABOVE {
            return self.put_multipart(key, content_type, path, len);
        }
        let object = self.object(key);
        let file =
            File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        let sent = self
            .agent
            .put(url.as_str())
            .set("Content-Type", content_type)
            .set("Content-Length", &len.to_string())
            .send(file.take(len));
        checked(sent, "PUT", &object).map(drop)
    }

    fn put_multipart(&self, key: &str, content_type: &str, path: &Path, len: u64) -> Result<()> {
        let object = self.object(key);
        let mut create = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), &object);
        create
            .headers_mut()
            .insert("content-type", content_type.to_string());
        let url = create.sign(SIGNED_FOR);
        let reply = checked(
            self.agent
                .post(url.as_str())
                .set("Content-Type", content_type)
                .call(),
            "POST (create multipart upload)",
            &object,
        )?;
        let body = reply
            .into_string()
            .context("failed to read the answer to a multipart upload's creation")?;
        let created = rusty_s3::actions::CreateMultipartUpload::parse_response(&body)
            .map_err(|e| anyhow!("bad answer to a multipart upload's creation: {e}"))?;
        let upload_id = created.upload_id().to_string();
        match self.send_parts(&object, &upload_id, path, len) {
            Ok(etags) => {
                let complete = self.bucket.complete_multipart_upload(
                    Some(&self.credentials),
                    &object,
                    &upload_id,
                    etags.iter().map(String::as_str),
                );
                let url = complete.sign(SIGNED_FOR);
                let body = complete.body();
                checked(
                    self.agent.post(url.as_str()).send_string(&body),
                    "POST (complete multipart upload)",
                    &object,
                )
                .map(drop)
            }
            Err(e) => {
                let url = self
                    .bucket
                    .abort_multipart_upload(Some(&self.credentials), &object, &upload_id)
                    .sign(SIGNED_FOR);
                if let Err(abort) = self.agent.delete(url.as_str()).call() {
                    tracing::warn!("aborting the multipart upload of {object} failed: {abort}");
                }
                Err(e)
            }
        }
    }

    /// Sends the file's parts, `PARTS_AT_ONCE` at a time; their ETags in part order.
    fn send_parts(
        &self,
        object: &str,
        upload_id: &str,
        path: &Path,
        len: u64,
    ) -> Result<Vec<String>> {
        let parts = len.div_ceil(PART_SIZE);
        if parts > 10_000 {
            bail!("{object} is too large for a multipart upload ({len} bytes)");
        }
        let next = std::sync::atomic::AtomicU64::new(0);
        let etags = std::sync::Mutex::new(vec![String::new(); parts as usize]);
        let send_part = |index: u64| -> Result<()> {
            let offset = index * PART_SIZE;
            let part_len = (len - offset).min(PART_SIZE);
            let number = u16::try_from(index + 1).expect("at most 10 000 parts");
            let mut file =
                File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
            file.seek(SeekFrom::Start(offset))?;
            let url = self
                .bucket
                .upload_part(Some(&self.credentials), object, number, upload_id)
                .sign(SIGNED_FOR);
            let reply = checked(
                self.agent
                    .put(url.as_str())
                    .set("Content-Length", &part_len.to_string())
                    .send(file.take(part_len)),
                "PUT (part)",
                object,
            )?;
            let etag = reply
                .header("ETag")
                .with_context(|| format!("no ETag for part {number} of {object}"))?
                .to_string();
            etags.lock().expect("etags lock")[index as usize] = etag;
            Ok(())
        };
        let failures: Vec<anyhow::Error> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..PARTS_AT_ONCE.min(parts))
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        loop {
                            let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if index >= parts {
                                return Ok(());
                            }
                            if let Err(e) = send_part(index) {
                                // The others stop at their next part.
                                next.store(parts, std::sync::atomic::Ordering::SeqCst);
                                return Err(e);
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .filter_map(|w| w.join().expect("a part thread panicked").err())
                .collect()
        });
        if let Some(first) = failures.into_iter().next() {
            return Err(first);
        }
        Ok(etags.into_inner().expect("etags lock"))
    }

    /// Deletes `key`; one that is not there is no error (S3 answers 204 either way).
    pub fn delete(&self, key: &str) -> Result<()> {
        let object = self.object(key);
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        match self.agent.delete(url.as_str()).call() {
            Err(ureq::Error::Status(404, _)) => Ok(()),
            other => checked(other, "DELETE", &object).map(drop),
        }
    }
}

/// The reply, or an error saying what S3 said (its `<Code>` and `<Message>`).
fn checked(
    sent: Result<ureq::Response, ureq::Error>,
    method: &str,
    object: &str,
) -> Result<ureq::Response> {
    match sent {
        Ok(reply) => Ok(reply),
        Err(ureq::Error::Status(status, reply)) => {
            let body = reply.into_string().unwrap_or_default();
            let said = [tag(&body, "Code"), tag(&body, "Message")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            if said.is_empty() {
                bail!("{method} {object}: the bucket answered {status}")
            }
            bail!("{method} {object}: the bucket answered {status} ({said})")
        }
        // Not `e` itself: its text holds the signed URL, which works for an hour.
        Err(ureq::Error::Transport(e)) => match e.message() {
            Some(message) => bail!("{method} {object}: {}: {message}", e.kind()),
            None => bail!("{method} {object}: {}", e.kind()),
        },
    }
}

/// The text of the first `<name>…</name>` in an S3 error body.
fn tag<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].trim()).filter(|t| !t.is_empty() && t.len() < 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                    <Message>Forbidden: no such key</Message></Error>";
        assert_eq!(tag(body, "Code"), Some("AccessDenied"));
        assert_eq!(tag(body, "Message"), Some("Forbidden: no such key"));
        assert_eq!(tag(body, "Resource"), None);
    }
}
