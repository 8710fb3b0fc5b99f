//! Signing keys: ES256 (P-256) key pairs with a `kid`, published as a JWKS. Rotation makes a new
//! key current and keeps the old ones published until every token they signed has expired.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::EncodePrivateKey as _;
use serde::{Deserialize, Serialize};

use crate::{AuthError, random};

/// One key pair as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    /// Key id, in every token's header.
    pub kid: String,
    /// PKCS#8 DER of the private key, base64url.
    pub private_pkcs8: String,
    /// Public point coordinates, base64url (the JWK's `x` and `y`).
    pub x: String,
    /// See `x`.
    pub y: String,
    /// When it stopped signing (ms since the epoch); `None` for the current key.
    pub retired_at_ms: Option<u64>,
}

/// Every key still published; the last one signs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeySet {
    /// Oldest first.
    pub keys: Vec<StoredKey>,
}

/// The only algorithm tokens are signed and accepted with: a token that names any other is
/// rejected before its signature is looked at.
pub const ALGORITHM: Algorithm = Algorithm::ES256;

impl StoredKey {
    /// A new random key pair.
    pub fn generate() -> Result<Self, AuthError> {
        let secret = loop {
            let mut bytes = [0u8; 32];
            random::fill(&mut bytes)?;
            // Fails only for the zero scalar or one at or above the group order: retry.
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| AuthError::Internal(format!("cannot encode a signing key: {e}")))?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(AuthError::Internal("public key has no coordinates".into()));
        };
        Ok(Self {
            kid: random::uuid()?,
            private_pkcs8: URL_SAFE_NO_PAD.encode(der.as_bytes()),
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
            retired_at_ms: None,
        })
    }

    /// The key that signs tokens.
    pub fn encoding_key(&self) -> Result<EncodingKey, AuthError> {
        let der = URL_SAFE_NO_PAD
            .decode(&self.private_pkcs8)
            .map_err(|_| AuthError::Internal("stored signing key is corrupt".into()))?;
        Ok(EncodingKey::from_ec_der(&der))
    }

    /// The key that verifies tokens.
    pub fn decoding_key(&self) -> Result<DecodingKey, AuthError> {
        DecodingKey::from_ec_components(&self.x, &self.y)
            .map_err(|_| AuthError::Internal("stored public key is corrupt".into()))
    }

    /// The public half as a JWK.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "key_ops": ["verify"],
            "kid": self.kid,
            "x": self.x,
            "y": self.y,
        })
    }
}

impl KeySet {
    /// The signing key.
    pub fn current(&self) -> Option<&StoredKey> {
        self.keys.iter().rev().find(|k| k.retired_at_ms.is_none())
    }

    /// The key with id `kid`, if still published.
    pub fn find(&self, kid: &str) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Retires the current key and adds a new one; drops keys retired longer than `keep_ms` ago
    /// (no token they signed is still valid).
    pub fn rotate(&mut self, now_ms: u64, keep_ms: u64) -> Result<(), AuthError> {
        for key in &mut self.keys {
            key.retired_at_ms.get_or_insert(now_ms);
        }
        self.keys.retain(|k| {
            k.retired_at_ms
                .is_none_or(|at| now_ms.saturating_sub(at) <= keep_ms)
        });
        self.keys.push(StoredKey::generate()?);
        Ok(())
    }

    /// The JWKS document: every published public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(StoredKey::jwk).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_keys_until_their_tokens_expire() {
        let mut set = KeySet::default();
        set.rotate(0, 1000).expect("first key");
        let first = set.current().expect("current").kid.clone();
        set.rotate(10, 1000).expect("rotate");
        let second = set.current().expect("current").kid.clone();
        assert_ne!(first, second);
        assert!(set.find(&first).is_some(), "old key still published");
        set.rotate(2000, 1000).expect("rotate again");
        assert!(set.find(&first).is_none(), "expired key dropped");
        assert!(set.find(&second).is_some());
        assert_eq!(set.jwks()["keys"].as_array().map(Vec::len), Some(2));
    }
}
