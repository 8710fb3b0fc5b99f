//! The user record as stored, and as Supabase clients expect to receive it.

use serde::{Deserialize, Serialize};

use crate::AuthError;

/// Role of a newly created user (Supabase's default).
pub const DEFAULT_ROLE: &str = "authenticated";

/// A user as stored. `password_hash` never leaves the service: [`User::to_json`] omits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Normalised email (trimmed, lowercase).
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role claim in access tokens.
    pub role: String,
    /// Free-form data the user may change (`data` at signup, `PUT /user`).
    #[serde(default)]
    pub user_metadata: serde_json::Value,
    /// Milliseconds since the epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the epoch.
    pub updated_at_ms: u64,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub last_sign_in_at_ms: Option<u64>,
}

/// The identity a verified token or a user record vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id (`sub`).
    pub user_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Role.
    pub role: String,
}

impl User {
    /// The user object of Supabase's auth API.
    pub fn to_json(&self) -> serde_json::Value {
        let created = rfc3339(self.created_at_ms);
        serde_json::json!({
            "id": self.id,
            "aud": "authenticated",
            "role": self.role,
            "email": self.email,
            "email_confirmed_at": created,
            "confirmed_at": created,
            "phone": "",
            "last_sign_in_at": self.last_sign_in_at_ms.map(rfc3339),
            "app_metadata": { "provider": "email", "providers": ["email"] },
            "user_metadata": if self.user_metadata.is_object() { self.user_metadata.clone() } else { serde_json::json!({}) },
            "identities": [],
            "created_at": created,
            "updated_at": rfc3339(self.updated_at_ms),
            "is_anonymous": false,
        })
    }

    /// Who this user is.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.id.clone(),
            email: Some(self.email.clone()),
            role: self.role.clone(),
        }
    }
}

/// Trims and lowercases an email and checks its shape: one `@`, a non-empty local part, a
/// domain with a dot, no spaces or control characters, at most 254 bytes.
pub fn normalize_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(AuthError::InvalidEmail)
    }
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds.
pub fn rfc3339(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").ok().as_deref(),
            Some("ann@example.com")
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_public_user_object_has_no_hash() {
        let user = User {
            id: "u".into(),
            email: "a@b.co".into(),
            password_hash: "$argon2id$secret".into(),
            role: DEFAULT_ROLE.into(),
            user_metadata: serde_json::json!({"name": "Ann"}),
            created_at_ms: 0,
            updated_at_ms: 0,
            last_sign_in_at_ms: None,
        };
        let json = user.to_json().to_string();
        assert!(!json.contains("argon2"));
        assert!(json.contains("\"name\":\"Ann\""));
        assert!(json.contains("1970-01-01T00:00:00.000Z"));
    }
}
