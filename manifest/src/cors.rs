//! `[app] cors`: which browser origins may call the app's routes and its auth, storage and
//! functions APIs. None by default: a browser page on another origin gets no answer it may
//! read until the manifest names its origin.

use std::time::Duration;

use serde::Deserialize;

use crate::units::HumanDuration;

/// How long a browser may cache a preflight's answer when `max_age` is not given.
pub const DEFAULT_CORS_MAX_AGE: Duration = Duration::from_secs(3600);

/// `[app] cors`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawCors")]
pub struct Cors {
    pub origins: CorsOrigins,
    /// Whether the browser may send cookies and HTTP auth (`Access-Control-Allow-Credentials`).
    pub credentials: bool,
    /// How long a browser may cache a preflight's answer.
    pub max_age: Duration,
}

/// The origins allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `"*"`: any origin.
    Any,
    /// Exact origins, e.g. `https://app.example.com`, `http://localhost:5173`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Whether `origin` (an `Origin` header's value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::Any => true,
            CorsOrigins::List(origins) => origins.iter().any(|allowed| allowed == origin),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    origins: Vec<String>,
    #[serde(default)]
    credentials: bool,
    max_age: Option<HumanDuration>,
}

impl TryFrom<RawCors> for Cors {
    type Error = String;

    fn try_from(raw: RawCors) -> Result<Self, String> {
        let origins = if raw.origins.iter().any(|o| o == "*") {
            if raw.origins.len() > 1 {
                return Err("origins: \"*\" allows every origin; list no other beside it".into());
            }
            if raw.credentials {
                return Err("credentials = true needs the origins listed: browsers refuse credentials with \"*\"".into());
            }
            CorsOrigins::Any
        } else {
            if raw.origins.is_empty() {
                return Err(
                    "origins: list at least one, or leave cors out (no origin is allowed then)"
                        .into(),
                );
            }
            for origin in &raw.origins {
                check_origin(origin)?;
            }
            CorsOrigins::List(raw.origins)
        };
        let max_age = raw.max_age.map_or(DEFAULT_CORS_MAX_AGE, |age| age.0);
        if max_age > Duration::from_secs(24 * 3600) {
            return Err("max_age: at most a day (browsers cap it lower still)".into());
        }
        Ok(Cors {
            origins,
            credentials: raw.credentials,
            max_age,
        })
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, lowercase, nothing after.
fn check_origin(origin: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "`{origin}` is not an origin; write it as a browser sends it, e.g. \"https://app.example.com\" or \"http://localhost:5173\" (no path, no trailing slash)"
        )
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.[]:".contains(c));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Manifest;

    fn cors_of(line: &str) -> Result<Option<Cors>, String> {
        let text = format!("[app]\nname = \"t\"\n{line}\n");
        Manifest::parse(Path::new("app/nimbus.toml"), text)
            .map(|m| m.cors)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn origins_are_listed_exactly_or_all_allowed() {
        let cors = cors_of(
            "cors = { origins = [\"https://app.example.com\", \"http://localhost:5173\"] }",
        )
        .expect("valid")
        .expect("cors");
        assert!(cors.origins.allows("http://localhost:5173"));
        assert!(!cors.origins.allows("http://localhost:5174"));
        assert!(!cors.origins.allows("https://app.example.com.evil.example"));
        assert_eq!(cors.max_age, DEFAULT_CORS_MAX_AGE);
        let any = cors_of("cors = { origins = [\"*\"], max_age = \"10m\" }")
            .expect("valid")
            .expect("cors");
        assert_eq!(any.origins, CorsOrigins::Any);
        assert_eq!(any.max_age, Duration::from_secs(600));
        assert_eq!(cors_of("").expect("valid"), None, "none by default");
    }

    #[test]
    fn bad_origins_and_combinations_are_refused_at_their_line() {
        for (line, says) in [
            (
                "cors = { origins = [\"https://app.example.com/\"] }",
                "is not an origin",
            ),
            (
                "cors = { origins = [\"app.example.com\"] }",
                "is not an origin",
            ),
            (
                "cors = { origins = [\"https://App.example.com\"] }",
                "is not an origin",
            ),
            (
                "cors = { origins = [\"http://localhost:99999\"] }",
                "is not an origin",
            ),
            (
                "cors = { origins = [\"*\"], credentials = true }",
                "needs the origins listed",
            ),
            (
                "cors = { origins = [\"*\", \"https://a.example\"] }",
                "list no other",
            ),
            (
                "cors = { origins = [\"*\"], max_age = \"2d\" }",
                "at most a day",
            ),
            ("cors = { origins = [] }", "list at least one"),
            ("cors = { origin = [\"*\"] }", "unknown field"),
        ] {
            let error = cors_of(line).expect_err(line);
            assert!(error.contains(says), "{line}: {error}");
            assert!(error.contains("nimbus.toml:3"), "{line}: {error}");
        }
    }
}
