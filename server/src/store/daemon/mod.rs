//! A client of the Nix daemon's worker protocol over its Unix socket, for the setup NixOS
//! runs: the server as an unprivileged user that may not open Nix's database. Speaks only the
//! read operations the cache needs (path from hash part, path info). Connections are pooled;
//! one that fails mid-operation is dropped and the operation is tried once more on a new one.
//! Nothing here changes the store: pushed paths are kept outside it.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use nix_core::path_info::{PathInfo, parse_sha256};

const WORKER_MAGIC_1: u64 = 0x6e69_7863;
const WORKER_MAGIC_2: u64 = 0x6478_696f;
/// Protocol 1.35; the daemon and we both use the lower of the two versions.
const CLIENT_VERSION: u64 = (1 << 8) | 35;

const OP_QUERY_PATH_INFO: u64 = 26;
const OP_QUERY_PATH_FROM_HASH_PART: u64 = 29;

const STDERR_NEXT: u64 = 0x6f6c_6d67;
const STDERR_READ: u64 = 0x6461_7461;
const STDERR_WRITE: u64 = 0x6461_7416;
const STDERR_LAST: u64 = 0x616c_7473;
const STDERR_ERROR: u64 = 0x6378_7470;
const STDERR_START_ACTIVITY: u64 = 0x5354_5254;
const STDERR_STOP_ACTIVITY: u64 = 0x5354_4f50;
const STDERR_RESULT: u64 = 0x5253_4c54;

/// Longest string we accept from the daemon; a larger length means a broken stream.
const MAX_STRING: u64 = 64 * 1024 * 1024;
/// Each daemon connection is a forked nix-daemon process: keep enough for a busy client.
const MAX_IDLE_CONNECTIONS: usize = 64;

pub(crate) struct DaemonStore {
    socket: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

struct Connection {
    reader: Reader,
    writer: BufWriter<OwnedWriteHalf>,
    minor: u64,
}

/// The daemon-to-us half of a connection.
struct Reader {
    inner: BufReader<OwnedReadHalf>,
}

impl DaemonStore {
    pub(crate) fn new(socket: PathBuf) -> DaemonStore {
        DaemonStore {
            socket,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// The valid path whose base name starts with `hash_part`, with its metadata.
    pub(crate) async fn path_info_by_hash(&self, hash_part: &str) -> Result<Option<PathInfo>> {
        let mut retried = false;
        loop {
            let pooled = self.idle.lock().expect("pool lock").pop();
            let (mut conn, fresh) = match pooled {
                Some(conn) => (conn, false),
                None => (self.connect().await?, true),
            };
            match conn.path_info_by_hash(hash_part).await {
                Ok(info) => {
                    self.give_back(conn);
                    return Ok(info);
                }
                // A pooled connection may have died with a daemon restart: try a new one.
                Err(e) if !fresh && !retried && is_io_error(&e) => retried = true,
                Err(e) => return Err(e),
            }
        }
    }

    /// Puts a connection that ended its operation cleanly back into the pool.
    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Connection> {
        let stream = UnixStream::connect(&self.socket).await.with_context(|| {
            format!(
                "failed to connect to the Nix daemon at {}",
                self.socket.display()
            )
        })?;
        let (read, write) = stream.into_split();
        let mut conn = Connection {
            reader: Reader {
                inner: BufReader::new(read),
            },
            writer: BufWriter::new(write),
            minor: 0,
        };
        conn.handshake()
            .await
            .context("the Nix daemon handshake failed")?;
        Ok(conn)
    }
}

fn is_io_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<std::io::Error>())
}

impl Connection {
    async fn handshake(&mut self) -> Result<()> {
        self.write_u64(WORKER_MAGIC_1).await?;
        self.writer.flush().await?;
        if self.read_u64().await? != WORKER_MAGIC_2 {
            bail!("the socket does not speak the Nix worker protocol");
        }
        let daemon_version = self.read_u64().await?;
        if daemon_version >> 8 != 1 || daemon_version & 0xff < 17 {
            bail!("the Nix daemon's protocol {daemon_version:#x} is too old");
        }
        self.minor = (daemon_version & 0xff).min(CLIENT_VERSION & 0xff);
        self.write_u64(CLIENT_VERSION).await?;
        self.write_u64(0).await?; // no CPU affinity
        self.write_u64(0).await?; // obsolete reserveSpace
        self.writer.flush().await?;
        if self.minor >= 33 {
            self.read_string().await?; // the daemon's Nix version
        }
        if self.minor >= 35 {
            self.read_u64().await?; // whether the daemon trusts us
        }
        self.finish_stderr().await
    }

    async fn path_info_by_hash(&mut self, hash_part: &str) -> Result<Option<PathInfo>> {
        self.write_u64(OP_QUERY_PATH_FROM_HASH_PART).await?;
        self.write_string(hash_part.as_bytes()).await?;
        self.writer.flush().await?;
        self.finish_stderr().await?;
        let path = self.read_utf8().await?;
        if path.is_empty() {
            return Ok(None);
        }
        self.query_path_info(path).await
    }

    async fn query_path_info(&mut self, path: String) -> Result<Option<PathInfo>> {
        self.write_u64(OP_QUERY_PATH_INFO).await?;
        self.write_string(path.as_bytes()).await?;
        self.writer.flush().await?;
        self.finish_stderr().await?;
        if self.read_u64().await? == 0 {
            return Ok(None);
        }
        let deriver = self.read_utf8().await?;
        let nar_hash = self.read_utf8().await?;
        let mut references = self.read_strings().await?;
        references.sort();
        let _registration_time = self.read_u64().await?;
        let nar_size = self.read_u64().await?;
        let ultimate = self.read_u64().await? != 0;
        let signatures = self.read_strings().await?;
        let content_address = self.read_utf8().await?;
        Ok(Some(PathInfo {
            nar_hash: parse_sha256(&nar_hash)
                .with_context(|| format!("the Nix daemon sent a bad hash for {path}"))?,
            path,
            deriver: Some(deriver).filter(|d| !d.is_empty()),
            nar_size,
            references,
            signatures,
            content_address: Some(content_address).filter(|c| !c.is_empty()),
            ultimate,
        }))
    }

    /// Reads the daemon's log messages up to `STDERR_LAST`; an error message becomes `Err`.
    async fn finish_stderr(&mut self) -> Result<()> {
        self.reader.finish_stderr(self.minor).await
    }

    async fn write_u64(&mut self, value: u64) -> std::io::Result<()> {
        self.writer.write_all(&value.to_le_bytes()).await
    }

    async fn write_string(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_u64(bytes.len() as u64).await?;
        self.writer.write_all(bytes).await?;
        let pad = (8 - bytes.len() % 8) % 8;
        self.writer.write_all(&[0u8; 8][..pad]).await
    }

    async fn read_u64(&mut self) -> std::io::Result<u64> {
        self.reader.read_u64().await
    }

    async fn read_string(&mut self) -> Result<Vec<u8>> {
        self.reader.read_string().await
    }

    async fn read_utf8(&mut self) -> Result<String> {
        self.reader.read_utf8().await
    }

    async fn read_strings(&mut self) -> Result<Vec<String>> {
        self.reader.read_strings().await
    }
}

impl Reader {
    /// Reads the daemon's log messages up to `STDERR_LAST`; an error message becomes `Err`.
    async fn finish_stderr(&mut self, minor: u64) -> Result<()> {
        loop {
            match self.read_u64().await? {
                STDERR_LAST => return Ok(()),
                STDERR_NEXT => {
                    self.read_string().await?;
                }
                STDERR_START_ACTIVITY => {
                    self.read_u64().await?; // id
                    self.read_u64().await?; // level
                    self.read_u64().await?; // type
                    self.read_string().await?; // text
                    self.skip_fields().await?;
                    self.read_u64().await?; // parent
                }
                STDERR_STOP_ACTIVITY => {
                    self.read_u64().await?;
                }
                STDERR_RESULT => {
                    self.read_u64().await?; // id
                    self.read_u64().await?; // type
                    self.skip_fields().await?;
                }
                STDERR_ERROR => bail!("the Nix daemon said: {}", self.read_error(minor).await?),
                STDERR_READ | STDERR_WRITE => bail!("the Nix daemon asked for a data transfer"),
                other => bail!("unexpected message {other:#x} from the Nix daemon"),
            }
        }
    }

    async fn read_error(&mut self, minor: u64) -> Result<String> {
        if minor < 26 {
            let message = self.read_utf8().await?;
            self.read_u64().await?; // exit status
            return Ok(message);
        }
        self.read_string().await?; // "Error"
        self.read_u64().await?; // level
        self.read_string().await?; // name
        let message = self.read_utf8().await?;
        self.read_u64().await?; // position (always absent over the wire)
        for _ in 0..self.read_u64().await? {
            self.read_u64().await?;
            self.read_string().await?;
        }
        Ok(message)
    }

    async fn skip_fields(&mut self) -> Result<()> {
        for _ in 0..self.read_u64().await? {
            match self.read_u64().await? {
                0 => {
                    self.read_u64().await?;
                }
                1 => {
                    self.read_string().await?;
                }
                other => bail!("unknown log field type {other} from the Nix daemon"),
            }
        }
        Ok(())
    }

    async fn read_u64(&mut self) -> std::io::Result<u64> {
        let mut buf = [0u8; 8];
        self.inner.read_exact(&mut buf).await?;
        Ok(u64::from_le_bytes(buf))
    }

    async fn read_string(&mut self) -> Result<Vec<u8>> {
        let len = self.read_u64().await?;
        if len > MAX_STRING {
            bail!("the Nix daemon sent a {len}-byte string");
        }
        let padded = len.div_ceil(8) * 8;
        let mut buf = vec![0u8; padded as usize];
        self.inner.read_exact(&mut buf).await?;
        buf.truncate(len as usize);
        Ok(buf)
    }

    async fn read_utf8(&mut self) -> Result<String> {
        String::from_utf8(self.read_string().await?).context("the Nix daemon sent non-UTF-8 text")
    }

    async fn read_strings(&mut self) -> Result<Vec<String>> {
        let count = self.read_u64().await?;
        let mut out = Vec::with_capacity(count.min(4096) as usize);
        for _ in 0..count {
            out.push(self.read_utf8().await?);
        }
        Ok(out)
    }
}
