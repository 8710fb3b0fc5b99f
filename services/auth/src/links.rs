//! One-time links and codes that email flows send: sign-up confirmation, invitation, magic
//! link, password recovery and email change. Each carries a random token (in the link) and a
//! six-digit code (to type in); only their SHA-256 digests are stored, the newest issue of a
//! kind for an address replaces the one before, and either works once, before it expires. A
//! code has [`MAX_CODE_ATTEMPTS`] tries.
//!
//! With PKCE (what `@supabase/ssr` uses), following a link gives an authorization code
//! instead of a session, which only the holder of the code verifier exchanges.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nimbus_kv::{Batch, Condition};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::{AuthError, AuthService, Session, User, now_ms, password, random};

/// How long a link or code is valid (Supabase's default email OTP expiry).
pub const LINK_TTL_MS: u64 = 3600 * 1000;
/// Wrong codes an issue survives.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// How often a guess re-reads a record that changed under it before it gives up.
const MAX_CAS_ROUNDS: usize = 32;
/// How long an authorization code waits for its exchange.
const AUTH_CODE_TTL_MS: u64 = 5 * 60 * 1000;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Confirms the email of a new sign-up.
    Signup,
    /// Lets an invited user in (they then set a password).
    Invite,
    /// Signs in without a password (`signInWithOtp`).
    Magiclink,
    /// Signs in to set a new password (`resetPasswordForEmail`).
    Recovery,
    /// Confirms a new email address (`updateUser({ email })`).
    EmailChange,
    /// A code (the nonce) that a signed-in user types to change their password
    /// (`reauthenticate`); never a link to follow.
    Reauthentication,
}

impl LinkKind {
    /// The `type` Supabase names it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Invite => "invite",
            Self::Magiclink => "magiclink",
            Self::Recovery => "recovery",
            Self::EmailChange => "email_change",
            Self::Reauthentication => "reauthentication",
        }
    }

    /// The kinds a `type` of `verifyOtp` or of a link may mean (`email` is the code that
    /// `signInWithOtp` sends, which signs a new user up too).
    pub fn from_type(kind: &str) -> Result<&'static [LinkKind], AuthError> {
        Ok(match kind {
            "signup" => &[Self::Signup],
            "invite" => &[Self::Invite],
            "magiclink" => &[Self::Magiclink],
            "recovery" => &[Self::Recovery],
            "email_change" => &[Self::EmailChange],
            "email" => &[Self::Magiclink, Self::Signup],
            other => {
                return Err(AuthError::Invalid(format!(
                    "`{other}` is not a verification type (signup, invite, magiclink, recovery, email_change, email)"
                )));
            }
        })
    }
}

/// How the PKCE verifier is checked against the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkceMethod {
    /// `base64url(sha256(verifier)) == challenge`.
    S256,
    /// `verifier == challenge`.
    Plain,
}

/// A PKCE challenge a client sent with the request that issued a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pkce {
    /// The challenge.
    pub challenge: String,
    /// Its method.
    pub method: PkceMethod,
}

impl Pkce {
    /// The challenge from a request's `code_challenge` and `code_challenge_method`; both or
    /// neither.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, AuthError> {
        match (challenge.filter(|c| !c.is_empty()), method) {
            (None, _) => Ok(None),
            (Some(challenge), method) => {
                let method = match method.map(str::to_ascii_lowercase).as_deref() {
                    Some("s256") | None => PkceMethod::S256,
                    Some("plain") => PkceMethod::Plain,
                    Some(other) => {
                        return Err(AuthError::Invalid(format!(
                            "code_challenge_method `{other}` is not s256 or plain"
                        )));
                    }
                };
                if !(43..=128).contains(&challenge.len()) {
                    return Err(AuthError::Invalid(
                        "code_challenge must be 43 to 128 characters".into(),
                    ));
                }
                Ok(Some(Self {
                    challenge: challenge.to_string(),
                    method,
                }))
            }
        }
    }

    fn accepts(&self, verifier: &str) -> bool {
        let expected = match self.method {
            PkceMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            PkceMethod::Plain => verifier.to_string(),
        };
        bool::from(expected.as_bytes().ct_eq(self.challenge.as_bytes()))
    }
}

/// A link just issued: what goes into the mail.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    /// What it is for.
    pub kind: LinkKind,
    /// The address it goes to (the new one, for an email change).
    pub email: String,
    /// The user it is for.
    pub user: User,
    /// The link's secret token itself, which the link carries. GoTrue calls it `token_hash`
    /// on the wire (`verifyOtp({ token_hash })`, generateLink's `hashed_token`), so nimbus
    /// does too; only its SHA-256 digest is stored.
    pub token_hash: String,
    /// The six-digit code.
    pub code: String,
    /// Where the browser goes once the link is followed.
    pub redirect_to: Option<String>,
}

/// A link or code that was just used.
#[derive(Debug, Clone)]
pub struct UsedLink {
    /// What it was for.
    pub kind: LinkKind,
    /// The user, with the link's effect applied (email confirmed or changed).
    pub user: User,
    /// Where the browser goes.
    pub redirect_to: Option<String>,
    /// The PKCE challenge, when the flow uses one.
    pub pkce: Option<Pkce>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkRecord {
    kind: LinkKind,
    user_id: String,
    email: String,
    token_digest: String,
    code_digest: String,
    expires_at_ms: u64,
    attempts: u32,
    redirect_to: Option<String>,
    pkce: Option<Pkce>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthCodeRecord {
    user_id: String,
    pkce: Pkce,
    expires_at_ms: u64,
}

fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl AuthService {
    fn link_key(kind: LinkKind, email: &str) -> String {
        format!("link:{}:{email}", kind.as_str())
    }

    fn link_token_key(token_digest: &str) -> String {
        format!("link-token:{token_digest}")
    }

    /// Issues a `kind` link for `user`, sent to `email`, replacing any earlier one of that
    /// kind for that address.
    pub async fn issue_link(
        &self,
        kind: LinkKind,
        user: &User,
        email: &str,
        redirect_to: Option<String>,
        pkce: Option<Pkce>,
    ) -> Result<IssuedLink, AuthError> {
        let email = crate::normalize_email(email)?;
        let token_hash = random::token()?;
        let code = random::six_digits()?;
        let record = LinkRecord {
            kind,
            user_id: user.id.clone(),
            email: email.clone(),
            token_digest: digest(&token_hash),
            code_digest: digest(&format!("{}:{code}", user.id)),
            expires_at_ms: now_ms() + LINK_TTL_MS,
            attempts: 0,
            redirect_to: redirect_to.clone(),
            pkce,
        };
        let key = Self::link_key(kind, &email);
        let ttl = std::time::Duration::from_millis(LINK_TTL_MS);
        let mut batch = Batch::new()
            .put_expiring(&self.store, &key, Self::encode(&record)?, ttl)
            .put_expiring(
                &self.store,
                &Self::link_token_key(&record.token_digest),
                key.clone().into_bytes(),
                ttl,
            );
        if let Some((old, _)) = self.read::<LinkRecord>(&key).await? {
            batch = batch.delete(&self.store, &Self::link_token_key(&old.token_digest));
        }
        self.kv.apply(batch).await?;
        Ok(IssuedLink {
            kind,
            email,
            user: user.clone(),
            token_hash,
            code,
            redirect_to,
        })
    }

    /// Uses the link whose token is `token_hash`, if it is one of `kinds`.
    pub async fn use_link_token(
        &self,
        token_hash: &str,
        kinds: &[LinkKind],
    ) -> Result<UsedLink, AuthError> {
        let token_digest = digest(token_hash);
        let key = self
            .kv
            .get(&self.store, &Self::link_token_key(&token_digest))
            .await?
            .map(|key| String::from_utf8_lossy(&key).into_owned())
            .ok_or_else(expired)?;
        let (record, bytes) = self.read::<LinkRecord>(&key).await?.ok_or_else(expired)?;
        if !kinds.contains(&record.kind) || !same(&record.token_digest, &token_digest) {
            return Err(expired());
        }
        self.consume(&key, record, bytes).await
    }

    /// Uses the six-digit `code` sent to `email` for one of `kinds`. A wrong code counts
    /// against the issue; after [`MAX_CODE_ATTEMPTS`] the issue is void.
    pub async fn use_link_code(
        &self,
        email: &str,
        code: &str,
        kinds: &[LinkKind],
    ) -> Result<UsedLink, AuthError> {
        let email = crate::normalize_email(email)?;
        for kind in kinds {
            let key = Self::link_key(*kind, &email);
            // Each wrong guess is counted before it is answered: a guess whose count did not
            // land (another guess changed the record first) is tried again, so parallel
            // guesses cost one try each.
            for _ in 0..MAX_CAS_ROUNDS {
                let Some((mut record, bytes)) = self.read::<LinkRecord>(&key).await? else {
                    break;
                };
                let expected = digest(&format!("{}:{code}", record.user_id));
                if same(&record.code_digest, &expected) {
                    return self.consume(&key, record, bytes).await;
                }
                record.attempts += 1;
                let batch = if record.attempts >= MAX_CODE_ATTEMPTS {
                    Batch::new()
                        .delete(&self.store, &key)
                        .delete(&self.store, &Self::link_token_key(&record.token_digest))
                } else {
                    let left = record.expires_at_ms.saturating_sub(now_ms());
                    Batch::new().put_expiring(
                        &self.store,
                        &key,
                        Self::encode(&record)?,
                        std::time::Duration::from_millis(left.max(1)),
                    )
                };
                let counted = self
                    .kv
                    .apply(batch.check(&self.store, &key, Condition::Equals(bytes)))
                    .await?;
                if counted {
                    break;
                }
            }
        }
        Err(expired())
    }

    /// Deletes a link record (once: a second use loses the race) and applies its effect.
    async fn consume(
        &self,
        key: &str,
        record: LinkRecord,
        bytes: Vec<u8>,
    ) -> Result<UsedLink, AuthError> {
        if now_ms() >= record.expires_at_ms {
            return Err(expired());
        }
        let batch = Batch::new()
            .check(&self.store, key, Condition::Equals(bytes))
            .delete(&self.store, key)
            .delete(&self.store, &Self::link_token_key(&record.token_digest));
        if !self.kv.apply(batch).await? {
            return Err(expired());
        }
        // A link is for the address it went to: once the user's email (or the change they
        // asked for) is another, it is void.
        let current = self.user(&record.user_id).await?;
        let still_theirs = match record.kind {
            LinkKind::EmailChange => current.email_change.as_deref() == Some(&record.email),
            _ => current.email == record.email,
        };
        if !still_theirs {
            return Err(expired());
        }
        let user = match record.kind {
            LinkKind::Reauthentication => current,
            LinkKind::Signup => self.confirm_email(&record.user_id, false).await?,
            LinkKind::EmailChange => {
                let changes = crate::AdminUserChanges {
                    email: Some(record.email.clone()),
                    email_confirm: true,
                    ..crate::AdminUserChanges::default()
                };
                self.admin_update_user(&record.user_id, changes).await?
            }
            // Whoever signed up an address they did not own chose its password: when its
            // owner first proves it by a magic link, recovery or invitation, that password
            // goes (the owner sets their own).
            LinkKind::Magiclink | LinkKind::Recovery | LinkKind::Invite => {
                self.confirm_email(&record.user_id, current.email_unconfirmed)
                    .await?
            }
        };
        Ok(UsedLink {
            kind: record.kind,
            user,
            redirect_to: record.redirect_to,
            pkce: record.pkce,
        })
    }

    /// Marks the user's email confirmed (a link to it was followed); with
    /// `drop_unproven_password`, a password set before the email was proven is replaced by a
    /// random one.
    async fn confirm_email(
        &self,
        user_id: &str,
        drop_unproven_password: bool,
    ) -> Result<User, AuthError> {
        let fresh_hash = if drop_unproven_password {
            Some(password::hash_off_loop(&random::token()?).await?)
        } else {
            None
        };
        self.change_user(user_id, |user| {
            if user.email_unconfirmed {
                user.email_unconfirmed = false;
                user.confirmed_at_ms = Some(now_ms());
                if let Some(hash) = &fresh_hash {
                    user.password_hash = hash.clone();
                }
            }
            user.last_sign_in_at_ms = Some(now_ms());
            Ok(())
        })
        .await
    }

    /// A session for the user of a used link.
    pub async fn session_for(&self, user: &User) -> Result<Session, AuthError> {
        self.start_session(user).await
    }

    /// An authorization code for `user` that [`AuthService::exchange_auth_code`] turns into a
    /// session for whoever holds the verifier of `pkce`.
    pub async fn issue_auth_code(&self, user: &User, pkce: Pkce) -> Result<String, AuthError> {
        let code = random::uuid()?;
        let record = AuthCodeRecord {
            user_id: user.id.clone(),
            pkce,
            expires_at_ms: now_ms() + AUTH_CODE_TTL_MS,
        };
        self.kv
            .set_expiring(
                &self.store,
                &format!("auth-code:{}", digest(&code)),
                &Self::encode(&record)?,
                std::time::Duration::from_millis(AUTH_CODE_TTL_MS),
            )
            .await?;
        Ok(code)
    }

    /// `grant_type=pkce`: a session for the holder of the verifier, once per code.
    pub async fn exchange_auth_code(
        &self,
        auth_code: &str,
        code_verifier: &str,
    ) -> Result<Session, AuthError> {
        let key = format!("auth-code:{}", digest(auth_code));
        let invalid = || AuthError::Invalid("invalid flow state, no valid flow state found".into());
        let (record, bytes) = self
            .read::<AuthCodeRecord>(&key)
            .await?
            .ok_or_else(invalid)?;
        let batch = Batch::new()
            .check(&self.store, &key, Condition::Equals(bytes))
            .delete(&self.store, &key);
        if !self.kv.apply(batch).await? || now_ms() >= record.expires_at_ms {
            return Err(invalid());
        }
        if !record.pkce.accepts(code_verifier) {
            return Err(AuthError::Invalid(
                "code challenge does not match previously saved code verifier".into(),
            ));
        }
        let user = self.user(&record.user_id).await?;
        self.start_session(&user).await
    }
}

fn expired() -> AuthError {
    AuthError::OtpExpired
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::AuthConfig;

    #[tokio::test]
    async fn an_expired_link_and_its_code_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let kv = nimbus_kv::RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv");
        let auth = AuthService::open(Arc::new(kv), AuthConfig::new("app"))
            .await
            .expect("auth");
        let user = auth
            .signup("ann@example.com", "password1", serde_json::Value::Null)
            .await
            .expect("signup")
            .user;
        let issued = auth
            .issue_link(LinkKind::Magiclink, &user, "ann@example.com", None, None)
            .await
            .expect("issue");
        // Age the record as an hour would.
        let key = AuthService::link_key(LinkKind::Magiclink, "ann@example.com");
        let (mut record, _) = auth
            .read::<LinkRecord>(&key)
            .await
            .expect("read")
            .expect("record");
        record.expires_at_ms = now_ms().saturating_sub(1);
        let bytes = AuthService::encode(&record).expect("encode");
        auth.kv.set(&auth.store, &key, &bytes).await.expect("write");
        let kinds = [LinkKind::Magiclink];
        assert!(matches!(
            auth.use_link_code("ann@example.com", &issued.code, &kinds)
                .await,
            Err(AuthError::OtpExpired)
        ));
        auth.kv.set(&auth.store, &key, &bytes).await.expect("write");
        assert!(matches!(
            auth.use_link_token(&issued.token_hash, &kinds).await,
            Err(AuthError::OtpExpired)
        ));
    }
}
