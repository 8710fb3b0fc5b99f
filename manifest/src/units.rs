//! Human-friendly quantities in the manifest: `"5s"`, `"250ms"`, `"64MiB"`. Each parses inside
//! deserialization (`try_from = "String"`) so a bad value is reported at its line and column.

use std::time::Duration;

use serde::Deserialize;

/// A duration written as a whole number and a unit: `ms`, `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HumanDuration(pub Duration);

impl TryFrom<String> for HumanDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let invalid = || {
            format!(
                "`{text}` is not a duration; write a whole number and a unit, e.g. \"250ms\", \"5s\", \"2m\", \"1h\", \"7d\""
            )
        };
        let (number, unit) = split_number(&text).ok_or_else(invalid)?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid()),
        };
        let millis = number.checked_mul(millis_per_unit).ok_or_else(invalid)?;
        if millis == 0 {
            return Err(format!("`{text}` is zero; a duration must be positive"));
        }
        Ok(Self(Duration::from_millis(millis)))
    }
}

impl HumanDuration {
    /// Parses `text` as [`HumanDuration`] does, for command-line flags and query parameters.
    pub fn parse(text: &str) -> Result<Duration, String> {
        Self::try_from(text.to_string()).map(|d| d.0)
    }
}

/// A size in bytes written as a whole number and a unit: `B`, `KiB`, `MiB`, `GiB` (or `KB`,
/// `MB`, `GB`, read as powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ByteSize(pub u64);

impl TryFrom<String> for ByteSize {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let invalid = || {
            format!(
                "`{text}` is not a size; write a whole number and a unit, e.g. \"512KiB\", \"64MiB\", \"1GiB\""
            )
        };
        let (number, unit) = split_number(&text).ok_or_else(invalid)?;
        let multiplier: u64 = match unit {
            "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return Err(invalid()),
        };
        let bytes = number.checked_mul(multiplier).ok_or_else(invalid)?;
        if bytes == 0 {
            return Err(format!("`{text}` is zero; a size must be positive"));
        }
        Ok(Self(bytes))
    }
}

fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit())?;
    let number = text[..digits_end].parse().ok()?;
    Some((number, text[digits_end..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(text: &str) -> Result<Duration, String> {
        HumanDuration::try_from(text.to_string()).map(|d| d.0)
    }

    fn size(text: &str) -> Result<u64, String> {
        ByteSize::try_from(text.to_string()).map(|s| s.0)
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn durations_without_units_or_zero_are_rejected() {
        for bad in [
            "5",
            "s",
            "five seconds",
            "0s",
            "1.5s",
            "-1s",
            "99999999999999999999h",
        ] {
            assert!(duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!(size("64MiB"), Ok(64 << 20));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("10MB"), Ok(10_000_000));
        assert_eq!(size("512 KiB"), Ok(512 << 10));
    }

    #[test]
    fn sizes_with_unknown_units_are_rejected() {
        for bad in ["64", "64mb", "64 megabytes", "0MiB"] {
            assert!(size(bad).is_err(), "{bad} should be rejected");
        }
    }
}
