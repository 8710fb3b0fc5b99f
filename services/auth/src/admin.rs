//! What the service role may do to users beyond what a user may do to themselves, as
//! Supabase's admin API offers it: list them page by page, create them confirmed or not, with
//! a role and `app_metadata`, and change any of that, the email included.

use nimbus_kv::{Batch, Condition};

use crate::user::normalize_email;
use crate::{AuthError, AuthService, DEFAULT_ROLE, User, check_role, now_ms, password, random};

/// One page of the user directory, newest first.
#[derive(Debug)]
pub struct UserPage {
    /// The users on the page.
    pub users: Vec<User>,
    /// How many users there are in all.
    pub total: usize,
}

/// What an administrator sets on a new user or changes on an existing one; `None` leaves a
/// field as it is (or at its default, for a new user).
#[derive(Debug, Default)]
pub struct AdminUserChanges {
    /// The email; for an existing user, moving it frees the old address.
    pub email: Option<String>,
    /// The password; a new user without one gets a random one (they sign in by link).
    pub password: Option<String>,
    /// Confirm the email now (a new user without it must confirm it first).
    pub email_confirm: bool,
    /// The `role` claim of the user's next tokens.
    pub role: Option<String>,
    /// Keys to merge into `user_metadata` (`null` removes one).
    pub user_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Keys to merge into `app_metadata` (`null` removes one).
    pub app_metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How often an update is tried again when the record changed between read and write.
const MAX_ATTEMPTS: usize = 16;

/// The keys Supabase derives in `app_metadata`, which nobody may set.
const DERIVED_APP_METADATA: [&str; 2] = ["provider", "providers"];

fn settable_app_metadata(
    changes: Option<serde_json::Map<String, serde_json::Value>>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    changes.map(|mut changes| {
        for key in DERIVED_APP_METADATA {
            changes.remove(key);
        }
        changes
    })
}

impl AuthService {
    /// Records that the user asked to change their email to `new_email`, once no one has
    /// it; the change happens when the link sent there is followed.
    pub async fn request_email_change(&self, id: &str, new_email: &str) -> Result<User, AuthError> {
        let new_email = normalize_email(new_email)?;
        match self.user_by_email(&new_email).await {
            Ok(owner) if owner.id != id => return Err(AuthError::EmailTaken),
            Ok(_) | Err(AuthError::UserNotFound) => {}
            Err(other) => return Err(other),
        }
        let user = self
            .change_user(id, |user| {
                user.email_change = Some(new_email.clone());
                Ok(())
            })
            .await?;
        // The index lives as long as the link that confirms the change.
        self.kv
            .set_expiring(
                &self.store,
                &Self::pending_email_key(&new_email),
                id.as_bytes(),
                std::time::Duration::from_millis(crate::LINK_TTL_MS),
            )
            .await?;
        Ok(user)
    }

    fn pending_email_key(email: &str) -> String {
        format!("email-change:{email}")
    }

    /// The user who last asked to change their email to `email`, while they still wait for
    /// it.
    pub async fn user_by_pending_email(&self, email: &str) -> Result<Option<User>, AuthError> {
        let email = normalize_email(email)?;
        let Some(id) = self
            .kv
            .get(&self.store, &Self::pending_email_key(&email))
            .await?
        else {
            return Ok(None);
        };
        match self.user(&String::from_utf8_lossy(&id)).await {
            Ok(user) if user.email_change.as_deref() == Some(email.as_str()) => Ok(Some(user)),
            Ok(_) | Err(AuthError::UserNotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Users newest first, `per_page` at a time; `page` counts from 1.
    pub async fn list_users_page(
        &self,
        page: usize,
        per_page: usize,
    ) -> Result<UserPage, AuthError> {
        let mut users = self.list_users().await?;
        users.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        let total = users.len();
        let start = page.saturating_sub(1).saturating_mul(per_page);
        let users = users.into_iter().skip(start).take(per_page).collect();
        Ok(UserPage { users, total })
    }

    /// Creates a user as an administrator: unconfirmed unless `email_confirm`, with a random
    /// password when none is given.
    pub async fn admin_create_user(&self, changes: AdminUserChanges) -> Result<User, AuthError> {
        let email = changes.email.as_deref().ok_or_else(|| {
            AuthError::Invalid("Cannot create a user without either an email or phone".into())
        })?;
        let random_password;
        let password = match changes.password.as_deref() {
            Some(password) if !password.is_empty() => password,
            _ => {
                random_password = random::token()?;
                &random_password
            }
        };
        let role = changes.role.as_deref().unwrap_or(DEFAULT_ROLE);
        let mut user_metadata = serde_json::json!({});
        if let Some(data) = &changes.user_metadata {
            crate::merge_metadata(&mut user_metadata, data);
        }
        let mut user = self.new_user(email, password, role, user_metadata).await?;
        if let Some(data) = settable_app_metadata(changes.app_metadata) {
            crate::merge_metadata(&mut user.app_metadata, &data);
        }
        user.email_unconfirmed = !changes.email_confirm;
        if !self.kv.apply(self.user_batch(&user)?).await? {
            return Err(AuthError::EmailTaken);
        }
        Ok(user)
    }

    /// Changes a user as an administrator. A new email is claimed in the same transaction
    /// that frees the old one, and is confirmed only with `email_confirm` (an anonymous user
    /// with a confirmed email becomes a permanent one).
    pub async fn admin_update_user(
        &self,
        id: &str,
        changes: AdminUserChanges,
    ) -> Result<User, AuthError> {
        let new_email = changes.email.as_deref().map(normalize_email).transpose()?;
        if let Some(password) = changes.password.as_deref() {
            password::check_policy(password)?;
        }
        if let Some(role) = changes.role.as_deref() {
            check_role(role)?;
        }
        let new_hash = match changes.password.as_deref() {
            Some(password) => Some(password::hash_off_loop(password).await?),
            None => None,
        };
        let app_metadata = settable_app_metadata(changes.app_metadata);
        for _ in 0..MAX_ATTEMPTS {
            let (mut user, old_bytes) = self
                .read::<User>(&Self::user_key(id))
                .await?
                .ok_or(AuthError::UserNotFound)?;
            let mut batch = Batch::new().check(
                &self.store,
                &Self::user_key(id),
                Condition::Equals(old_bytes),
            );
            if let Some(email) = new_email.as_ref().filter(|e| **e != user.email) {
                let claim = Self::email_key(email);
                batch = batch.check(&self.store, &claim, Condition::Absent).put(
                    &self.store,
                    &claim,
                    user.id.as_bytes().to_vec(),
                );
                if !user.is_anonymous {
                    batch = batch.delete(&self.store, &Self::email_key(&user.email));
                }
                user.email = email.clone();
                user.email_change = None;
                user.email_unconfirmed = !changes.email_confirm;
                user.confirmed_at_ms = changes.email_confirm.then(now_ms);
                if changes.email_confirm {
                    user.is_anonymous = false;
                }
            } else if changes.email_confirm && user.email_unconfirmed {
                user.email_unconfirmed = false;
                user.confirmed_at_ms = Some(now_ms());
            }
            if let Some(hash) = &new_hash {
                user.password_hash = hash.clone();
            }
            if let Some(role) = &changes.role {
                user.role = role.clone();
            }
            if let Some(data) = &changes.user_metadata {
                crate::merge_metadata(&mut user.user_metadata, data);
            }
            if let Some(data) = &app_metadata {
                crate::merge_metadata(&mut user.app_metadata, data);
            }
            user.updated_at_ms = now_ms();
            let batch = batch.put(&self.store, &Self::user_key(id), Self::encode(&user)?);
            if self.kv.apply(batch).await? {
                return Ok(user);
            }
            // Either the record changed under us (go again) or the new email is taken.
            if let Some(email) = &new_email
                && self
                    .kv
                    .get(&self.store, &Self::email_key(email))
                    .await?
                    .is_some_and(|owner| owner != id.as_bytes())
            {
                return Err(AuthError::EmailTaken);
            }
        }
        Err(AuthError::Internal(format!(
            "user `{id}` kept changing during {MAX_ATTEMPTS} attempts to update it"
        )))
    }
}
