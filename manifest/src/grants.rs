//! Manifest values that grant access: route auth, bucket rules, bucket and auth grants. Each
//! parses inside deserialization so a bad value is reported at its line and column.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::routes::RoutePattern;

/// Whether a route needs a verified bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// No token needed; none is checked or passed.
    #[default]
    None,
    /// A token is checked and passed when present; a bad one is refused.
    Optional,
    /// No valid token, no invocation: 401.
    Required,
}

impl RouteAuth {
    /// How route listings show it.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Optional => " (auth optional)",
            Self::Required => " (auth required)",
        }
    }
}

/// One entry of `routes`: `"GET /todos"` or `{ route = "/todos/...", auth = "required" }`.
#[derive(Debug)]
pub struct RawRoute {
    /// The pattern.
    pub pattern: RoutePattern,
    /// `auth`, when the table form gives it.
    pub auth: Option<RouteAuth>,
    /// `rate_limit`, when the table form gives it.
    pub rate_limit: Option<crate::rate_limit::RawRateLimit>,
}

impl<'de> Deserialize<'de> for RawRoute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RouteVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            route: RoutePattern,
            #[serde(default)]
            auth: Option<RouteAuth>,
            #[serde(default)]
            rate_limit: Option<crate::rate_limit::RawRateLimit>,
        }

        impl<'de> Visitor<'de> for RouteVisitor {
            type Value = RawRoute;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a route like \"GET /todos\" or a table like { route = \"/todos/...\", auth = \"required\" }",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawRoute, E> {
                RoutePattern::parse(text)
                    .map(|pattern| RawRoute {
                        pattern,
                        auth: None,
                        rate_limit: None,
                    })
                    .map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawRoute, A::Error> {
                let table = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawRoute {
                    pattern: table.route,
                    auth: table.auth,
                    rate_limit: table.rate_limit,
                })
            }
        }

        deserializer.deserialize_any(RouteVisitor)
    }
}

/// Words that `/storage/v1/object/...` uses for operations, so no bucket may be named them.
pub const RESERVED_BUCKET_NAMES: [&str; 10] = [
    "list",
    "list-v2",
    "sign",
    "upload",
    "public",
    "authenticated",
    "info",
    "move",
    "copy",
    "render",
];

/// Who may use a bucket through the HTTP API (guests use it by grant, whatever its access).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketAccess {
    /// Anyone reads; signed-in users write under their own `{user-id}/`.
    PublicRead,
    /// Any signed-in user reads and writes.
    Authenticated,
    /// Signed-in users read and write only keys under their own `{user-id}/`.
    Owner,
    /// Only guests (by grant) and signed URLs.
    Private,
}

/// What a component may do with a bucket: `buckets = { uploads = "read-write" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketMode {
    /// get, head, list, signed GET URLs.
    Read,
    /// put, delete, signed PUT URLs.
    Write,
    /// Both.
    ReadWrite,
}

impl BucketMode {
    /// Whether reading is allowed.
    pub fn can_read(self) -> bool {
        matches!(self, Self::Read | Self::ReadWrite)
    }

    /// Whether writing is allowed.
    pub fn can_write(self) -> bool {
        matches!(self, Self::Write | Self::ReadWrite)
    }
}

/// What a component may do with the app's users: `auth = "verify"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthGrant {
    /// No auth interface.
    #[default]
    None,
    /// `nimbus:platform/auth`: verify tokens, look users up.
    Verify,
    /// Also `nimbus:platform/auth-admin`: create and delete users, set roles.
    Admin,
}

/// A `content_types` entry: `type/subtype`, `type/*` or `*/*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ContentTypePattern(String);

impl TryFrom<String> for ContentTypePattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
        };
        match lower.split_once('/') {
            Some((kind, sub)) if token(kind) && token(sub) && (kind != "*" || sub == "*") => {
                Ok(Self(lower))
            }
            _ => Err(format!(
                "`{text}` is not a content type pattern; write e.g. \"image/png\", \"image/*\" or \"*/*\""
            )),
        }
    }
}

impl ContentTypePattern {
    /// Whether `content_type` (parameters ignored) matches.
    pub fn matches(&self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some((kind, sub)) = essence.split_once('/') else {
            return false;
        };
        match self.0.split_once('/') {
            Some(("*", "*")) => true,
            Some((want_kind, "*")) => want_kind == kind,
            Some((want_kind, want_sub)) => want_kind == kind && want_sub == sub,
            None => false,
        }
    }
}

impl fmt::Display for ContentTypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_patterns_match_by_essence() {
        let image = ContentTypePattern::try_from("image/*".to_string()).expect("valid");
        assert!(image.matches("image/png"));
        assert!(image.matches("IMAGE/JPEG; q=1"));
        assert!(!image.matches("text/plain"));
        let exact = ContentTypePattern::try_from("text/plain".to_string()).expect("valid");
        assert!(exact.matches("text/plain;charset=UTF-8"));
        assert!(!exact.matches("text/html"));
        for bad in ["image", "*/png", "", "a b/c"] {
            assert!(
                ContentTypePattern::try_from(bad.to_string()).is_err(),
                "{bad}"
            );
        }
    }
}
