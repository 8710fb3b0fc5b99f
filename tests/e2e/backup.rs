//! `nimbus backup` under load and `nimbus restore` into a fresh data directory: every write
//! acknowledged before the backup began is in it, and the app serves from it; a restore
//! refuses a served data directory and a backup of another format.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::auth::signup;
use crate::harness::{AppDir, client, fresh_connection_client, upload};

const APP: &str = r#"
[app]
name = "kept"

[component.counter]
source = "{counter}"
routes = ["/count/..."]
key_value = ["counter"]

[bucket.team]
access = "authenticated"
"#;

/// A write the load made and when the server acknowledged it.
#[derive(Debug, Clone)]
enum Write {
    Count(u32),
    Upload(u32),
}

#[tokio::test]
async fn a_backup_under_load_restores_every_acknowledged_write_into_a_fresh_directory() {
    let app = AppDir::new(APP);
    let server = app.start_processes(2);
    let user = signup(&server, "keeper@example.com").await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, base, token, user_id) = (
            Arc::clone(&stop),
            server.base.clone(),
            user.access.clone(),
            user.user_id.clone(),
        );
        tokio::spawn(async move {
            let http = fresh_connection_client();
            let mut acknowledged: Vec<(Write, Instant)> = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let write = if n % 4 == 3 {
                    let response = http
                        .post(format!(
                            "{base}/storage/v1/object/team/{user_id}/file-{n}.txt"
                        ))
                        .bearer_auth(&token)
                        .header("content-type", "text/plain")
                        .body(format!("body of file {n}"))
                        .send()
                        .await;
                    response
                        .is_ok_and(|r| r.status().as_u16() == 200)
                        .then_some(Write::Upload(n))
                } else {
                    let response = http.get(format!("{base}/count/key-{n}")).send().await;
                    response
                        .is_ok_and(|r| r.status().as_u16() == 200)
                        .then_some(Write::Count(n))
                };
                if let Some(write) = write {
                    acknowledged.push((write, Instant::now()));
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let backup_dir = app.path().join("backup");
    let began = Instant::now();
    let output = {
        let args = vec![
            "backup".to_string(),
            backup_dir.to_string_lossy().into_owned(),
        ];
        let app_path = app.path().to_path_buf();
        let data = app.data();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"))
                .args(&args)
                .arg("--app")
                .arg(&app_path)
                .arg("--data")
                .arg(&data)
                .output()
                .expect("nimbus backup")
        })
        .await
        .expect("backup task")
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let acknowledged = load.await.expect("load");
    let before: Vec<Write> = acknowledged
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(write, _)| write.clone())
        .collect();
    let after = acknowledged.len() - before.len();
    assert!(
        before.iter().any(|w| matches!(w, Write::Upload(_)))
            && before.iter().any(|w| matches!(w, Write::Count(_))),
        "the load wrote too little before the backup: {before:?}"
    );
    assert!(after > 0, "no write went on during and after the backup");
    let mode = std::fs::metadata(&backup_dir).expect("backup dir");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(mode.permissions().mode() & 0o777, 0o700);

    // A served data directory is not restored into.
    let refused = app.run_on_data(&["restore", &backup_dir.to_string_lossy()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it"));
    drop(server);

    let fresh = AppDir::new(APP);
    let restored = fresh.run_on_data(&["restore", &backup_dir.to_string_lossy()]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let server = fresh.start_processes(1);
    let http = client();
    for write in &before {
        match write {
            // The counter counts this request too: 2 if the first one was kept.
            Write::Count(n) => {
                let response = http
                    .get(server.url(&format!("/count/key-{n}")))
                    .send()
                    .await
                    .expect("answer");
                let body: serde_json::Value = response.json().await.expect("JSON");
                assert_eq!(body["count"], 2, "key-{n}");
            }
            // The session, its signing key and the object all came back.
            Write::Upload(n) => {
                let response = http
                    .get(server.url(&format!(
                        "/storage/v1/object/team/{}/file-{n}.txt",
                        user.user_id
                    )))
                    .bearer_auth(&user.access)
                    .send()
                    .await
                    .expect("answer");
                assert_eq!(response.status().as_u16(), 200, "file-{n}");
                assert_eq!(
                    response.text().await.expect("body"),
                    format!("body of file {n}")
                );
            }
        }
    }
    // It serves writes too.
    assert_eq!(
        upload(
            &server,
            &user.access,
            "team",
            &format!("{}/new.txt", user.user_id),
            "new"
        )
        .await,
        200
    );
    drop(server);

    // A second restore into the same directory: refused without --replace, kept aside with.
    let again = fresh.run_on_data(&["restore", &backup_dir.to_string_lossy()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--replace"));
    let replaced = fresh.run_on_data(&["restore", "--replace", &backup_dir.to_string_lossy()]);
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    let aside = |dir: std::path::PathBuf| {
        std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("before-restore"))
            .count()
    };
    assert_eq!(aside(fresh.data()), 1, "the store was moved aside");
    assert_eq!(
        aside(fresh.data().join("objects")),
        1,
        "the objects were moved aside"
    );

    // Another format is refused, saying so.
    let info_path = backup_dir.join("backup.json");
    let mut info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info_path).expect("info")).expect("JSON");
    info["format"] = 99.into();
    std::fs::write(&info_path, info.to_string()).expect("write");
    let other = AppDir::new(APP);
    let refused = other.run_on_data(&["restore", &backup_dir.to_string_lossy()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("format 99"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!other.data().join("kv.redb").exists());
}
