//! The nimbus auth service: email + password users per app, ES256 access tokens published as a
//! JWKS, and rotating single-use refresh tokens with reuse detection.
//!
//! Everything is kept in a [`KvStore`] (the app's reserved store [`AUTH_STORE`]), so the auth
//! service runs on whichever backend the host's key-value service runs on, and every process of
//! a host shares users, sessions, keys and account lock-outs. Methods are async; the CPU-bound
//! work (argon2, signature checks) runs on blocking threads, so none of it stalls an event
//! loop.
#![deny(missing_docs)]

mod admin;
mod anonymous;
mod directory;
mod error;
mod keys;
mod links;
mod live;
pub mod password;
mod random;
mod secret_key;
mod session;
mod throttle;
mod tokens;
mod user;
mod verified;

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nimbus_kv::{Batch, KvStore, StoreId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use admin::{AdminUserChanges, UserPage};
pub use error::AuthError;
pub use keys::{ALGORITHM, KeySet};
pub use links::{IssuedLink, LINK_TTL_MS, LinkKind, MAX_CODE_ATTEMPTS, Pkce, PkceMethod, UsedLink};
pub use secret_key::SECRET_KEY_PREFIX;
pub use session::REMEMBERED_TOKENS;
pub use throttle::{FREE_FAILURES, MAX_LOCKOUT};
pub use user::{
    DEFAULT_ROLE, Identity, SERVICE_ROLE, User, merge_metadata, normalize_email, rfc3339,
};

use live::LiveSessions;
use session::{Presented, SessionRecord};
use throttle::Failures;
use verified::VerifiedTokens;

/// The key-value store (per app) the auth service keeps its records in. Not a valid manifest
/// store name, so no guest can be granted it.
pub const AUTH_STORE: &str = "~auth";
/// Access token lifetime when the manifest sets none.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated when checking `exp`.
const LEEWAY_SECS: u64 = 5;
const SIGNING_KEYS: &str = "signing-keys";
const PUBLISHABLE_KEY: &str = "publishable-key";

/// Settings of one app's auth.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The app: namespace of its users, and the `aud` of its tokens.
    pub app: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// How long an access token is valid.
    pub access_token_ttl: Duration,
    /// Per-address bucket on the endpoints that check passwords or mint sessions: burst size.
    pub ip_burst: u32,
    /// Per-address bucket: refill per minute.
    pub ip_per_minute: u32,
    /// Whether a signup with neither email nor password makes an anonymous user.
    pub anonymous_sign_in: bool,
}

impl AuthConfig {
    /// Defaults for `app`: issuer `nimbus:{app}`, 15 minute tokens, 30 requests at once per IP
    /// refilled at 30 per minute.
    pub fn new(app: &str) -> Self {
        Self {
            app: app.to_string(),
            issuer: format!("nimbus:{app}"),
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            ip_burst: 30,
            ip_per_minute: 30,
            anonymous_sign_in: false,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience: the app.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Token id.
    pub jti: String,
    /// Role.
    pub role: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// The session (refresh token family) it was issued for.
    pub session_id: String,
    /// Authentication assurance level (always `aal1`: password).
    #[serde(default)]
    pub aal: Option<String>,
    /// Whether the user signed in anonymously and has not added an email yet.
    #[serde(default)]
    pub is_anonymous: bool,
}

impl Claims {
    /// Who the token vouches for.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.sub.clone(),
            email: self.email.clone(),
            role: self.role.clone(),
        }
    }
}

/// A signed-in session as handed to the client.
#[derive(Debug, Clone)]
pub struct Session {
    /// The JWT.
    pub access_token: String,
    /// Opaque, single use.
    pub refresh_token: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// When the access token expires, seconds since the epoch.
    pub expires_at: u64,
    /// The user.
    pub user: User,
}

impl Session {
    /// Supabase's session object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": self.user.to_json(),
        })
    }
}

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// Every session of the user.
    Global,
    /// The session of the presented token.
    Local,
    /// Every session of the user but this one.
    Others,
}

/// One app's auth service.
pub struct AuthService {
    kv: Arc<dyn KvStore>,
    store: StoreId,
    config: AuthConfig,
    keys: RwLock<KeySet>,
    verified: VerifiedTokens,
    live: LiveSessions,
    key_reload: tokens::ReloadGate,
    secret_key: secret_key::SecretKeyCache,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl AuthService {
    /// Opens the auth service of `config.app` on `kv`, creating its signing key on first use.
    pub async fn open(kv: Arc<dyn KvStore>, config: AuthConfig) -> Result<Self, AuthError> {
        let store = StoreId::new(config.app.clone(), AUTH_STORE);
        let service = Self {
            kv,
            store,
            config,
            keys: RwLock::new(KeySet::default()),
            verified: VerifiedTokens::default(),
            live: LiveSessions::default(),
            key_reload: tokens::ReloadGate {
                last_ms: std::sync::atomic::AtomicU64::new(0),
            },
            secret_key: secret_key::SecretKeyCache::default(),
        };
        let keys = service.load_or_create_keys().await?;
        service.cache_keys(keys);
        Ok(service)
    }

    /// The app's settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    // ---- storage helpers ----

    async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, Vec<u8>)>, AuthError> {
        match self.kv.get(&self.store, key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(|value| Some((value, bytes)))
                .map_err(|e| AuthError::Internal(format!("corrupt auth record `{key}`: {e}"))),
        }
    }

    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, AuthError> {
        serde_json::to_vec(value).map_err(|e| AuthError::Internal(e.to_string()))
    }

    /// Read-modify-write of one JSON record with compare-and-swap, retried on conflict.
    /// `change` returns `None` to leave the record as it is.
    async fn update<T, F>(&self, key: &str, mut change: F) -> Result<Option<T>, AuthError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Result<Option<T>, AuthError>,
    {
        for _ in 0..64 {
            let current = self.read::<T>(key).await?;
            let (value, old) = match current {
                Some((value, bytes)) => (Some(value), Some(bytes)),
                None => (None, None),
            };
            let Some(new) = change(value)? else {
                return Ok(None);
            };
            if self
                .kv
                .compare_and_swap(&self.store, key, old.as_deref(), &Self::encode(&new)?)
                .await?
            {
                return Ok(Some(new));
            }
        }
        Err(AuthError::Internal(format!(
            "record `{key}` is too contended"
        )))
    }

    // ---- sessions ----

    fn session_key(id: &str) -> String {
        format!("session:{id}")
    }

    fn user_session_key(user_id: &str, session_id: &str) -> String {
        format!("user-session:{user_id}:{session_id}")
    }

    /// Adds a new session of `user` to `batch`; returns the batch, the session id and its
    /// first refresh token.
    fn with_new_session(
        &self,
        batch: Batch,
        user: &User,
    ) -> Result<(Batch, String, String), AuthError> {
        let session_id = random::uuid()?;
        let (token, hash) = session::new_refresh_token(&session_id)?;
        let record = SessionRecord {
            user_id: user.id.clone(),
            created_at_ms: now_ms(),
            current_hash: hash,
            previous: Vec::new(),
        };
        let batch = batch
            .put(
                &self.store,
                &Self::user_session_key(&user.id, &session_id),
                Vec::new(),
            )
            .put(
                &self.store,
                &Self::session_key(&session_id),
                Self::encode(&record)?,
            );
        Ok((batch, session_id, token))
    }

    async fn start_session(&self, user: &User) -> Result<Session, AuthError> {
        let (batch, session_id, token) = self.with_new_session(Batch::new(), user)?;
        self.kv.apply(batch).await?;
        self.issue(user, &session_id, token).await
    }

    async fn end_session(&self, user_id: &str, session_id: &str) -> Result<(), AuthError> {
        self.live.forget(session_id);
        let batch = Batch::new()
            .delete(&self.store, &Self::session_key(session_id))
            .delete(&self.store, &Self::user_session_key(user_id, session_id));
        self.kv.apply(batch).await?;
        Ok(())
    }

    /// Ends every session of `user_id` except `keep`.
    async fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<(), AuthError> {
        let prefix = format!("user-session:{user_id}:");
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .kv
                .list_keys(&self.store, &prefix, cursor.as_deref())
                .await?;
            for key in &page.keys {
                let session_id = &key[prefix.len()..];
                if Some(session_id) != keep {
                    self.end_session(user_id, session_id).await?;
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Creates a user and signs them in: the user, their email's claim and their first
    /// session are written in one transaction.
    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        user_metadata: serde_json::Value,
    ) -> Result<Session, AuthError> {
        let mut user = self
            .new_user(email, password, DEFAULT_ROLE, user_metadata)
            .await?;
        user.last_sign_in_at_ms = Some(now_ms());
        let (batch, session_id, token) = self.with_new_session(self.user_batch(&user)?, &user)?;
        if !self.kv.apply(batch).await? {
            return Err(AuthError::EmailTaken);
        }
        self.issue(&user, &session_id, token).await
    }

    /// Signs in with email and password. An unknown email and a wrong password give the same
    /// error after the same work; an account with [`FREE_FAILURES`] failures in a row is locked
    /// for a time that doubles with each further failure.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, AuthError> {
        let Ok(email) = normalize_email(email) else {
            password::verify_off_loop(password, password::DUMMY_HASH).await;
            return Err(AuthError::InvalidCredentials);
        };
        let failures_key = format!("failures:{email}");
        if let Some((failures, _)) = self.read::<Failures>(&failures_key).await? {
            failures.check(now_ms())?;
        }
        let user = match self.user_by_email(&email).await {
            Ok(user) => Some(user),
            Err(AuthError::UserNotFound) => None,
            Err(other) => return Err(other),
        };
        let hash = user
            .as_ref()
            .map_or(password::DUMMY_HASH, |u| &u.password_hash);
        let matches = password::verify_off_loop(password, hash).await;
        match user {
            Some(user) if matches => {
                self.kv.delete(&self.store, &failures_key).await?;
                if user.email_unconfirmed {
                    return Err(AuthError::EmailNotConfirmed);
                }
                let user = self
                    .change_user(&user.id, |u| {
                        u.last_sign_in_at_ms = Some(now_ms());
                        Ok(())
                    })
                    .await?;
                self.start_session(&user).await
            }
            _ => {
                self.update::<Failures, _>(&failures_key, |current| {
                    let mut failures = current.unwrap_or_default();
                    failures.record_failure(now_ms());
                    Ok(Some(failures))
                })
                .await?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Exchanges a refresh token for a new session token pair. The token is single use: a
    /// second use revokes the whole session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AuthError> {
        let session_id =
            session::session_of(refresh_token).ok_or(AuthError::RefreshTokenNotFound)?;
        let key = Self::session_key(session_id);
        loop {
            let (mut record, old_bytes) = self
                .read::<SessionRecord>(&key)
                .await?
                .ok_or(AuthError::RefreshTokenNotFound)?;
            match record.classify(refresh_token) {
                Presented::Unknown => return Err(AuthError::RefreshTokenNotFound),
                Presented::Replaced => {
                    self.end_session(&record.user_id, session_id).await?;
                    return Err(AuthError::RefreshTokenReused);
                }
                Presented::Current => {
                    let user = match self.user(&record.user_id).await {
                        Ok(user) => user,
                        Err(AuthError::UserNotFound) => {
                            self.end_session(&record.user_id, session_id).await?;
                            return Err(AuthError::RefreshTokenNotFound);
                        }
                        Err(other) => return Err(other),
                    };
                    let (token, hash) = session::new_refresh_token(session_id)?;
                    record.rotate(hash);
                    // Loses only to a concurrent use of the same token, which the next round
                    // then sees as reuse.
                    if self
                        .kv
                        .compare_and_swap(
                            &self.store,
                            &key,
                            Some(&old_bytes),
                            &Self::encode(&record)?,
                        )
                        .await?
                    {
                        return self.issue(&user, session_id, token).await;
                    }
                }
            }
        }
    }

    /// Verifies `token` and checks that its session is still live (not signed out or revoked).
    pub async fn authenticate(&self, token: &str) -> Result<(Claims, User), AuthError> {
        let claims = self.verify(token).await?;
        self.check_session(&claims.session_id).await?;
        let user = self.user(&claims.sub).await?;
        Ok((claims, user))
    }

    /// Verifies `token` and that its session was not signed out or revoked: what every
    /// route, API and guest that accepts an access token asks.
    pub async fn verify_live(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(claims) = self.verify_live_cached(token) {
            return Ok(claims);
        }
        let claims = self.verify(token).await?;
        if !self.live.recently_live(&claims.session_id) {
            self.check_session(&claims.session_id).await?;
        }
        Ok(claims)
    }

    /// [`AuthService::verify_live`] when it can be answered without a signature check or a
    /// store read; `None` means `verify_live` has work to do.
    pub fn verify_live_cached(&self, token: &str) -> Option<Claims> {
        self.verify_cached(token)
            .filter(|claims| self.live.recently_live(&claims.session_id))
    }

    /// Reads whether session `id` exists, and remembers it for a moment if it does.
    async fn check_session(&self, id: &str) -> Result<(), AuthError> {
        if !self.kv.exists(&self.store, &Self::session_key(id)).await? {
            self.live.forget(id);
            return Err(AuthError::SessionNotFound);
        }
        self.live.confirm(id);
        Ok(())
    }

    /// Ends the sessions `scope` names, for the holder of `claims`.
    pub async fn logout(&self, claims: &Claims, scope: LogoutScope) -> Result<(), AuthError> {
        match scope {
            LogoutScope::Local => self.end_session(&claims.sub, &claims.session_id).await,
            LogoutScope::Global => self.end_sessions(&claims.sub, None).await,
            LogoutScope::Others => {
                self.end_sessions(&claims.sub, Some(&claims.session_id))
                    .await
            }
        }
    }
}

/// Checks a role given to a user. `service_role` is the secret key's alone: a user holding
/// it would look to guests like the app's own servers.
fn check_role(role: &str) -> Result<(), AuthError> {
    if role.eq_ignore_ascii_case(SERVICE_ROLE) {
        return Err(AuthError::Invalid(format!(
            "`{SERVICE_ROLE}` belongs to the app's secret key and cannot be given to a user"
        )));
    }
    let valid = !role.is_empty()
        && role.len() <= 63
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "`{role}` is not a role; use 1-63 letters, digits, `_` or `-`"
        )))
    }
}

#[cfg(test)]
mod tests;
