//! A [`KvStore`] shared between processes of one host: one process owns the backend and
//! serves it on a Unix socket ([`serve`]); the others use [`RemoteKvStore`]. This is what lets
//! `nimbus up` run one single-threaded worker process per core (no cross-core TLB shootdowns
//! between Wasm workers) while redb, which one process at a time may open, stays in one.
//!
//! Frames are a little-endian `u32` length followed by a postcard-encoded message.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{KeyPage, KvError, KvStore, LIST_PAGE_SIZE, MAX_KEY_BYTES, MAX_VALUE_BYTES, StoreId};

/// Room for a message's store id, enum tags and length prefixes.
const FRAME_OVERHEAD: usize = 64 * 1024;
/// Largest frame accepted: the largest message either side may send, which is a
/// compare-and-swap carrying two maximal values (or a full page of maximal keys).
const MAX_FRAME: usize = {
    let swap = 2 * MAX_VALUE_BYTES + 2 * MAX_KEY_BYTES;
    let page = (LIST_PAGE_SIZE + 1) * MAX_KEY_BYTES;
    (if swap > page { swap } else { page }) + FRAME_OVERHEAD
};
/// Idle connections kept per client.
const POOLED_CONNECTIONS: usize = 16;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Get(StoreId, String),
    Set(StoreId, String, Vec<u8>),
    Delete(StoreId, String),
    Exists(StoreId, String),
    ListKeys(StoreId, String, Option<String>),
    Increment(StoreId, String, i64),
    CompareAndSwap(StoreId, String, Option<Vec<u8>>, Vec<u8>),
}

impl Request {
    /// The keys, prefixes and cursors the request carries.
    fn keys(&self) -> impl Iterator<Item = &str> {
        let (first, second) = match self {
            Request::Get(_, key)
            | Request::Set(_, key, _)
            | Request::Delete(_, key)
            | Request::Exists(_, key)
            | Request::Increment(_, key, _)
            | Request::CompareAndSwap(_, key, _, _) => (key.as_str(), None),
            Request::ListKeys(_, prefix, cursor) => (prefix.as_str(), cursor.as_deref()),
        };
        std::iter::once(first).chain(second)
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Value(Option<Vec<u8>>),
    Done,
    Flag(bool),
    Page(KeyPage),
    Number(i64),
    Invalid(String),
    Storage(String),
}

fn write_frame<T: Serialize>(stream: &mut UnixStream, message: &T) -> std::io::Result<()> {
    let body = postcard::to_stdvec(message).map_err(std::io::Error::other)?;
    let length = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&length.to_le_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame)
}

fn read_frame<T: DeserializeOwned>(stream: &mut UnixStream) -> std::io::Result<T> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {length} bytes is too large"
        )));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    postcard::from_bytes(&body).map_err(std::io::Error::other)
}

/// Serves `store` on `listener` until the listener fails; one thread per connection.
pub fn serve(store: Arc<dyn KvStore>, listener: UnixListener) {
    for connection in listener.incoming() {
        let Ok(mut stream) = connection else {
            continue;
        };
        let store = Arc::clone(&store);
        let spawned = std::thread::Builder::new()
            .name("nimbus-kv-peer".into())
            .spawn(move || {
                while let Ok(request) = read_frame::<Request>(&mut stream) {
                    let response = answer(store.as_ref(), request);
                    if write_frame(&mut stream, &response).is_err() {
                        break;
                    }
                }
            });
        if spawned.is_err() {
            // The peer sees its connection close and reports the store unavailable.
            continue;
        }
    }
}

fn answer(store: &dyn KvStore, request: Request) -> Response {
    let result = match request {
        Request::Get(id, key) => store.get(&id, &key).map(Response::Value),
        Request::Set(id, key, value) => store.set(&id, &key, &value).map(|()| Response::Done),
        Request::Delete(id, key) => store.delete(&id, &key).map(|()| Response::Done),
        Request::Exists(id, key) => store.exists(&id, &key).map(Response::Flag),
        Request::ListKeys(id, prefix, cursor) => store
            .list_keys(&id, &prefix, cursor.as_deref())
            .map(Response::Page),
        Request::Increment(id, key, delta) => {
            store.increment(&id, &key, delta).map(Response::Number)
        }
        Request::CompareAndSwap(id, key, expected, new) => store
            .compare_and_swap(&id, &key, expected.as_deref(), &new)
            .map(Response::Flag),
    };
    result.unwrap_or_else(|error| match error {
        KvError::Invalid(why) => Response::Invalid(why),
        KvError::Storage(why) => Response::Storage(why),
    })
}

/// A [`KvStore`] served by another process through [`serve`].
pub struct RemoteKvStore {
    socket: PathBuf,
    idle: Mutex<Vec<UnixStream>>,
}

impl RemoteKvStore {
    /// A client of the store served on `socket`; connects lazily.
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn call(&self, request: &Request) -> Result<Response, KvError> {
        // Checked here as the owner checks them, so that an oversized key is `Invalid` from
        // every process instead of a frame the owner refuses.
        for key in request.keys() {
            crate::validate_key(key)?;
        }
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut stream = match pooled {
            Some(stream) => stream,
            None => UnixStream::connect(&self.socket).map_err(|e| {
                KvError::Storage(format!(
                    "cannot reach the key-value owner at {}: {e}",
                    self.socket.display()
                ))
            })?,
        };
        let exchange = write_frame(&mut stream, request).and_then(|()| read_frame(&mut stream));
        let response = exchange.map_err(|e| KvError::Storage(format!("key-value owner: {e}")))?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < POOLED_CONNECTIONS
        {
            idle.push(stream);
        }
        match response {
            Response::Invalid(why) => Err(KvError::Invalid(why)),
            Response::Storage(why) => Err(KvError::Storage(why)),
            other => Ok(other),
        }
    }
}

fn unexpected(response: Response) -> KvError {
    KvError::Storage(format!(
        "key-value owner answered out of turn: {response:?}"
    ))
}

impl KvStore for RemoteKvStore {
    fn scan(&self, _store: &StoreId, _visit: &mut crate::ScanVisitor<'_>) -> Result<(), KvError> {
        Err(KvError::Storage(
            "a consistent scan is only offered by the process that owns the store".into(),
        ))
    }

    fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self.call(&Request::Get(store.clone(), key.to_string()))? {
            Response::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    fn set(&self, store: &StoreId, key: &str, value: &[u8]) -> Result<(), KvError> {
        crate::validate_value(value)?;
        match self.call(&Request::Set(
            store.clone(),
            key.to_string(),
            value.to_vec(),
        ))? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn delete(&self, store: &StoreId, key: &str) -> Result<(), KvError> {
        match self.call(&Request::Delete(store.clone(), key.to_string()))? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn exists(&self, store: &StoreId, key: &str) -> Result<bool, KvError> {
        match self.call(&Request::Exists(store.clone(), key.to_string()))? {
            Response::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError> {
        let request = Request::ListKeys(
            store.clone(),
            prefix.to_string(),
            cursor.map(str::to_string),
        );
        match self.call(&request)? {
            Response::Page(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError> {
        match self.call(&Request::Increment(store.clone(), key.to_string(), delta))? {
            Response::Number(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    fn compare_and_swap(
        &self,
        store: &StoreId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        crate::validate_value(new)?;
        if expected.is_some_and(|old| old.len() > MAX_VALUE_BYTES) {
            // No stored value is that large, so it cannot match; and it would not fit a frame.
            return Ok(false);
        }
        let request = Request::CompareAndSwap(
            store.clone(),
            key.to_string(),
            expected.map(<[u8]>::to_vec),
            new.to_vec(),
        );
        match self.call(&request)? {
            Response::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedbKvStore;

    #[test]
    fn a_remote_store_behaves_like_the_local_one() -> Result<(), KvError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let local: Arc<dyn KvStore> = Arc::new(RedbKvStore::open(&dir.path().join("kv.redb"))?);
        let socket = dir.path().join("kv.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let served = Arc::clone(&local);
        std::thread::spawn(move || serve(served, listener));
        let remote = RemoteKvStore::new(&socket);
        let s = StoreId::new("app", "s");
        remote.set(&s, "k", b"v")?;
        assert_eq!(local.get(&s, "k")?.as_deref(), Some(&b"v"[..]));
        assert_eq!(remote.get(&s, "k")?.as_deref(), Some(&b"v"[..]));
        assert!(remote.exists(&s, "k")?);
        assert_eq!(remote.increment(&s, "n", 5)?, 5);
        assert!(remote.compare_and_swap(&s, "c", None, b"1")?);
        assert!(!remote.compare_and_swap(&s, "c", None, b"1")?);
        assert_eq!(remote.list_keys(&s, "", None)?.keys, vec!["c", "k", "n"]);
        remote.delete(&s, "k")?;
        assert_eq!(remote.get(&s, "k")?, None);
        assert!(matches!(
            remote.increment(&s, "c", 1),
            Err(KvError::Invalid(_)) | Ok(_)
        ));
        assert!(matches!(
            remote.set(&s, &"x".repeat(MAX_KEY_BYTES + 1), b""),
            Err(KvError::Invalid(_))
        ));
        // Larger than any frame: refused the same way, not as a broken connection.
        let huge = "x".repeat(MAX_FRAME + 1);
        assert!(matches!(remote.get(&s, &huge), Err(KvError::Invalid(_))));
        assert!(matches!(
            remote.list_keys(&s, "", Some(&huge)),
            Err(KvError::Invalid(_))
        ));
        assert_eq!(remote.get(&s, "k")?, None, "the connection still works");
        Ok(())
    }

    #[test]
    fn the_largest_allowed_operations_cross_the_socket() -> Result<(), KvError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let local: Arc<dyn KvStore> = Arc::new(RedbKvStore::open(&dir.path().join("kv.redb"))?);
        let socket = dir.path().join("kv.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        std::thread::spawn(move || serve(local, listener));
        let remote = RemoteKvStore::new(&socket);
        let s = StoreId::new("app", "s");
        let old = vec![1u8; MAX_VALUE_BYTES];
        let new = vec![2u8; MAX_VALUE_BYTES];
        let key = "k".repeat(MAX_KEY_BYTES);
        remote.set(&s, &key, &old)?;
        assert_eq!(
            remote.get(&s, &key)?.map(|v| v.len()),
            Some(MAX_VALUE_BYTES)
        );
        assert!(remote.compare_and_swap(&s, &key, Some(&old), &new)?);
        assert!(!remote.compare_and_swap(&s, &key, Some(&old), &new)?);
        let oversized = vec![2u8; MAX_VALUE_BYTES + 1];
        assert!(!remote.compare_and_swap(&s, &key, Some(&oversized), &new)?);
        assert_eq!(remote.get(&s, &key)?, Some(new));
        for i in 0..=LIST_PAGE_SIZE {
            let long_key = format!("{i:04}{}", "p".repeat(MAX_KEY_BYTES - 4));
            remote.set(&s, &long_key, b"")?;
        }
        let page = remote.list_keys(&s, "", None)?;
        assert_eq!(page.keys.len(), LIST_PAGE_SIZE);
        Ok(())
    }

    #[test]
    fn an_unreachable_owner_is_a_storage_error() {
        let remote = RemoteKvStore::new(Path::new("/nonexistent/kv.sock"));
        assert!(matches!(
            remote.get(&StoreId::new("a", "s"), "k"),
            Err(KvError::Storage(_))
        ));
    }
}
