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
    /// The failure is shown in the message, not chained as the source, so that an error
    /// printed with its causes (the CLI's) says it once.
    #[error("object storage I/O failed: {0}")]
    Io(std::io::Error),
    /// The metadata store failed.
    /// The failure is shown in the message, not chained as the source, as for `Io`.
    #[error("object metadata store failed: {0}")]
    Metadata(KvError),
    /// A stored record could not be read back.
    #[error("corrupt object metadata: {0}")]
    Corrupt(String),
}

impl From<std::io::Error> for ObjectError {
    fn from(error: std::io::Error) -> Self {
        ObjectError::Io(error)
    }
}

impl From<KvError> for ObjectError {
    fn from(error: KvError) -> Self {
        ObjectError::Metadata(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error's message followed by each of its sources, as the CLI prints an error.
    fn causes(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(inner) = cause {
            text.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        text
    }

    #[test]
    fn a_failure_beneath_is_named_once_with_its_causes() {
        let io = ObjectError::from(std::io::Error::other("disk on fire"));
        assert_eq!(causes(&io), "object storage I/O failed: disk on fire");
        let kv = ObjectError::from(KvError::Storage("table locked".into()));
        assert_eq!(
            causes(&kv),
            "object metadata store failed: storage failure: table locked"
        );
    }
}
