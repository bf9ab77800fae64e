//! The S3 bucket, as the publisher uses it: put an object from a file or from bytes (or part
//! by part: a multipart upload, for files over `MULTIPART_ABOVE`), delete one. Requests are
//! signed by `rusty-s3` (presigned URLs: signing needs no body, so a NAR streams from its
//! file) and sent by `ureq`, from blocking threads, each with its `Content-Length`. Path-style
//! URLs (`ENDPOINT/BUCKET/KEY`), which Garage, MinIO, R2, B2 and AWS all take. Knows nothing
//! of Nix.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rusty_s3::{Bucket as S3Bucket, Credentials, S3Action, UrlStyle};

use common::config::PublishSettings;

/// How long a signed request stays valid: longer than any one request takes to start.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// Files above this go as multipart uploads (S3 takes at most 5 GB in one PUT).
pub(super) const MULTIPART_ABOVE: u64 = 64 * 1024 * 1024;
/// One part of a multipart upload (S3 wants at least 5 MiB, at most 10 000 parts).
pub(super) const PART_SIZE: u64 = 32 * 1024 * 1024;

pub(super) struct Bucket {
    bucket: S3Bucket,
    credentials: Credentials,
    prefix: String,
    agent: ureq::Agent,
    /// `endpoint bucket/prefix`, for messages.
    described: String,
}

impl Bucket {
    /// The configured bucket, with the credentials read from their files now.
    pub(super) fn open(settings: &PublishSettings) -> Result<Bucket> {
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
    pub(super) fn describe(&self) -> &str {
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
    pub(super) fn put_bytes(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<()> {
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

    /// Puts the file at `path` (`len` bytes, at most `MULTIPART_ABOVE`) at `key`, streamed
    /// from the file.
    pub(super) fn put_file(
        &self,
        key: &str,
        content_type: &str,
        path: &Path,
        len: u64,
    ) -> Result<()> {
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

    /// Starts a multipart upload to `key`; its upload id.
    pub(super) fn create_multipart(&self, key: &str, content_type: &str) -> Result<String> {
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
        Ok(created.upload_id().to_string())
    }

    /// Puts part `number` (from 1): `len` bytes of the file at `path` from `offset`; its ETag.
    pub(super) fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        (path, offset, len): (&Path, u64, u64),
    ) -> Result<String> {
        let object = self.object(key);
        let mut file =
            File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
        file.seek(SeekFrom::Start(offset))?;
        let url = self
            .bucket
            .upload_part(Some(&self.credentials), &object, number, upload_id)
            .sign(SIGNED_FOR);
        let reply = checked(
            self.agent
                .put(url.as_str())
                .set("Content-Length", &len.to_string())
                .send(file.take(len)),
            "PUT (part)",
            &object,
        )?;
        Ok(reply
            .header("ETag")
            .with_context(|| format!("no ETag for part {number} of {object}"))?
            .to_string())
    }

    /// Completes a multipart upload with its parts' ETags, in part order.
    pub(super) fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<()> {
        let object = self.object(key);
        let complete = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            &object,
            upload_id,
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

    /// Abandons a multipart upload (its parts are removed); failing only logs.
    pub(super) fn abort_multipart(&self, key: &str, upload_id: &str) {
        let object = self.object(key);
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), &object, upload_id)
            .sign(SIGNED_FOR);
        if let Err(e) = self.agent.delete(url.as_str()).call() {
            tracing::warn!("aborting the multipart upload of {object} failed: {e}");
        }
    }

    /// Deletes `key`; one that is not there is no error (S3 answers 204 either way).
    pub(super) fn delete(&self, key: &str) -> Result<()> {
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
