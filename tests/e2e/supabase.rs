//! The official Supabase JS clients (`@supabase/auth-js`, `@supabase/storage-js` and the whole
//! `@supabase/supabase-js`, pinned in tests/supabase/package-lock.json) run against the real
//! binary: their flows, and every row of the README's compatibility table. `make test`
//! installs them with `npm ci`.

use std::path::Path;
use std::process::Command;

use crate::harness::{AppDir, Server};

const COMPAT: &str = r#"
[app]
name = "compat"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[bucket.files]
access = "owner"

[bucket.avatars]
access = "public-read"
"#;

#[test]
fn the_official_supabase_clients_work_unchanged() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/supabase");
    assert!(
        scripts.join("node_modules/@supabase/auth-js").is_dir(),
        "the Supabase clients are not installed: run `npm ci` in tests/supabase (`make test` does)"
    );
    let app = AppDir::new(COMPAT);
    let server = app.start(2);
    let key = app.api_key();
    assert!(key.starts_with("nb_publishable_"), "{key}");
    let stdout = run_node(
        &scripts,
        &["compat.mjs"],
        &[("NIMBUS_URL", server.base.clone()), ("NIMBUS_APIKEY", key)],
        &server,
    );
    assert!(stdout.contains("steps passed"), "{stdout}");
}

/// Runs `node ARGS` in `scripts` with `env`; its standard output, once it succeeded.
fn run_node(scripts: &Path, args: &[&str], env: &[(&str, String)], server: &Server) -> String {
    let run = Command::new("node")
        .args(args)
        .current_dir(scripts)
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .output()
        .expect("node must be installed to run the Supabase client test");
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        server.log()
    );
    stdout
}

const CLIENT: &str = r#"
[app]
name = "client"
functions = ["probe"]

[auth]
anonymous = true
redirect_urls = ["http://127.0.0.1:*/**"]

[component.probe]
source = "{probe}"
routes = ["/probe/..."]

[bucket.files]
access = "owner"

[bucket.avatars]
access = "public-read"
"#;

#[test]
fn the_whole_supabase_js_client_matches_the_readme_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scripts = root.join("tests/supabase");
    assert!(
        scripts.join("node_modules/@supabase/supabase-js").is_dir(),
        "supabase-js is not installed: run `npm ci` in tests/supabase (`make test` does)"
    );
    let app = AppDir::new(CLIENT);
    let server = app.start(1);
    let env = [
        ("NIMBUS_URL", server.base.clone()),
        ("NIMBUS_APIKEY", app.api_key()),
        ("NIMBUS_SECRET_KEY", app.secret_key()),
        (
            "NIMBUS_README",
            root.join("README.md").display().to_string(),
        ),
    ];
    let stdout = run_node(
        &scripts,
        &["--experimental-websocket", "client.mjs"],
        &env,
        &server,
    );
    assert!(stdout.contains("rows checked"), "{stdout}");
}
