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
            (true, false) => end.parse().ok().map(Self::Suffix),
            (false, true) => start.parse().ok().map(Self::From),
            (false, false) => {
                let (a, b) = (start.parse().ok()?, end.parse().ok()?);
                (a <= b).then_some(Self::Bounded(a, b))
            }
            (true, true) => None,
        }
    }

    /// The `(start, len)` this range selects of an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), ObjectError> {
        let unsatisfiable = Err(ObjectError::RangeNotSatisfiable { size });
        match self {
            Self::Bounded(start, end) if start < size => Ok((start, end.min(size - 1) - start + 1)),
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
}
