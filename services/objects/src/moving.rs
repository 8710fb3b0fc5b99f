//! Moving an object, above the [`ObjectStore`] trait: a copy of one version of the source and
//! a delete of that version only, as on S3, which has no rename.

use crate::{BucketId, CopyOptions, ObjectError, ObjectMeta, ObjectStore, WriteMode};

/// Times a move starts over when the source changes between reading its etag and copying it.
const ATTEMPTS: usize = 3;

/// Moves `from`/`from_key` to `to`/`to_key`, which must not exist. The destination gets the
/// version read; the source is deleted only if it still holds that version, so that a write
/// committed to the source meanwhile is kept (as if it came after the move), never lost. A
/// failure after the copy leaves both keys; nothing is lost either way.
pub async fn move_object(
    store: &dyn ObjectStore,
    from: &BucketId,
    from_key: &str,
    to: &BucketId,
    to_key: &str,
) -> Result<ObjectMeta, ObjectError> {
    for _ in 0..ATTEMPTS {
        let source = store.head(from, from_key).await?;
        let options = CopyOptions {
            mode: WriteMode::Create,
            source_etag: Some(source.etag.clone()),
        };
        let moved = match store.copy(from, from_key, to, to_key, options).await {
            Err(ObjectError::PreconditionFailed) => continue,
            other => other?,
        };
        store.delete_if_etag(from, from_key, &source.etag).await?;
        return Ok(moved);
    }
    Err(ObjectError::PreconditionFailed)
}
