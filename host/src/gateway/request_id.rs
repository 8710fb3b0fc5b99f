//! Request ids: unique within a process run and unlikely to repeat across runs, cheap enough
//! for every request (no syscall, no lock).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static PREFIX: LazyLock<u32> = LazyLock::new(|| {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
});
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new request id: 8 hex digits per process run, then a 12-digit counter.
pub fn next() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{:012x}", *PREFIX, n & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_fixed_width() {
        let a = super::next();
        let b = super::next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
    }
}
