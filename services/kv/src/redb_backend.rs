//! The embedded backend: one redb file per data directory, one table holding every store.
//! Keys are `app \0 store \0 key`, so a store is a contiguous key range (cheap prefix listing)
//! and app and store names, which may not contain NUL, can never run into each other.
//!
//! Entries with a time-to-live also have their deadline in `kv_expires` and in the
//! deadline-ordered `kv_expiry_queue`, which purging walks. Reads check a deadline only once
//! some entry has had one, so stores that never use expiry pay nothing for it.
//!
//! Reads run on the caller's task (redb serves them from its cache without blocking on
//! writers); writes, which wait for fsync, run on the store's own writer thread.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

mod backup;
mod writer;

use writer::{WriteJob, WriteOp, Written};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::{
    Batch, BatchOp, EntryPage, InlineReads, KeyPage, KvError, KvStore, LIST_PAGE_SIZE,
    MAX_VALUE_BYTES, SnapshotVisitor, StoreId, add_to_counter, validate_key,
};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv_entries");
/// Full key -> deadline (milliseconds since the Unix epoch).
const EXPIRES: TableDefinition<&[u8], u64> = TableDefinition::new("kv_expires");
/// (deadline, full key), in deadline order, for purging.
const EXPIRY_QUEUE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("kv_expiry_queue");
/// Most expired entries one listing call steps over before it returns a cursor.
const MAX_SKIPPED: usize = 10_000;

/// [`KvStore`] on a redb file. Writes commit with redb's default (immediate, fsynced) durability.
#[derive(Clone)]
pub struct RedbKvStore {
    inner: Arc<Inner>,
    writer: std::sync::mpsc::Sender<WriteJob>,
    repaired: bool,
    closed: Arc<std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
}

struct Inner {
    db: Database,
    /// Whether any entry may have a deadline; until then reads skip the deadline lookup.
    has_expiring: AtomicBool,
    /// Dropped after `db` (fields drop in order of declaration), so that its receiver learns
    /// that the file is closed only once redb has finished closing it.
    _closed: std::sync::mpsc::Sender<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RedbKvStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        // redb walks a new file through its repair path too; only an existing one can have
        // been left unclosed.
        let existed = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let repaired = Arc::new(AtomicBool::new(false));
        let noticed = Arc::clone(&repaired);
        let db = Database::builder()
            .set_repair_callback(move |_| noticed.store(true, Ordering::Relaxed))
            .create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        let has_expiring = !txn.open_table(EXPIRES)?.is_empty()?;
        txn.open_table(EXPIRY_QUEUE)?;
        txn.commit()?;
        let (closing, closed) = std::sync::mpsc::channel();
        let inner = Arc::new(Inner {
            db,
            has_expiring: AtomicBool::new(has_expiring),
            _closed: closing,
        });
        let repaired = existed && repaired.load(Ordering::Relaxed);
        let (writer, jobs) = std::sync::mpsc::channel::<WriteJob>();
        // Weak, so that the database closes as soon as the last handle to the store is
        // dropped (a job in flight keeps it open until it ends); the thread ends then too.
        let owner = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("nimbus-kv-writer".into())
            .spawn(move || writer::serve(owner, jobs))
            .map_err(|e| KvError::Storage(format!("cannot start the key-value writer: {e}")))?;
        Ok(Self {
            inner,
            writer,
            repaired,
            closed: Arc::new(std::sync::Mutex::new(Some(closed))),
        })
    }

    /// A receiver that disconnects once the database file is closed: after the last handle to
    /// the store is dropped and redb has finished closing the file. Given to the first caller
    /// only.
    pub fn close_signal(&self) -> Option<std::sync::mpsc::Receiver<()>> {
        self.closed.lock().ok()?.take()
    }

    /// Whether opening had to repair the file: the process that wrote it last ended without
    /// closing it (a crash, a kill, or a handle still held at exit). Nothing committed is lost,
    /// but the repair reads the whole file, so it costs start-up time as the store grows.
    pub fn was_repaired(&self) -> bool {
        self.repaired
    }

    /// Runs a write on the store's writer thread, which commits the writes that queue up
    /// meanwhile together (see [`writer`]). A thread of its own means a write never waits for
    /// tokio's blocking pool, which callers on blocking threads (the object store's file work)
    /// may have filled.
    async fn write(&self, op: WriteOp) -> Result<Written, KvError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.writer
            .send(WriteJob { op, done })
            .map_err(|_| KvError::Storage("the key-value writer stopped".into()))?;
        result
            .await
            .map_err(|_| KvError::Storage("the key-value writer stopped".into()))?
    }
}

fn unexpected(written: Written) -> KvError {
    let what = match written {
        Written::Deleted(_) => "a delete",
        Written::Counter(_) => "an increment",
        Written::Applied(_) => "a batch",
        Written::Purged(_) => "a purge",
    };
    KvError::Storage(format!("the key-value writer answered with {what}"))
}

fn store_prefix(store: &StoreId) -> Result<Vec<u8>, KvError> {
    if store.app.contains('\0') || store.store.contains('\0') {
        return Err(KvError::Invalid(
            "app and store names may not contain NUL".to_string(),
        ));
    }
    let mut prefix = Vec::with_capacity(store.app.len() + store.store.len() + 2);
    prefix.extend_from_slice(store.app.as_bytes());
    prefix.push(0);
    prefix.extend_from_slice(store.store.as_bytes());
    prefix.push(0);
    Ok(prefix)
}

fn full_key(store: &StoreId, key: &str) -> Result<Vec<u8>, KvError> {
    validate_key(key)?;
    let mut full = store_prefix(store)?;
    full.extend_from_slice(key.as_bytes());
    Ok(full)
}

/// Whether the entry under `full` has expired by `now`.
fn expired(
    expires: Option<&impl ReadableTable<&'static [u8], u64>>,
    full: &[u8],
    now: u64,
) -> Result<bool, KvError> {
    let Some(expires) = expires else {
        return Ok(false);
    };
    Ok(expires
        .get(full)?
        .is_some_and(|deadline| deadline.value() <= now))
}

impl Inner {
    fn expiring(&self) -> bool {
        self.has_expiring.load(Ordering::Acquire)
    }

    fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let full = full_key(store, key)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let Some(value) = table.get(full.as_slice())? else {
            return Ok(None);
        };
        if self.expiring() {
            let expires = txn.open_table(EXPIRES)?;
            if expired(Some(&expires), &full, now_ms())? {
                return Ok(None);
            }
        }
        Ok(Some(value.value().to_vec()))
    }

    /// Visits the live entries of `store` whose keys start with `prefix`, after `cursor`, in
    /// key order, until `visit` returns false, in one read transaction. Expired entries are
    /// skipped, at most `max_skipped` of them: past that it stops and returns the key to resume
    /// after, so that a page over a graveyard of expired keys cannot hold the caller's thread.
    fn range(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
        max_skipped: usize,
        mut visit: impl FnMut(&str, &[u8]) -> bool,
    ) -> Result<Option<String>, KvError> {
        let namespace = store_prefix(store)?;
        let wanted = full_key(store, prefix)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let expires = if self.expiring() {
            Some(txn.open_table(EXPIRES)?)
        } else {
            None
        };
        let now = now_ms();
        let after = cursor.map(|after| full_key(store, after)).transpose()?;
        // A cursor that sorts before the prefix starts the listing at the prefix.
        let range = match &after {
            Some(after) if after.as_slice() >= wanted.as_slice() => table.range::<&[u8]>((
                std::ops::Bound::Excluded(after.as_slice()),
                std::ops::Bound::Unbounded,
            ))?,
            _ => table.range::<&[u8]>(wanted.as_slice()..)?,
        };
        let mut skipped = 0;
        for entry in range {
            let (key, value) = entry?;
            let key = key.value();
            if !key.starts_with(&wanted) {
                break;
            }
            let user_key = String::from_utf8_lossy(&key[namespace.len()..]);
            if expired(expires.as_ref(), key, now)? {
                skipped += 1;
                if skipped == max_skipped {
                    return Ok(Some(user_key.into_owned()));
                }
                continue;
            }
            if !visit(&user_key, value.value()) {
                break;
            }
        }
        Ok(None)
    }

    fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError> {
        let mut page = KeyPage::default();
        let resume = self.range(store, prefix, cursor, MAX_SKIPPED, |key, _| {
            if page.keys.len() == LIST_PAGE_SIZE {
                page.cursor = page.keys.last().cloned();
                return false;
            }
            page.keys.push(key.to_string());
            true
        })?;
        page.cursor = page.cursor.or(resume);
        Ok(page)
    }

    fn scan(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EntryPage, KvError> {
        let limit = limit.clamp(1, LIST_PAGE_SIZE);
        let mut page = EntryPage::default();
        let mut bytes = 0usize;
        let resume = self.range(store, prefix, cursor, MAX_SKIPPED, |key, value| {
            // A page ends at `limit` entries, or once it holds about one maximal value, so
            // that it fits in one frame of the cross-process hop.
            if page.entries.len() == limit
                || (!page.entries.is_empty() && bytes + value.len() > MAX_VALUE_BYTES)
            {
                page.cursor = page.entries.last().map(|(key, _)| key.clone());
                return false;
            }
            bytes += value.len() + key.len();
            page.entries.push((key.to_string(), value.to_vec()));
            true
        })?;
        page.cursor = page.cursor.or(resume);
        Ok(page)
    }

    fn snapshot(&self, store: &StoreId, visit: &mut SnapshotVisitor<'_>) -> Result<(), KvError> {
        let mut failure = None;
        // One read transaction over the whole store, however many expired keys it steps over:
        // the promise is one consistent view.
        self.range(store, "", None, usize::MAX, |key, value| {
            match visit(key, value) {
                Ok(()) => true,
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    fn delete(
        &self,
        txn: &redb::WriteTransaction,
        store: &StoreId,
        key: &str,
    ) -> Result<bool, KvError> {
        let full = full_key(store, key)?;
        let mut writer = Writer::open(txn, self.expiring())?;
        let existed = writer.current(&full)?.is_some();
        writer.remove(&full)?;
        Ok(existed)
    }

    fn increment(
        &self,
        txn: &redb::WriteTransaction,
        store: &StoreId,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        let full = full_key(store, key)?;
        let mut writer = Writer::open(txn, self.expiring())?;
        let current = writer.current(&full)?;
        // Refused (`Invalid`) before anything is written: see `writer::run_group`.
        let next = add_to_counter(current.as_deref(), delta)?;
        if current.is_none() {
            // An expired counter starts again without its old deadline.
            writer.remove(&full)?;
        }
        writer
            .entries
            .insert(full.as_slice(), next.to_string().as_bytes())?;
        Ok(next)
    }

    /// Applies `batch` in `txn` if its conditions hold. Every way it can be refused
    /// (`Invalid`) comes before its first write: see `writer::run_group`.
    fn apply(&self, txn: &redb::WriteTransaction, batch: &Batch) -> Result<bool, KvError> {
        batch.validate()?;
        let full_keys = batch
            .ops
            .iter()
            .map(|op| match op {
                BatchOp::Check { store, key, .. }
                | BatchOp::Put { store, key, .. }
                | BatchOp::Delete { store, key } => full_key(store, key),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sets_deadline = batch.ops.iter().any(|op| {
            matches!(
                op,
                BatchOp::Put {
                    ttl_ms: Some(_),
                    ..
                }
            )
        });
        let mut writer = Writer::open(txn, self.expiring() || sets_deadline)?;
        for (op, full) in batch.ops.iter().zip(&full_keys) {
            if let BatchOp::Check { condition, .. } = op
                && !condition.holds(writer.current(full)?.as_deref())
            {
                return Ok(false);
            }
        }
        if sets_deadline {
            // Before the commit is visible, so no reader can miss a deadline.
            self.has_expiring.store(true, Ordering::Release);
        }
        let now = now_ms();
        for (op, full) in batch.ops.iter().zip(&full_keys) {
            match op {
                BatchOp::Check { .. } => {}
                BatchOp::Put { value, ttl_ms, .. } => {
                    writer.clear_deadline(full)?;
                    writer.entries.insert(full.as_slice(), value.as_slice())?;
                    if let Some(ttl) = ttl_ms {
                        writer.set_deadline(full, now.saturating_add(*ttl))?;
                    }
                }
                BatchOp::Delete { .. } => writer.remove(full)?,
            }
        }
        Ok(true)
    }

    fn purge_expired(&self, txn: &redb::WriteTransaction, limit: usize) -> Result<usize, KvError> {
        if !self.expiring() {
            return Ok(0);
        }
        let now = now_ms();
        let mut writer = Writer::open(txn, true)?;
        let mut due = Vec::new();
        if let Some(queue) = &writer.queue {
            for entry in queue.range::<(u64, &[u8])>(..(now.saturating_add(1), &[][..]))? {
                let (key, _) = entry?;
                let (_, full) = key.value();
                due.push(full.to_vec());
                if due.len() == limit {
                    break;
                }
            }
        }
        for full in &due {
            writer.remove(full)?;
        }
        Ok(due.len())
    }
}

/// The tables of one write transaction, with the deadline tables when any entry may have one.
struct Writer<'txn> {
    entries: redb::Table<'txn, &'static [u8], &'static [u8]>,
    expires: Option<redb::Table<'txn, &'static [u8], u64>>,
    queue: Option<redb::Table<'txn, (u64, &'static [u8]), ()>>,
    now: u64,
}

impl<'txn> Writer<'txn> {
    fn open(txn: &'txn redb::WriteTransaction, with_deadlines: bool) -> Result<Self, KvError> {
        let (expires, queue) = if with_deadlines {
            (
                Some(txn.open_table(EXPIRES)?),
                Some(txn.open_table(EXPIRY_QUEUE)?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            entries: txn.open_table(ENTRIES)?,
            expires,
            queue,
            now: now_ms(),
        })
    }

    /// The live value under `full` (an expired one counts as absent).
    fn current(&self, full: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let Some(value) = self.entries.get(full)? else {
            return Ok(None);
        };
        if expired(self.expires.as_ref(), full, self.now)? {
            return Ok(None);
        }
        Ok(Some(value.value().to_vec()))
    }

    fn clear_deadline(&mut self, full: &[u8]) -> Result<(), KvError> {
        let (Some(expires), Some(queue)) = (&mut self.expires, &mut self.queue) else {
            return Ok(());
        };
        let old = expires.remove(full)?.map(|d| d.value());
        if let Some(deadline) = old {
            queue.remove((deadline, full))?;
        }
        Ok(())
    }

    fn set_deadline(&mut self, full: &[u8], deadline: u64) -> Result<(), KvError> {
        let (Some(expires), Some(queue)) = (&mut self.expires, &mut self.queue) else {
            return Err(KvError::Storage(
                "deadline tables are not open in this transaction".into(),
            ));
        };
        expires.insert(full, deadline)?;
        queue.insert((deadline, full), ())?;
        Ok(())
    }

    fn remove(&mut self, full: &[u8]) -> Result<(), KvError> {
        self.entries.remove(full)?;
        self.clear_deadline(full)
    }
}

/// Reads run in a read transaction of their own, in the caller's thread: they never wait for
/// the writer.
impl InlineReads for RedbKvStore {
    fn get_now(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(store, key)
    }
}

#[async_trait::async_trait]
impl KvStore for RedbKvStore {
    async fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(store, key)
    }

    fn inline_reads(&self) -> Option<&dyn InlineReads> {
        Some(self)
    }

    async fn delete(&self, store: &StoreId, key: &str) -> Result<bool, KvError> {
        match self
            .write(WriteOp::Delete(store.clone(), key.to_string()))
            .await?
        {
            Written::Deleted(existed) => Ok(existed),
            other => Err(unexpected(other)),
        }
    }

    async fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError> {
        self.inner.list_keys(store, prefix, cursor)
    }

    async fn scan(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EntryPage, KvError> {
        self.inner.scan(store, prefix, cursor, limit)
    }

    async fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError> {
        match self
            .write(WriteOp::Increment(store.clone(), key.to_string(), delta))
            .await?
        {
            Written::Counter(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    async fn apply(&self, batch: Batch) -> Result<bool, KvError> {
        match self.write(WriteOp::Apply(batch)).await? {
            Written::Applied(applied) => Ok(applied),
            other => Err(unexpected(other)),
        }
    }

    async fn snapshot(
        &self,
        store: &StoreId,
        visit: &mut SnapshotVisitor<'_>,
    ) -> Result<(), KvError> {
        // One read transaction: redb serves it from a snapshot that writers never change.
        self.inner.snapshot(store, visit)
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, KvError> {
        match self.write(WriteOp::Purge(limit)).await? {
            Written::Purged(purged) => Ok(purged),
            other => Err(unexpected(other)),
        }
    }

    async fn backup(&self, to: &Path) -> Result<(), KvError> {
        // A read transaction: writers go on meanwhile, and so does this thread's event loop.
        let (inner, to) = (Arc::clone(&self.inner), to.to_path_buf());
        tokio::task::spawn_blocking(move || inner.backup(&to))
            .await
            .map_err(|e| KvError::Storage(format!("the backup stopped: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Condition;

    fn fresh() -> (tempfile::TempDir, RedbKvStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("open");
        (dir, kv)
    }

    #[tokio::test]
    async fn a_store_closed_by_dropping_its_last_handle_opens_without_repair() {
        let (dir, kv) = fresh();
        assert!(!kv.was_repaired());
        let store = StoreId::new("app", "s");
        let other_handle = kv.clone();
        kv.set(&store, "k", b"v").await.expect("set");
        drop(kv);
        drop(other_handle);
        let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("reopen");
        assert!(!kv.was_repaired());
        let closed = kv.close_signal().expect("the first caller gets the signal");
        assert!(kv.close_signal().is_none());
        let other_handle = kv.clone();
        drop(kv);
        assert_eq!(
            closed.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Empty),
            "a handle is still open"
        );
        drop(other_handle);
        assert_eq!(
            closed.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
        let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("reopen");
        assert!(!kv.was_repaired());
        assert_eq!(kv.get(&store, "k").await.expect("get"), Some(b"v".to_vec()));
    }

    #[tokio::test]
    async fn set_get_delete_round_trip() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        assert_eq!(kv.get(&s, "k").await?, None);
        kv.set(&s, "k", b"v").await?;
        assert_eq!(kv.get(&s, "k").await?.as_deref(), Some(&b"v"[..]));
        assert!(kv.exists(&s, "k").await?);
        kv.delete(&s, "k").await?;
        assert!(!kv.exists(&s, "k").await?);
        kv.delete(&s, "k").await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_scan_sees_one_snapshot_of_its_store_only() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        kv.set(&s, "a", b"1").await?;
        kv.set(&s, "z", b"2").await?;
        kv.set(&StoreId::new("app", "s2"), "b", b"other store")
            .await?;
        kv.set(&StoreId::new("app2", "s"), "c", b"other app")
            .await?;
        let mut seen = Vec::new();
        let writer = kv.clone();
        let moved = s.clone();
        kv.snapshot(&s, &mut |key, value| {
            // A move from `z` to `b` while scanning: the snapshot still has `z` and no `b`.
            if key == "a" {
                let batch = Batch::new()
                    .put(&moved, "b", b"2".to_vec())
                    .delete(&moved, "z");
                let txn = writer.inner.db.begin_write()?;
                writer.inner.apply(&txn, &batch)?;
                txn.commit()?;
            }
            seen.push((key.to_string(), value.to_vec()));
            Ok(())
        })
        .await?;
        assert_eq!(
            seen,
            vec![("a".into(), b"1".to_vec()), ("z".into(), b"2".to_vec())]
        );
        Ok(())
    }

    #[tokio::test]
    async fn stores_and_apps_are_isolated() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        kv.set(&StoreId::new("a", "s"), "k", b"1").await?;
        assert_eq!(kv.get(&StoreId::new("a", "t"), "k").await?, None);
        assert_eq!(kv.get(&StoreId::new("b", "s"), "k").await?, None);
        // A key that spells another store's prefix stays inside its own store.
        kv.set(&StoreId::new("a", "s"), "x\0k", b"2").await?;
        assert!(kv.get(&StoreId::new("a", "s\0x"), "k").await.is_err());
        assert!(
            kv.list_keys(&StoreId::new("a", "t"), "", None)
                .await?
                .keys
                .is_empty()
        );
        Ok(())
    }

    #[tokio::test]
    async fn list_keys_filters_by_prefix_and_pages() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        for i in 0..(LIST_PAGE_SIZE + 5) {
            kv.set(&s, &format!("user:{i:05}"), b"").await?;
        }
        kv.set(&s, "other", b"").await?;
        let first = kv.list_keys(&s, "user:", None).await?;
        assert_eq!(first.keys.len(), LIST_PAGE_SIZE);
        let cursor = first.cursor.clone();
        assert!(cursor.is_some());
        let second = kv.list_keys(&s, "user:", cursor.as_deref()).await?;
        assert_eq!(second.keys.len(), 5);
        assert_eq!(second.cursor, None);
        assert!(second.keys.iter().all(|k| k.starts_with("user:")));
        Ok(())
    }

    #[tokio::test]
    async fn increment_and_compare_and_swap() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        assert_eq!(kv.increment(&s, "n", 2).await?, 2);
        assert_eq!(kv.increment(&s, "n", 3).await?, 5);
        kv.set(&s, "t", b"text").await?;
        assert!(kv.increment(&s, "t", 1).await.is_err());
        assert!(kv.compare_and_swap(&s, "c", None, b"1").await?);
        assert!(!kv.compare_and_swap(&s, "c", None, b"2").await?);
        assert!(kv.compare_and_swap(&s, "c", Some(b"1"), b"2").await?);
        assert_eq!(kv.get(&s, "c").await?.as_deref(), Some(&b"2"[..]));
        Ok(())
    }

    #[tokio::test]
    async fn data_survives_reopening() -> Result<(), KvError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kv.redb");
        let s = StoreId::new("app", "s");
        RedbKvStore::open(&path)?.set(&s, "k", b"kept").await?;
        let reopened = RedbKvStore::open(&path)?;
        assert_eq!(reopened.get(&s, "k").await?.as_deref(), Some(&b"kept"[..]));
        Ok(())
    }

    #[tokio::test]
    async fn expired_entries_are_absent_everywhere_and_purged() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        kv.set(&s, "kept", b"1").await?;
        kv.set_expiring(&s, "brief", b"2", Duration::from_millis(1))
            .await?;
        kv.set_expiring(&s, "long", b"3", Duration::from_secs(3600))
            .await?;
        // Deadlines are compared with the clock: wait until this one has surely passed.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while kv.get(&s, "brief").await?.is_some() {
            assert!(std::time::Instant::now() < deadline, "never expired");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(!kv.exists(&s, "brief").await?);
        assert_eq!(kv.list_keys(&s, "", None).await?.keys, vec!["kept", "long"]);
        let scanned = kv.scan(&s, "", None, 10).await?;
        assert_eq!(scanned.entries.len(), 2);
        // An expired key counts as absent for conditions and counters.
        assert!(kv.compare_and_swap(&s, "brief", None, b"again").await?);
        kv.set_expiring(&s, "brief", b"7", Duration::from_millis(1))
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(kv.increment(&s, "brief", 1).await?, 1);
        // Setting without a time-to-live removes the deadline.
        kv.set_expiring(&s, "made-permanent", b"x", Duration::from_millis(1))
            .await?;
        kv.set(&s, "made-permanent", b"y").await?;
        kv.set_expiring(&s, "gone", b"z", Duration::from_millis(1))
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(kv.purge_expired(100).await?, 1, "only `gone` was due");
        assert_eq!(
            kv.get(&s, "made-permanent").await?.as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(kv.get(&s, "long").await?.as_deref(), Some(&b"3"[..]));
        Ok(())
    }

    #[tokio::test]
    async fn deadlines_survive_reopening() -> Result<(), KvError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kv.redb");
        let s = StoreId::new("app", "s");
        RedbKvStore::open(&path)?
            .set_expiring(&s, "k", b"v", Duration::from_millis(1))
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let reopened = RedbKvStore::open(&path)?;
        assert_eq!(reopened.get(&s, "k").await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn a_batch_commits_whole_or_not_at_all() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        let other = StoreId::new("app", "other");
        kv.set(&s, "taken", b"x").await?;
        let failing = Batch::new()
            .check(&s, "taken", Condition::Absent)
            .put(&s, "a", b"1".to_vec())
            .put(&other, "b", b"2".to_vec());
        assert!(!kv.apply(failing).await?);
        assert_eq!(kv.get(&s, "a").await?, None);
        assert_eq!(kv.get(&other, "b").await?, None);
        let passing = Batch::new()
            .check(&s, "taken", Condition::Equals(b"x".to_vec()))
            .check(&s, "a", Condition::Absent)
            .put(&s, "a", b"1".to_vec())
            .put(&other, "b", b"2".to_vec())
            .delete(&s, "taken");
        assert!(kv.apply(passing).await?);
        assert_eq!(kv.get(&s, "a").await?.as_deref(), Some(&b"1"[..]));
        assert_eq!(kv.get(&other, "b").await?.as_deref(), Some(&b"2"[..]));
        assert!(!kv.exists(&s, "taken").await?);
        Ok(())
    }

    #[tokio::test]
    async fn compare_and_delete_removes_only_the_expected_value() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        kv.set(&s, "k", b"new").await?;
        assert!(!kv.compare_and_delete(&s, "k", b"old").await?);
        assert!(kv.exists(&s, "k").await?);
        assert!(kv.compare_and_delete(&s, "k", b"new").await?);
        assert!(!kv.exists(&s, "k").await?);
        assert!(!kv.compare_and_delete(&s, "k", b"new").await?);
        assert!(!kv.delete(&s, "k").await?, "nothing left to delete");
        Ok(())
    }

    #[tokio::test]
    async fn a_cursor_before_the_prefix_starts_at_the_prefix() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        kv.set(&s, "a", b"").await?;
        kv.set(&s, "p/1", b"").await?;
        kv.set(&s, "p/2", b"").await?;
        let page = kv.list_keys(&s, "p/", Some("")).await?;
        assert_eq!(page.keys, vec!["p/1", "p/2"]);
        let page = kv.scan(&s, "p/", Some("a"), 10).await?;
        assert_eq!(page.entries.len(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn scan_returns_values_in_key_order_a_page_at_a_time() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        for i in 0..5 {
            kv.set(&s, &format!("p/{i}"), i.to_string().as_bytes())
                .await?;
        }
        kv.set(&s, "q", b"outside").await?;
        let first = kv.scan(&s, "p/", None, 3).await?;
        let keys: Vec<&str> = first.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["p/0", "p/1", "p/2"]);
        assert_eq!(first.entries[1].1, b"1");
        let rest = kv.scan(&s, "p/", first.cursor.as_deref(), 3).await?;
        assert_eq!(rest.entries.len(), 2);
        assert_eq!(rest.cursor, None);
        Ok(())
    }
}
