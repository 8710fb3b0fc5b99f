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
