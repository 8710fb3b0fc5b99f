//! Request ids: unique within a process run and unlikely to repeat across runs, cheap enough
//! for every request (no syscall, no lock).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderValue;

static PREFIX: LazyLock<u32> = LazyLock::new(|| {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
});
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new request id: 8 hex digits per process run, then a 12-digit counter.
pub fn next() -> String {
    String::from_utf8_lossy(&next_bytes()).into_owned()
}

/// [`next`] as a header value, without a detour through text formatting (it runs on every
/// request).
pub fn next_header() -> HeaderValue {
    let bytes = next_bytes();
    // Lowercase hex digits are always a valid header value.
    HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The prefix's 8 hex digits, then the low 48 bits of the counter as 12.
fn next_bytes() -> [u8; 20] {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut raw = [0u8; 10];
    raw[..4].copy_from_slice(&PREFIX.to_be_bytes());
    raw[4..].copy_from_slice(&n.to_be_bytes()[2..]);
    let mut text = [0u8; 20];
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(raw, &mut text);
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_fixed_width() {
        let a = super::next();
        let b = super::next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(a[..8], b[..8], "one prefix per process");
        let (a, b) = (
            u64::from_str_radix(&a[8..], 16).expect("hex"),
            u64::from_str_radix(&b[8..], 16).expect("hex"),
        );
        // Other tests mint ids meanwhile: later, not necessarily next.
        assert!(b > a);
        assert_eq!(super::next_header().len(), 20);
    }
}
