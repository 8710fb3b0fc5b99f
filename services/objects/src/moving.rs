//! Moving an object, above the [`ObjectStore`] trait: a copy of one version of the source and
//! a delete of that version only, as on S3, which has no rename.

use crate::{BucketId, CopyOptions, ObjectError, ObjectMeta, ObjectStore, WriteMode};

/// Times a move starts over when the source changes under it.
const ATTEMPTS: usize = 3;

/// Moves `from`/`from_key` to `to`/`to_key`, which must not exist. One stored version of the
/// source is copied, then deleted only if the source still holds it. When another client got
/// there first (moved or deleted the source, or wrote a newer version), the copy is taken back
/// and the move starts over with what the source holds now: of two racing moves of one
/// object exactly one succeeds, and a write committed meanwhile is never lost. A failure after
/// the copy can leave both keys; nothing is lost either way.
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
            source_version: Some(source.id.clone()),
        };
        let moved = match store.copy(from, from_key, to, to_key, options).await {
            Err(ObjectError::PreconditionFailed) => continue,
            other => other?,
        };
        if store.delete_if_version(from, from_key, &source.id).await? {
            return Ok(moved);
        }
        // Only our own copy is taken back: if someone replaced it meanwhile, theirs stays.
        store.delete_if_version(to, to_key, &moved.id).await?;
    }
    Err(ObjectError::PreconditionFailed)
}
