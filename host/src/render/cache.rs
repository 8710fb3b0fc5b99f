//! Rendered images kept by what they were made from (the source's content tag and the
//! transformation), least recently used first out, within a byte budget.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use super::process::Rendered;

/// The renders of one process, at most `capacity` bytes in all.
pub struct RenderCache {
    entries: Mutex<Entries>,
    capacity: usize,
}

struct Entries {
    lru: lru::LruCache<[u8; 32], Rendered>,
    bytes: usize,
}

/// Most entries, whatever their size: bounds the index itself.
const MAX_ENTRIES: usize = 4096;

impl RenderCache {
    /// A cache of at most `capacity` bytes of images.
    pub fn new(capacity: usize) -> Self {
        let slots = NonZeroUsize::new(MAX_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(Entries {
                lru: lru::LruCache::new(slots),
                bytes: 0,
            }),
            capacity,
        }
    }

    /// The render kept under `key`, now the most recently used.
    pub fn get(&self, key: &[u8; 32]) -> Option<Rendered> {
        let mut entries = self.entries.lock().ok()?;
        entries.lru.get(key).cloned()
    }

    /// Keeps `rendered` under `key`, dropping the least recently used until it fits. A render
    /// larger than a quarter of the budget is not kept: it would push out too much.
    pub fn put(&self, key: [u8; 32], rendered: Rendered) {
        let size = rendered.bytes.len();
        if size > self.capacity / 4 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some((_, replaced)) = entries.lru.push(key, rendered) {
            entries.bytes -= replaced.bytes.len();
        }
        entries.bytes += size;
        while entries.bytes > self.capacity {
            match entries.lru.pop_lru() {
                Some((_, dropped)) => entries.bytes -= dropped.bytes.len(),
                None => break,
            }
        }
    }

    /// Bytes kept now.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(size: usize) -> Rendered {
        Rendered {
            bytes: vec![0; size].into(),
            content_type: "image/png",
        }
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_budget_holds() {
        let cache = RenderCache::new(400);
        cache.put([1; 32], render(100));
        cache.put([2; 32], render(100));
        cache.put([3; 32], render(100));
        assert!(cache.get(&[1; 32]).is_some());
        cache.put([4; 32], render(100));
        cache.put([5; 32], render(100));
        assert!(cache.bytes() <= 400);
        assert!(cache.get(&[2; 32]).is_none(), "least recently used");
        assert!(cache.get(&[1; 32]).is_some(), "used since");
        cache.put([6; 32], render(101));
        assert!(
            cache.get(&[6; 32]).is_none(),
            "over a quarter of the budget"
        );
    }

    #[test]
    fn replacing_an_entry_counts_its_bytes_once() {
        let cache = RenderCache::new(1000);
        cache.put([1; 32], render(100));
        cache.put([1; 32], render(200));
        assert_eq!(cache.bytes(), 200);
    }
}
