//! The nimbus auth service: email + password users per app, ES256 access tokens published as a
//! JWKS, and rotating single-use refresh tokens with reuse detection.
//!
//! Everything is kept in a [`KvStore`] (the app's reserved store [`AUTH_STORE`]), so the auth
//! service runs on whichever backend the host's key-value service runs on, and every process of
//! a host shares users, sessions, keys and account lock-outs. Every method blocks (argon2 is
//! CPU-bound by design): call them off the async runtime.
#![deny(missing_docs)]

mod error;
mod keys;
pub mod password;
mod random;
mod session;
mod throttle;
mod user;
mod verified;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Header, Validation};
use nimbus_kv::{KvStore, StoreId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use error::AuthError;
pub use keys::{ALGORITHM, KeySet};
pub use session::REMEMBERED_TOKENS;
pub use throttle::{FREE_FAILURES, IpLimiter, MAX_LOCKOUT};
pub use user::{DEFAULT_ROLE, Identity, User, normalize_email, rfc3339};

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
    /// Per-IP token bucket: burst size.
    pub ip_burst: u32,
    /// Per-IP token bucket: refill per minute.
    pub ip_per_minute: u32,
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
    /// Always false: there are no anonymous users.
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
    dummy_hash: String,
    ip_limiter: IpLimiter,
    verified: VerifiedTokens,
    key_reload: ReloadGate,
}

/// Lets one reload through per interval.
struct ReloadGate {
    last_ms: std::sync::atomic::AtomicU64,
}

impl ReloadGate {
    const INTERVAL_MS: u64 = 1000;

    fn allow(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = now_ms();
        let last = self.last_ms.load(Ordering::Acquire);
        now.saturating_sub(last) >= Self::INTERVAL_MS
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl AuthService {
    /// Opens the auth service of `config.app` on `kv`, creating its signing key on first use.
    pub fn open(kv: Arc<dyn KvStore>, config: AuthConfig) -> Result<Self, AuthError> {
        let store = StoreId::new(config.app.clone(), AUTH_STORE);
        let service = Self {
            ip_limiter: IpLimiter::new(config.ip_burst, config.ip_per_minute),
            kv,
            store,
            config,
            keys: RwLock::new(KeySet::default()),
            // Verified against when the email is unknown, so that answer takes as long as a
            // wrong password does.
            dummy_hash: password::hash("nimbus-dummy-password")?,
            verified: VerifiedTokens::default(),
            key_reload: ReloadGate {
                last_ms: std::sync::atomic::AtomicU64::new(0),
            },
        };
        let keys = service.load_or_create_keys()?;
        service.cache_keys(keys);
        Ok(service)
    }

    /// The app's settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    // ---- storage helpers ----

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, Vec<u8>)>, AuthError> {
        match self.kv.get(&self.store, key)? {
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
    fn update<T, F>(&self, key: &str, mut change: F) -> Result<Option<T>, AuthError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Result<Option<T>, AuthError>,
    {
        for _ in 0..64 {
            let current = self.read::<T>(key)?;
            let (value, old) = match current {
                Some((value, bytes)) => (Some(value), Some(bytes)),
                None => (None, None),
            };
            let Some(new) = change(value)? else {
                return Ok(None);
            };
            if self
                .kv
                .compare_and_swap(&self.store, key, old.as_deref(), &Self::encode(&new)?)?
            {
                return Ok(Some(new));
            }
        }
        Err(AuthError::Internal(format!(
            "record `{key}` is too contended"
        )))
    }

    // ---- keys ----

    fn load_or_create_keys(&self) -> Result<KeySet, AuthError> {
        let keep = self.config.access_token_ttl.as_millis() as u64;
        let keys = self.update::<KeySet, _>(SIGNING_KEYS, |current| match current {
            Some(set) if set.current().is_some() => Ok(None),
            _ => {
                let mut set = KeySet::default();
                set.rotate(now_ms(), keep)?;
                Ok(Some(set))
            }
        })?;
        match keys {
            Some(created) => Ok(created),
            None => self
                .read::<KeySet>(SIGNING_KEYS)?
                .map(|(set, _)| set)
                .ok_or_else(|| AuthError::Internal("signing keys vanished".into())),
        }
    }

    fn cache_keys(&self, keys: KeySet) {
        if let Ok(mut cached) = self.keys.write() {
            *cached = keys;
        }
    }

    /// Makes a new signing key current. Tokens signed by the old one stay valid (and its public
    /// key stays in the JWKS) until they expire.
    pub fn rotate_signing_key(&self) -> Result<String, AuthError> {
        let keep = self.config.access_token_ttl.as_millis() as u64 + LEEWAY_SECS * 1000;
        let rotated = self.update::<KeySet, _>(SIGNING_KEYS, |current| {
            let mut set = current.unwrap_or_default();
            set.rotate(now_ms(), keep)?;
            Ok(Some(set))
        })?;
        let rotated = rotated.ok_or_else(|| AuthError::Internal("rotation lost".into()))?;
        let kid = rotated.current().map(|k| k.kid.clone()).unwrap_or_default();
        self.cache_keys(rotated);
        Ok(kid)
    }

    /// The JWKS document (read from the store, so a rotation by another process shows).
    pub fn jwks(&self) -> Result<serde_json::Value, AuthError> {
        let keys = self.load_or_create_keys()?;
        let jwks = keys.jwks();
        self.cache_keys(keys);
        Ok(jwks)
    }

    // ---- tokens ----

    fn issue(
        &self,
        user: &User,
        session_id: &str,
        refresh_token: String,
    ) -> Result<Session, AuthError> {
        // Signing is rare next to argon2; reading the keys each time picks up rotations made by
        // other processes.
        let keys = self.load_or_create_keys()?;
        let key = keys
            .current()
            .ok_or_else(|| AuthError::Internal("no signing key".into()))?;
        let now = now_ms() / 1000;
        let ttl = self.config.access_token_ttl.as_secs();
        let claims = Claims {
            iss: self.config.issuer.clone(),
            aud: self.config.app.clone(),
            sub: user.id.clone(),
            exp: now + ttl,
            iat: now,
            jti: random::uuid()?,
            role: user.role.clone(),
            email: Some(user.email.clone()),
            session_id: session_id.to_string(),
            aal: Some("aal1".into()),
            is_anonymous: false,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(key.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &key.encoding_key()?)
            .map_err(|e| AuthError::Internal(format!("cannot sign a token: {e}")))?;
        self.cache_keys(keys);
        Ok(Session {
            access_token,
            refresh_token,
            expires_in: ttl,
            expires_at: claims.exp,
            user: user.clone(),
        })
    }

    /// Checks an access token: ES256 only, a known `kid`, a valid signature, `iss`, `aud` (this
    /// app) and `exp`. Does not consult the store unless the `kid` is unknown (a rotation by
    /// another process). A token that verified before is recognised by its hash until it
    /// expires, so a client sending the same token on every request pays for one signature
    /// check, not one per request.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(claims) = self.verify_cached(token) {
            return Ok(claims);
        }
        let claims = self.verify_signature(token)?;
        self.verified.insert(token, &claims, now_ms() / 1000);
        Ok(claims)
    }

    /// The claims of `token` if it verified before and has not expired: the cheap path of
    /// [`AuthService::verify`], safe to call on an event loop. `None` means the signature must
    /// be checked.
    pub fn verify_cached(&self, token: &str) -> Option<Claims> {
        let now = now_ms() / 1000;
        self.verified.get(token, now.saturating_sub(LEEWAY_SECS))
    }

    /// [`AuthService::verify`] without the verified-token cache: every call checks the signature.
    pub fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::InvalidToken("malformed token".into()))?;
        if header.alg != ALGORITHM {
            return Err(AuthError::InvalidToken(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::InvalidToken("token has no key id".into()))?;
        let cached = self
            .keys
            .read()
            .ok()
            .and_then(|keys| keys.find(&kid).map(|k| k.decoding_key()));
        let key = match cached {
            Some(key) => key?,
            None => {
                // An unknown kid is either a rotation by another process or a forgery; reading
                // the store for it at most once a second keeps a flood of made-up kids cheap.
                if !self.key_reload.allow() {
                    return Err(AuthError::InvalidToken("unknown signing key".into()));
                }
                let keys = self.load_or_create_keys()?;
                let key = keys
                    .find(&kid)
                    .ok_or_else(|| AuthError::InvalidToken("unknown signing key".into()))?
                    .decoding_key()?;
                self.cache_keys(keys);
                key
            }
        };
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.app]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))
    }

    /// The app's publishable API key (sent by clients as `apikey`), created on first use.
    pub fn publishable_key(&self) -> Result<String, AuthError> {
        loop {
            if let Some(key) = self.kv.get(&self.store, PUBLISHABLE_KEY)? {
                return Ok(String::from_utf8_lossy(&key).into_owned());
            }
            let fresh = format!("nb_publishable_{}", random::token()?);
            self.kv
                .compare_and_swap(&self.store, PUBLISHABLE_KEY, None, fresh.as_bytes())?;
        }
    }

    /// Replaces the publishable API key; clients holding the old one are refused where the
    /// key is required.
    pub fn rotate_publishable_key(&self) -> Result<String, AuthError> {
        let fresh = format!("nb_publishable_{}", random::token()?);
        self.kv
            .set(&self.store, PUBLISHABLE_KEY, fresh.as_bytes())?;
        Ok(fresh)
    }

    /// Takes one token from `ip`'s bucket.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AuthError> {
        self.ip_limiter.check(ip)
    }

    // ---- users ----

    fn user_key(id: &str) -> String {
        format!("user:{id}")
    }

    fn email_key(email: &str) -> String {
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

    fn change_user(
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

    // ---- sessions ----

    fn session_key(id: &str) -> String {
        format!("session:{id}")
    }

    fn user_session_key(user_id: &str, session_id: &str) -> String {
        format!("user-session:{user_id}:{session_id}")
    }

    fn start_session(&self, user: &User) -> Result<Session, AuthError> {
        let session_id = random::uuid()?;
        let (token, hash) = session::new_refresh_token(&session_id)?;
        let record = SessionRecord {
            user_id: user.id.clone(),
            created_at_ms: now_ms(),
            current_hash: hash,
            previous: Vec::new(),
        };
        self.kv.set(
            &self.store,
            &Self::user_session_key(&user.id, &session_id),
            b"",
        )?;
        self.kv.set(
            &self.store,
            &Self::session_key(&session_id),
            &Self::encode(&record)?,
        )?;
        self.issue(user, &session_id, token)
    }

    fn end_session(&self, user_id: &str, session_id: &str) -> Result<(), AuthError> {
        self.kv
            .delete(&self.store, &Self::session_key(session_id))?;
        self.kv
            .delete(&self.store, &Self::user_session_key(user_id, session_id))?;
        Ok(())
    }

    /// Ends every session of `user_id` except `keep`.
    fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<(), AuthError> {
        let prefix = format!("user-session:{user_id}:");
        let mut cursor: Option<String> = None;
        loop {
            let page = self.kv.list_keys(&self.store, &prefix, cursor.as_deref())?;
            for key in &page.keys {
                let session_id = &key[prefix.len()..];
                if Some(session_id) != keep {
                    self.end_session(user_id, session_id)?;
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Creates a user and signs them in.
    pub fn signup(
        &self,
        email: &str,
        password: &str,
        user_metadata: serde_json::Value,
    ) -> Result<Session, AuthError> {
        let mut user = self.create_user(email, password, DEFAULT_ROLE, user_metadata)?;
        user.last_sign_in_at_ms = Some(now_ms());
        self.start_session(&user)
    }

    /// Signs in with email and password. An unknown email and a wrong password give the same
    /// error after the same work; an account with [`FREE_FAILURES`] failures in a row is locked
    /// for a time that doubles with each further failure.
    pub fn sign_in(&self, email: &str, password: &str) -> Result<Session, AuthError> {
        let Ok(email) = normalize_email(email) else {
            password::verify(password, &self.dummy_hash);
            return Err(AuthError::InvalidCredentials);
        };
        let failures_key = format!("failures:{email}");
        if let Some((failures, _)) = self.read::<Failures>(&failures_key)? {
            failures.check(now_ms())?;
        }
        let user = match self.user_by_email(&email) {
            Ok(user) => Some(user),
            Err(AuthError::UserNotFound) => None,
            Err(other) => return Err(other),
        };
        let hash = user.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash);
        let matches = password::verify(password, hash);
        match user {
            Some(user) if matches => {
                self.kv.delete(&self.store, &failures_key)?;
                let user = self.change_user(&user.id, |u| {
                    u.last_sign_in_at_ms = Some(now_ms());
                    Ok(())
                })?;
                self.start_session(&user)
            }
            _ => {
                self.update::<Failures, _>(&failures_key, |current| {
                    let mut failures = current.unwrap_or_default();
                    failures.record_failure(now_ms());
                    Ok(Some(failures))
                })?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Exchanges a refresh token for a new session token pair. The token is single use: a
    /// second use revokes the whole session.
    pub fn refresh(&self, refresh_token: &str) -> Result<Session, AuthError> {
        let session_id =
            session::session_of(refresh_token).ok_or(AuthError::RefreshTokenNotFound)?;
        let key = Self::session_key(session_id);
        loop {
            let (mut record, old_bytes) = self
                .read::<SessionRecord>(&key)?
                .ok_or(AuthError::RefreshTokenNotFound)?;
            match record.classify(refresh_token) {
                Presented::Unknown => return Err(AuthError::RefreshTokenNotFound),
                Presented::Replaced => {
                    self.end_session(&record.user_id, session_id)?;
                    return Err(AuthError::RefreshTokenReused);
                }
                Presented::Current => {
                    let user = match self.user(&record.user_id) {
                        Ok(user) => user,
                        Err(AuthError::UserNotFound) => {
                            self.end_session(&record.user_id, session_id)?;
                            return Err(AuthError::RefreshTokenNotFound);
                        }
                        Err(other) => return Err(other),
                    };
                    let (token, hash) = session::new_refresh_token(session_id)?;
                    record.rotate(hash);
                    // Loses only to a concurrent use of the same token, which the next round
                    // then sees as reuse.
                    if self.kv.compare_and_swap(
                        &self.store,
                        &key,
                        Some(&old_bytes),
                        &Self::encode(&record)?,
                    )? {
                        return self.issue(&user, session_id, token);
                    }
                }
            }
        }
    }

    /// Verifies `token` and checks that its session is still live (not signed out or revoked).
    pub fn authenticate(&self, token: &str) -> Result<(Claims, User), AuthError> {
        let claims = self.verify(token)?;
        if self
            .kv
            .get(&self.store, &Self::session_key(&claims.session_id))?
            .is_none()
        {
            return Err(AuthError::SessionNotFound);
        }
        let user = self.user(&claims.sub)?;
        Ok((claims, user))
    }

    /// Ends the sessions `scope` names, for the holder of `claims`.
    pub fn logout(&self, claims: &Claims, scope: LogoutScope) -> Result<(), AuthError> {
        match scope {
            LogoutScope::Local => self.end_session(&claims.sub, &claims.session_id),
            LogoutScope::Global => self.end_sessions(&claims.sub, None),
            LogoutScope::Others => self.end_sessions(&claims.sub, Some(&claims.session_id)),
        }
    }
}

fn check_role(role: &str) -> Result<(), AuthError> {
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
