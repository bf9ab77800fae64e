//! The daemon operations that change the store, for pushed paths: adding a checked NAR as a
//! path (`AddToStoreNar`, the NAR streamed in frames from a file) and registering a GC root
//! (`AddIndirectRoot`). The daemon checks the path's signatures against its own
//! `trusted-public-keys`, so an untrusted client (the server on NixOS) can add only what a key
//! the box trusts signed; a trusted one (root) also passes the cache's keys as
//! `extra-trusted-public-keys` for its own session.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Connection, DaemonStore};
use crate::nix::path_info::PathInfo;

const OP_ADD_INDIRECT_ROOT: u64 = 12;
const OP_SET_OPTIONS: u64 = 19;
const OP_ADD_TO_STORE_NAR: u64 = 39;

/// The NAR goes to the daemon in frames of this size.
const FRAME: usize = 256 * 1024;
/// Framed NAR transfer is protocol 1.23 and newer (Nix 2.4+).
const MIN_FRAMED_MINOR: u64 = 23;

/// One connection of its own for changing the store, closed when dropped. The daemon keeps a
/// path it added alive (a temporary root) only while the connection lasts: long enough to
/// register the path's own root, and no longer, so a pool never holds paths back from the GC.
pub struct WriteSession {
    conn: Connection,
    /// The keys this connection was last told to trust: told once, not before every path.
    trusted_keys: Option<String>,
}

impl DaemonStore {
    /// A new connection, outside the pool.
    pub async fn write_session(&self) -> Result<WriteSession> {
        Ok(WriteSession {
            conn: self.connect().await?,
            trusted_keys: None,
        })
    }
}

impl WriteSession {
    /// Adds `info.path` from the NAR in `nar` (checked by the caller against `info`), signed
    /// by `signatures`; `trusted_keys` are the keys that made them, offered to a daemon that
    /// trusts us. The daemon adds it atomically or not at all.
    pub async fn add_to_store_nar(
        &mut self,
        info: &PathInfo,
        signatures: &[String],
        trusted_keys: &str,
        nar: &Path,
    ) -> Result<()> {
        if self.trusted_keys.as_deref() != Some(trusted_keys) {
            self.conn
                .set_options(&[("extra-trusted-public-keys", trusted_keys)])
                .await?;
            self.trusted_keys = Some(trusted_keys.to_string());
        }
        self.conn.add_to_store_nar(info, signatures, nar).await
    }

    /// Makes `link` (a symlink to a store path, made by the caller) a GC root, as
    /// `nix-store --add-root` does.
    pub async fn add_indirect_root(&mut self, link: &Path) -> Result<()> {
        self.conn.add_indirect_root(link).await
    }
}

impl Connection {
    /// `SetOptions` with Nix's defaults and `overrides`; a daemon that does not trust us
    /// ignores the overrides (with a warning we read and drop).
    async fn set_options(&mut self, overrides: &[(&str, &str)]) -> Result<()> {
        self.write_u64(OP_SET_OPTIONS).await?;
        for value in [
            0, // keep failed
            0, // keep going
            0, // try fallback
            0, // verbosity: errors
            1, // max build jobs
            0, // max silent time
            1, // obsolete: use build hook
            0, // verbose build
            0, // obsolete: log type
            0, // obsolete: print build trace
            0, // build cores
            1, // use substitutes
        ] {
            self.write_u64(value).await?;
        }
        self.write_u64(overrides.len() as u64).await?;
        for (name, value) in overrides {
            self.write_string(name.as_bytes()).await?;
            self.write_string(value.as_bytes()).await?;
        }
        self.writer.flush().await?;
        self.finish_stderr().await
    }

    async fn add_to_store_nar(
        &mut self,
        info: &PathInfo,
        signatures: &[String],
        nar: &Path,
    ) -> Result<()> {
        if self.minor < MIN_FRAMED_MINOR {
            bail!(
                "the Nix daemon is too old to take NARs (protocol 1.{})",
                self.minor
            );
        }
        let mut file = tokio::fs::File::open(nar)
            .await
            .with_context(|| format!("failed to open {}", nar.display()))?;
        self.write_u64(OP_ADD_TO_STORE_NAR).await?;
        self.write_string(info.path.as_bytes()).await?;
        self.write_string(info.deriver.as_deref().unwrap_or("").as_bytes())
            .await?;
        self.write_string(hex::encode(info.nar_hash).as_bytes())
            .await?;
        self.write_u64(info.references.len() as u64).await?;
        for reference in &info.references {
            self.write_string(reference.as_bytes()).await?;
        }
        self.write_u64(0).await?; // registration time: now
        self.write_u64(info.nar_size).await?;
        self.write_u64(0).await?; // not ultimately trusted: it came from elsewhere
        self.write_u64(signatures.len() as u64).await?;
        for signature in signatures {
            self.write_string(signature.as_bytes()).await?;
        }
        self.write_string(info.content_address.as_deref().unwrap_or("").as_bytes())
            .await?;
        self.write_u64(0).await?; // no repair
        self.write_u64(0).await?; // check the signatures
        self.writer.flush().await?;

        // The daemon may log while it reads: read its messages while the frames go out, as
        // Nix's own client does, so neither side waits on a full socket.
        let Connection {
            reader,
            writer,
            minor,
        } = self;
        let messages = reader.finish_stderr(*minor);
        let send = async {
            let mut buf = vec![0u8; FRAME];
            loop {
                let n = file.read(&mut buf).await?;
                writer.write_all(&(n as u64).to_le_bytes()).await?;
                if n == 0 {
                    break;
                }
                writer.write_all(&buf[..n]).await?;
            }
            writer.flush().await?;
            anyhow::Ok(())
        };
        let (sent, said) = tokio::join!(send, messages);
        // The daemon's own refusal explains a write that failed because it hung up.
        said?;
        sent.context("failed to send the NAR to the Nix daemon")?;
        Ok(())
    }

    async fn add_indirect_root(&mut self, link: &Path) -> Result<()> {
        let link = link
            .to_str()
            .context("a GC root's path must be valid UTF-8")?;
        self.write_u64(OP_ADD_INDIRECT_ROOT).await?;
        self.write_string(link.as_bytes()).await?;
        self.writer.flush().await?;
        self.finish_stderr().await?;
        self.read_u64().await?; // always 1
        Ok(())
    }
}
