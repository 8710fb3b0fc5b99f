//! The compiled-code cache. What it holds is native code the host maps and runs, so it lives in
//! a directory only the host's user may write (checked at start), and every entry is checked
//! before it is loaded: it is stored beside a MAC of the engine it was compiled for, the
//! content hash of its source and its bytes, under a key kept in the cache directory
//! (owner-only). The MAC is a keyed BLAKE3 hash, which checks a large entry in a small part of a
//! cold start. An entry that was truncated, corrupted, renamed to stand for another component,
//! or written by anything that cannot read the key is ignored and compiled again; one with no
//! MAC (made by an earlier version, whose MAC was of another kind) counts as no entry.
//! Whoever can read the key (this user) can forge entries; the directory's ownership is what
//! keeps everyone else out.
//!
//! Finding a component's entry needs the content hash of its source. Hashing a large source
//! (a JS or Python component is tens of megabytes) on every start would cost more than the
//! cache saves, so the hash is remembered per source file with the file's inode, size and
//! change time, which any write to the file changes. A hash is remembered only when the file
//! did not change while it was read and was last changed a while before (change times can be
//! as coarse as a scheduler tick), so a rewrite right after the read is never taken for the
//! version that was hashed.

use std::hash::{Hash as _, Hasher as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Length of the MAC key, in bytes.
const KEY_BYTES: usize = 32;
/// The extension of an entry's MAC file. Entries whose MAC was made another way (an
/// HMAC-SHA256, under [`EARLIER_MAC_EXTENSION`]) have none, and are compiled again rather than
/// reported as corrupt.
const MAC_EXTENSION: &str = "b3mac";
/// Where an earlier version kept an entry's MAC; removed when the entry is stored again.
const EARLIER_MAC_EXTENSION: &str = "mac";
/// How long a source must have been unchanged before its content hash is remembered.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

/// The cache in one directory.
pub struct CodeCache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
    engine_hash: u64,
}

/// What a source file looks like: device, inode, size and change time.
pub fn fingerprint(path: &Path) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} {} {} {}.{}",
        metadata.dev(),
        metadata.ino(),
        metadata.len(),
        metadata.ctime(),
        metadata.ctime_nsec()
    ))
}

/// The MAC of an entry: what engine it is for, what source it is of, and its bytes.
fn mac(key: &[u8; KEY_BYTES], engine_hash: u64, digest: &str, bytes: &[u8]) -> [u8; 32] {
    let mut mac = blake3::Hasher::new_keyed(key);
    mac.update(&engine_hash.to_le_bytes());
    mac.update(&(digest.len() as u64).to_le_bytes());
    mac.update(digest.as_bytes());
    mac.update(bytes);
    *mac.finalize().as_bytes()
}

/// Whether `digest` is a hex SHA-256, as every name in the cache is built from one.
fn is_digest(digest: &str) -> bool {
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

impl CodeCache {
    /// The cache in `dir` (which must exist and be owner-only), for code compiled by `engine`;
    /// `None` when its key can be neither read nor made (then nothing is cached).
    pub fn open(dir: &Path, engine: &Engine) -> Option<Self> {
        let key_path = dir.join("mac.key");
        let key = match std::fs::read(&key_path) {
            Ok(bytes) if bytes.len() == KEY_BYTES => bytes,
            _ => {
                let mut fresh = [0u8; KEY_BYTES];
                if let Err(e) = getrandom::fill(&mut fresh) {
                    tracing::warn!("compiled-code cache disabled: no randomness: {e}");
                    return None;
                }
                write_atomically(&key_path, &fresh);
                // Another process may have made its own at the same moment: use what won.
                std::fs::read(&key_path)
                    .ok()
                    .filter(|k| k.len() == KEY_BYTES)?
            }
        };
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        Some(Self {
            dir: dir.to_path_buf(),
            key: key.try_into().ok()?,
            engine_hash: engine_hash.finish(),
        })
    }

    fn entry(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", self.engine_hash))
    }

    fn source_record(&self, path: &Path) -> PathBuf {
        let name = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let id = hex::encode(Sha256::digest(name.as_os_str().as_encoded_bytes()));
        self.dir.join("sources").join(id)
    }

    /// The content hash `path` had when it was last hashed, if the file has not changed since.
    pub fn known_digest(&self, path: &Path) -> Option<String> {
        let record = std::fs::read_to_string(self.source_record(path)).ok()?;
        let (seen, digest) = record.rsplit_once(' ')?;
        (Some(seen) == fingerprint(path).as_deref()).then(|| digest.to_string())
    }

    /// Remembers that `path` has content hash `digest`, if it still looks as it did
    /// (`before`) when reading began at `read_at`, and had been unchanged for a while by then:
    /// a later write then always gets a later change time, and a new fingerprint.
    pub fn remember_digest(
        &self,
        path: &Path,
        digest: &str,
        before: Option<String>,
        read_at: std::time::SystemTime,
    ) {
        let Some(seen) = fingerprint(path) else {
            return;
        };
        if Some(&seen) != before.as_ref() || !is_digest(digest) {
            return;
        }
        let changed = std::fs::metadata(path).ok().and_then(|m| {
            std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(
                u64::try_from(m.ctime()).ok()?,
                u32::try_from(m.ctime_nsec()).ok()?,
            ))
        });
        if changed.is_none_or(|changed| changed + SETTLED > read_at) {
            return;
        }
        let record = self.source_record(path);
        if let Some(dir) = record.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        write_atomically(&record, format!("{seen} {digest}").as_bytes());
    }

    /// Whether compiled code for `digest` is stored with its MAC (not checked:
    /// [`CodeCache::load`] does).
    pub fn holds(&self, digest: &str) -> bool {
        is_digest(digest) && {
            let entry = self.entry(digest);
            entry.is_file() && entry.with_extension(MAC_EXTENSION).is_file()
        }
    }

    /// The compiled code of the component with content hash `digest`, when the cache has an
    /// entry for it that passes its integrity check.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        if !is_digest(digest) {
            return None;
        }
        let entry = self.entry(digest);
        // No MAC file: an entry from an earlier version, or one whose MAC could not be written.
        let stored_mac = match std::fs::read(entry.with_extension(MAC_EXTENSION)) {
            Ok(stored) => stored,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(
                    "ignoring compiled-code cache entry {}: its MAC cannot be read: {error}",
                    entry.display()
                );
                return None;
            }
        };
        let bytes = std::fs::read(&entry).ok()?;
        let expected = mac(&self.key, self.engine_hash, digest, &bytes);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_slice(),
            stored_mac.as_slice(),
        )) {
            tracing::warn!(
                "ignoring compiled-code cache entry {}: it failed its integrity check",
                entry.display()
            );
            return None;
        }
        // SAFETY: these exact bytes were written by `Component::serialize` of an engine with
        // the same compatibility hash, for this source: their MAC over both, under a key only
        // this user can read, proves it. They are deserialized from memory, not from the file, so
        // the file cannot change between the check and the load.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!("ignoring unusable cache entry {}: {e}", entry.display());
                None
            }
        }
    }

    /// Stores `component`'s compiled code as the entry for content hash `digest`.
    pub fn store(&self, digest: &str, component: &Component) {
        if !is_digest(digest) {
            return;
        }
        let bytes = match component.serialize() {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!("cannot serialize compiled code: {e}");
                return;
            }
        };
        let entry = self.entry(digest);
        // The MAC first: an entry without a valid MAC is ignored, so a crash between the two
        // writes costs a compile, never a bad load.
        let vouched = write_atomically(
            &entry.with_extension(MAC_EXTENSION),
            &mac(&self.key, self.engine_hash, digest, &bytes),
        );
        if vouched {
            write_atomically(&entry, &bytes);
            let _ = std::fs::remove_file(entry.with_extension(EARLIER_MAC_EXTENSION));
        }
    }
}

/// Whether it was written.
fn write_atomically(path: &Path, bytes: &[u8]) -> bool {
    // The temporary name extends the whole name, so an entry and its MAC never share one.
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp{}", std::process::id()));
    let temp = PathBuf::from(temp);
    let result = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        tracing::warn!("cannot write compiled-code cache {}: {e}", path.display());
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = "(component)";

    fn setup() -> (tempfile::TempDir, Engine, CodeCache, Component) {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).expect("engine");
        let cache = CodeCache::open(dir.path(), &engine).expect("cache");
        let component = Component::new(&engine, WAT).expect("component");
        (dir, engine, cache, component)
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn an_entry_loads_only_while_its_bytes_match_their_mac() {
        let (_dir, engine, cache, component) = setup();
        assert!(cache.load(&engine, A).is_none(), "nothing stored yet");
        cache.store(A, &component);
        assert!(cache.load(&engine, A).is_some());
        let entry = cache.entry(A);
        let mut bytes = std::fs::read(&entry).expect("entry");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry, &bytes).expect("tamper");
        assert!(cache.load(&engine, A).is_none(), "a changed byte");
        cache.store(A, &component);
        std::fs::remove_file(entry.with_extension(MAC_EXTENSION)).expect("remove mac");
        assert!(cache.load(&engine, A).is_none(), "no MAC");
        assert!(!cache.holds(A), "an entry without its MAC is not held");
    }

    #[test]
    fn a_short_mac_or_one_of_the_earlier_kind_vouches_for_nothing() {
        let (_dir, engine, cache, component) = setup();
        cache.store(A, &component);
        let mac_path = cache.entry(A).with_extension(MAC_EXTENSION);
        let stored = std::fs::read(&mac_path).expect("mac");
        for short in [&stored[..0], &stored[..31]] {
            std::fs::write(&mac_path, short).expect("shorten");
            assert!(cache.load(&engine, A).is_none(), "{} bytes", short.len());
        }
        std::fs::rename(
            &mac_path,
            cache.entry(A).with_extension(EARLIER_MAC_EXTENSION),
        )
        .expect("rename");
        assert!(cache.load(&engine, A).is_none(), "a `.mac` is not read");
        cache.store(A, &component);
        assert!(cache.load(&engine, A).is_some());
        assert!(
            !cache
                .entry(A)
                .with_extension(EARLIER_MAC_EXTENSION)
                .exists(),
            "the earlier kind's MAC is removed when the entry is stored again"
        );
    }

    #[test]
    fn an_entry_renamed_to_stand_for_another_source_is_refused() {
        let (_dir, engine, cache, component) = setup();
        cache.store(A, &component);
        let (from, to) = (cache.entry(A), cache.entry(B));
        std::fs::copy(&from, &to).expect("copy entry");
        std::fs::copy(
            from.with_extension(MAC_EXTENSION),
            to.with_extension(MAC_EXTENSION),
        )
        .expect("copy mac");
        assert!(cache.load(&engine, B).is_none());
        assert!(cache.load(&engine, "../escape").is_none(), "not a digest");
    }

    #[test]
    fn another_key_does_not_vouch_for_an_entry() {
        let (dir, engine, cache, component) = setup();
        cache.store(A, &component);
        std::fs::write(dir.path().join("mac.key"), [7u8; KEY_BYTES]).expect("new key");
        let reopened = CodeCache::open(dir.path(), &engine).expect("cache");
        assert!(reopened.load(&engine, A).is_none());
    }

    #[test]
    fn a_source_digest_is_remembered_once_settled_until_the_file_changes() {
        let (dir, _engine, cache, _) = setup();
        let source = dir.path().join("app.wasm");
        std::fs::write(&source, b"one").expect("write");
        assert_eq!(cache.known_digest(&source), None);
        let seen = fingerprint(&source);
        let now = std::time::SystemTime::now();
        cache.remember_digest(&source, A, seen.clone(), now);
        assert_eq!(
            cache.known_digest(&source),
            None,
            "changed just now: not trusted"
        );
        let later = now + SETTLED * 2;
        cache.remember_digest(
            &source,
            A,
            fingerprint(&source).map(|_| "other".into()),
            later,
        );
        assert_eq!(
            cache.known_digest(&source),
            None,
            "changed while it was read"
        );
        cache.remember_digest(&source, A, seen, later);
        assert_eq!(cache.known_digest(&source).as_deref(), Some(A));
        std::fs::write(&source, b"twoo").expect("rewrite");
        assert_eq!(
            cache.known_digest(&source),
            None,
            "a write changes the fingerprint"
        );
    }
}
