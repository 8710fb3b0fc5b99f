//! Random bytes, ids and tokens from the operating system's generator.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AuthError;

/// Fills `buf` from the OS generator.
pub fn fill(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Internal(format!("no randomness: {e}")))
}

/// A random UUID (version 4) in its usual text form; a failing OS generator is an error,
/// not a panic.
pub fn uuid() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    fill(&mut bytes)?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// An opaque token of 256 random bits, URL-safe.
pub fn token() -> Result<String, AuthError> {
    let mut b = [0u8; 32];
    fill(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// Six decimal digits, uniformly drawn (a one-time code).
pub fn six_digits() -> Result<String, AuthError> {
    // 4_294_000_000 is the largest multiple of 10^6 below 2^32: draws above it are redrawn,
    // so that every code is equally likely.
    loop {
        let mut b = [0u8; 4];
        fill(&mut b)?;
        let n = u32::from_le_bytes(b);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_version_4_uuids_and_tokens_carry_256_bits() {
        let id = super::uuid().expect("uuid");
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(super::uuid().expect("uuid"), id);
        assert_eq!(super::token().expect("token").len(), 43);
        let code = super::six_digits().expect("code");
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "{code}"
        );
    }
}
