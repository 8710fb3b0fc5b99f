//! A [`KvStore`] shared between processes of one host: one process owns the backend and
//! serves it on a Unix socket ([`serve`]); the others use [`RemoteKvStore`]. This is what lets
//! `nimbus up` run one single-threaded worker process per core (no cross-core TLB shootdowns
//! between Wasm workers) while redb, which one process at a time may open, stays in one.
//!
//! Each message is one length-delimited frame (tokio-util's codec) holding a postcard-encoded
//! request or response; a message is encoded once, straight into the frame it travels in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::{
    Batch, EntryPage, KeyPage, KvError, KvStore, LIST_PAGE_SIZE, MAX_KEY_BYTES, MAX_VALUE_BYTES,
    SnapshotVisitor, StoreId,
};

/// Room for a message's store ids, enum tags and length prefixes.
const FRAME_OVERHEAD: usize = 64 * 1024;
/// Largest frame either side sends or accepts: a batch comparing and writing two maximal
/// values, or a page of maximal keys, or a scan page (about one maximal value and its keys).
const MAX_FRAME: usize =
    2 * MAX_VALUE_BYTES + (LIST_PAGE_SIZE + 1) * MAX_KEY_BYTES + FRAME_OVERHEAD;
/// Idle connections kept per client.
const POOLED_CONNECTIONS: usize = 16;
/// Connections the owner serves at once; more wait to be accepted.
const MAX_PEER_CONNECTIONS: usize = 1024;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Get(StoreId, String),
    Delete(StoreId, String),
    ListKeys(StoreId, String, Option<String>),
    Scan(StoreId, String, Option<String>, u32),
    Increment(StoreId, String, i64),
    Apply(Batch),
    Backup(PathBuf),
}

impl Request {
    /// Checks the keys, prefixes and cursors the request carries, as the owner would, so that
    /// an oversized key is `Invalid` from every process instead of a frame the owner refuses.
    fn validate(&self) -> Result<(), KvError> {
        match self {
            Request::Get(_, key) | Request::Delete(_, key) | Request::Increment(_, key, _) => {
                crate::validate_key(key)
            }
            Request::ListKeys(_, prefix, cursor) | Request::Scan(_, prefix, cursor, _) => {
                crate::validate_key(prefix)?;
                cursor.as_deref().map_or(Ok(()), crate::validate_key)
            }
            Request::Apply(batch) => batch.validate(),
            Request::Backup(path) if path.is_absolute() => Ok(()),
            Request::Backup(path) => Err(KvError::Invalid(format!(
                "a backup goes to an absolute path, not {}",
                path.display()
            ))),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Value(Option<Vec<u8>>),
    Flag(bool),
    Page(KeyPage),
    Entries(EntryPage),
    Number(i64),
    Invalid(String),
    Storage(String),
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

fn encode<T: Serialize>(message: &T) -> Result<Bytes, KvError> {
    let body = postcard::to_stdvec(message)
        .map_err(|e| KvError::Storage(format!("cannot encode a key-value message: {e}")))?;
    if body.len() > MAX_FRAME {
        return Err(KvError::Invalid(format!(
            "the request is {} bytes; the limit is {MAX_FRAME}",
            body.len()
        )));
    }
    Ok(Bytes::from(body))
}

/// Serves `store` on `listener` until the listener fails; one task per connection.
pub async fn serve(store: Arc<dyn KvStore>, listener: UnixListener) {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_PEER_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&open).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, most likely: let some connections close first.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let _permit = permit;
            let mut framed = Framed::new(stream, codec());
            while let Some(Ok(frame)) = framed.next().await {
                let response = match postcard::from_bytes::<Request>(&frame) {
                    Ok(request) => answer(store.as_ref(), request).await,
                    Err(e) => Response::Invalid(format!("malformed key-value request: {e}")),
                };
                let Ok(frame) = encode(&response) else {
                    break;
                };
                if framed.send(frame).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn answer(store: &dyn KvStore, request: Request) -> Response {
    let result = match request {
        Request::Get(id, key) => store.get(&id, &key).await.map(Response::Value),
        Request::Delete(id, key) => store.delete(&id, &key).await.map(Response::Flag),
        Request::ListKeys(id, prefix, cursor) => store
            .list_keys(&id, &prefix, cursor.as_deref())
            .await
            .map(Response::Page),
        Request::Scan(id, prefix, cursor, limit) => store
            .scan(&id, &prefix, cursor.as_deref(), limit as usize)
            .await
            .map(Response::Entries),
        Request::Increment(id, key, delta) => store
            .increment(&id, &key, delta)
            .await
            .map(Response::Number),
        Request::Apply(batch) => store.apply(batch).await.map(Response::Flag),
        Request::Backup(path) => match request_path_ok(&path) {
            Ok(()) => store.backup(&path).await.map(|()| Response::Flag(true)),
            Err(error) => Err(error),
        },
    };
    result.unwrap_or_else(|error| match error {
        KvError::Invalid(why) => Response::Invalid(why),
        KvError::Storage(why) => Response::Storage(why),
    })
}

/// The owner checks what a client could have skipped.
fn request_path_ok(path: &Path) -> Result<(), KvError> {
    Request::Backup(path.to_path_buf()).validate()
}

type Connection = Framed<UnixStream, LengthDelimitedCodec>;

/// A [`KvStore`] served by another process through [`serve`].
pub struct RemoteKvStore {
    socket: PathBuf,
    /// Idle connections, each with the tokio runtime whose reactor it is registered with: a
    /// connection is only reused on the runtime that made it.
    idle: Mutex<Vec<(tokio::runtime::Id, Connection)>>,
}

impl RemoteKvStore {
    /// A client of the store served on `socket`; connects lazily.
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn call(&self, request: &Request) -> Result<Response, KvError> {
        request.validate()?;
        let frame = encode(request)?;
        let runtime = tokio::runtime::Handle::current().id();
        let pooled = self.idle.lock().ok().and_then(|mut idle| {
            let index = idle.iter().rposition(|(id, _)| *id == runtime)?;
            Some(idle.swap_remove(index).1)
        });
        let mut connection = match pooled {
            Some(connection) => connection,
            None => Framed::new(
                UnixStream::connect(&self.socket).await.map_err(|e| {
                    KvError::Storage(format!(
                        "cannot reach the key-value owner at {}: {e}",
                        self.socket.display()
                    ))
                })?,
                codec(),
            ),
        };
        let lost = |e: std::io::Error| KvError::Storage(format!("key-value owner: {e}"));
        connection.send(frame).await.map_err(lost)?;
        let reply = connection
            .next()
            .await
            .ok_or_else(|| KvError::Storage("key-value owner closed the connection".into()))?
            .map_err(lost)?;
        let response: Response = postcard::from_bytes(&reply)
            .map_err(|e| KvError::Storage(format!("malformed key-value response: {e}")))?;
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() >= POOLED_CONNECTIONS {
                // The oldest first: it may belong to a runtime that is gone.
                idle.remove(0);
            }
            idle.push((runtime, connection));
        }
        match response {
            Response::Invalid(why) => Err(KvError::Invalid(why)),
            Response::Storage(why) => Err(KvError::Storage(why)),
            other => Ok(other),
        }
    }
}

/// A reply of the wrong kind; named by its kind only, so that no stored value (a secret, say)
/// reaches an error message or a log.
fn unexpected(response: Response) -> KvError {
    let kind = match response {
        Response::Value(_) => "a value",
        Response::Flag(_) => "a flag",
        Response::Page(_) => "a page of keys",
        Response::Entries(_) => "a page of entries",
        Response::Number(_) => "a number",
        Response::Invalid(_) => "an invalid-request error",
        Response::Storage(_) => "a storage error",
    };
    KvError::Storage(format!("key-value owner answered out of turn with {kind}"))
}

#[async_trait::async_trait]
impl KvStore for RemoteKvStore {
    async fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self
            .call(&Request::Get(store.clone(), key.to_string()))
            .await?
        {
            Response::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, store: &StoreId, key: &str) -> Result<bool, KvError> {
        match self
            .call(&Request::Delete(store.clone(), key.to_string()))
            .await?
        {
            Response::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    async fn list_keys(
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
        match self.call(&request).await? {
            Response::Page(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    async fn scan(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EntryPage, KvError> {
        let request = Request::Scan(
            store.clone(),
            prefix.to_string(),
            cursor.map(str::to_string),
            u32::try_from(limit).unwrap_or(u32::MAX),
        );
        match self.call(&request).await? {
            Response::Entries(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    async fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError> {
        match self
            .call(&Request::Increment(store.clone(), key.to_string(), delta))
            .await?
        {
            Response::Number(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn apply(&self, batch: Batch) -> Result<bool, KvError> {
        match self.call(&Request::Apply(batch)).await? {
            Response::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    async fn snapshot(
        &self,
        _store: &StoreId,
        _visit: &mut SnapshotVisitor<'_>,
    ) -> Result<(), KvError> {
        Err(KvError::Storage(
            "a consistent scan is only offered by the process that owns the store".into(),
        ))
    }

    async fn purge_expired(&self, _limit: usize) -> Result<usize, KvError> {
        Err(KvError::Storage(
            "only the process that owns the store purges it".into(),
        ))
    }

    async fn backup(&self, to: &Path) -> Result<(), KvError> {
        match self.call(&Request::Backup(to.to_path_buf())).await? {
            Response::Flag(true) => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedbKvStore;

    /// A redb store served on a socket in a fresh directory, and a remote client of it.
    fn served() -> (tempfile::TempDir, Arc<dyn KvStore>, RemoteKvStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let local: Arc<dyn KvStore> =
            Arc::new(RedbKvStore::open(&dir.path().join("kv.redb")).expect("open"));
        let socket = dir.path().join("kv.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        tokio::spawn(serve(Arc::clone(&local), listener));
        let remote = RemoteKvStore::new(&socket);
        (dir, local, remote)
    }

    #[tokio::test]
    async fn the_owner_writes_a_backup_asked_for_remotely_only_to_an_absolute_path() {
        let (dir, _local, remote) = served();
        let s = StoreId::new("app", "s");
        remote.set(&s, "k", b"v").await.expect("set");
        let relative = remote.backup(Path::new("backup.redb")).await;
        assert!(matches!(relative, Err(KvError::Invalid(_))), "{relative:?}");
        let to = dir.path().join("backup.redb");
        remote.backup(&to).await.expect("backup");
        let copy = RedbKvStore::open(&to).expect("open the backup");
        assert_eq!(
            copy.get(&s, "k").await.expect("get").as_deref(),
            Some(&b"v"[..])
        );
    }

    #[tokio::test]
    async fn a_remote_store_behaves_like_the_local_one() -> Result<(), KvError> {
        let (_dir, local, remote) = served();
        let s = StoreId::new("app", "s");
        remote.set(&s, "k", b"v").await?;
        assert_eq!(local.get(&s, "k").await?.as_deref(), Some(&b"v"[..]));
        assert_eq!(remote.get(&s, "k").await?.as_deref(), Some(&b"v"[..]));
        assert!(remote.exists(&s, "k").await?);
        assert_eq!(remote.increment(&s, "n", 5).await?, 5);
        assert!(remote.compare_and_swap(&s, "c", None, b"1").await?);
        assert!(!remote.compare_and_swap(&s, "c", None, b"1").await?);
        assert_eq!(remote.increment(&s, "c", 1).await?, 2);
        remote.set(&s, "t", b"text").await?;
        assert!(matches!(
            remote.increment(&s, "t", 1).await,
            Err(KvError::Invalid(_))
        ));
        assert_eq!(
            remote.list_keys(&s, "", None).await?.keys,
            vec!["c", "k", "n", "t"]
        );
        let page = remote.scan(&s, "", None, 2).await?;
        assert_eq!(
            page.entries,
            vec![("c".into(), b"2".to_vec()), ("k".into(), b"v".to_vec())]
        );
        assert!(!remote.compare_and_delete(&s, "k", b"other").await?);
        assert!(remote.compare_and_delete(&s, "k", b"v").await?);
        assert_eq!(remote.get(&s, "k").await?, None);
        assert!(!remote.delete(&s, "k").await?);
        remote
            .set_expiring(&s, "e", b"x", std::time::Duration::from_secs(60))
            .await?;
        assert!(remote.exists(&s, "e").await?);
        assert!(matches!(
            remote.set(&s, &"x".repeat(MAX_KEY_BYTES + 1), b"").await,
            Err(KvError::Invalid(_))
        ));
        // Larger than any frame: refused the same way, not as a broken connection.
        let huge = "x".repeat(MAX_FRAME + 1);
        assert!(matches!(
            remote.get(&s, &huge).await,
            Err(KvError::Invalid(_))
        ));
        assert!(matches!(
            remote.list_keys(&s, "", Some(&huge)).await,
            Err(KvError::Invalid(_))
        ));
        assert_eq!(
            remote.get(&s, "c").await?.as_deref(),
            Some(&b"2"[..]),
            "the connection still works"
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_largest_allowed_operations_cross_the_socket() -> Result<(), KvError> {
        let (_dir, _local, remote) = served();
        let s = StoreId::new("app", "s");
        let old = vec![1u8; MAX_VALUE_BYTES];
        let new = vec![2u8; MAX_VALUE_BYTES];
        let key = "k".repeat(MAX_KEY_BYTES);
        remote.set(&s, &key, &old).await?;
        assert_eq!(
            remote.get(&s, &key).await?.map(|v| v.len()),
            Some(MAX_VALUE_BYTES)
        );
        assert!(remote.compare_and_swap(&s, &key, Some(&old), &new).await?);
        assert!(!remote.compare_and_swap(&s, &key, Some(&old), &new).await?);
        let oversized = vec![2u8; MAX_VALUE_BYTES + 1];
        assert!(
            !remote
                .compare_and_swap(&s, &key, Some(&oversized), &new)
                .await?
        );
        assert_eq!(remote.get(&s, &key).await?, Some(new));
        let page = remote.scan(&s, "", None, LIST_PAGE_SIZE).await?;
        assert_eq!(page.entries.len(), 1);
        for i in 0..=LIST_PAGE_SIZE {
            let long_key = format!("{i:04}{}", "p".repeat(MAX_KEY_BYTES - 4));
            remote.set(&s, &long_key, b"").await?;
        }
        let page = remote.list_keys(&s, "", None).await?;
        assert_eq!(page.keys.len(), LIST_PAGE_SIZE);
        Ok(())
    }

    #[tokio::test]
    async fn an_unreachable_owner_is_a_storage_error() {
        let remote = RemoteKvStore::new(Path::new("/nonexistent/kv.sock"));
        assert!(matches!(
            remote.get(&StoreId::new("a", "s"), "k").await,
            Err(KvError::Storage(_))
        ));
    }
}
