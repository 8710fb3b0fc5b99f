//! Copying the blobs that a set of object metadata names, for backups and restores: each blob
//! is hard-linked (blobs never change once written, so a link is a copy that costs no space),
//! or copied when the target is on another file system.

use std::path::Path;

use super::sweep::named_blobs;
use super::{Blocking, LocalObjectStore, blocking};
use crate::ObjectError;

/// What [`LocalObjectStore::copy_blobs`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobCopy {
    /// Blobs linked or copied.
    pub copied: u64,
    /// Blobs named by the metadata but not found (deleted since the metadata was read).
    pub missing: Vec<String>,
}

impl LocalObjectStore {
    /// [`crate::ObjectStore::copy_blobs`] of this store.
    pub(super) async fn copy_named_blobs(
        &self,
        app: &str,
        to: &Path,
    ) -> Result<BlobCopy, ObjectError> {
        let (inner, app, to) = (self.inner.clone(), app.to_string(), to.to_path_buf());
        blocking(move || inner.copy_blobs(&app, &to)).await
    }
}

impl Blocking {
    fn copy_blobs(&self, app: &str, to: &Path) -> Result<BlobCopy, ObjectError> {
        let mut copy = BlobCopy::default();
        let mut ids: Vec<String> = named_blobs(self, app)?.into_iter().collect();
        ids.sort();
        for id in ids {
            let from = self.blob_path(app, &id)?;
            let relative = from
                .strip_prefix(&self.root)
                .map_err(|_| ObjectError::Corrupt(format!("blob {id} lies outside the store")))?;
            let target = to.join(relative);
            // Only a plain file is a blob: a link planted in a backup's (or a data
            // directory's) blobs would hand out whatever it points at.
            match std::fs::symlink_metadata(&from) {
                Ok(meta) if meta.file_type().is_file() => {}
                Ok(_) => {
                    return Err(ObjectError::Corrupt(format!(
                        "blob {id} at {} is not a plain file",
                        from.display()
                    )));
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    copy.missing.push(id);
                    continue;
                }
                Err(error) => return Err(error.into()),
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let linked = std::fs::hard_link(&from, &target).or_else(|error| {
                match error.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::AlreadyExists => Err(error),
                    // Another file system, or one without links.
                    _ => std::fs::copy(&from, &target).map(drop),
                }
            });
            match linked {
                Ok(()) => copy.copied += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => copy.missing.push(id),
                // The same blob is there already (a restore into what a backup left).
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => copy.copied += 1,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use crate::{BucketId, LocalObjectStore, ObjectStore, PutOptions};

    #[tokio::test]
    async fn the_blobs_a_snapshot_names_are_linked_and_a_deleted_one_is_reported() {
        let dir = tempfile::tempdir().expect("dir");
        let kv: Arc<dyn nimbus_kv::KvStore> =
            Arc::new(nimbus_kv::RedbKvStore::open(&dir.path().join("kv.redb")).expect("open"));
        let root = dir.path().join("objects");
        let store = LocalObjectStore::new(root.clone(), Arc::clone(&kv));
        let bucket = BucketId::new("app", "files");
        for key in ["a.txt", "b.txt"] {
            let body = Box::pin(futures::stream::once(async move {
                Ok::<_, std::io::Error>(Bytes::from(format!("content of {key}")))
            }));
            store
                .put(&bucket, key, body, PutOptions::upsert("text/plain"))
                .await
                .expect("put");
        }
        let to = dir.path().join("backup");
        let copy = store.copy_blobs("app", &to).await.expect("copy");
        assert_eq!(copy.copied, 2);
        assert!(copy.missing.is_empty());
        let a = store.head(&bucket, "a.txt").await.expect("head");
        let linked = to.join("app/blobs").join(&a.id[..2]).join(&a.id);
        assert_eq!(
            std::fs::read_to_string(&linked).expect("linked blob"),
            "content of a.txt"
        );

        // Metadata read before a delete names a blob that is gone by the time it is copied.
        let snapshot = dir.path().join("snapshot.redb");
        kv.backup(&snapshot).await.expect("backup");
        store.delete(&bucket, "b.txt").await.expect("delete");
        let from_snapshot: Arc<dyn nimbus_kv::KvStore> =
            Arc::new(nimbus_kv::RedbKvStore::open(&snapshot).expect("open"));
        let stale = LocalObjectStore::new(root, from_snapshot);
        let copy = stale
            .copy_blobs("app", &dir.path().join("second"))
            .await
            .expect("copy");
        assert_eq!(copy.copied, 1);
        assert_eq!(copy.missing.len(), 1);

        // A blob that is a link (planted in a tampered backup) is refused, not followed.
        std::fs::remove_file(&linked).expect("remove");
        std::os::unix::fs::symlink("/etc/passwd", &linked).expect("symlink");
        let from_backup = LocalObjectStore::new(to.clone(), Arc::clone(&kv));
        let refused = from_backup
            .copy_blobs("app", &dir.path().join("third"))
            .await;
        assert!(
            matches!(refused, Err(crate::ObjectError::Corrupt(_))),
            "{refused:?}"
        );
    }
}
