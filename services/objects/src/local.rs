//! The local-filesystem backend: each stored version of an object is an immutable file named by
//! a random id (`DATA/objects/{app}/blobs/ab/abcd...`), and the metadata (key → id, size, etag,
//! content type, times) lives in the app's reserved key-value store [`OBJECTS_STORE`].
//!
//! Keys never become paths, so no key can reach outside the app's directory; the blob path is
//! still checked to lie inside it. A write streams into `tmp/`, is fsynced, renamed into
//! `blobs/`, and only then published by a compare-and-swap of its metadata; an overwrite
//! deletes the old blob after the swap. A reader that opened the old blob keeps reading it
//! (the file lives until closed).

mod backup;
mod copy;
mod files;
mod listing;
mod sweep;

use std::io::{Seek as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt as _;
use nimbus_kv::{Batch, Condition, KvStore, StoreId};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

pub use self::backup::BlobCopy;
use self::files::{TempFile, read_ahead, sync_dir};
pub use self::sweep::Swept;
use crate::{
    BucketId, ByteStream, Change, ChangeHook, CopyOptions, ListPage, ListQuery, ObjectError,
    ObjectMeta, ObjectRead, ObjectStore, PutOptions, RangeSpec, UPLOAD_STALL_TIMEOUT, WriteMode,
    validate_key, validate_metadata, validate_name, validate_prefix,
};

/// The key-value store (per app) holding object metadata. Not a valid manifest store name, so
/// no guest can be granted it.
pub const OBJECTS_STORE: &str = "~objects";
const WRITE_BUFFER: usize = 1 << 20;
const READ_CHUNK: usize = 1 << 20;
const READ_AHEAD_CHUNKS: usize = 4;

/// Objects in files under one root directory.
pub struct LocalObjectStore {
    inner: Blocking,
    stall_timeout: std::time::Duration,
}

enum Chunk {
    Data(Bytes),
    End,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn new_id() -> Result<String, ObjectError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ObjectError::Io(std::io::Error::other(format!("no randomness: {e}"))))?;
    Ok(hex::encode(bytes))
}

fn meta_key(bucket: &BucketId, key: &str) -> String {
    format!("{}/{key}", bucket.bucket)
}

/// Waits for a key-value call from a blocking thread (where the runtime's handle is current).
fn wait<F: std::future::Future>(call: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(call)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ObjectError> + Send + 'static,
) -> Result<T, ObjectError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ObjectError::Io(std::io::Error::other(e.to_string())))?
}

/// The part of the store that runs on blocking threads.
#[derive(Clone)]
struct Blocking {
    root: PathBuf,
    kv: Arc<dyn KvStore>,
    hook: Option<Arc<dyn ChangeHook>>,
    /// What the hook said caused the operation this copy serves.
    cause: u32,
}

impl Blocking {
    fn app_dir(&self, app: &str) -> Result<PathBuf, ObjectError> {
        validate_name(app)?;
        Ok(self.root.join(app))
    }

    fn blob_path(&self, app: &str, id: &str) -> Result<PathBuf, ObjectError> {
        let app_dir = self.app_dir(app)?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ObjectError::Corrupt(format!("`{id}` is not a blob id")));
        }
        let path = app_dir.join("blobs").join(&id[..2]).join(id);
        if !path.starts_with(&app_dir) {
            return Err(ObjectError::InvalidKey(
                "resolves outside the bucket".into(),
            ));
        }
        Ok(path)
    }

    fn store(app: &str) -> StoreId {
        StoreId::new(app, OBJECTS_STORE)
    }

    fn read_meta(
        &self,
        bucket: &BucketId,
        key: &str,
    ) -> Result<Option<(ObjectMeta, Vec<u8>)>, ObjectError> {
        let Some(bytes) = wait(
            self.kv
                .get(&Self::store(&bucket.app), &meta_key(bucket, key)),
        )?
        else {
            return Ok(None);
        };
        let meta = serde_json::from_slice(&bytes)
            .map_err(|e| ObjectError::Corrupt(format!("{}/{key}: {e}", bucket.bucket)))?;
        Ok(Some((meta, bytes)))
    }

    /// Commits `batch` with the hook's writes for `change`; whether its conditions held.
    fn apply_with_change(
        &self,
        mut batch: Batch,
        bucket: &BucketId,
        change: Change<'_>,
    ) -> Result<bool, ObjectError> {
        let writes = match &self.hook {
            Some(hook) => hook.writes(bucket, change, self.cause)?,
            None => Vec::new(),
        };
        let told = !writes.is_empty();
        batch.ops.extend(writes);
        let applied = wait(self.kv.apply(batch))?;
        if applied
            && told
            && let Some(hook) = &self.hook
        {
            hook.committed();
        }
        Ok(applied)
    }

    /// Publishes `meta` under its key as `mode` allows; returns the version it replaced.
    fn commit(
        &self,
        bucket: &BucketId,
        mut meta: ObjectMeta,
        mode: WriteMode,
    ) -> Result<(ObjectMeta, Option<ObjectMeta>), ObjectError> {
        let store = Self::store(&bucket.app);
        let key = meta_key(bucket, &meta.key);
        loop {
            let current = self.read_meta(bucket, &meta.key)?;
            match (&current, mode) {
                (Some(_), WriteMode::Create) => return Err(ObjectError::AlreadyExists),
                (None, WriteMode::Replace) => return Err(ObjectError::NotFound),
                _ => {}
            }
            if let Some((old, _)) = &current {
                meta.created_at_ms = old.created_at_ms;
            }
            let encoded =
                serde_json::to_vec(&meta).map_err(|e| ObjectError::Corrupt(e.to_string()))?;
            let condition = current.as_ref().map_or(Condition::Absent, |(_, bytes)| {
                Condition::Equals(bytes.clone())
            });
            let batch = Batch::new()
                .check(&store, &key, condition)
                .put(&store, &key, encoded);
            if self.apply_with_change(batch, bucket, Change::Stored(&meta))? {
                return Ok((meta, current.map(|(old, _)| old)));
            }
        }
    }

    /// Commits the metadata of a new blob: the blob stays and the one it replaced goes, or, if
    /// the commit fails, the new blob goes (dropping `blob`).
    fn publish(
        &self,
        bucket: &BucketId,
        meta: ObjectMeta,
        mode: WriteMode,
        blob: TempFile,
    ) -> Result<ObjectMeta, ObjectError> {
        let (meta, replaced) = self.commit(bucket, meta, mode)?;
        blob.keep();
        if let Some(old) = replaced {
            self.remove_blob(&bucket.app, &old.id);
        }
        Ok(meta)
    }

    fn remove_blob(&self, app: &str, id: &str) {
        if let Ok(path) = self.blob_path(app, id) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Receives the body, hashing and writing it to a temp file; on [`Chunk::End`] makes it a
    /// durable blob and publishes it.
    fn write(
        &self,
        bucket: &BucketId,
        key: &str,
        options: PutOptions,
        mut chunks: mpsc::Receiver<Chunk>,
    ) -> Result<ObjectMeta, ObjectError> {
        let app_dir = self.app_dir(&bucket.app)?;
        let tmp_dir = app_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let id = new_id()?;
        let tmp_path = tmp_dir.join(&id);
        let file = std::fs::File::create_new(&tmp_path)?;
        let tmp = TempFile(Some(tmp_path.clone()));
        // Held until the file closes: the sweep leaves locked temp files alone, however long
        // a slow upload goes without flushing to them.
        file.lock()?;
        let mut writer = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        loop {
            match chunks.blocking_recv() {
                Some(Chunk::Data(bytes)) => {
                    size += bytes.len() as u64;
                    if let Some(limit) = options.max_size.filter(|limit| size > *limit) {
                        return Err(ObjectError::TooLarge { limit });
                    }
                    hasher.update(&bytes);
                    writer.write_all(&bytes)?;
                }
                Some(Chunk::End) => break,
                None => return Err(ObjectError::Interrupted("the body ended early".into())),
            }
        }
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        // However long the upload and its sync took, the blob is young when its name appears;
        // the leftover sweep goes by this time.
        file.set_modified(SystemTime::now())?;
        drop(file);
        let blob = self.blob_path(&bucket.app, &id)?;
        let blob_dir = blob.parent().unwrap_or(&app_dir).to_path_buf();
        std::fs::create_dir_all(&blob_dir)?;
        std::fs::rename(&tmp_path, &blob)?;
        tmp.keep();
        let published = TempFile(Some(blob));
        sync_dir(&blob_dir)?;
        let now = now_ms();
        let meta = ObjectMeta {
            key: key.to_string(),
            id,
            size,
            etag: hex::encode(hasher.finalize()),
            content_type: options.content_type,
            cache_control: options.cache_control,
            created_at_ms: now,
            updated_at_ms: now,
            user_metadata: options.user_metadata,
        };
        self.publish(bucket, meta, options.mode, published)
    }

    /// The object's metadata, the `(start, len)` of `range`, and its blob opened at `start`.
    /// The blob can be replaced between reading the metadata and opening it; then the
    /// metadata is read again.
    fn open(
        &self,
        bucket: &BucketId,
        key: &str,
        range: Option<RangeSpec>,
    ) -> Result<(ObjectMeta, u64, u64, std::fs::File), ObjectError> {
        for _ in 0..3 {
            let (meta, _) = self.read_meta(bucket, key)?.ok_or(ObjectError::NotFound)?;
            let (start, len) = match range {
                Some(range) => range.resolve(meta.size)?,
                None => (0, meta.size),
            };
            let mut file = match std::fs::File::open(self.blob_path(&bucket.app, &meta.id)?) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            file.seek(std::io::SeekFrom::Start(start))?;
            return Ok((meta, start, len, file));
        }
        Err(ObjectError::NotFound)
    }

    /// Deletes the version it read, only if that is still the one under the key: a write
    /// committed meanwhile is deleted in the next round instead of losing its metadata and
    /// leaving its blob orphaned. With `version`, only that stored version is deleted.
    fn delete(
        &self,
        bucket: &BucketId,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<ObjectMeta>, ObjectError> {
        let store = Self::store(&bucket.app);
        loop {
            let Some((meta, bytes)) = self.read_meta(bucket, key)? else {
                return Ok(None);
            };
            if version.is_some_and(|version| version != meta.id) {
                return Ok(None);
            }
            let full_key = meta_key(bucket, key);
            let batch = Batch::new()
                .check(&store, &full_key, Condition::Equals(bytes))
                .delete(&store, &full_key);
            if self.apply_with_change(batch, bucket, Change::Removed(key))? {
                self.remove_blob(&bucket.app, &meta.id);
                return Ok(Some(meta));
            }
        }
    }

    fn delete_prefix(&self, bucket: &BucketId, prefix: &str) -> Result<u64, ObjectError> {
        validate_prefix(prefix)?;
        let store = Self::store(&bucket.app);
        let full_prefix = format!("{}/{prefix}", bucket.bucket);
        let mut deleted = 0;
        loop {
            let page = wait(self.kv.list_keys(&store, &full_prefix, None))?;
            if page.keys.is_empty() {
                return Ok(deleted);
            }
            for full_key in &page.keys {
                let key = &full_key[bucket.bucket.len() + 1..];
                if self.delete(bucket, key, None)?.is_some() {
                    deleted += 1;
                }
            }
        }
    }
}

impl LocalObjectStore {
    /// Objects under `root` (one directory per app), metadata in `kv`.
    pub fn new(root: impl Into<PathBuf>, kv: Arc<dyn KvStore>) -> Self {
        Self {
            inner: Blocking {
                root: root.into(),
                kv,
                hook: None,
                cause: 0,
            },
            stall_timeout: UPLOAD_STALL_TIMEOUT,
        }
    }

    /// The same store, telling `hook` of every change it commits.
    pub fn with_change_hook(mut self, hook: Arc<dyn ChangeHook>) -> Self {
        self.inner.hook = Some(hook);
        self
    }

    /// The same store, cutting uploads that deliver nothing for `timeout` instead of
    /// [`UPLOAD_STALL_TIMEOUT`].
    pub fn with_stall_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// The blocking part, for one operation begun now: the hook's cause is read here, in the
    /// caller's task.
    fn inner(&self) -> Blocking {
        let mut inner = self.inner.clone();
        if let Some(hook) = &inner.hook {
            inner.cause = hook.cause();
        }
        inner
    }

    /// Deletes the object (only `version` of it, when given) on a blocking thread.
    async fn delete_version(
        &self,
        bucket: &BucketId,
        key: &str,
        version: Option<String>,
    ) -> Result<bool, ObjectError> {
        check(bucket, key)?;
        let (inner, bucket, key) = (self.inner(), bucket.clone(), key.to_string());
        blocking(move || {
            inner
                .delete(&bucket, &key, version.as_deref())
                .map(|deleted| deleted.is_some())
        })
        .await
    }
}

fn check_bucket(bucket: &BucketId) -> Result<(), ObjectError> {
    validate_name(&bucket.app)?;
    validate_name(&bucket.bucket)
}

fn check(bucket: &BucketId, key: &str) -> Result<(), ObjectError> {
    check_bucket(bucket)?;
    validate_key(key)
}

#[async_trait::async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(
        &self,
        bucket: &BucketId,
        key: &str,
        mut body: ByteStream<'_>,
        options: PutOptions,
    ) -> Result<ObjectMeta, ObjectError> {
        check(bucket, key)?;
        validate_metadata(&options.user_metadata)?;
        let (tx, rx) = mpsc::channel(16);
        let inner = self.inner();
        let (bucket_owned, key_owned) = (bucket.clone(), key.to_string());
        let writer = tokio::task::spawn_blocking(move || {
            inner.write(&bucket_owned, &key_owned, options, rx)
        });
        let mut interrupted = None;
        loop {
            let Ok(next) = tokio::time::timeout(self.stall_timeout, body.next()).await else {
                interrupted = Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no bytes arrived for {:?}", self.stall_timeout),
                ));
                break;
            };
            let Some(chunk) = next else {
                break;
            };
            match chunk {
                // A send fails only when the writer stopped early; its error says why.
                Ok(bytes) => {
                    if tx.send(Chunk::Data(bytes)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    interrupted = Some(e);
                    break;
                }
            }
        }
        if interrupted.is_none() {
            let _ = tx.send(Chunk::End).await;
        }
        drop(tx);
        let result = writer
            .await
            .map_err(|e| ObjectError::Io(std::io::Error::other(e.to_string())))?;
        match (result, interrupted) {
            (Err(ObjectError::Interrupted(_)), Some(e)) => {
                Err(ObjectError::Interrupted(e.to_string()))
            }
            (result, _) => result,
        }
    }

    async fn get(
        &self,
        bucket: &BucketId,
        key: &str,
        range: Option<RangeSpec>,
    ) -> Result<ObjectRead, ObjectError> {
        check(bucket, key)?;
        let (inner, bucket, key) = (self.inner(), bucket.clone(), key.to_string());
        let (meta, start, len, file) = blocking(move || inner.open(&bucket, &key, range)).await?;
        Ok(ObjectRead {
            meta,
            start,
            len,
            body: read_ahead(file, len),
        })
    }

    async fn head(&self, bucket: &BucketId, key: &str) -> Result<ObjectMeta, ObjectError> {
        check(bucket, key)?;
        let (inner, bucket, key) = (self.inner(), bucket.clone(), key.to_string());
        blocking(move || {
            Ok(inner
                .read_meta(&bucket, &key)?
                .ok_or(ObjectError::NotFound)?
                .0)
        })
        .await
    }

    async fn delete(&self, bucket: &BucketId, key: &str) -> Result<bool, ObjectError> {
        self.delete_version(bucket, key, None).await
    }

    async fn delete_if_version(
        &self,
        bucket: &BucketId,
        key: &str,
        version: &str,
    ) -> Result<bool, ObjectError> {
        self.delete_version(bucket, key, Some(version.to_string()))
            .await
    }

    async fn list(&self, bucket: &BucketId, query: ListQuery) -> Result<ListPage, ObjectError> {
        check_bucket(bucket)?;
        let (inner, bucket) = (self.inner(), bucket.clone());
        blocking(move || inner.list(&bucket, query)).await
    }

    async fn delete_prefix(&self, bucket: &BucketId, prefix: &str) -> Result<u64, ObjectError> {
        check_bucket(bucket)?;
        let (inner, bucket, prefix) = (self.inner(), bucket.clone(), prefix.to_string());
        blocking(move || inner.delete_prefix(&bucket, &prefix)).await
    }

    async fn copy(
        &self,
        from: &BucketId,
        from_key: &str,
        to: &BucketId,
        to_key: &str,
        options: CopyOptions,
    ) -> Result<ObjectMeta, ObjectError> {
        check(from, from_key)?;
        check(to, to_key)?;
        let inner = self.inner();
        let (from, from_key, to, to_key) = (
            from.clone(),
            from_key.to_string(),
            to.clone(),
            to_key.to_string(),
        );
        blocking(move || inner.copy(&from, &from_key, &to, &to_key, &options)).await
    }

    async fn sweep_leftovers(
        &self,
        app: &str,
        stale_after: std::time::Duration,
    ) -> Result<Swept, ObjectError> {
        let (inner, app) = (self.inner(), app.to_string());
        blocking(move || inner.sweep_app(&app, stale_after)).await
    }

    async fn copy_blobs(&self, app: &str, to: &std::path::Path) -> Result<BlobCopy, ObjectError> {
        self.copy_named_blobs(app, to).await
    }
}

#[cfg(test)]
mod race_tests;
#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod tests;
