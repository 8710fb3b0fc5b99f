use std::time::{Duration, SystemTime};

use nimbus_kv::RedbKvStore;

use super::tests::{body, store};
use super::*;
use crate::UrlSigner;

/// Makes the file at `path` look last written an hour ago.
fn make_old(path: &std::path::Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .expect("mtime");
}

/// Writes `path` as if it were last touched an hour ago.
fn write_old(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::File::create(path).expect("file");
    make_old(path);
}

#[tokio::test]
async fn leftovers_go_and_everything_in_use_stays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(&dir);
    let bucket = BucketId::new("todo", "files");
    // The store keeps records of its own beside the metadata.
    UrlSigner::open(&store.inner().kv, "todo")
        .await
        .expect("signer");
    let kept = store
        .put(
            &bucket,
            "kept.txt",
            body(&[b"kept"]),
            PutOptions::upsert("text/plain"),
        )
        .await
        .expect("put");
    let app_dir = dir.path().join("objects/todo");
    let kept_blob = app_dir.join("blobs").join(&kept.id[..2]).join(&kept.id);
    make_old(&kept_blob);
    let orphan = app_dir.join("blobs/ab/ab000000000000000000000000000000");
    let stale_temp = app_dir.join("tmp/cd000000000000000000000000000000");
    write_old(&orphan);
    write_old(&stale_temp);
    // An upload in flight, however long since it last wrote.
    let writing = app_dir.join("tmp/aa000000000000000000000000000000");
    write_old(&writing);
    let upload = std::fs::File::open(&writing).expect("open");
    upload.lock().expect("lock");
    let young_orphan = app_dir.join("blobs/ef/ef000000000000000000000000000000");
    std::fs::create_dir_all(young_orphan.parent().expect("parent")).expect("dir");
    std::fs::write(&young_orphan, b"being published").expect("young");

    let swept = store
        .sweep_leftovers("todo", Duration::from_secs(600))
        .await
        .expect("sweep");
    assert_eq!(
        swept,
        Swept {
            temp_files: 1,
            orphan_blobs: 1
        }
    );
    assert!(!orphan.exists() && !stale_temp.exists());
    assert!(young_orphan.exists(), "a blob about to be named is young");
    assert!(writing.exists(), "a locked temp file is being written");
    let read = store.get(&bucket, "kept.txt", None).await.expect("kept");
    assert_eq!(read.meta.size, 4);
    assert_eq!(
        store
            .sweep_leftovers("todo", Duration::from_secs(600))
            .await
            .expect("again"),
        Swept::default()
    );
}

#[tokio::test]
async fn a_copy_of_an_old_object_is_young_until_it_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(&dir);
    let bucket = BucketId::new("todo", "files");
    let source = store
        .put(
            &bucket,
            "old.txt",
            body(&[b"old"]),
            PutOptions::upsert("text/plain"),
        )
        .await
        .expect("put");
    let source_blob = dir
        .path()
        .join("objects/todo/blobs")
        .join(&source.id[..2])
        .join(&source.id);
    make_old(&source_blob);
    let copy = store
        .copy(
            &bucket,
            "old.txt",
            &bucket,
            "copy.txt",
            CopyOptions::new(WriteMode::Upsert),
        )
        .await
        .expect("copy");
    let copy_blob = dir
        .path()
        .join("objects/todo/blobs")
        .join(&copy.id[..2])
        .join(&copy.id);
    let age = std::fs::metadata(&copy_blob)
        .and_then(|m| m.modified())
        .expect("mtime")
        .elapsed()
        .expect("elapsed");
    assert!(
        age < Duration::from_secs(60),
        "the copy's blob is {age:?} old"
    );
}

#[tokio::test]
async fn unreadable_metadata_stops_the_blob_sweep() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv: Arc<dyn KvStore> =
        Arc::new(RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv"));
    let store = LocalObjectStore::new(dir.path().join("objects"), Arc::clone(&kv));
    kv.set(&Blocking::store("todo"), "files/x", b"not json")
        .await
        .expect("set");
    let orphan = dir
        .path()
        .join("objects/todo/blobs/ab/ab000000000000000000000000000000");
    write_old(&orphan);
    assert!(
        store
            .sweep_leftovers("todo", Duration::from_secs(600))
            .await
            .is_err()
    );
    assert!(orphan.exists());
}

#[tokio::test]
async fn an_upload_that_stalls_is_cut_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(&dir).with_stall_timeout(Duration::from_millis(200));
    let bucket = BucketId::new("todo", "files");
    let stalled: ByteStream<'static> = Box::pin(
        futures::stream::iter(vec![Ok(Bytes::from_static(b"first bytes"))])
            .chain(futures::stream::pending()),
    );
    let error = store
        .put(
            &bucket,
            "stalled.bin",
            stalled,
            PutOptions::upsert("text/plain"),
        )
        .await
        .expect_err("stalled");
    assert!(matches!(error, ObjectError::Interrupted(_)), "{error:?}");
    assert!(matches!(
        store.head(&bucket, "stalled.bin").await,
        Err(ObjectError::NotFound)
    ));
    let temp = dir.path().join("objects/todo/tmp");
    assert_eq!(std::fs::read_dir(temp).map_or(0, |d| d.count()), 0);
}
