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
mod tests;
