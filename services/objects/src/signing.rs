//! Signed URLs: a token that lets its bearer do one method on one object until it expires,
//! without any other credential. The token is `{expiry}.{method}.{mac}`, where the MAC is
//! HMAC-SHA256 over app, bucket, key, method and expiry with a per-app secret.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use nimbus_kv::{KvStore, StoreId};
use sha2::Sha256;

use crate::{BucketId, OBJECTS_STORE, ObjectError};

const SECRET_KEY: &str = "~signing-secret";

/// Seconds since the Unix epoch: the clock signed URLs expire by.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Characters a key or token keeps as they are in a signed URL's path and query.
const PATH_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `text` percent-encoded for a signed URL's path or query (`/` kept).
pub fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, PATH_SAFE).to_string()
}

/// The path (under the app's origin) of the signed URL for `key` in `bucket` with `token`.
pub fn signed_url_path(bucket: &str, key: &str, token: &str) -> String {
    format!(
        "/storage/v1/object/sign/{bucket}/{}?token={}",
        url_encode(key),
        url_encode(token),
    )
}

/// Why a signed URL was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a token this service made.
    #[error("the signature is not valid")]
    Invalid,
    /// It was valid, until its expiry.
    #[error("the signed URL has expired")]
    Expired,
    /// Valid for another method.
    #[error("the signed URL does not allow this method")]
    WrongMethod,
}

/// Longest life of a signed URL, in seconds: seven days, as Supabase allows.
pub const MAX_SIGNED_URL_TTL: u64 = 7 * 24 * 3600;

/// A signed URL's requested lifetime is outside 1 second to [`MAX_SIGNED_URL_TTL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a signed URL lives between 1 and {MAX_SIGNED_URL_TTL} seconds")]
pub struct InvalidLifetime;

/// When a signed URL made at `now` to live `ttl` seconds expires, in seconds since the Unix
/// epoch: the one rule for every way of making one (the HTTP API and guests alike).
pub fn signed_url_expiry(now: u64, ttl: u64) -> Result<u64, InvalidLifetime> {
    if ttl == 0 || ttl > MAX_SIGNED_URL_TTL {
        return Err(InvalidLifetime);
    }
    now.checked_add(ttl).ok_or(InvalidLifetime)
}

/// Makes and checks signed URL tokens for one app.
pub struct UrlSigner {
    app: String,
    secret: Vec<u8>,
}

impl UrlSigner {
    /// The signer of `app`, creating its secret on first use (atomically, so every process of a
    /// host agrees on it).
    pub async fn open(kv: &Arc<dyn KvStore>, app: &str) -> Result<Self, ObjectError> {
        let store = StoreId::new(app, OBJECTS_STORE);
        loop {
            if let Some(secret) = kv.get(&store, SECRET_KEY).await? {
                return Ok(Self {
                    app: app.to_string(),
                    secret,
                });
            }
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh).map_err(|e| {
                ObjectError::Io(std::io::Error::other(format!("no randomness: {e}")))
            })?;
            kv.compare_and_swap(&store, SECRET_KEY, None, &fresh)
                .await?;
        }
    }

    fn mac(&self, bucket: &str, key: &str, method: &str, expires: u64) -> Hmac<Sha256> {
        // new_from_slice accepts keys of any length for HMAC.
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in [self.app.as_str(), bucket, key, method, &expires.to_string()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// A token allowing `method` on `bucket`/`key` until `expires` (seconds since the epoch).
    pub fn sign(&self, bucket: &BucketId, key: &str, method: &str, expires: u64) -> String {
        let method = method.to_ascii_uppercase();
        let mac = self.mac(&bucket.bucket, key, &method, expires).finalize();
        format!(
            "{expires}.{method}.{}",
            URL_SAFE_NO_PAD.encode(mac.into_bytes())
        )
    }

    /// Checks `token` for `method` on `bucket`/`key` at time `now` (seconds since the epoch). A
    /// GET token also allows HEAD.
    pub fn verify(
        &self,
        token: &str,
        bucket: &BucketId,
        key: &str,
        method: &str,
        now: u64,
    ) -> Result<(), SignatureError> {
        let mut parts = token.splitn(3, '.');
        let (Some(expires), Some(signed_method), Some(mac)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(SignatureError::Invalid);
        };
        let expires: u64 = expires.parse().map_err(|_| SignatureError::Invalid)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| SignatureError::Invalid)?;
        self.mac(&bucket.bucket, key, signed_method, expires)
            .verify_slice(&mac)
            .map_err(|_| SignatureError::Invalid)?;
        if now >= expires {
            return Err(SignatureError::Expired);
        }
        let method = method.to_ascii_uppercase();
        let allowed = signed_method == method || (signed_method == "GET" && method == "HEAD");
        if allowed {
            Ok(())
        } else {
            Err(SignatureError::WrongMethod)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signed_urls_live_one_second_to_seven_days() {
        use super::{InvalidLifetime, MAX_SIGNED_URL_TTL, signed_url_expiry};
        assert_eq!(signed_url_expiry(1_000, 60), Ok(1_060));
        assert_eq!(
            signed_url_expiry(1_000, MAX_SIGNED_URL_TTL),
            Ok(1_000 + MAX_SIGNED_URL_TTL)
        );
        for ttl in [0, MAX_SIGNED_URL_TTL + 1, u64::MAX] {
            assert_eq!(signed_url_expiry(1_000, ttl), Err(InvalidLifetime), "{ttl}");
        }
    }

    use nimbus_kv::RedbKvStore;

    use super::*;

    #[tokio::test]
    async fn tokens_bind_method_object_and_expiry() {
        let dir = tempfile::tempdir().expect("dir");
        let kv: Arc<dyn KvStore> =
            Arc::new(RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv"));
        let signer = UrlSigner::open(&kv, "todo").await.expect("signer");
        let bucket = BucketId::new("todo", "files");
        let token = signer.sign(&bucket, "a.txt", "get", 100);
        assert_eq!(signer.verify(&token, &bucket, "a.txt", "GET", 99), Ok(()));
        assert_eq!(signer.verify(&token, &bucket, "a.txt", "HEAD", 99), Ok(()));
        assert_eq!(
            signer.verify(&token, &bucket, "a.txt", "GET", 100),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            signer.verify(&token, &bucket, "a.txt", "PUT", 99),
            Err(SignatureError::WrongMethod)
        );
        assert_eq!(
            signer.verify(&token, &bucket, "b.txt", "GET", 99),
            Err(SignatureError::Invalid)
        );
        let other = BucketId::new("todo", "other");
        assert_eq!(
            signer.verify(&token, &other, "a.txt", "GET", 99),
            Err(SignatureError::Invalid)
        );
        let stretched = token.replacen("100.", "999.", 1);
        assert_eq!(
            signer.verify(&stretched, &bucket, "a.txt", "GET", 99),
            Err(SignatureError::Invalid)
        );
        // A second process gets the same secret.
        let again = UrlSigner::open(&kv, "todo").await.expect("signer");
        assert_eq!(again.verify(&token, &bucket, "a.txt", "GET", 99), Ok(()));
        // Another app's signer does not accept it.
        let foreign = UrlSigner::open(&kv, "other").await.expect("signer");
        assert!(foreign.verify(&token, &bucket, "a.txt", "GET", 99).is_err());
    }
}
