use std::path::Path;

use nimbus_kv::RedbKvStore;

use super::*;
use crate::move_object;

pub(super) fn store(dir: &tempfile::TempDir) -> LocalObjectStore {
    let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv");
    LocalObjectStore::new(dir.path().join("objects"), Arc::new(kv))
}

pub(super) fn body(parts: &[&'static [u8]]) -> ByteStream<'static> {
    let chunks: Vec<std::io::Result<Bytes>> =
        parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
    Box::pin(futures::stream::iter(chunks))
}

async fn read_all(read: ObjectRead) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = read.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_under(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[tokio::test]
async fn put_get_range_head_delete() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    let meta = objects
        .put(
            &bucket,
            "a/b.txt",
            body(&[b"hello ", b"world"]),
            PutOptions::upsert("text/plain"),
        )
        .await
        .expect("put");
    assert_eq!(meta.size, 11);
    assert_eq!(
        meta.etag,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    let whole = objects.get(&bucket, "a/b.txt", None).await.expect("get");
    assert_eq!(read_all(whole).await, b"hello world");
    let part = objects
        .get(&bucket, "a/b.txt", Some(RangeSpec::Bounded(6, 100)))
        .await
        .expect("range");
    assert_eq!((part.start, part.len), (6, 5));
    assert_eq!(read_all(part).await, b"world");
    assert_eq!(objects.head(&bucket, "a/b.txt").await.expect("head"), meta);
    assert!(objects.delete(&bucket, "a/b.txt").await.expect("delete"));
    assert!(
        !objects.delete(&bucket, "a/b.txt").await.expect("delete"),
        "nothing left to delete"
    );
    assert!(matches!(
        objects.head(&bucket, "a/b.txt").await,
        Err(ObjectError::NotFound)
    ));
    assert_eq!(files_under(&dir.path().join("objects/todo/blobs")), 0);
}

#[tokio::test]
async fn write_modes_and_overwrites() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    let mut create = PutOptions::upsert("text/plain");
    create.mode = WriteMode::Create;
    objects
        .put(&bucket, "k", body(&[b"1"]), create.clone())
        .await
        .expect("create");
    assert!(matches!(
        objects.put(&bucket, "k", body(&[b"2"]), create).await,
        Err(ObjectError::AlreadyExists)
    ));
    let mut replace = PutOptions::upsert("text/plain");
    replace.mode = WriteMode::Replace;
    assert!(matches!(
        objects
            .put(&bucket, "missing", body(&[b"2"]), replace.clone())
            .await,
        Err(ObjectError::NotFound)
    ));
    objects
        .put(&bucket, "k", body(&[b"22"]), replace)
        .await
        .expect("replace");
    let read = objects.get(&bucket, "k", None).await.expect("get");
    assert_eq!(read_all(read).await, b"22");
    // One blob per live object: the replaced one and the refused ones are gone.
    assert_eq!(files_under(&dir.path().join("objects/todo/blobs")), 1);
    assert_eq!(files_under(&dir.path().join("objects/todo/tmp")), 0);
}

#[tokio::test]
async fn oversized_and_interrupted_uploads_leave_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    let mut limited = PutOptions::upsert("text/plain");
    limited.max_size = Some(4);
    assert!(matches!(
        objects
            .put(&bucket, "big", body(&[b"123", b"45"]), limited)
            .await,
        Err(ObjectError::TooLarge { limit: 4 })
    ));
    let broken: ByteStream<'static> = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("client went away")),
    ]));
    assert!(matches!(
        objects
            .put(&bucket, "cut", broken, PutOptions::upsert("text/plain"))
            .await,
        Err(ObjectError::Interrupted(_))
    ));
    for key in ["big", "cut"] {
        assert!(matches!(
            objects.head(&bucket, key).await,
            Err(ObjectError::NotFound)
        ));
    }
    assert_eq!(files_under(&dir.path().join("objects")), 0);
}

#[tokio::test]
async fn listing_with_folders_and_cursor() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    for key in ["a.txt", "b/1.txt", "b/2.txt", "c.txt", "d/x/y.txt"] {
        objects
            .put(
                &bucket,
                key,
                body(&[b"x"]),
                PutOptions::upsert("text/plain"),
            )
            .await
            .expect("put");
    }
    let other = BucketId::new("todo", "other");
    objects
        .put(
            &other,
            "a.txt",
            body(&[b"x"]),
            PutOptions::upsert("text/plain"),
        )
        .await
        .expect("put");
    let query = ListQuery {
        delimiter: Some('/'),
        limit: 2,
        ..ListQuery::default()
    };
    let first = objects.list(&bucket, query.clone()).await.expect("list");
    assert_eq!(
        first
            .objects
            .iter()
            .map(|m| m.key.as_str())
            .collect::<Vec<_>>(),
        ["a.txt"]
    );
    assert_eq!(first.folders, ["b/"]);
    let second = objects
        .list(
            &bucket,
            ListQuery {
                cursor: first.cursor,
                ..query.clone()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        second
            .objects
            .iter()
            .map(|m| m.key.as_str())
            .collect::<Vec<_>>(),
        ["c.txt"]
    );
    assert_eq!(second.folders, ["d/"]);
    let flat = objects
        .list(
            &bucket,
            ListQuery {
                prefix: "b/".into(),
                limit: 10,
                ..ListQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(flat.objects.len(), 2);
    assert_eq!(flat.cursor, None);
    assert_eq!(
        objects.delete_prefix(&bucket, "b/").await.expect("delete"),
        2
    );
    assert!(
        objects.head(&other, "a.txt").await.is_ok(),
        "other bucket untouched"
    );
}

#[tokio::test]
async fn copy_and_move() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    objects
        .put(
            &bucket,
            "a",
            body(&[b"data"]),
            PutOptions::upsert("text/plain"),
        )
        .await
        .expect("put");
    objects
        .copy(
            &bucket,
            "a",
            &bucket,
            "b",
            CopyOptions::new(WriteMode::Create),
        )
        .await
        .expect("copy");
    objects.delete(&bucket, "a").await.expect("delete");
    assert_eq!(
        read_all(objects.get(&bucket, "b", None).await.expect("get")).await,
        b"data"
    );
    move_object(&objects, &bucket, "b", &bucket, "c")
        .await
        .expect("move");
    assert!(objects.head(&bucket, "b").await.is_err());
    assert_eq!(
        read_all(objects.get(&bucket, "c", None).await.expect("get")).await,
        b"data"
    );
    assert!(matches!(
        objects
            .copy(
                &bucket,
                "c",
                &BucketId::new("other-app", "files"),
                "d",
                CopyOptions::new(WriteMode::Upsert)
            )
            .await,
        Err(ObjectError::InvalidKey(_))
    ));
}

#[tokio::test]
async fn a_copy_or_delete_of_one_version_spares_a_newer_one() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    let put = |data: &'static [u8]| {
        objects.put(
            &bucket,
            "a",
            body(&[data]),
            PutOptions::upsert("text/plain"),
        )
    };
    let old = put(b"same").await.expect("put");
    // The same bytes again: the same etag, another version.
    let new = put(b"same").await.expect("put");
    assert_eq!(old.etag, new.etag);
    let copy_old = CopyOptions {
        mode: WriteMode::Create,
        source_version: Some(old.id.clone()),
    };
    assert!(matches!(
        objects.copy(&bucket, "a", &bucket, "b", copy_old).await,
        Err(ObjectError::PreconditionFailed)
    ));
    assert!(objects.head(&bucket, "b").await.is_err(), "nothing copied");
    assert!(
        !objects
            .delete_if_version(&bucket, "a", &old.id)
            .await
            .expect("delete")
    );
    assert_eq!(objects.head(&bucket, "a").await.expect("head").id, new.id);
    assert!(
        objects
            .delete_if_version(&bucket, "a", &new.id)
            .await
            .expect("delete")
    );
    assert!(matches!(
        objects.head(&bucket, "a").await,
        Err(ObjectError::NotFound)
    ));
}

#[tokio::test]
async fn a_move_onto_an_existing_key_changes_neither() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    for (key, data) in [("a", b"aaa"), ("b", b"bbb")] {
        objects
            .put(
                &bucket,
                key,
                body(&[data]),
                PutOptions::upsert("text/plain"),
            )
            .await
            .expect("put");
    }
    assert!(matches!(
        move_object(&objects, &bucket, "a", &bucket, "b").await,
        Err(ObjectError::AlreadyExists)
    ));
    for (key, data) in [("a", b"aaa"), ("b", b"bbb")] {
        assert_eq!(
            read_all(objects.get(&bucket, key, None).await.expect("get")).await,
            data
        );
    }
}

#[tokio::test]
async fn metadata_that_no_backend_could_keep_is_refused_before_the_body() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    let mut options = PutOptions::upsert("text/plain");
    options
        .user_metadata
        .insert("bad name".into(), "value".into());
    assert!(matches!(
        objects.put(&bucket, "a", body(&[b"x"]), options).await,
        Err(ObjectError::InvalidMetadata(_))
    ));
    let mut options = PutOptions::upsert("text/plain");
    options.user_metadata.insert("owner".into(), "ann".into());
    objects
        .put(&bucket, "a", body(&[b"x"]), options)
        .await
        .expect("put");
    let meta = objects.head(&bucket, "a").await.expect("head");
    assert_eq!(
        meta.user_metadata.get("owner").map(String::as_str),
        Some("ann")
    );
}

#[tokio::test]
async fn hostile_keys_are_refused_before_touching_disk() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    for (app, bucket, key) in [
        ("todo", "files", "../../etc/passwd"),
        ("todo", "files", "/abs"),
        ("..", "files", "a"),
        ("todo", "../x", "a"),
    ] {
        let result = objects
            .put(
                &BucketId::new(app, bucket),
                key,
                body(&[b"x"]),
                PutOptions::upsert("x/y"),
            )
            .await;
        assert!(
            matches!(result, Err(ObjectError::InvalidKey(_))),
            "{app} {bucket} {key}"
        );
    }
    assert_eq!(files_under(dir.path()), 1, "only the metadata database");
}

/// Pages through a listing to its end, returning each page's entries (`(name, is_folder)`) in
/// key order; `Err` if it takes more than `max_pages` pages.
async fn list_to_end(
    objects: &LocalObjectStore,
    bucket: &BucketId,
    query: ListQuery,
    max_pages: usize,
) -> Result<Vec<Vec<(String, bool)>>, String> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        if pages.len() == max_pages {
            return Err(format!("not done after {max_pages} pages: {pages:?}"));
        }
        let page = objects
            .list(
                bucket,
                ListQuery {
                    cursor,
                    ..query.clone()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut entries: Vec<(String, bool)> = page
            .objects
            .into_iter()
            .map(|m| (m.key, false))
            .chain(page.folders.into_iter().map(|f| (f, true)))
            .collect();
        entries.sort();
        pages.push(entries);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(pages),
        }
    }
}

async fn put_keys(objects: &LocalObjectStore, bucket: &BucketId, keys: &[&str]) {
    for key in keys {
        objects
            .put(bucket, key, body(&[b"x"]), PutOptions::upsert("text/plain"))
            .await
            .expect("put");
    }
}

#[tokio::test]
async fn a_folder_is_listed_once_when_a_key_in_it_starts_with_the_last_code_point() {
    let dir = tempfile::tempdir().expect("dir");
    let objects = store(&dir);
    let bucket = BucketId::new("todo", "files");
    put_keys(&objects, &bucket, &["loop/\u{10FFFF}z", "loop/a", "top"]).await;
    for limit in [1, 2, 10] {
        let query = ListQuery {
            delimiter: Some('/'),
            limit,
            ..ListQuery::default()
        };
        let pages = list_to_end(&objects, &bucket, query, 4).await;
        let entries: Vec<(String, bool)> = pages.expect("listing ends").concat();
        assert_eq!(
            entries,
            [("loop/".to_string(), true), ("top".to_string(), false)],
            "limit {limit}"
        );
    }
}

mod paging {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;

    use super::*;

    /// Code points around the edges of the key order: the last one, the last of the BMP, the
    /// ones either side of the surrogate gap, and ASCII.
    const CHARS: &str = "az~\u{D7FF}\u{E000}\u{FFFF}\u{10FFFF}";
    /// U+7F can be a delimiter but not part of a key.
    const DELIMITERS: &[char] = &['/', 'z', '\u{7F}', '\u{FFFF}', '\u{10FFFF}'];

    fn key() -> impl Strategy<Value = String> {
        let segment = prop::collection::vec(
            prop::sample::select(CHARS.chars().collect::<Vec<_>>()),
            1..=3,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>());
        prop::collection::vec(segment, 1..=3).prop_map(|segments| segments.join("/"))
    }

    /// `(name, is_folder)` of every entry a listing should return, in order.
    fn expected(
        keys: &BTreeSet<String>,
        prefix: &str,
        delimiter: Option<char>,
    ) -> Vec<(String, bool)> {
        let entries: BTreeSet<(String, bool)> = keys
            .iter()
            .filter_map(|key| {
                let rest = key.strip_prefix(prefix)?;
                Some(match delimiter.and_then(|d| rest.split_once(d)) {
                    Some((folder, _)) => (format!("{prefix}{folder}{}", delimiter?), true),
                    None => (key.clone(), false),
                })
            })
            .collect();
        entries.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 48,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/proptest-regressions/local/tests.txt"
            )))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn paging_returns_every_entry_once_in_order_and_ends(
            keys in prop::collection::btree_set(key(), 0..=12),
            prefix_of in key(),
            prefix_from in any::<prop::sample::Index>(),
            prefix_len in any::<prop::sample::Index>(),
            delimiter in prop::sample::select(DELIMITERS),
            limit in 1usize..=20,
        ) {
            // The prefix is a head of one of the keys or of another key.
            let pool: Vec<&String> = keys.iter().chain([&prefix_of]).collect();
            let source = pool[prefix_from.index(pool.len())];
            let cut = prefix_len.index(source.chars().count() + 1);
            let prefix: String = source.chars().take(cut).collect();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let dir = tempfile::tempdir().expect("dir");
            let objects = store(&dir);
            let bucket = BucketId::new("todo", "files");
            let keys_in: Vec<&str> = keys.iter().map(String::as_str).collect();
            runtime.block_on(put_keys(&objects, &bucket, &keys_in));
            for delimiter in [None, Some(delimiter)] {
                let want = expected(&keys, &prefix, delimiter);
                let query = ListQuery {
                    prefix: prefix.clone(),
                    delimiter,
                    cursor: None,
                    limit,
                };
                let pages = runtime
                    .block_on(list_to_end(&objects, &bucket, query, want.len() + 2))
                    .map_err(TestCaseError::fail)?;
                for (i, page) in pages.iter().enumerate() {
                    prop_assert!(page.len() <= limit, "page {i} has {} entries", page.len());
                    if i + 1 < pages.len() {
                        prop_assert_eq!(page.len(), limit, "page {} is not full", i);
                    }
                }
                prop_assert_eq!(pages.concat(), want, "delimiter {:?}", delimiter);
            }
        }
    }
}
