//! An [`ObjectStore`] that counts what passes through it, whoever calls it (a guest, the
//! storage API, a signed URL): operations, bytes stored and bytes read.

use std::sync::Arc;

use metrics::{Counter, counter};
use nimbus_objects::{
    BucketId, ByteStream, CopyOptions, ListPage, ListQuery, ObjectError, ObjectMeta, ObjectRead,
    ObjectStore, PutOptions, RangeSpec, Swept,
};

use super::{OBJECT_BYTES, OBJECT_OPERATIONS};

const PUT: usize = 0;
const GET: usize = 1;
const HEAD: usize = 2;
const DELETE: usize = 3;
const LIST: usize = 4;
const DELETE_PREFIX: usize = 5;
const COPY: usize = 6;
const SWEEP: usize = 7;
/// The `operation` label of each of the above.
const OPERATIONS: [&str; 8] = [
    "put",
    "get",
    "head",
    "delete",
    "list",
    "delete_prefix",
    "copy",
    "sweep",
];

/// Counts the operations of the store it wraps.
pub struct CountedObjects {
    inner: Arc<dyn ObjectStore>,
    operations: [Counter; 8],
    uploaded: Counter,
    downloaded: Counter,
}

impl CountedObjects {
    /// `inner`, counted.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            operations: OPERATIONS.map(|op| counter!(OBJECT_OPERATIONS, "operation" => op)),
            uploaded: counter!(OBJECT_BYTES, "direction" => "uploaded"),
            downloaded: counter!(OBJECT_BYTES, "direction" => "downloaded"),
        }
    }

    fn count(&self, operation: usize) {
        self.operations[operation].increment(1);
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountedObjects {
    async fn put(
        &self,
        bucket: &BucketId,
        key: &str,
        body: ByteStream<'_>,
        options: PutOptions,
    ) -> Result<ObjectMeta, ObjectError> {
        self.count(PUT);
        let meta = self.inner.put(bucket, key, body, options).await?;
        self.uploaded.increment(meta.size);
        Ok(meta)
    }

    async fn get(
        &self,
        bucket: &BucketId,
        key: &str,
        range: Option<RangeSpec>,
    ) -> Result<ObjectRead, ObjectError> {
        self.count(GET);
        let read = self.inner.get(bucket, key, range).await?;
        // What is handed out; a reader that stops early is still counted whole.
        self.downloaded.increment(read.len);
        Ok(read)
    }

    async fn head(&self, bucket: &BucketId, key: &str) -> Result<ObjectMeta, ObjectError> {
        self.count(HEAD);
        self.inner.head(bucket, key).await
    }

    async fn delete(&self, bucket: &BucketId, key: &str) -> Result<bool, ObjectError> {
        self.count(DELETE);
        self.inner.delete(bucket, key).await
    }

    async fn delete_if_version(
        &self,
        bucket: &BucketId,
        key: &str,
        version: &str,
    ) -> Result<bool, ObjectError> {
        self.count(DELETE);
        self.inner.delete_if_version(bucket, key, version).await
    }

    async fn list(&self, bucket: &BucketId, query: ListQuery) -> Result<ListPage, ObjectError> {
        self.count(LIST);
        self.inner.list(bucket, query).await
    }

    async fn delete_prefix(&self, bucket: &BucketId, prefix: &str) -> Result<u64, ObjectError> {
        self.count(DELETE_PREFIX);
        self.inner.delete_prefix(bucket, prefix).await
    }

    async fn copy(
        &self,
        from: &BucketId,
        from_key: &str,
        to: &BucketId,
        to_key: &str,
        options: CopyOptions,
    ) -> Result<ObjectMeta, ObjectError> {
        self.count(COPY);
        self.inner.copy(from, from_key, to, to_key, options).await
    }

    async fn sweep_leftovers(
        &self,
        app: &str,
        stale_after: std::time::Duration,
    ) -> Result<Swept, ObjectError> {
        self.count(SWEEP);
        self.inner.sweep_leftovers(app, stale_after).await
    }

    async fn copy_blobs(
        &self,
        app: &str,
        to: &std::path::Path,
    ) -> Result<nimbus_objects::BlobCopy, ObjectError> {
        self.inner.copy_blobs(app, to).await
    }
}
