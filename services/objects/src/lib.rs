//! The nimbus object storage service.
//!
//! [`ObjectStore`] is the contract every backend keeps; [`LocalObjectStore`] keeps bytes in
//! files and metadata in a [`nimbus_kv::KvStore`]. Bodies stream both ways: no method holds a
//! whole object in memory.
#![deny(missing_docs)]

mod changes;
mod error;
mod key;
mod local;
mod metadata;
mod moving;
mod range;
mod signing;

use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};

pub use changes::{Change, ChangeHook};
pub use error::ObjectError;
pub use key::{MAX_KEY_BYTES, validate_key, validate_name, validate_prefix};
pub use local::{BlobCopy, LocalObjectStore, OBJECTS_STORE, Swept};
pub use metadata::{LEGACY_METADATA_NAME, MAX_METADATA_BYTES, Metadata, validate_metadata};
pub use moving::move_object;
pub use range::RangeSpec;
pub use signing::{
    InvalidLifetime, MAX_SIGNED_URL_TTL, SignatureError, UrlSigner, signed_url_expiry,
    signed_url_path, unix_now, url_encode,
};

/// An upload that delivers no bytes for this long is cut (and leaves nothing behind), so that
/// a stalled client cannot hold an upload open forever and every leftover of a crashed upload
/// is old after a bounded time.
pub const UPLOAD_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A body, in chunks.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'a>>;

/// Most entries one [`ObjectStore::list`] call returns.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Names one bucket of one app.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketId {
    /// The `[app] name`.
    pub app: String,
    /// The `[bucket.NAME]`.
    pub bucket: String,
}

impl BucketId {
    /// Builds a bucket id.
    pub fn new(app: impl Into<String>, bucket: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            bucket: bucket.into(),
        }
    }
}

/// What a write may do to an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Only create: an existing key fails with [`ObjectError::AlreadyExists`].
    Create,
    /// Only replace: a missing key fails with [`ObjectError::NotFound`].
    Replace,
    /// Create or replace.
    Upsert,
}

/// How to store a new object.
#[derive(Debug, Clone)]
pub struct PutOptions {
    /// `Content-Type` to serve it with.
    pub content_type: String,
    /// `Cache-Control` to serve it with.
    pub cache_control: Option<String>,
    /// Largest body accepted; a larger one stores nothing.
    pub max_size: Option<u64>,
    /// Create, replace or either.
    pub mode: WriteMode,
    /// The user's own metadata, kept beside the object.
    pub user_metadata: Metadata,
}

impl PutOptions {
    /// Options for an upsert of `content_type` with no size limit.
    pub fn upsert(content_type: impl Into<String>) -> Self {
        Self {
            content_type: content_type.into(),
            cache_control: None,
            max_size: None,
            mode: WriteMode::Upsert,
            user_metadata: Metadata::new(),
        }
    }
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Its key in its bucket.
    pub key: String,
    /// Unique per stored version: the condition of [`ObjectStore::delete_if_version`] and
    /// [`CopyOptions::source_version`].
    pub id: String,
    /// Bytes.
    pub size: u64,
    /// An opaque tag of this version of the content: equal tags mean equal content (the local
    /// backend uses the hex SHA-256; others may use their own, as S3 does).
    pub etag: String,
    /// `Content-Type`.
    pub content_type: String,
    /// `Cache-Control`.
    #[serde(default)]
    pub cache_control: Option<String>,
    /// Milliseconds since the epoch when the key was first written.
    pub created_at_ms: u64,
    /// Milliseconds since the epoch of the last write.
    pub updated_at_ms: u64,
    /// The user's own metadata: names and values, as S3 keeps them.
    #[serde(default, deserialize_with = "metadata::lenient")]
    pub user_metadata: Metadata,
}

/// How to copy an object.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Create, replace or either, at the destination.
    pub mode: WriteMode,
    /// Copy only if the source is this stored version ([`ObjectMeta::id`]), else
    /// [`ObjectError::PreconditionFailed`] (S3: a copy of a given `versionId`).
    pub source_version: Option<String>,
}

impl CopyOptions {
    /// Copy whatever the source holds, with `mode` at the destination.
    pub fn new(mode: WriteMode) -> Self {
        Self {
            mode,
            source_version: None,
        }
    }
}

/// An object being read.
pub struct ObjectRead {
    /// Its metadata.
    pub meta: ObjectMeta,
    /// First byte of the body within the object.
    pub start: u64,
    /// Bytes in the body.
    pub len: u64,
    /// The bytes.
    pub body: ByteStream<'static>,
}

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys that have this after the prefix into one entry per folder.
    pub delimiter: Option<char>,
    /// From [`ListPage::cursor`] of the previous page.
    pub cursor: Option<String>,
    /// Most entries (objects plus folders) to return, at most [`MAX_LIST_LIMIT`].
    pub limit: usize,
}

/// One page of a listing, in key order.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Objects.
    pub objects: Vec<ObjectMeta>,
    /// Folders (`prefix` + text up to and including the delimiter).
    pub folders: Vec<String>,
    /// Pass back to continue; `None` when complete.
    pub cursor: Option<String>,
}

/// An object storage backend.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `body` under `key`. Atomic: readers see the old object or the new one, and a
    /// failed, interrupted or oversized upload leaves nothing behind. Durable once it returns.
    async fn put(
        &self,
        bucket: &BucketId,
        key: &str,
        body: ByteStream<'_>,
        options: PutOptions,
    ) -> Result<ObjectMeta, ObjectError>;
    /// Reads the object, or the part `range` names.
    async fn get(
        &self,
        bucket: &BucketId,
        key: &str,
        range: Option<RangeSpec>,
    ) -> Result<ObjectRead, ObjectError>;
    /// The object's metadata.
    async fn head(&self, bucket: &BucketId, key: &str) -> Result<ObjectMeta, ObjectError>;
    /// Deletes the object; returns whether there was one (what S3's `DeleteObject` can say too,
    /// without a read first).
    async fn delete(&self, bucket: &BucketId, key: &str) -> Result<bool, ObjectError>;
    /// Deletes the object only while it is the stored version `version` ([`ObjectMeta::id`]);
    /// returns whether it did. Any write committed since that version was read survives, even
    /// one of the same bytes (whose etag would be the same).
    async fn delete_if_version(
        &self,
        bucket: &BucketId,
        key: &str,
        version: &str,
    ) -> Result<bool, ObjectError>;
    /// Lists objects and folders.
    async fn list(&self, bucket: &BucketId, query: ListQuery) -> Result<ListPage, ObjectError>;
    /// Deletes every object whose key starts with `prefix`; returns how many.
    async fn delete_prefix(&self, bucket: &BucketId, prefix: &str) -> Result<u64, ObjectError>;
    /// Copies an object (possibly across buckets of one app). Moving is a copy and a
    /// conditional delete above this trait: [`move_object`].
    async fn copy(
        &self,
        from: &BucketId,
        from_key: &str,
        to: &BucketId,
        to_key: &str,
        options: CopyOptions,
    ) -> Result<ObjectMeta, ObjectError>;
    /// Removes what crashed uploads of `app` left that is older than `stale_after`: nothing
    /// anyone can see, only space.
    async fn sweep_leftovers(
        &self,
        app: &str,
        stale_after: std::time::Duration,
    ) -> Result<Swept, ObjectError>;
    /// Puts into the directory `to` every object body of `app` that this store's metadata
    /// names, laid out as this backend keeps them, reading the metadata from one snapshot: for
    /// backups (of a store whose metadata is a backup's) and restores. A body named but gone
    /// (deleted since the metadata was read) is reported, not an error. Backends that keep
    /// bodies elsewhere refuse with [`ObjectError::Io`].
    async fn copy_blobs(&self, app: &str, to: &std::path::Path) -> Result<BlobCopy, ObjectError> {
        let _ = (app, to);
        Err(ObjectError::Io(std::io::Error::other(
            "this object backend cannot copy its bodies to a directory",
        )))
    }
}
