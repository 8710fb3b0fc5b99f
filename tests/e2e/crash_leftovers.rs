//! What a `kill -9` during uploads leaves (temp files, blobs whose metadata never committed)
//! is swept by the next start, in the background, and nothing anyone can read is touched.

use std::time::{Duration, Instant, SystemTime};

use crate::auth::signup;
use crate::harness::{AppDir, client, upload};

const APP: &str = r#"
[app]
name = "crash"

[bucket.files]
access = "authenticated"
"#;

/// A file as a crashed upload leaves it, last written an hour ago.
fn leave_old(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, vec![1u8; 4096]).expect("file");
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .expect("mtime");
}

#[tokio::test]
async fn crash_leftovers_are_swept_after_start_and_objects_stay() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let session = signup(&server, "crash@example.com").await;
    let status = upload(&server, &session.access, "files", "kept.txt", "still here").await;
    assert_eq!(status, 200);
    server.kill();

    let objects = app.data().join("objects/crash");
    // The live object's blob looks as old as the leftovers: only its metadata saves it.
    for shard in std::fs::read_dir(objects.join("blobs"))
        .expect("blobs")
        .flatten()
    {
        for blob in std::fs::read_dir(shard.path()).expect("shard").flatten() {
            std::fs::File::options()
                .write(true)
                .open(blob.path())
                .expect("blob")
                .set_modified(SystemTime::now() - Duration::from_secs(3600))
                .expect("mtime");
        }
    }
    let leftovers: Vec<_> = (0..20)
        .flat_map(|i| {
            [
                objects.join(format!("tmp/{i:032x}")),
                objects.join(format!("blobs/ab/ab{i:030x}")),
            ]
        })
        .collect();
    for path in &leftovers {
        leave_old(path);
    }

    let server = app.start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while leftovers.iter().any(|p| p.exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<_> = leftovers.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "not swept: {left:?}");
    let log = server.wait_for_log("removed what crashed uploads left");
    assert!(log.contains("temp_files=20 orphan_blobs=20"), "{log}");
    let response = client()
        .get(server.url("/storage/v1/object/files/kept.txt"))
        .bearer_auth(&session.access)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), "still here");
}
