//! Atomic batches: conditions checked and writes applied in one transaction, so that records
//! that belong together (a user, its email index and its first session; an object's metadata
//! and the event it causes) are written together or not at all.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    KvError, MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_TTL, StoreId, validate_key, validate_value,
};

/// What a [`Batch`] requires of a key's current value before it writes anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// The key holds no value.
    Absent,
    /// The key holds some value.
    Present,
    /// The key holds exactly this value.
    Equals(Vec<u8>),
}

impl Condition {
    /// Whether `current` satisfies the condition.
    pub fn holds(&self, current: Option<&[u8]>) -> bool {
        match (self, current) {
            (Condition::Absent, None) => true,
            (Condition::Present, Some(_)) => true,
            (Condition::Equals(expected), Some(current)) => expected.as_slice() == current,
            _ => false,
        }
    }
}

/// One operation of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchOp {
    /// Commit only if `key` meets `condition`.
    Check {
        /// The store.
        store: StoreId,
        /// The key.
        key: String,
        /// What its value must be.
        condition: Condition,
    },
    /// Store `value` under `key`, for `ttl_ms` milliseconds when given.
    Put {
        /// The store.
        store: StoreId,
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Time-to-live in milliseconds from the commit; `None` keeps it until deleted.
        ttl_ms: Option<u64>,
    },
    /// Remove `key`.
    Delete {
        /// The store.
        store: StoreId,
        /// The key.
        key: String,
    },
}

/// Conditions and writes that commit together or not at all. Writes apply in order; every
/// condition is checked against the values before the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The operations, in order.
    pub ops: Vec<BatchOp>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition on `key`.
    pub fn check(mut self, store: &StoreId, key: &str, condition: Condition) -> Self {
        self.ops.push(BatchOp::Check {
            store: store.clone(),
            key: key.to_string(),
            condition,
        });
        self
    }

    /// Adds a write of `value` under `key`.
    pub fn put(mut self, store: &StoreId, key: &str, value: Vec<u8>) -> Self {
        self.ops.push(BatchOp::Put {
            store: store.clone(),
            key: key.to_string(),
            value,
            ttl_ms: None,
        });
        self
    }

    /// Adds a write of `value` under `key` that expires `ttl` after the commit.
    pub fn put_expiring(
        mut self,
        store: &StoreId,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Self {
        self.ops.push(BatchOp::Put {
            store: store.clone(),
            key: key.to_string(),
            value,
            ttl_ms: Some(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
        });
        self
    }

    /// Adds a removal of `key`.
    pub fn delete(mut self, store: &StoreId, key: &str) -> Self {
        self.ops.push(BatchOp::Delete {
            store: store.clone(),
            key: key.to_string(),
        });
        self
    }

    /// Checks the batch against the limits every backend enforces: at most [`MAX_BATCH_OPS`]
    /// operations, and values (written or compared) of at most [`MAX_BATCH_BYTES`] in all,
    /// which is what the cross-process hop carries.
    pub fn validate(&self) -> Result<(), KvError> {
        let bytes: usize = self
            .ops
            .iter()
            .map(|op| match op {
                BatchOp::Put { value, .. } => value.len(),
                BatchOp::Check {
                    condition: Condition::Equals(value),
                    ..
                } => value.len(),
                _ => 0,
            })
            .sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(KvError::Invalid(format!(
                "a batch carries {bytes} bytes of values; the limit is {MAX_BATCH_BYTES}"
            )));
        }
        if self.ops.len() > MAX_BATCH_OPS {
            return Err(KvError::Invalid(format!(
                "a batch holds {} operations; the limit is {MAX_BATCH_OPS}",
                self.ops.len()
            )));
        }
        for op in &self.ops {
            match op {
                BatchOp::Check { key, condition, .. } => {
                    validate_key(key)?;
                    if let Condition::Equals(value) = condition {
                        validate_value(value)?;
                    }
                }
                BatchOp::Put {
                    key, value, ttl_ms, ..
                } => {
                    validate_key(key)?;
                    validate_value(value)?;
                    if let Some(ttl) = ttl_ms {
                        validate_ttl(Duration::from_millis(*ttl))?;
                    }
                }
                BatchOp::Delete { key, .. } => validate_key(key)?,
            }
        }
        Ok(())
    }
}

/// Checks a time-to-live against the limits every backend enforces.
pub fn validate_ttl(ttl: Duration) -> Result<(), KvError> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(KvError::Invalid(format!(
            "a time-to-live must be between 1 ms and {} days",
            MAX_TTL.as_secs() / 86_400
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_match_only_what_they_say() {
        assert!(Condition::Absent.holds(None));
        assert!(!Condition::Absent.holds(Some(b"")));
        assert!(Condition::Present.holds(Some(b"")));
        assert!(!Condition::Present.holds(None));
        assert!(Condition::Equals(b"a".to_vec()).holds(Some(b"a")));
        assert!(!Condition::Equals(b"a".to_vec()).holds(Some(b"b")));
        assert!(!Condition::Equals(Vec::new()).holds(None));
    }

    #[test]
    fn oversized_batches_and_bad_ttls_are_invalid() {
        let s = StoreId::new("a", "s");
        let mut big = Batch::new();
        for i in 0..=MAX_BATCH_OPS {
            big = big.delete(&s, &i.to_string());
        }
        assert!(matches!(big.validate(), Err(KvError::Invalid(_))));
        let zero = Batch::new().put_expiring(&s, "k", Vec::new(), Duration::ZERO);
        assert!(matches!(zero.validate(), Err(KvError::Invalid(_))));
        let long = Batch::new().put_expiring(&s, "k", Vec::new(), MAX_TTL * 2);
        assert!(matches!(long.validate(), Err(KvError::Invalid(_))));
        let fine = Batch::new().put_expiring(&s, "k", Vec::new(), Duration::from_secs(60));
        assert!(fine.validate().is_ok());
        let value = vec![0u8; crate::MAX_VALUE_BYTES];
        let swap = Batch::new()
            .check(&s, "k", Condition::Equals(value.clone()))
            .put(&s, "k", value.clone());
        assert!(
            swap.validate().is_ok(),
            "a compare-and-swap of two maximal values fits"
        );
        let heavy = swap.put(&s, "other", vec![0u8; 1]);
        assert!(matches!(heavy.validate(), Err(KvError::Invalid(_))));
    }
}
