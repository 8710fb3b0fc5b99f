//! File helpers of the local backend: temp files that clean up after themselves, directory
//! fsync, and read-ahead streaming.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{READ_AHEAD_CHUNKS, READ_CHUNK};
use crate::ByteStream;

/// Removes a file when dropped, unless [`TempFile::keep`] was called.
pub(super) struct TempFile(pub(super) Option<PathBuf>);

impl TempFile {
    pub(super) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Streams `len` bytes of `file` from a blocking thread that reads the next chunks while the
/// caller is still sending the previous ones. Dropping the stream stops the reader.
pub(super) fn read_ahead(mut file: std::fs::File, len: u64) -> ByteStream<'static> {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let mut chunk = vec![0u8; READ_CHUNK.min(left as usize)];
            let message = match file.read(&mut chunk) {
                Ok(0) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the object is shorter than its metadata says",
                )),
                Ok(n) => {
                    chunk.truncate(n);
                    left -= n as u64;
                    Ok(Bytes::from(chunk))
                }
                Err(e) => Err(e),
            };
            let failed = message.is_err();
            if tx.blocking_send(message).is_err() || failed {
                return;
            }
        }
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
