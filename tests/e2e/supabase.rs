//! The official Supabase JS clients (`@supabase/auth-js`, `@supabase/storage-js`, pinned in
//! tests/supabase/package-lock.json) run their whole flow against the real binary.
//! `make test` installs them with `npm ci`.

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
