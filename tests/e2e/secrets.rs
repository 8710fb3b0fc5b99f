//! Secrets and the secret key: set from the command line while the app runs, read only by the
//! components granted them, never shown back or logged; the secret key shown once.

use std::io::Write as _;
use std::process::{Command, Stdio};

use std::collections::HashSet;

use serde_json::Value;

use crate::harness::{AppDir, Server, fresh_connection_client, process_of, send_json};

const APP: &str = r#"
[app]
name = "secrets"

[component.granted]
source = "{probe}"
routes = ["/granted/..."]
config = { greeting = "hi" }
secrets = ["STRIPE_KEY"]

[component.other]
source = "{probe}"
routes = ["/other/..."]
"#;

const VALUE: &str = "sk_live_do_not_log_me";

fn nimbus(app: &AppDir, args: &[&str], stdin: &str) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nimbus"));
    command
        .args(args)
        .args(["--app", &app.path().to_string_lossy()])
        .args(["--data", &app.data().to_string_lossy()])
        .env("NIMBUS_CACHE_DIR", crate::harness::shared_cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run nimbus");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// GETs `path` on a fresh connection (so the kernel may hand it to any process) and notes
/// which process answered.
async fn read(server: &Server, served: &mut HashSet<String>, path: &str) -> Value {
    let (status, request_id, body) =
        send_json(fresh_connection_client().get(server.url(path))).await;
    served.insert(process_of(&request_id.unwrap_or_default()));
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn secrets_reach_only_granted_components_and_are_never_shown() {
    let app = AppDir::new(APP);
    let server = app.start_processes(2);
    let mut served = HashSet::new();
    assert_eq!(
        read(&server, &mut served, "/granted/config?STRIPE_KEY").await,
        serde_json::json!({ "value": null }),
        "granted but not set yet"
    );
    let set = nimbus(
        &app,
        &["secrets", "set", "STRIPE_KEY"],
        &format!("{VALUE}\n"),
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    // Both processes read it at once: the value lives in the shared store.
    for _ in 0..10 {
        assert_eq!(
            read(&server, &mut served, "/granted/config?STRIPE_KEY").await["value"],
            VALUE
        );
    }
    assert_eq!(
        read(&server, &mut served, "/granted/config?greeting").await["value"],
        "hi"
    );
    let denied = read(&server, &mut served, "/other/config?STRIPE_KEY").await;
    let error = denied["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("Error::AccessDenied("), "{denied}");
    assert!(error.contains("secrets = [\\\"STRIPE_KEY\\\"]"), "{denied}");
    let undeclared = read(&server, &mut served, "/granted/config?OTHER").await;
    assert!(
        undeclared["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Error::AccessDenied(")),
        "{undeclared}"
    );
    let list = nimbus(&app, &["secrets", "list"], "");
    assert!(list.status.success());
    assert_eq!(String::from_utf8_lossy(&list.stdout), "STRIPE_KEY\n");
    let bad = nimbus(&app, &["secrets", "set", "lower"], "x");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid secret name"));
    let deleted = nimbus(&app, &["secrets", "delete", "STRIPE_KEY"], "");
    assert!(deleted.status.success());
    assert_eq!(
        read(&server, &mut served, "/granted/config?STRIPE_KEY").await["value"],
        Value::Null
    );
    assert!(
        !server.log().contains(VALUE),
        "a secret value reached the log"
    );
}

#[test]
fn the_secret_key_is_shown_once_and_rotated() {
    let app = AppDir::new(APP);
    let first = nimbus(&app, &["keys", "show", "--secret"], "");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let key = String::from_utf8_lossy(&first.stdout).trim().to_string();
    assert!(key.starts_with("nb_secret_"), "{key}");
    let again = nimbus(&app, &["keys", "show", "--secret"], "");
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("cannot be shown again"), "{stderr}");
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&key));
    let rotated = nimbus(&app, &["keys", "rotate", "--secret"], "");
    assert!(rotated.status.success());
    let new_key = String::from_utf8_lossy(&rotated.stdout).trim().to_string();
    assert!(new_key.starts_with("nb_secret_"), "{new_key}");
    assert_ne!(new_key, key);
    // Nothing in the data directory holds either key in the clear.
    let kv = std::fs::read(app.data().join("kv.redb")).expect("read the store");
    for secret in [&key, &new_key] {
        assert!(
            !kv.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret key is stored in the clear"
        );
    }
}
