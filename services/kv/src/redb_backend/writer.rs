//! The store's writer thread, with group commit: writes that wait while a commit's fsync runs
//! are applied together, one after another in one write transaction, and made durable by one
//! commit. Each write sees the ones before it, exactly as if each had committed alone, and
//! each caller hears back only after the commit that holds its write.

use std::sync::Weak;
use std::sync::mpsc::Receiver;

use super::Inner;
use crate::{Batch, BatchOp, Condition, KvError, StoreId};

/// Most writes one commit takes.
const MAX_GROUP: usize = 256;
/// Most bytes of values one commit takes (a single larger write still commits alone).
const MAX_GROUP_BYTES: usize = 64 << 20;

/// One write.
pub(super) enum WriteOp {
    Delete(StoreId, String),
    Increment(StoreId, String, i64),
    Apply(Batch),
    Purge(usize),
}

/// What a write did.
pub(super) enum Written {
    Deleted(bool),
    Counter(i64),
    Applied(bool),
    Purged(usize),
}

/// A write and where its outcome goes.
pub(super) struct WriteJob {
    pub(super) op: WriteOp,
    pub(super) done: tokio::sync::oneshot::Sender<Result<Written, KvError>>,
}

impl WriteOp {
    fn bytes(&self) -> usize {
        match self {
            WriteOp::Apply(batch) => batch
                .ops
                .iter()
                .map(|op| match op {
                    BatchOp::Put { value, .. }
                    | BatchOp::Check {
                        condition: Condition::Equals(value),
                        ..
                    } => value.len(),
                    _ => 0,
                })
                .sum(),
            _ => 0,
        }
    }

    fn run(&self, inner: &Inner, txn: &redb::WriteTransaction) -> Result<Written, KvError> {
        Ok(match self {
            WriteOp::Delete(store, key) => Written::Deleted(inner.delete(txn, store, key)?),
            WriteOp::Increment(store, key, delta) => {
                Written::Counter(inner.increment(txn, store, key, *delta)?)
            }
            WriteOp::Apply(batch) => Written::Applied(inner.apply(txn, batch)?),
            WriteOp::Purge(limit) => Written::Purged(inner.purge_expired(txn, *limit)?),
        })
    }

    /// The write in a transaction of its own.
    fn run_alone(&self, inner: &Inner) -> Result<Written, KvError> {
        let txn = inner.db.begin_write()?;
        let written = self.run(inner, &txn)?;
        txn.commit()?;
        Ok(written)
    }
}

/// Runs `ops` in one transaction and commits it. A write refused for its input (`Invalid`)
/// has written nothing (every write checks its input before its first change), so the others
/// go on; any other failure may have left the transaction half-written, so it is dropped and
/// every write runs again alone.
fn run_group(inner: &Inner, ops: &[&WriteOp]) -> Vec<Result<Written, KvError>> {
    if let [op] = ops {
        return vec![op.run_alone(inner)];
    }
    let alone = || ops.iter().map(|op| op.run_alone(inner)).collect();
    let txn = match inner.db.begin_write() {
        Ok(txn) => txn,
        Err(error) => {
            let error = KvError::from(error);
            return ops.iter().map(|_| Err(error.clone())).collect();
        }
    };
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        match op.run(inner, &txn) {
            Err(KvError::Storage(_)) => {
                drop(txn);
                return alone();
            }
            outcome => outcomes.push(outcome),
        }
    }
    match txn.commit() {
        Ok(()) => outcomes,
        Err(error) => {
            let error = KvError::from(error);
            ops.iter().map(|_| Err(error.clone())).collect()
        }
    }
}

/// Serves `jobs` until every handle to the store is gone.
pub(super) fn serve(owner: Weak<Inner>, jobs: Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut bytes = first.op.bytes();
        let mut group = vec![first];
        while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            match jobs.try_recv() {
                Ok(job) => {
                    bytes += job.op.bytes();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let outcomes = {
            // Dropped before the replies go, so that a caller that then drops the last handle
            // finds the database closed.
            let Some(inner) = owner.upgrade() else {
                continue;
            };
            let ops: Vec<&WriteOp> = group.iter().map(|job| &job.op).collect();
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_group(&inner, &ops)))
            {
                Ok(outcomes) => outcomes,
                Err(_) => {
                    // A write transaction dropped while unwinding is left open, so no later
                    // write could begin: stop taking writes, loudly.
                    eprintln!(
                        "nimbus: the key-value writer panicked; no further writes are possible in this process"
                    );
                    return;
                }
            }
        };
        for (job, outcome) in group.into_iter().zip(outcomes) {
            let _ = job.done.send(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{KvStore, RedbKvStore, StoreId};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_committed_together_behave_as_if_each_committed_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let kv = Arc::new(RedbKvStore::open(&dir.path().join("kv.redb")).expect("open"));
        let store = StoreId::new("app", "s");
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (kv, store) = (Arc::clone(&kv), store.clone());
            tasks.push(tokio::spawn(async move {
                let counted = kv.increment(&store, "n", 1).await.is_ok();
                let won = kv
                    .compare_and_swap(&store, "first", None, i.to_string().as_bytes())
                    .await
                    .unwrap_or(false);
                // A write refused for its input among the others refuses only itself.
                let refused = kv.set(&store, &"k".repeat(2000), b"x").await.is_err();
                let kept = kv.set(&store, &format!("k{i}"), b"v").await.is_ok();
                (counted, won, refused, kept)
            }));
        }
        let mut winners = 0;
        for task in tasks {
            let (counted, won, refused, kept) = task.await.expect("task");
            assert!(counted && refused && kept);
            winners += usize::from(won);
        }
        assert_eq!(winners, 1, "one compare-and-swap from absent wins");
        assert_eq!(
            kv.get(&store, "n").await.ok().flatten().as_deref(),
            Some(&b"200"[..])
        );
        assert_eq!(
            kv.list_keys(&store, "k", None)
                .await
                .map(|p| p.keys.len())
                .ok(),
            Some(200)
        );
        drop(kv);
        let reopened = RedbKvStore::open(&dir.path().join("kv.redb")).expect("reopen");
        assert_eq!(
            reopened.get(&store, "n").await.ok().flatten().as_deref(),
            Some(&b"200"[..])
        );
    }
}
