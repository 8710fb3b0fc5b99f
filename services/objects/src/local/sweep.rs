//! What a crash leaves behind: upload temp files no upload writes to any more, and blobs that
//! were renamed into place but whose metadata never committed. Neither is visible to anyone;
//! both only take disk space until swept.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::{Blocking, wait};
use crate::{ObjectError, ObjectMeta};

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Upload temp files.
    pub temp_files: u64,
    /// Blobs no metadata names.
    pub orphan_blobs: u64,
}

/// How long ago a file was last modified; `None` when that cannot be told. Every new name a
/// blob gets is young from its first moment: an upload touches its file just before renaming
/// it into place, and a copy touches the source before linking to it.
fn age(path: &Path) -> Option<Duration> {
    std::fs::symlink_metadata(path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()
}

/// Whether an upload still writes `path`: it holds a lock on its temp file until it ends, and a
/// crashed process holds none.
fn in_use(path: &Path) -> bool {
    match std::fs::File::open(path) {
        Ok(file) => file.try_lock().is_err(),
        Err(_) => true,
    }
}

impl Blocking {
    /// Removes the leftovers of crashed uploads of `app` that are older than `stale_after`.
    ///
    /// An upload in flight holds a lock on its temp file, which a crashed one no longer does;
    /// a new blob (touched, then renamed into place or linked by a copy) is named by its
    /// metadata moments after it was last modified, so with `stale_after` well
    /// above that, nothing in use is touched, even while other processes upload. Runs only
    /// where the metadata store can be read from one snapshot (the process that owns it).
    pub(super) fn sweep_app(&self, app: &str, stale_after: Duration) -> Result<Swept, ObjectError> {
        let inner = self;
        let app_dir = inner.app_dir(app)?;
        let mut swept = Swept::default();
        if let Ok(entries) = std::fs::read_dir(app_dir.join("tmp")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if age(&path).is_some_and(|age| age > stale_after)
                    && !in_use(&path)
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
        let named = named_blobs(inner, app)?;
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

/// Every blob id the metadata of `app` names, from one snapshot of the store (a move commits
/// the new key before deleting the old one, so a scan in pages could miss both). Fails rather
/// than guess when an entry cannot be read, so that a damaged entry never gets its blob
/// deleted.
pub(super) fn named_blobs(inner: &Blocking, app: &str) -> Result<HashSet<String>, ObjectError> {
    let mut named = HashSet::new();
    let mut unreadable = None;
    wait(inner.kv.snapshot(&Blocking::store(app), &mut |key, value| {
        // Metadata keys start with a bucket name; the store's own records (`~...`) do not.
        if key.starts_with('~') || unreadable.is_some() {
            return Ok(());
        }
        match serde_json::from_slice::<ObjectMeta>(value) {
            Ok(meta) => {
                named.insert(meta.id);
            }
            Err(e) => unreadable = Some(ObjectError::Corrupt(format!("{key}: {e}"))),
        }
        Ok(())
    }))?;
    match unreadable {
        Some(error) => Err(error),
        None => Ok(named),
    }
}
