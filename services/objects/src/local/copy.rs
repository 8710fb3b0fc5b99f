//! Copies: a new stored version that hard-links the source's blob (blobs never change once
//! written), published like any write.

use std::time::SystemTime;

use super::Blocking;
use super::files::{TempFile, sync_dir};
use super::{new_id, now_ms};
use crate::{BucketId, CopyOptions, ObjectError, ObjectMeta};

impl Blocking {
    pub(super) fn copy(
        &self,
        from: &BucketId,
        from_key: &str,
        to: &BucketId,
        to_key: &str,
        options: &CopyOptions,
    ) -> Result<ObjectMeta, ObjectError> {
        same_app(from, to)?;
        // The source can be replaced (and its blob removed) between reading its metadata and
        // linking its blob; then the new version is copied, if it may be.
        for _ in 0..3 {
            match self.copy_once(from, from_key, to, to_key, options) {
                Err(ObjectError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
                other => return other,
            }
        }
        Err(ObjectError::NotFound)
    }

    fn copy_once(
        &self,
        from: &BucketId,
        from_key: &str,
        to: &BucketId,
        to_key: &str,
        options: &CopyOptions,
    ) -> Result<ObjectMeta, ObjectError> {
        let (source, _) = self
            .read_meta(from, from_key)?
            .ok_or(ObjectError::NotFound)?;
        if options
            .source_version
            .as_ref()
            .is_some_and(|version| *version != source.id)
        {
            return Err(ObjectError::PreconditionFailed);
        }
        let id = new_id()?;
        let target = self.blob_path(&to.app, &id)?;
        // Blobs never change once written, so a hard link is a copy.
        let source_path = self.blob_path(&from.app, &source.id)?;
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A link shares the source's modification time, and until its metadata commits the
        // new name must look young, or the leftover sweep would take it for an orphan: touch
        // the shared inode first (clients see the times kept in the metadata, not this one).
        std::fs::File::options()
            .write(true)
            .open(&source_path)?
            .set_modified(SystemTime::now())?;
        if std::fs::hard_link(&source_path, &target).is_err() {
            std::fs::copy(&source_path, &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
        let linked = TempFile(Some(target.clone()));
        if let Some(dir) = target.parent() {
            sync_dir(dir)?;
        }
        let now = now_ms();
        let meta = ObjectMeta {
            key: to_key.to_string(),
            id,
            created_at_ms: now,
            updated_at_ms: now,
            ..source
        };
        self.publish(to, meta, options.mode, linked)
    }
}

fn same_app(from: &BucketId, to: &BucketId) -> Result<(), ObjectError> {
    if from.app == to.app {
        Ok(())
    } else {
        Err(ObjectError::InvalidKey(
            "objects move and copy only between buckets of one app".into(),
        ))
    }
}
