//! A backup of the whole store: every table copied from one read transaction (a snapshot that
//! writers never change) into a new redb file, written under a temporary name and renamed into
//! place once committed, so that a backup file is either complete or absent.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::{ENTRIES, EXPIRES, EXPIRY_QUEUE, Inner};
use crate::KvError;

/// Copies every row of `table` from `from` into `to`; a table never written is empty.
fn copy_table<K, V>(
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), KvError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
    for<'a> K::SelfType<'a>: std::borrow::Borrow<K::SelfType<'a>>,
    for<'a> V::SelfType<'a>: std::borrow::Borrow<V::SelfType<'a>>,
{
    let source = match from.open_table(table) {
        Ok(source) => source,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let mut target = to.open_table(table)?;
    for row in source.iter()? {
        let (key, value) = row?;
        target.insert(key.value(), value.value())?;
    }
    Ok(())
}

impl Inner {
    /// Writes a consistent copy of the store to `to`, which must not exist yet.
    pub(super) fn backup(&self, to: &Path) -> Result<(), KvError> {
        if to.exists() {
            return Err(KvError::Invalid(format!(
                "{} exists already; a backup never overwrites",
                to.display()
            )));
        }
        let partial = to.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let snapshot = self.db.begin_read()?;
        let copy = Database::create(&partial)?;
        let write = copy.begin_write()?;
        copy_table(&snapshot, &write, ENTRIES)?;
        copy_table(&snapshot, &write, EXPIRES)?;
        copy_table(&snapshot, &write, EXPIRY_QUEUE)?;
        write.commit()?;
        drop(copy);
        std::fs::rename(&partial, to).map_err(|e| {
            KvError::Storage(format!("cannot move the backup into {}: {e}", to.display()))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{KvStore, RedbKvStore, StoreId};

    #[tokio::test]
    async fn a_backup_holds_every_store_and_deadline_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("dir");
        let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("open");
        let (one, two) = (StoreId::new("app", "one"), StoreId::new("app", "~auth"));
        kv.set(&one, "a", b"1").await.expect("set");
        kv.set(&two, "b", b"2").await.expect("set");
        kv.set_expiring(&one, "brief", b"x", Duration::from_secs(3600))
            .await
            .expect("set");
        let to = dir.path().join("backup.redb");
        kv.backup(&to).await.expect("backup");
        // Written after the backup: not in it.
        kv.set(&one, "later", b"3").await.expect("set");
        let refused = kv.backup(&to).await;
        assert!(
            matches!(refused, Err(crate::KvError::Invalid(_))),
            "{refused:?}"
        );

        let copy = RedbKvStore::open(&to).expect("open the backup");
        assert_eq!(copy.get(&one, "a").await.expect("get"), Some(b"1".to_vec()));
        assert_eq!(copy.get(&two, "b").await.expect("get"), Some(b"2".to_vec()));
        assert_eq!(
            copy.get(&one, "brief").await.expect("get"),
            Some(b"x".to_vec())
        );
        assert_eq!(copy.get(&one, "later").await.expect("get"), None);
        // The deadline came along: purging finds it (not yet due).
        assert_eq!(copy.purge_expired(10).await.expect("purge"), 0);
        assert!(!dir.path().join("backup.partial").exists());
    }
}
