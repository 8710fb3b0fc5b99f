//! What a crash leaves behind: upload temp files no upload writes to any more, and blobs that
//! were renamed into place but whose metadata never committed. Neither is visible to anyone;
//! both only take disk space until swept.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::{Blocking, LocalObjectStore};
use crate::{ObjectError, ObjectMeta};

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Upload temp files.
    pub temp_files: u64,
    /// Blobs no metadata names.
    pub orphan_blobs: u64,
}

/// How long ago a file was last written; `None` when that cannot be told.
fn age(path: &Path) -> Option<Duration> {
    std::fs::metadata(path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()
}

impl LocalObjectStore {
    /// Removes the leftovers of crashed uploads of `app` that are older than `stale_after`.
    ///
    /// An upload in flight writes its temp file at least every [`crate::UPLOAD_STALL_TIMEOUT`]
    /// (or is cut), and a finished blob is named by its metadata moments after it is renamed
    /// into place, so with `stale_after` well above both, nothing in use is touched, even
    /// while other processes upload.
    pub(super) fn sweep_app(&self, app: &str, stale_after: Duration) -> Result<Swept, ObjectError> {
        let inner = self.inner();
        let app_dir = inner.app_dir(app)?;
        let mut swept = Swept::default();
        if let Ok(entries) = std::fs::read_dir(app_dir.join("tmp")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if age(&path).is_some_and(|age| age > stale_after)
                    && std::fs::remove_file(&path).is_ok()
                {
                    swept.temp_files += 1;
                }
            }
        }
        let Ok(shards) = std::fs::read_dir(app_dir.join("blobs")) else {
            return Ok(swept);
        };
        // Candidates first, then the names in use: a blob committed while this runs is young,
        // so it is not a candidate whichever order its commit and this listing happen in.
        let mut candidates = Vec::new();
        for shard in shards.flatten() {
            let Ok(blobs) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for blob in blobs.flatten() {
                let path = blob.path();
                if age(&path).is_some_and(|age| age > stale_after) {
                    candidates.push(path);
                }
            }
        }
        if candidates.is_empty() {
            return Ok(swept);
        }
        let named = named_blobs(&inner, app)?;
        for path in candidates {
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !named.contains(id) && std::fs::remove_file(&path).is_ok() {
                swept.orphan_blobs += 1;
            }
        }
        Ok(swept)
    }
}

/// Every blob id the metadata of `app` names. Fails rather than guess when an entry cannot be
/// read, so that a damaged entry never gets its blob deleted.
fn named_blobs(inner: &Blocking, app: &str) -> Result<HashSet<String>, ObjectError> {
    let store = Blocking::store(app);
    let mut named = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = inner.kv.list_keys(&store, "", cursor.as_deref())?;
        // Metadata keys start with a bucket name; the store's own records (`~...`) do not.
        for key in page.keys.iter().filter(|key| !key.starts_with('~')) {
            if let Some(bytes) = inner.kv.get(&store, key)? {
                let meta: ObjectMeta = serde_json::from_slice(&bytes)
                    .map_err(|e| ObjectError::Corrupt(format!("{key}: {e}")))?;
                named.insert(meta.id);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(named),
        }
    }
}
