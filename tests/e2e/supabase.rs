//! The official Supabase JS clients (`@supabase/auth-js`, `@supabase/storage-js` and the whole
//! `@supabase/supabase-js`, pinned in tests/supabase/package-lock.json) run against the real
//! binary: their flows, and every row of the README's compatibility table. `make test`
//! installs them with `npm ci`.

use std::path::Path;
use std::process::Command;

use crate::harness::AppDir;

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
    let run = Command::new("node")
        .arg("compat.mjs")
        .current_dir(&scripts)
        .env("NIMBUS_URL", &server.base)
        .env("NIMBUS_APIKEY", &key)
        .output()
        .expect("node must be installed to run the Supabase client test");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        server.log()
    );
    assert!(stdout.contains("steps passed"), "{stdout}");
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
    let run = Command::new("node")
        .args(["--experimental-websocket", "client.mjs"])
        .current_dir(&scripts)
        .env("NIMBUS_URL", &server.base)
        .env("NIMBUS_APIKEY", app.api_key())
        .env("NIMBUS_SECRET_KEY", app.secret_key())
        .env("NIMBUS_README", root.join("README.md"))
        .output()
        .expect("node must be installed to run the Supabase client test");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        server.log()
    );
    assert!(stdout.contains("rows checked"), "{stdout}");
}
