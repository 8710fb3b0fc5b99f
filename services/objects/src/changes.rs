//! What a backend tells about the changes it commits: every stored and every removed object,
//! with writes of the caller's ([`ChangeHook`]) that must commit in the same transaction as
//! the change (the event log's record of it), so that a change and its event are both there
//! or neither is.

use nimbus_kv::BatchOp;

use crate::{BucketId, ObjectError, ObjectMeta};

/// A committed change of one object.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A version was stored (created or replaced).
    Stored(&'a ObjectMeta),
    /// The object under this key was removed.
    Removed(&'a str),
}

/// Told of every object change as it commits.
pub trait ChangeHook: Send + Sync + 'static {
    /// What caused the change, read in the caller's context (its task) when an operation
    /// begins, before the backend moves its work to other threads; passed back to
    /// [`ChangeHook::writes`].
    fn cause(&self) -> u32 {
        0
    }

    /// The writes to commit with `change` in `bucket` (none when nothing watches it).
    fn writes(
        &self,
        bucket: &BucketId,
        change: Change<'_>,
        cause: u32,
    ) -> Result<Vec<BatchOp>, ObjectError>;

    /// Called after a change with writes committed.
    fn committed(&self) {}
}
