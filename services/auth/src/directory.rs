//! The user directory of one app's auth service: lookups and administration.

use nimbus_kv::{Batch, Condition};

use crate::user::normalize_email;
use crate::{AuthError, AuthService, User, check_role, now_ms, password, random};

impl AuthService {
    pub(crate) fn user_key(id: &str) -> String {
        format!("user:{id}")
    }

    pub(crate) fn email_key(email: &str) -> String {
        format!("email:{email}")
    }

    /// The user with id `id`.
    pub async fn user(&self, id: &str) -> Result<User, AuthError> {
        self.read::<User>(&Self::user_key(id))
            .await?
            .map(|(user, _)| user)
            .ok_or(AuthError::UserNotFound)
    }

    /// The user with email `email`.
    pub async fn user_by_email(&self, email: &str) -> Result<User, AuthError> {
        let email = normalize_email(email)?;
        let id = self
            .kv
            .get(&self.store, &Self::email_key(&email))
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.user(&String::from_utf8_lossy(&id)).await
    }

    /// A new user record, not stored yet.
    pub(crate) async fn new_user(
        &self,
        email: &str,
        password: &str,
        role: &str,
        user_metadata: serde_json::Value,
    ) -> Result<User, AuthError> {
        let email = normalize_email(email)?;
        password::check_policy(password)?;
        check_role(role)?;
        let now = now_ms();
        Ok(User {
            id: random::uuid()?,
            email,
            password_hash: password::hash_off_loop(password).await?,
            role: role.to_string(),
            user_metadata,
            created_at_ms: now,
            updated_at_ms: now,
            last_sign_in_at_ms: None,
            app_metadata: serde_json::json!({}),
            email_unconfirmed: false,
            confirmed_at_ms: None,
            is_anonymous: false,
            email_change: None,
        })
    }

    /// A batch storing `user` and claiming its email, which fails if the email is taken.
    pub(crate) fn user_batch(&self, user: &User) -> Result<Batch, AuthError> {
        let email_key = Self::email_key(&user.email);
        Ok(Batch::new()
            .check(&self.store, &email_key, Condition::Absent)
            .put(&self.store, &Self::user_key(&user.id), Self::encode(user)?)
            .put(&self.store, &email_key, user.id.as_bytes().to_vec()))
    }

    /// Creates a user. Emails are unique per app: the user and its email's claim are written
    /// in one transaction that fails if the email is taken.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: &str,
        user_metadata: serde_json::Value,
    ) -> Result<User, AuthError> {
        let user = self.new_user(email, password, role, user_metadata).await?;
        if !self.kv.apply(self.user_batch(&user)?).await? {
            return Err(AuthError::EmailTaken);
        }
        Ok(user)
    }

    /// Every user, in id order.
    pub async fn list_users(&self) -> Result<Vec<User>, AuthError> {
        let mut users = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .kv
                .scan(&self.store, "user:", cursor.as_deref(), 100)
                .await?;
            for (key, bytes) in &page.entries {
                let user = serde_json::from_slice(bytes).map_err(|e| {
                    AuthError::Internal(format!("corrupt auth record `{key}`: {e}"))
                })?;
                users.push(user);
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(users),
            }
        }
    }

    /// Deletes a user and ends all their sessions.
    pub async fn delete_user(&self, id: &str) -> Result<(), AuthError> {
        let user = self.user(id).await?;
        self.end_sessions(id, None).await?;
        let mut batch = Batch::new().delete(&self.store, &Self::user_key(id));
        if !user.is_anonymous {
            batch = batch.delete(&self.store, &Self::email_key(&user.email));
        }
        self.kv.apply(batch).await?;
        Ok(())
    }

    /// Sets a user's role (the `role` claim of their next tokens).
    pub async fn set_role(&self, id: &str, role: &str) -> Result<User, AuthError> {
        check_role(role)?;
        self.change_user(id, |user| {
            user.role = role.to_string();
            Ok(())
        })
        .await
    }

    /// Changes a user's password and/or replaces keys of their metadata.
    pub async fn update_user(
        &self,
        id: &str,
        password: Option<&str>,
        data: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<User, AuthError> {
        let new_hash = match password {
            Some(password) => {
                password::check_policy(password)?;
                Some(password::hash_off_loop(password).await?)
            }
            None => None,
        };
        self.change_user(id, |user| {
            if let Some(hash) = &new_hash {
                user.password_hash = hash.clone();
            }
            if let Some(data) = &data {
                crate::merge_metadata(&mut user.user_metadata, data);
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn change_user(
        &self,
        id: &str,
        mut change: impl FnMut(&mut User) -> Result<(), AuthError>,
    ) -> Result<User, AuthError> {
        self.update::<User, _>(&Self::user_key(id), |current| {
            let mut user = current.ok_or(AuthError::UserNotFound)?;
            change(&mut user)?;
            user.updated_at_ms = now_ms();
            Ok(Some(user))
        })
        .await?
        .ok_or(AuthError::UserNotFound)
    }
}
