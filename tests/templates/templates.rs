//! `nimbus new` for every template, outside this repository: the written app builds with
//! `nimbus build` (which writes each component's WIT world first) and answers what the
//! template's README says. The toolchains are the ones `make guests` installs (componentize-py
//! on PATH from target/tools/python, as the README's virtual environment puts it there); the
//! JavaScript templates' `npm install` and the Rust templates' crates come from the registries'
//! local caches when `make guests` filled them.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Server, client, send_json, shared_cache_dir};

fn nimbus(args: &[&str], dir: &Path) -> std::process::Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // componentize-py as `make py-toolchain` installs it; the README's virtual environment
    // does the same for a user.
    let tools = repo.join("target/tools/python/bin");
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("NIMBUS_CACHE_DIR", shared_cache_dir())
        .output()
        .expect("run nimbus")
}

fn succeed(output: std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// One template build at a time: each takes both cores for a while (cargo, componentize-js,
/// componentize-py), and several at once only thrash.
static BUILDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `nimbus new TEMPLATE NAME` in a new app, then `nimbus build` of it, then the app served.
fn new_and_build(template: &str, name: &str, dir: &Path) -> (std::path::PathBuf, Server) {
    let _one_at_a_time = BUILDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let app = dir.join("demo");
    std::fs::create_dir(&app).expect("app folder");
    succeed(nimbus(&["new", template, name], &app), "nimbus new");
    if template.contains("rust") {
        // The Rust templates' builds share one target folder across tests and runs, so that
        // their dependencies compile once (each test names its crate differently).
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/template-builds");
        std::fs::create_dir_all(&shared).expect("shared target");
        std::os::unix::fs::symlink(&shared, app.join(name).join("target")).expect("symlink");
    }
    succeed(nimbus(&["build"], &app), "nimbus build");
    // Only the toolchains that keep every import of their world build against the
    // component's own; the Rust SDK's bindings cover every interface.
    let has_world = app.join(name).join("wit/world.wit").is_file();
    assert_eq!(has_world, !template.contains("rust"), "{template}");
    let server = Server::start(&app, &app.join(".nimbus"), &[]);
    (app, server)
}

async fn new_build_and_ask(template: &str, name: &str, expected: Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_app, server) = new_and_build(template, name, dir.path());
    let (status, _, body) = send_json(client().get(server.url(&format!("/{name}?name=Ann")))).await;
    assert_eq!((status, body), (200, expected), "{template}");
}

/// An event template's component, NAME, prints what the queue NAME brings it.
fn new_build_and_publish(template: &str, name: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, server) = new_and_build(template, name, dir.path());
    succeed(
        nimbus(&["queue", "publish", name, "--body", "hi there"], &app),
        "nimbus queue publish",
    );
    let printed = format!("{name} got: hi there");
    let log = server.wait_for_log(&printed);
    assert!(log.contains(&printed), "{template}: {log}");
}

#[test]
fn new_lists_every_template() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listed = succeed(nimbus(&["new", "--list"], dir.path()), "nimbus new --list");
    for template in [
        "rust-http",
        "rust-event",
        "js-http",
        "js-event",
        "python-http",
        "python-event",
        "wasi-http-rust",
    ] {
        assert!(listed.contains(template), "{listed}");
    }
}

#[tokio::test]
async fn the_rust_http_template_builds_and_answers() {
    new_build_and_ask(
        "rust-http",
        "hello",
        json!({ "message": "Hello, Ann!", "component": "hello" }),
    )
    .await;
}

#[tokio::test]
async fn the_js_http_template_builds_and_answers() {
    new_build_and_ask(
        "js-http",
        "hello",
        json!({ "message": "Hello, Ann!", "component": "hello" }),
    )
    .await;
}

#[tokio::test]
async fn the_python_http_template_builds_and_answers() {
    new_build_and_ask(
        "python-http",
        "hello",
        json!({ "message": "Hello, Ann!", "component": "hello" }),
    )
    .await;
}

#[tokio::test]
async fn the_wasi_http_rust_template_builds_and_answers() {
    new_build_and_ask(
        "wasi-http-rust",
        "plain",
        json!({ "message": "Hello, Serverless!" }),
    )
    .await;
}

#[test]
fn the_rust_event_template_builds_and_handles_a_message() {
    new_build_and_publish("rust-event", "listener");
}

#[test]
fn the_js_event_template_builds_and_handles_a_message() {
    new_build_and_publish("js-event", "listener");
}

#[test]
fn the_python_event_template_builds_and_handles_a_message() {
    new_build_and_publish("python-event", "listener");
}

#[test]
fn wit_writes_a_components_world_from_its_grants() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("nimbus.toml"),
        "[app]\nname = \"w\"\n[component.web]\nsource = \"web.wasm\"\nroutes = [\"/web/...\"]\nkey_value = [\"notes\"]\nqueues = [\"jobs\"]\n",
    )
    .expect("manifest");
    let out = dir.path().join("wit-out");
    let printed = succeed(
        nimbus(&["wit", "web", "--out", &out.to_string_lossy()], dir.path()),
        "nimbus wit",
    );
    assert!(printed.contains("world `guest`"), "{printed}");
    let world = std::fs::read_to_string(out.join("world.wit")).expect("world.wit");
    let imports: Vec<&str> = world
        .lines()
        .filter_map(|line| line.trim().strip_prefix("import "))
        .collect();
    assert_eq!(
        imports,
        [
            "nimbus:platform/key-value@0.2.0;",
            "nimbus:platform/config@0.2.0;",
            "nimbus:platform/queue@0.2.0;"
        ],
        "{world}"
    );
    assert!(out.join("deps/nimbus-platform/key-value.wit").is_file());
    // Without --out, the component must say where in `build.wit`.
    let output = nimbus(&["wit", "web"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("has no `build.wit` folder"), "{stderr}");
    let output = nimbus(&["build", "-c", "nope"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("the manifest has no [component.nope]"),
        "{stderr}"
    );
}
