//! The embedded backend: one redb file per data directory, one table holding every store.
//! Keys are `app \0 store \0 key`, so a store is a contiguous key range (cheap prefix listing)
//! and app and store names, which may not contain NUL, can never run into each other.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{
    KeyPage, KvError, KvStore, LIST_PAGE_SIZE, StoreId, add_to_counter, validate_key,
    validate_value,
};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv_entries");

/// [`KvStore`] on a redb file. Writes commit with redb's default (immediate, fsynced) durability.
pub struct RedbKvStore {
    db: Database,
}

impl RedbKvStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.commit()?;
        Ok(Self { db })
    }
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

impl KvStore for RedbKvStore {
    fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let full = full_key(store, key)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        Ok(table.get(full.as_slice())?.map(|v| v.value().to_vec()))
    }

    fn set(&self, store: &StoreId, key: &str, value: &[u8]) -> Result<(), KvError> {
        let full = full_key(store, key)?;
        validate_value(value)?;
        let txn = self.db.begin_write()?;
        txn.open_table(ENTRIES)?.insert(full.as_slice(), value)?;
        txn.commit()?;
        Ok(())
    }

    fn delete(&self, store: &StoreId, key: &str) -> Result<(), KvError> {
        let full = full_key(store, key)?;
        let txn = self.db.begin_write()?;
        txn.open_table(ENTRIES)?.remove(full.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    fn exists(&self, store: &StoreId, key: &str) -> Result<bool, KvError> {
        let full = full_key(store, key)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        Ok(table.get(full.as_slice())?.is_some())
    }

    fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError> {
        let namespace = store_prefix(store)?;
        let wanted = full_key(store, prefix)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let range = match cursor {
            Some(after) => {
                let after = full_key(store, after)?;
                table.range::<&[u8]>((
                    std::ops::Bound::Excluded(after.as_slice()),
                    std::ops::Bound::Unbounded,
                ))?
            }
            None => table.range::<&[u8]>(wanted.as_slice()..)?,
        };
        let mut page = KeyPage::default();
        for entry in range {
            let (key, _) = entry?;
            let key = key.value();
            if !key.starts_with(&wanted) {
                break;
            }
            if page.keys.len() == LIST_PAGE_SIZE {
                page.cursor = page.keys.last().cloned();
                break;
            }
            let user_key = String::from_utf8_lossy(&key[namespace.len()..]).into_owned();
            page.keys.push(user_key);
        }
        Ok(page)
    }

    fn scan(&self, store: &StoreId, visit: &mut crate::ScanVisitor<'_>) -> Result<(), KvError> {
        let namespace = store_prefix(store)?;
        // One read transaction: redb serves it from a snapshot that writers never change.
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        for entry in table.range::<&[u8]>(namespace.as_slice()..)? {
            let (key, value) = entry?;
            let Some(user_key) = key.value().strip_prefix(namespace.as_slice()) else {
                break;
            };
            visit(&String::from_utf8_lossy(user_key), value.value())?;
        }
        Ok(())
    }

    fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError> {
        let full = full_key(store, key)?;
        let txn = self.db.begin_write()?;
        let next = {
            let mut table = txn.open_table(ENTRIES)?;
            let current = table.get(full.as_slice())?.map(|v| v.value().to_vec());
            let next = add_to_counter(current.as_deref(), delta)?;
            table.insert(full.as_slice(), next.to_string().as_bytes())?;
            next
        };
        txn.commit()?;
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        store: &StoreId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let full = full_key(store, key)?;
        validate_value(new)?;
        let txn = self.db.begin_write()?;
        let swapped = {
            let mut table = txn.open_table(ENTRIES)?;
            let current = table.get(full.as_slice())?.map(|v| v.value().to_vec());
            if current.as_deref() == expected {
                table.insert(full.as_slice(), new)?;
                true
            } else {
                false
            }
        };
        if swapped {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(swapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, RedbKvStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("open");
        (dir, kv)
    }

    #[test]
    fn set_get_delete_round_trip() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        assert_eq!(kv.get(&s, "k")?, None);
        kv.set(&s, "k", b"v")?;
        assert_eq!(kv.get(&s, "k")?.as_deref(), Some(&b"v"[..]));
        assert!(kv.exists(&s, "k")?);
        kv.delete(&s, "k")?;
        assert!(!kv.exists(&s, "k")?);
        kv.delete(&s, "k")?;
        Ok(())
    }

    #[test]
    fn a_scan_sees_one_snapshot_of_its_store_only() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        kv.set(&s, "a", b"1")?;
        kv.set(&s, "z", b"2")?;
        kv.set(&StoreId::new("app", "s2"), "b", b"other store")?;
        kv.set(&StoreId::new("app2", "s"), "c", b"other app")?;
        let mut seen = Vec::new();
        kv.scan(&s, &mut |key, value| {
            // A move from `z` to `b` while scanning: the snapshot still has `z` and no `b`.
            if key == "a" {
                kv.set(&s, "b", b"2")?;
                kv.delete(&s, "z")?;
            }
            seen.push((key.to_string(), value.to_vec()));
            Ok(())
        })?;
        assert_eq!(
            seen,
            vec![("a".into(), b"1".to_vec()), ("z".into(), b"2".to_vec())]
        );
        Ok(())
    }

    #[test]
    fn stores_and_apps_are_isolated() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        kv.set(&StoreId::new("a", "s"), "k", b"1")?;
        assert_eq!(kv.get(&StoreId::new("a", "t"), "k")?, None);
        assert_eq!(kv.get(&StoreId::new("b", "s"), "k")?, None);
        // A key that spells another store's prefix stays inside its own store.
        kv.set(&StoreId::new("a", "s"), "x\0k", b"2")?;
        assert!(kv.get(&StoreId::new("a", "s\0x"), "k").is_err());
        assert!(
            kv.list_keys(&StoreId::new("a", "t"), "", None)?
                .keys
                .is_empty()
        );
        Ok(())
    }

    #[test]
    fn list_keys_filters_by_prefix_and_pages() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        for i in 0..(LIST_PAGE_SIZE + 5) {
            kv.set(&s, &format!("user:{i:05}"), b"")?;
        }
        kv.set(&s, "other", b"")?;
        let first = kv.list_keys(&s, "user:", None)?;
        assert_eq!(first.keys.len(), LIST_PAGE_SIZE);
        let cursor = first.cursor.clone();
        assert!(cursor.is_some());
        let second = kv.list_keys(&s, "user:", cursor.as_deref())?;
        assert_eq!(second.keys.len(), 5);
        assert_eq!(second.cursor, None);
        assert!(second.keys.iter().all(|k| k.starts_with("user:")));
        Ok(())
    }

    #[test]
    fn increment_and_compare_and_swap() -> Result<(), KvError> {
        let (_dir, kv) = fresh();
        let s = StoreId::new("app", "s");
        assert_eq!(kv.increment(&s, "n", 2)?, 2);
        assert_eq!(kv.increment(&s, "n", 3)?, 5);
        kv.set(&s, "t", b"text")?;
        assert!(kv.increment(&s, "t", 1).is_err());
        assert!(kv.compare_and_swap(&s, "c", None, b"1")?);
        assert!(!kv.compare_and_swap(&s, "c", None, b"2")?);
        assert!(kv.compare_and_swap(&s, "c", Some(b"1"), b"2")?);
        assert_eq!(kv.get(&s, "c")?.as_deref(), Some(&b"2"[..]));
        Ok(())
    }

    #[test]
    fn data_survives_reopening() -> Result<(), KvError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kv.redb");
        let s = StoreId::new("app", "s");
        RedbKvStore::open(&path)?.set(&s, "k", b"kept")?;
        let reopened = RedbKvStore::open(&path)?;
        assert_eq!(reopened.get(&s, "k")?.as_deref(), Some(&b"kept"[..]));
        Ok(())
    }
}
