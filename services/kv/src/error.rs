/// Why a key-value operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// The caller's input breaks a rule (key too long, not a counter, ...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The backend could not do the work.
    #[error("storage failure: {0}")]
    Storage(String),
}

macro_rules! storage_error_from {
    ($($source:ty),* $(,)?) => {$(
        impl From<$source> for KvError {
            fn from(error: $source) -> Self {
                KvError::Storage(error.to_string())
            }
        }
    )*};
}

storage_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);
