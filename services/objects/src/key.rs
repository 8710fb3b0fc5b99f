//! Object key rules: a key names an object inside one bucket and must never name anything else.

use crate::ObjectError;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Accepts `key` only if it is 1 to [`MAX_KEY_BYTES`] bytes, has no NUL, backslash or control
/// character, does not start with `/`, and has no empty, `.` or `..` segment.
pub fn validate_key(key: &str) -> Result<(), ObjectError> {
    let invalid = |why: &str| Err(ObjectError::InvalidKey(why.to_string()));
    if key.is_empty() {
        return invalid("the key is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid("the key is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return invalid("the key starts with `/`");
    }
    if key.contains('\\') {
        return invalid("the key contains a backslash");
    }
    if key.chars().any(char::is_control) {
        return invalid("the key contains NUL or a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("the key has an empty segment (`//`) or ends with `/`"),
            "." | ".." => return invalid("the key has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Accepts a listing prefix: like a key, but it may be empty or end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), ObjectError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return if prefix.is_empty() {
            Ok(())
        } else {
            Err(ObjectError::InvalidKey("the prefix is `/`".into()))
        };
    }
    validate_key(trimmed)
}

/// Accepts an app or bucket name used in a path: `a-z0-9-_`, 1 to 63 bytes.
pub fn validate_name(name: &str) -> Result<(), ObjectError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ObjectError::InvalidKey(format!(
            "`{name}` is not a valid app or bucket name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_odd_keys_are_rejected() {
        for bad in [
            "",
            "/etc/passwd",
            "../secret",
            "a/../../b",
            "a/./b",
            "..",
            "a\\b",
            "a\0b",
            "a//b",
            "a/",
            "line\nbreak",
            "del\u{7F}",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        // The listing copes with every other code point, the last one included.
        for good in [
            "a",
            "user/photo.png",
            "a..b/c.d",
            "ü/名前.txt",
            "...x",
            "loop/\u{10FFFF}z",
            "\u{FFFF}/\u{D7FF}\u{E000}",
        ] {
            assert!(validate_key(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn prefixes_may_be_empty_or_end_with_a_slash() {
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("user/").is_ok());
        assert!(validate_prefix("user/ph").is_ok());
        assert!(validate_prefix("/").is_err());
        assert!(validate_prefix("../").is_err());
    }
}
