//! Byte ranges of an object, as the `Range: bytes=...` header names them (the gateway parses
//! the header; each backend resolves the range against the object it reads).

use crate::ObjectError;

/// One range of an HTTP `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=a-b` (inclusive).
    Bounded(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// The `(start, len)` this range selects of an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), ObjectError> {
        let unsatisfiable = Err(ObjectError::RangeNotSatisfiable { size });
        match self {
            Self::Bounded(start, end) if start < size && start <= end => {
                Ok((start, end.min(size - 1) - start + 1))
            }
            Self::From(start) if start < size => Ok((start, size - start)),
            Self::Suffix(n) if n > 0 && size > 0 => {
                let n = n.min(size);
                Ok((size - n, n))
            }
            _ => unsatisfiable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_object() {
        assert_eq!(RangeSpec::Bounded(0, 99).resolve(10).ok(), Some((0, 10)));
        assert_eq!(RangeSpec::From(4).resolve(10).ok(), Some((4, 6)));
        assert_eq!(RangeSpec::Suffix(3).resolve(10).ok(), Some((7, 3)));
        assert_eq!(RangeSpec::Suffix(30).resolve(10).ok(), Some((0, 10)));
        assert!(RangeSpec::From(10).resolve(10).is_err());
        assert!(RangeSpec::Suffix(1).resolve(0).is_err());
    }

    #[test]
    fn extreme_ranges_resolve_without_overflow() {
        assert_eq!(
            RangeSpec::Bounded(0, u64::MAX).resolve(10).ok(),
            Some((0, 10))
        );
        assert_eq!(
            RangeSpec::Bounded(9, u64::MAX).resolve(u64::MAX).ok(),
            Some((9, u64::MAX - 9))
        );
        assert_eq!(
            RangeSpec::Suffix(u64::MAX).resolve(u64::MAX).ok(),
            Some((0, u64::MAX))
        );
        assert_eq!(
            RangeSpec::From(u64::MAX - 1).resolve(u64::MAX).ok(),
            Some((u64::MAX - 1, 1))
        );
        for unsatisfiable in [
            RangeSpec::Bounded(u64::MAX, u64::MAX),
            RangeSpec::From(u64::MAX),
            // An end before the start, which no parsed header gives.
            RangeSpec::Bounded(5, 3),
            RangeSpec::Suffix(0),
        ] {
            assert!(
                matches!(
                    unsatisfiable.resolve(10),
                    Err(ObjectError::RangeNotSatisfiable { size: 10 })
                ),
                "{unsatisfiable:?}"
            );
        }
        assert!(
            RangeSpec::Bounded(u64::MAX, u64::MAX)
                .resolve(u64::MAX)
                .is_err()
        );
    }
}
