//! Password hashing: argon2id with at least OWASP's parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::AuthError;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (argon2 accepts more; nobody needs it, and it bounds the work).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// What an unknown account's password is checked against, so that answer takes as long as a
/// wrong password does. A fixed hash (of `nimbus-dummy-password`, with [`hasher`]'s parameters)
/// costs the same to verify as one made at start-up, without spending the start-up on it; its
/// password guards nothing.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$I2AJjtgCc2nNX1z+CwaL+w$xJuborNlUWmlAdAyZaE83EkrrpBJvOOU3+oDTQgJxMs";

/// Checks the password policy.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(AuthError::WeakPassword(format!(
            "Password should be at least {MIN_PASSWORD_LEN} characters."
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AuthError::WeakPassword(format!(
            "Password should be at most {MAX_PASSWORD_LEN} bytes."
        )));
    }
    Ok(())
}

/// Hashes `password` with a fresh random salt, as a PHC string.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    crate::random::fill(&mut salt)?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AuthError::Internal(format!("argon2 salt: {e}")))?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches `phc`. Takes the same time whether or not it matches (argon2's
/// verifier compares in constant time).
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Verify with the parameters stored in the hash, so raising the defaults later keeps old
    // hashes working.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// [`hash`] on a blocking thread: argon2 is CPU-bound by design and must not hold up an
/// event loop.
pub async fn hash_off_loop(password: &str) -> Result<String, AuthError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| AuthError::Internal(format!("password task failed: {e}")))?
}

/// [`verify`] on a blocking thread.
pub async fn verify_off_loop(password: &str, phc: &str) -> bool {
    let (password, phc) = (password.to_string(), phc.to_string());
    tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_use_owasp_parameters() {
        let phc = hash("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("wrong horse!", &phc));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = PasswordHash::new(&hash("any password").expect("hash"))
            .expect("parse")
            .params
            .to_string();
        let dummy = PasswordHash::new(DUMMY_HASH)
            .expect("parse")
            .params
            .to_string();
        assert_eq!(dummy, real);
        assert!(verify("nimbus-dummy-password", DUMMY_HASH));
    }

    #[test]
    fn short_passwords_are_weak() {
        assert!(matches!(
            check_policy("1234567"),
            Err(AuthError::WeakPassword(_))
        ));
        assert!(check_policy("12345678").is_ok());
    }
}
