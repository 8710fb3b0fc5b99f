//! The user directory of one app's auth service: lookups and administration.

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
    pub fn user(&self, id: &str) -> Result<User, AuthError> {
        self.read::<User>(&Self::user_key(id))?
            .map(|(user, _)| user)
            .ok_or(AuthError::UserNotFound)
    }

    /// The user with email `email`.
    pub fn user_by_email(&self, email: &str) -> Result<User, AuthError> {
        let email = normalize_email(email)?;
        let id = self
            .kv
            .get(&self.store, &Self::email_key(&email))?
            .ok_or(AuthError::UserNotFound)?;
        self.user(&String::from_utf8_lossy(&id))
    }

    /// Creates a user. Emails are unique per app (the email index is claimed atomically).
    pub fn create_user(
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
        let user = User {
            id: random::uuid()?,
            email: email.clone(),
            password_hash: password::hash(password)?,
            role: role.to_string(),
            user_metadata,
            created_at_ms: now,
            updated_at_ms: now,
            last_sign_in_at_ms: None,
        };
        let user_key = Self::user_key(&user.id);
        self.kv.set(&self.store, &user_key, &Self::encode(&user)?)?;
        let claimed = self.kv.compare_and_swap(
            &self.store,
            &Self::email_key(&email),
            None,
            user.id.as_bytes(),
        )?;
        if !claimed {
            self.kv.delete(&self.store, &user_key)?;
            return Err(AuthError::EmailTaken);
        }
        Ok(user)
    }

    /// Every user, in id order.
    pub fn list_users(&self) -> Result<Vec<User>, AuthError> {
        let mut users = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.kv.list_keys(&self.store, "user:", cursor.as_deref())?;
            for key in &page.keys {
                if let Some((user, _)) = self.read::<User>(key)? {
                    users.push(user);
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(users),
            }
        }
    }

    /// Deletes a user and ends all their sessions.
    pub fn delete_user(&self, id: &str) -> Result<(), AuthError> {
        let user = self.user(id)?;
        self.end_sessions(id, None)?;
        self.kv.delete(&self.store, &Self::email_key(&user.email))?;
        self.kv.delete(&self.store, &Self::user_key(id))?;
        Ok(())
    }

    /// Sets a user's role (the `role` claim of their next tokens).
    pub fn set_role(&self, id: &str, role: &str) -> Result<User, AuthError> {
        check_role(role)?;
        self.change_user(id, |user| {
            user.role = role.to_string();
            Ok(())
        })
    }

    /// Changes a user's password and/or replaces keys of their metadata.
    pub fn update_user(
        &self,
        id: &str,
        password: Option<&str>,
        data: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<User, AuthError> {
        let new_hash = match password {
            Some(password) => {
                password::check_policy(password)?;
                Some(password::hash(password)?)
            }
            None => None,
        };
        self.change_user(id, |user| {
            if let Some(hash) = &new_hash {
                user.password_hash = hash.clone();
            }
            if let Some(data) = &data {
                if !user.user_metadata.is_object() {
                    user.user_metadata = serde_json::json!({});
                }
                if let Some(metadata) = user.user_metadata.as_object_mut() {
                    for (key, value) in data {
                        metadata.insert(key.clone(), value.clone());
                    }
                }
            }
            Ok(())
        })
    }

    pub(crate) fn change_user(
        &self,
        id: &str,
        mut change: impl FnMut(&mut User) -> Result<(), AuthError>,
    ) -> Result<User, AuthError> {
        self.update::<User, _>(&Self::user_key(id), |current| {
            let mut user = current.ok_or(AuthError::UserNotFound)?;
            change(&mut user)?;
            user.updated_at_ms = now_ms();
            Ok(Some(user))
        })?
        .ok_or(AuthError::UserNotFound)
    }
}
