//! Byte ranges, as the `Range: bytes=...` header names them.

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
    /// Parses a single-range `Range` header; `None` for anything else (which HTTP says to
    /// ignore, serving the whole object).
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (start, end) = spec.split_once('-')?;
        let (start, end) = (start.trim(), end.trim());
        match (start.is_empty(), end.is_empty()) {
            (true, false) => position(end).map(Self::Suffix),
            (false, true) => position(start).map(Self::From),
            (false, false) => {
                let (a, b) = (position(start)?, position(end)?);
                (a <= b).then_some(Self::Bounded(a, b))
            }
            (true, true) => None,
        }
    }

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

/// A byte position of the header: digits only, and one too large for a `u64` saturates (it is
/// past the end of any object, which HTTP says is unsatisfiable, not malformed).
fn position(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve() {
        assert_eq!(
            RangeSpec::parse("bytes=0-99"),
            Some(RangeSpec::Bounded(0, 99))
        );
        assert_eq!(RangeSpec::parse("bytes=5-"), Some(RangeSpec::From(5)));
        assert_eq!(RangeSpec::parse("bytes=-3"), Some(RangeSpec::Suffix(3)));
        assert_eq!(RangeSpec::parse("bytes=0-1,4-5"), None);
        assert_eq!(RangeSpec::parse("bytes=9-1"), None);
        assert_eq!(RangeSpec::parse("items=0-1"), None);
        assert_eq!(RangeSpec::Bounded(0, 99).resolve(10).ok(), Some((0, 10)));
        assert_eq!(RangeSpec::From(4).resolve(10).ok(), Some((4, 6)));
        assert_eq!(RangeSpec::Suffix(3).resolve(10).ok(), Some((7, 3)));
        assert_eq!(RangeSpec::Suffix(30).resolve(10).ok(), Some((0, 10)));
        assert!(RangeSpec::From(10).resolve(10).is_err());
        assert!(RangeSpec::Suffix(1).resolve(0).is_err());
    }

    #[test]
    fn positions_past_u64_saturate_and_signs_are_refused() {
        let huge = "99999999999999999999";
        assert_eq!(
            RangeSpec::parse(&format!("bytes={huge}-")),
            Some(RangeSpec::From(u64::MAX))
        );
        assert_eq!(
            RangeSpec::parse(&format!("bytes=0-{huge}")),
            Some(RangeSpec::Bounded(0, u64::MAX))
        );
        assert_eq!(
            RangeSpec::parse(&format!("bytes=-{huge}")),
            Some(RangeSpec::Suffix(u64::MAX))
        );
        assert_eq!(
            RangeSpec::parse(&format!("bytes={huge}-{huge}")),
            Some(RangeSpec::Bounded(u64::MAX, u64::MAX))
        );
        assert_eq!(RangeSpec::parse("bytes=+1-2"), None);
        assert_eq!(RangeSpec::parse("bytes=1-+2"), None);
        assert_eq!(RangeSpec::parse("bytes=-+2"), None);
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
            // Made by code rather than parsed: an end before the start.
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
