//! Writes, deletes and moves of one key racing each other: whatever order they commit in, no
//! key names a missing blob and no blob is left without a key.

use std::sync::Arc;

use super::tests::{body, store};
use crate::{BucketId, ListQuery, ObjectError, ObjectStore, PutOptions, move_object};

fn blob_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |shards| {
        shards
            .flatten()
            .map(|shard| std::fs::read_dir(shard.path()).map_or(0, |blobs| blobs.count()))
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_put_delete_and_move_of_one_key_leave_no_orphan_and_no_dangling_key() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = Arc::new(store(&dir));
    let bucket = BucketId::new("todo", "files");
    for round in 0..60 {
        let mut tasks = Vec::new();
        for writer in 0..2 {
            let (objects, bucket) = (Arc::clone(&objects), bucket.clone());
            tasks.push(tokio::spawn(async move {
                let data: &'static [u8] = if writer == 0 { b"first" } else { b"second" };
                objects
                    .put(
                        &bucket,
                        "k",
                        body(&[data]),
                        PutOptions::upsert("text/plain"),
                    )
                    .await
                    .map(drop)
            }));
        }
        let (deleter, bucket_d) = (Arc::clone(&objects), bucket.clone());
        tasks.push(tokio::spawn(async move {
            deleter.delete(&bucket_d, "k").await.map(drop)
        }));
        let (mover, bucket_m) = (Arc::clone(&objects), bucket.clone());
        tasks.push(tokio::spawn(async move {
            let target = format!("moved/{round}");
            // A move that keeps losing the race to writers gives up rather than copy a
            // version it did not read.
            match move_object(mover.as_ref(), &bucket_m, "k", &bucket_m, &target).await {
                Ok(_) | Err(ObjectError::NotFound | ObjectError::PreconditionFailed) => Ok(()),
                Err(other) => Err(other),
            }
        }));
        for task in tasks {
            task.await.expect("task").expect("operation");
        }
    }
    let page = objects
        .list(
            &bucket,
            ListQuery {
                limit: 1000,
                ..ListQuery::default()
            },
        )
        .await
        .expect("list");
    for meta in &page.objects {
        let read = objects
            .get(&bucket, &meta.key, None)
            .await
            .unwrap_or_else(|e| panic!("`{}` names a missing blob: {e}", meta.key));
        assert_eq!(read.meta.id, meta.id);
    }
    let blobs = blob_files(&dir.path().join("objects/todo/blobs"));
    assert_eq!(
        blobs,
        page.objects.len(),
        "every blob belongs to exactly one key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_racing_moves_of_one_object_exactly_one_succeeds() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = Arc::new(store(&dir));
    let bucket = BucketId::new("todo", "files");
    for round in 0..40 {
        let source = format!("inbox/{round}");
        objects
            .put(
                &bucket,
                &source,
                body(&[b"job"]),
                PutOptions::upsert("text/plain"),
            )
            .await
            .expect("put");
        let movers = (0..2).map(|worker| {
            let (objects, bucket, source) = (Arc::clone(&objects), bucket.clone(), source.clone());
            tokio::spawn(async move {
                let target = format!("worker-{worker}/{round}");
                move_object(objects.as_ref(), &bucket, &source, &bucket, &target).await
            })
        });
        let mut won = 0;
        for mover in futures::future::join_all(movers).await {
            match mover.expect("task") {
                Ok(_) => won += 1,
                Err(ObjectError::NotFound | ObjectError::PreconditionFailed) => {}
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        assert!(matches!(
            objects.head(&bucket, &source).await,
            Err(ObjectError::NotFound)
        ));
        let mut claimed = 0;
        for worker in 0..2 {
            if objects
                .head(&bucket, &format!("worker-{worker}/{round}"))
                .await
                .is_ok()
            {
                claimed += 1;
            }
        }
        assert_eq!(
            claimed, 1,
            "round {round}: the object is in exactly one place"
        );
    }
}

/// Object operations hold a blocking thread while they wait for the key-value store; the
/// store's writes must not need one of the same threads, or a burst of operations as large as
/// the pool would wait on each other forever.
#[test]
fn a_burst_larger_than_the_blocking_pool_still_completes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let objects = Arc::new(runtime.block_on(async { store(&dir) }));
    let bucket = BucketId::new("todo", "files");
    let finished = runtime.block_on(async {
        for i in 0..8 {
            let key = format!("k{i}");
            objects
                .put(
                    &bucket,
                    &key,
                    body(&[b"x"]),
                    PutOptions::upsert("text/plain"),
                )
                .await
                .expect("put");
        }
        let deletes = (0..8).map(|i| {
            let (objects, bucket) = (Arc::clone(&objects), bucket.clone());
            tokio::spawn(async move { objects.delete(&bucket, &format!("k{i}")).await })
        });
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            futures::future::join_all(deletes),
        )
        .await
    });
    let results = finished.expect("the deletes finished instead of waiting on each other");
    for result in results {
        assert!(result.expect("task").expect("delete"));
    }
}
