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
    /// Data only the service role may change (`app_metadata`); Supabase's `provider` and
    /// `providers` are added when it is sent, never stored.
    #[serde(default)]
    pub app_metadata: serde_json::Value,
    /// Whether the email still waits for confirmation. Records written before confirmation
    /// existed have none, and count as confirmed when they were created.
    #[serde(default)]
    pub email_unconfirmed: bool,
    /// When the email was confirmed, if later than the user was created.
    #[serde(default)]
    pub confirmed_at_ms: Option<u64>,
    /// Signed in anonymously: no email (it is empty) and no password until the user adds them.
    #[serde(default)]
    pub is_anonymous: bool,
    /// A new email the user asked for, until its confirmation link is followed.
    #[serde(default)]
    pub email_change: Option<String>,
}

/// The identity a verified token or a user record vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id (`sub`); empty for the service role, which is no user.
    pub user_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Role.
    pub role: String,
}

/// The role of a caller that presented the app's secret key (Supabase's name for it).
pub const SERVICE_ROLE: &str = "service_role";

impl Identity {
    /// The app's own servers, calling with its secret key: role `service_role`, no user.
    pub fn service_role() -> Self {
        Self {
            user_id: String::new(),
            email: None,
            role: SERVICE_ROLE.to_string(),
        }
    }
}

impl User {
    /// The user object of Supabase's auth API.
    pub fn to_json(&self) -> serde_json::Value {
        let confirmed = self.email_confirmed_at_ms().map(rfc3339);
        serde_json::json!({
            "id": self.id,
            "aud": "authenticated",
            "role": self.role,
            "email": self.email,
            "email_confirmed_at": confirmed,
            "confirmed_at": confirmed,
            "phone": "",
            "last_sign_in_at": self.last_sign_in_at_ms.map(rfc3339),
            "app_metadata": self.app_metadata_json(),
            "user_metadata": object_or_empty(&self.user_metadata),
            "identities": [],
            "created_at": rfc3339(self.created_at_ms),
            "updated_at": rfc3339(self.updated_at_ms),
            "is_anonymous": self.is_anonymous,
            "new_email": self.email_change,
        })
    }

    /// When the email was confirmed; `None` while it waits, and for anonymous users.
    pub fn email_confirmed_at_ms(&self) -> Option<u64> {
        if self.email_unconfirmed || self.is_anonymous {
            None
        } else {
            Some(self.confirmed_at_ms.unwrap_or(self.created_at_ms))
        }
    }

    /// `app_metadata` as Supabase sends it: what the service role stored, with the sign-in
    /// providers (none for an anonymous user).
    pub fn app_metadata_json(&self) -> serde_json::Value {
        let mut metadata = object_or_empty(&self.app_metadata);
        if !self.is_anonymous
            && let Some(map) = metadata.as_object_mut()
        {
            map.insert("provider".into(), "email".into());
            map.insert("providers".into(), serde_json::json!(["email"]));
        }
        metadata
    }

    /// Who this user is.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.id.clone(),
            email: (!self.is_anonymous).then(|| self.email.clone()),
            role: self.role.clone(),
        }
    }
}

fn object_or_empty(value: &serde_json::Value) -> serde_json::Value {
    if value.is_object() {
        value.clone()
    } else {
        serde_json::json!({})
    }
}

/// Merges `changes` into the object `target` as Supabase merges metadata: each key is set,
/// and a key set to `null` is removed.
pub fn merge_metadata(
    target: &mut serde_json::Value,
    changes: &serde_json::Map<String, serde_json::Value>,
) {
    if !target.is_object() {
        *target = serde_json::json!({});
    }
    if let Some(map) = target.as_object_mut() {
        for (key, value) in changes {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
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
            app_metadata: serde_json::json!({"plan": "pro"}),
            email_unconfirmed: false,
            confirmed_at_ms: None,
            is_anonymous: false,
            email_change: None,
        };
        let json = user.to_json().to_string();
        assert!(!json.contains("argon2"));
        assert!(json.contains("\"name\":\"Ann\""));
        assert!(json.contains("1970-01-01T00:00:00.000Z"));
        assert_eq!(user.to_json()["app_metadata"]["plan"], "pro");
        assert_eq!(user.to_json()["app_metadata"]["provider"], "email");
    }

    #[test]
    fn records_without_confirmation_fields_count_as_confirmed_at_creation() {
        let stored = r#"{"id":"u","email":"a@b.co","password_hash":"h","role":"authenticated",
            "created_at_ms":1000,"updated_at_ms":1000}"#;
        let user: User = serde_json::from_str(stored).expect("old record");
        assert_eq!(user.email_confirmed_at_ms(), Some(1000));
        assert!(!user.is_anonymous);
    }

    #[test]
    fn null_removes_a_metadata_key() {
        let mut metadata = serde_json::json!({"a": 1, "b": 2});
        let changes = serde_json::json!({"a": null, "c": 3});
        merge_metadata(&mut metadata, changes.as_object().expect("object"));
        assert_eq!(metadata, serde_json::json!({"b": 2, "c": 3}));
    }
}
