use nimbus_kv::KvError;

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// No object under that key.
    #[error("object not found")]
    NotFound,
    /// The key is taken and the write asked not to replace it.
    #[error("the object already exists")]
    AlreadyExists,
    /// The body is larger than the bucket allows; nothing was stored.
    #[error("the object is larger than the bucket's limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The source of a copy is no longer the version asked for.
    #[error("the object changed since it was read")]
    PreconditionFailed,
    /// User metadata that is too large or not names and text.
    #[error("invalid object metadata: {0}")]
    InvalidMetadata(String),
    /// A key that could escape its bucket or is otherwise unusable.
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    /// A `Range` that does not overlap the object.
    #[error("the requested range is not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// The request body failed before it ended (a client disconnect); nothing was stored.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// The filesystem failed.
    #[error("object storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The metadata store failed.
    #[error("object metadata store failed: {0}")]
    Metadata(#[from] KvError),
    /// A stored record could not be read back.
    #[error("corrupt object metadata: {0}")]
    Corrupt(String),
}
