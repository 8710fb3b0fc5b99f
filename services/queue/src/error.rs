use nimbus_kv::KvError;

/// Why an event log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The caller's input breaks a rule (message too large, delay too long, ...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store under the log failed.
    #[error("storage failure: {0}")]
    Storage(String),
    /// A record in the log cannot be read.
    #[error("a stored event cannot be read: {0}")]
    Corrupt(String),
}

impl From<KvError> for QueueError {
    fn from(error: KvError) -> Self {
        match error {
            KvError::Invalid(why) => QueueError::Invalid(why),
            KvError::Storage(why) => QueueError::Storage(why),
        }
    }
}
