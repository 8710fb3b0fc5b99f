//! Anonymous sign-in, as Supabase offers it: a user with neither email nor password, who may
//! add both later and so become permanent without losing their id.

use crate::{
    AdminUserChanges, AuthError, AuthService, DEFAULT_ROLE, Session, User, now_ms, random,
};

impl AuthService {
    /// Creates an anonymous user and signs them in, when the app allows it.
    pub async fn sign_in_anonymously(
        &self,
        user_metadata: serde_json::Value,
    ) -> Result<Session, AuthError> {
        if !self.config.anonymous_sign_in {
            return Err(AuthError::AnonymousDisabled);
        }
        let now = now_ms();
        let user = User {
            id: random::uuid()?,
            email: String::new(),
            password_hash: String::new(),
            role: DEFAULT_ROLE.to_string(),
            user_metadata,
            created_at_ms: now,
            updated_at_ms: now,
            last_sign_in_at_ms: Some(now),
            app_metadata: serde_json::json!({}),
            email_unconfirmed: false,
            confirmed_at_ms: None,
            is_anonymous: true,
            email_change: None,
        };
        let batch = nimbus_kv::Batch::new().put(
            &self.store,
            &Self::user_key(&user.id),
            Self::encode(&user)?,
        );
        let (batch, session_id, token) = self.with_new_session(batch, &user)?;
        self.kv.apply(batch).await?;
        self.issue(&user, &session_id, token).await
    }

    /// What an anonymous user adds to become permanent: an email (confirmed at once, as
    /// Supabase does when it does not ask for confirmation) and, with it or later, a password.
    pub async fn make_permanent(
        &self,
        user: &User,
        email: Option<String>,
        password: Option<String>,
        data: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<User, AuthError> {
        if user.is_anonymous && email.is_none() && password.is_some() {
            return Err(AuthError::Unprocessable(
                "Updating password of an anonymous user without an email or phone is not allowed"
                    .into(),
            ));
        }
        let changes = AdminUserChanges {
            email,
            password,
            email_confirm: true,
            user_metadata: data,
            ..AdminUserChanges::default()
        };
        self.admin_update_user(&user.id, changes).await
    }
}
