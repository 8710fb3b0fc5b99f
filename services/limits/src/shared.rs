//! GCRA cells in a memory-mapped file that every process of a host maps.
//!
//! Layout: a header (magic, epoch, hash seed) and then [`SLOTS`] 64-bit cells. A cell holds a
//! 24-bit tag of its key and the key's arrival time as 40 bits of milliseconds since the
//! file's epoch (34 years), so one atomic compare-and-swap reads and replaces both. A key maps
//! to one cell by a hash seeded with a per-host random seed, so no client can aim at another's
//! cell; a key that finds another key's tag in its cell takes the cell over and starts with a
//! full bucket (with 65,536 cells and the few thousand keys a host sees in a minute, rarely).

use std::fs::OpenOptions;
use std::hash::{Hash as _, Hasher as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memmap2::MmapMut;

use crate::{Quota, RateLimiter};

/// Cells in the table.
pub const SLOTS: usize = 1 << 16;
const MAGIC: u64 = u64::from_le_bytes(*b"nblimit1");
/// Header words: magic, epoch (Unix milliseconds), seed.
const HEADER_WORDS: usize = 3;
const TAG_BITS: u32 = 24;
const TIME_BITS: u32 = 64 - TAG_BITS;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// Why the shared table could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// The file could not be created, opened or mapped.
    #[error("rate-limit table {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The failure, shown in the message rather than chained as its source, so that
        /// an error printed with its causes does not say it twice.
        error: std::io::Error,
    },
    /// The file is not a table this version made.
    #[error("rate-limit table {0} is not one nimbus made; remove it and restart the host")]
    Foreign(String),
}

/// Rate limits shared by every process that maps the same file.
pub struct SharedLimiter {
    map: MmapMut,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl SharedLimiter {
    /// Makes a fresh table at `path` (replacing any), for the process that starts a host.
    pub fn create(path: &Path) -> Result<Self, LimitsError> {
        let io = |error| LimitsError::Io {
            path: path.display().to_string(),
            error,
        };
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        // A new file, renamed into place, so that processes of an earlier run still mapping
        // the old one never see it change under them.
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        // A leftover of a crashed run with this pid goes first; `create_new` then refuses to
        // follow anything put at the name meanwhile.
        let _ = std::fs::remove_file(&temp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io)?;
        file.set_len(((HEADER_WORDS + SLOTS) * 8) as u64)
            .map_err(io)?;
        // SAFETY: the file was just created (`create_new`) by this process in the owner-only
        // data directory, at its full size; it is mapped shared and only ever accessed through
        // atomics. Only the host's own processes map it; none of them truncates it.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(io)?;
        let limiter = Self { map };
        let words = limiter.words();
        words[1].store(unix_ms(), Ordering::Relaxed);
        words[2].store(u64::from_le_bytes(seed), Ordering::Relaxed);
        words[0].store(MAGIC, Ordering::Release);
        std::fs::rename(&temp, path).map_err(io)?;
        Ok(limiter)
    }

    /// A table of this process alone, for commands that serve nothing to other processes
    /// (`nimbus check`, `nimbus invoke`): it never touches the running host's file.
    pub fn private() -> Result<Self, LimitsError> {
        let io = |error| LimitsError::Io {
            path: "(anonymous)".into(),
            error,
        };
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let map = MmapMut::map_anon((HEADER_WORDS + SLOTS) * 8).map_err(io)?;
        let limiter = Self { map };
        let words = limiter.words();
        words[1].store(unix_ms(), Ordering::Relaxed);
        words[2].store(u64::from_le_bytes(seed), Ordering::Relaxed);
        words[0].store(MAGIC, Ordering::Release);
        Ok(limiter)
    }

    /// Maps the table a host's first process made at `path`.
    pub fn open(path: &Path) -> Result<Self, LimitsError> {
        let io = |error| LimitsError::Io {
            path: path.display().to_string(),
            error,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let expected = ((HEADER_WORDS + SLOTS) * 8) as u64;
        if file.metadata().map_err(io)?.len() != expected {
            return Err(LimitsError::Foreign(path.display().to_string()));
        }
        // SAFETY: the file has the table's exact size, is owner-only in the host's data
        // directory (no other user can truncate it under us), and every process accesses it
        // only through atomics.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(io)?;
        let limiter = Self { map };
        if limiter.words()[0].load(Ordering::Acquire) != MAGIC {
            return Err(LimitsError::Foreign(path.display().to_string()));
        }
        Ok(limiter)
    }

    fn words(&self) -> &[AtomicU64] {
        let len = self.map.len() / 8;
        // SAFETY: the map is page-aligned (so 8-byte aligned), `len` 64-bit words long, lives
        // as long as `self`, and is only ever read and written through these atomics (in this
        // process and in every other that maps the file).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), len) }
    }

    /// The cell of `key` in `scope` and the tag that marks it as this key's.
    fn locate(&self, scope: &str, key: &[u8]) -> (usize, u64) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.words()[2].load(Ordering::Relaxed).hash(&mut hasher);
        scope.hash(&mut hasher);
        key.hash(&mut hasher);
        let hash = hasher.finish();
        let slot = (hash as usize) % SLOTS;
        // Never zero, so that an empty cell belongs to no key.
        let tag = ((hash >> 40) & ((1 << TAG_BITS) - 1)).max(1);
        (HEADER_WORDS + slot, tag)
    }
}

impl RateLimiter for SharedLimiter {
    fn check(&self, scope: &str, key: &[u8], quota: Quota) -> Result<(), Duration> {
        let (index, tag) = self.locate(scope, key);
        let cell = &self.words()[index];
        let epoch = self.words()[1].load(Ordering::Relaxed);
        let now = unix_ms().saturating_sub(epoch) & TIME_MASK;
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let tat = (current >> TIME_BITS == tag).then_some(current & TIME_MASK);
            let next = quota.decide(tat, now)?;
            let replacement = (tag << TIME_BITS) | (next & TIME_MASK);
            match cell.compare_exchange_weak(
                current,
                replacement,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_table_share_every_bucket() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("limits.shm");
        let first = SharedLimiter::create(&path).expect("create");
        let second = SharedLimiter::open(&path).expect("open");
        let quota = Quota::per_minute(4, 1);
        let mut admitted = 0;
        for i in 0..10 {
            let limiter = if i % 2 == 0 { &first } else { &second };
            if limiter.check("auth", b"10.0.0.1", quota).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 4, "one burst across both mappings");
        let wait = second.check("auth", b"10.0.0.1", quota).expect_err("empty");
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        assert!(
            first.check("auth", b"10.0.0.2", quota).is_ok(),
            "another key"
        );
        assert!(
            first.check("other", b"10.0.0.1", quota).is_ok(),
            "another scope"
        );
    }

    #[test]
    fn threads_racing_on_one_key_never_exceed_the_burst() {
        let dir = tempfile::tempdir().expect("dir");
        let limiter = std::sync::Arc::new(
            SharedLimiter::create(&dir.path().join("limits.shm")).expect("create"),
        );
        let quota = Quota::per_minute(100, 1);
        let admitted: usize = (0..8)
            .map(|_| {
                let limiter = std::sync::Arc::clone(&limiter);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| limiter.check("s", b"k", quota).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .sum();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn a_file_that_is_not_a_table_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("limits.shm");
        std::fs::write(&path, b"not a table").expect("write");
        assert!(matches!(
            SharedLimiter::open(&path),
            Err(LimitsError::Foreign(_))
        ));
        // The right size without the magic.
        std::fs::write(&path, vec![0u8; (HEADER_WORDS + SLOTS) * 8]).expect("write");
        assert!(matches!(
            SharedLimiter::open(&path),
            Err(LimitsError::Foreign(_))
        ));
    }

    #[test]
    fn a_private_table_limits_this_process_only() {
        let limiter = SharedLimiter::private().expect("private");
        let quota = Quota::per_minute(2, 1);
        assert!(limiter.check("s", b"k", quota).is_ok());
        assert!(limiter.check("s", b"k", quota).is_ok());
        assert!(limiter.check("s", b"k", quota).is_err());
    }
}
