//! Random bytes, ids and tokens from the operating system's generator.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AuthError;

/// Fills `buf` from the OS generator.
pub fn fill(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Internal(format!("no randomness: {e}")))
}

/// A random UUID (version 4) in its usual text form.
pub fn uuid() -> Result<String, AuthError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// An opaque token of 256 random bits, URL-safe.
pub fn token() -> Result<String, AuthError> {
    let mut b = [0u8; 32];
    fill(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}
