//! An object's user metadata: names and text values, as S3 keeps them (`x-amz-meta-*`), so that
//! every backend can store what one accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::ObjectError;

/// Names and values.
pub type Metadata = BTreeMap<String, String>;

/// Most bytes of names plus values one object's metadata may hold (S3's limit for user-defined
/// metadata).
pub const MAX_METADATA_BYTES: usize = 2048;

/// Checks that `metadata` can be stored by any backend: names that can be HTTP header names
/// and stay distinct when lowercased (as S3 stores them), values without control characters,
/// at most [`MAX_METADATA_BYTES`] in all.
pub fn validate_metadata(metadata: &Metadata) -> Result<(), ObjectError> {
    let mut total = 0usize;
    let mut lowercased = std::collections::BTreeSet::new();
    for (name, value) in metadata {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(ObjectError::InvalidMetadata(format!(
                "metadata name `{}` must be ASCII letters, digits or one of !#$%&'*+-.^_`|~",
                name.escape_debug()
            )));
        }
        if !lowercased.insert(name.to_ascii_lowercase()) {
            return Err(ObjectError::InvalidMetadata(format!(
                "metadata names differ only in case (`{name}`); storage may lowercase them"
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(ObjectError::InvalidMetadata(format!(
                "metadata value of `{name}` holds a control character"
            )));
        }
        total = total.saturating_add(name.len() + value.len());
    }
    if total > MAX_METADATA_BYTES {
        return Err(ObjectError::InvalidMetadata(format!(
            "metadata holds {total} bytes of names and values; at most {MAX_METADATA_BYTES} are kept"
        )));
    }
    Ok(())
}

/// RFC 9110's `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Where metadata that earlier versions stored as something other than an object is kept.
pub const LEGACY_METADATA_NAME: &str = "metadata";

/// Reads metadata stored by any version: a map of text, nothing (`null`), or the free-form JSON
/// earlier versions kept. Nothing of that is dropped: a non-text value is kept as its JSON
/// text, and a whole value that was not an object as JSON text under
/// [`LEGACY_METADATA_NAME`].
pub(crate) fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Metadata, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Metadata::new(),
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect(),
        other => Metadata::from([(LEGACY_METADATA_NAME.to_string(), other.to_string())]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_must_be_header_tokens() {
        assert!(validate_metadata(&of(&[("owner-id", "42"), ("x.y_z", "ü")])).is_ok());
        assert!(matches!(
            validate_metadata(&of(&[("Owner", "a"), ("owner", "b")])),
            Err(ObjectError::InvalidMetadata(_))
        ));
        for bad in ["", "two words", "a:b", "é", "new\nline"] {
            assert!(
                matches!(
                    validate_metadata(&of(&[(bad, "v")])),
                    Err(ObjectError::InvalidMetadata(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn values_hold_no_control_characters() {
        assert!(matches!(
            validate_metadata(&of(&[("a", "line\r\nInjected: 1")])),
            Err(ObjectError::InvalidMetadata(_))
        ));
    }

    #[test]
    fn the_total_is_capped() {
        let fits = "v".repeat(MAX_METADATA_BYTES - 1);
        assert!(validate_metadata(&of(&[("a", &fits)])).is_ok());
        let over = "v".repeat(MAX_METADATA_BYTES);
        assert!(matches!(
            validate_metadata(&of(&[("a", &over)])),
            Err(ObjectError::InvalidMetadata(_))
        ));
    }

    #[derive(Deserialize)]
    struct Stored {
        #[serde(default, deserialize_with = "lenient")]
        user_metadata: Metadata,
    }

    #[test]
    fn metadata_stored_by_earlier_versions_reads_back() {
        let read = |json: &str| {
            serde_json::from_str::<Stored>(json)
                .expect("json")
                .user_metadata
        };
        assert_eq!(read(r#"{}"#), Metadata::new());
        assert_eq!(read(r#"{"user_metadata": null}"#), Metadata::new());
        assert_eq!(
            read(r#"{"user_metadata": {"a": "x", "n": 5, "o": {"k": true}}}"#),
            of(&[("a", "x"), ("n", "5"), ("o", r#"{"k":true}"#)])
        );
        assert_eq!(
            read(r#"{"user_metadata": [1, "two"]}"#),
            of(&[(LEGACY_METADATA_NAME, r#"[1,"two"]"#)])
        );
    }
}
