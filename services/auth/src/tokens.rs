//! Signing keys, access tokens and the publishable key of one app's auth service.

use jsonwebtoken::{Header, Validation};

use crate::keys::{ALGORITHM, KeySet};
use crate::{
    AuthError, AuthService, Claims, LEEWAY_SECS, PUBLISHABLE_KEY, SIGNING_KEYS, Session, User,
    now_ms, random,
};

/// Lets one reload through per interval.
pub(crate) struct ReloadGate {
    pub(crate) last_ms: std::sync::atomic::AtomicU64,
}

impl ReloadGate {
    const INTERVAL_MS: u64 = 1000;

    pub(crate) fn allow(&self) -> bool {
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

impl AuthService {
    pub(crate) async fn load_or_create_keys(&self) -> Result<KeySet, AuthError> {
        if let Some((set, _)) = self.read::<KeySet>(SIGNING_KEYS).await?
            && set.current().is_some()
        {
            return Ok(set);
        }
        let keep = self.config.access_token_ttl.as_millis() as u64;
        let keys = self
            .update::<KeySet, _>(SIGNING_KEYS, |current| match current {
                Some(set) if set.current().is_some() => Ok(None),
                _ => {
                    let mut set = KeySet::default();
                    set.rotate(now_ms(), keep)?;
                    Ok(Some(set))
                }
            })
            .await?;
        match keys {
            Some(created) => Ok(created),
            // Another process created them between the read and the swap.
            None => self
                .read::<KeySet>(SIGNING_KEYS)
                .await?
                .map(|(set, _)| set)
                .ok_or_else(|| AuthError::Internal("signing keys vanished".into())),
        }
    }

    pub(crate) fn cache_keys(&self, keys: KeySet) {
        if let Ok(mut cached) = self.keys.write() {
            *cached = keys;
        }
    }

    /// Makes a new signing key current. Tokens signed by the old one stay valid (and its public
    /// key stays in the JWKS) until they expire.
    pub async fn rotate_signing_key(&self) -> Result<String, AuthError> {
        let keep = self.config.access_token_ttl.as_millis() as u64 + LEEWAY_SECS * 1000;
        let rotated = self
            .update::<KeySet, _>(SIGNING_KEYS, |current| {
                let mut set = current.unwrap_or_default();
                set.rotate(now_ms(), keep)?;
                Ok(Some(set))
            })
            .await?;
        let rotated = rotated.ok_or_else(|| AuthError::Internal("rotation lost".into()))?;
        let kid = rotated.current().map(|k| k.kid.clone()).unwrap_or_default();
        self.cache_keys(rotated);
        Ok(kid)
    }

    /// The JWKS document (read from the store, so a rotation by another process shows).
    pub async fn jwks(&self) -> Result<serde_json::Value, AuthError> {
        let keys = self.load_or_create_keys().await?;
        let jwks = keys.jwks();
        self.cache_keys(keys);
        Ok(jwks)
    }

    // ---- tokens ----

    pub(crate) async fn issue(
        &self,
        user: &User,
        session_id: &str,
        refresh_token: String,
    ) -> Result<Session, AuthError> {
        // Signing is rare next to argon2; reading the keys each time picks up rotations made by
        // other processes.
        let keys = self.load_or_create_keys().await?;
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
            // A role stored before `service_role` was reserved is never put in a token.
            role: if user.role.eq_ignore_ascii_case(crate::SERVICE_ROLE) {
                crate::DEFAULT_ROLE.to_string()
            } else {
                user.role.clone()
            },
            email: (!user.is_anonymous).then(|| user.email.clone()),
            session_id: session_id.to_string(),
            aal: Some("aal1".into()),
            is_anonymous: user.is_anonymous,
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
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(claims) = self.verify_cached(token) {
            return Ok(claims);
        }
        let claims = self.verify_signature(token).await?;
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

    /// [`AuthService::verify`] without the verified-token cache: every call checks the
    /// signature, on a blocking thread so that a flood of forged tokens cannot stall an event
    /// loop.
    pub async fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
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
                let keys = self.load_or_create_keys().await?;
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
        let token = token.to_string();
        tokio::task::spawn_blocking(move || {
            jsonwebtoken::decode::<Claims>(&token, &key, &validation)
                .map(|data| data.claims)
                .map_err(|e| AuthError::InvalidToken(e.to_string()))
        })
        .await
        .map_err(|e| AuthError::Internal(format!("token check failed: {e}")))?
    }

    /// The app's publishable API key (sent by clients as `apikey`), created on first use.
    pub async fn publishable_key(&self) -> Result<String, AuthError> {
        loop {
            if let Some(key) = self.kv.get(&self.store, PUBLISHABLE_KEY).await? {
                return Ok(String::from_utf8_lossy(&key).into_owned());
            }
            let fresh = format!("nb_publishable_{}", random::token()?);
            self.kv
                .compare_and_swap(&self.store, PUBLISHABLE_KEY, None, fresh.as_bytes())
                .await?;
        }
    }

    /// Replaces the publishable API key; clients holding the old one are refused where the
    /// key is required.
    pub async fn rotate_publishable_key(&self) -> Result<String, AuthError> {
        let fresh = format!("nb_publishable_{}", random::token()?);
        self.kv
            .set(&self.store, PUBLISHABLE_KEY, fresh.as_bytes())
            .await?;
        Ok(fresh)
    }
}
