//! `nimbus new TEMPLATE NAME`: writes a component folder from a template this binary carries
//! (with the WIT and the SDK sources it needs, since nothing here comes from a registry of
//! ours) and adds the component to the app's manifest, or writes a new app.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::manifest::{Manifest, Name};

struct Template {
    name: &'static str,
    summary: &'static str,
    /// Files written into the component's folder, with `{{name}}` and `{{crate}}` replaced.
    files: &'static [(&'static str, &'static str)],
    /// The `.wasm` the build makes, relative to the component's folder.
    source: &'static str,
    /// The build command, run in the component's folder.
    build: &'static str,
    /// Whether the build needs the component's WIT world (JavaScript and Python do).
    world: bool,
    /// What starts it.
    kind: Kind,
    /// The SDK sources it vendors.
    sdk: Sdk,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `GET /NAME`.
    Http,
    /// Messages on the queue NAME.
    Event,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sdk {
    None,
    Rust,
    Js,
    Python,
}

const JS_SDK: &[(&str, &str)] = &[
    (
        "nimbus/auth.js",
        include_str!("../../../guests/sdk/js/auth.js"),
    ),
    (
        "nimbus/bytes.js",
        include_str!("../../../guests/sdk/js/bytes.js"),
    ),
    (
        "nimbus/config.js",
        include_str!("../../../guests/sdk/js/config.js"),
    ),
    (
        "nimbus/errors.js",
        include_str!("../../../guests/sdk/js/errors.js"),
    ),
    (
        "nimbus/events.js",
        include_str!("../../../guests/sdk/js/events.js"),
    ),
    (
        "nimbus/http.js",
        include_str!("../../../guests/sdk/js/http.js"),
    ),
    ("nimbus/kv.js", include_str!("../../../guests/sdk/js/kv.js")),
    (
        "nimbus/objects.js",
        include_str!("../../../guests/sdk/js/objects.js"),
    ),
    (
        "nimbus/queue.js",
        include_str!("../../../guests/sdk/js/queue.js"),
    ),
    (
        "nimbus/auth-admin.js",
        include_str!("../../../guests/sdk/js/auth-admin.js"),
    ),
    (
        "nimbus/types/app.d.ts",
        include_str!("../../../guests/sdk/js/types/app.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-auth-admin.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-auth-admin.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-auth.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-auth.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-config.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-config.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-event-handler.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-event-handler.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-http-handler.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-http-handler.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-key-value.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-key-value.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-object-store.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-object-store.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-queue.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-queue.d.ts"),
    ),
    (
        "nimbus/types/interfaces/nimbus-platform-types.d.ts",
        include_str!("../../../guests/sdk/js/types/interfaces/nimbus-platform-types.d.ts"),
    ),
];

const RUST_SDK: &[(&str, &str)] = &[
    (
        "nimbus-sdk/Cargo.toml",
        include_str!("../../templates/rust-http/nimbus-sdk.toml"),
    ),
    (
        "nimbus-sdk/src/lib.rs",
        include_str!("../../../guests/sdk/rust/src/lib.rs"),
    ),
    (
        "nimbus-sdk/src/auth.rs",
        include_str!("../../../guests/sdk/rust/src/auth.rs"),
    ),
    (
        "nimbus-sdk/src/config.rs",
        include_str!("../../../guests/sdk/rust/src/config.rs"),
    ),
    (
        "nimbus-sdk/src/events.rs",
        include_str!("../../../guests/sdk/rust/src/events.rs"),
    ),
    (
        "nimbus-sdk/src/http.rs",
        include_str!("../../../guests/sdk/rust/src/http.rs"),
    ),
    (
        "nimbus-sdk/src/kv.rs",
        include_str!("../../../guests/sdk/rust/src/kv.rs"),
    ),
    (
        "nimbus-sdk/src/objects.rs",
        include_str!("../../../guests/sdk/rust/src/objects.rs"),
    ),
    (
        "nimbus-sdk/src/queue.rs",
        include_str!("../../../guests/sdk/rust/src/queue.rs"),
    ),
];

const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "nimbus/__init__.py",
        include_str!("../../../guests/sdk/python/nimbus/__init__.py"),
    ),
    (
        "nimbus/auth.py",
        include_str!("../../../guests/sdk/python/nimbus/auth.py"),
    ),
    (
        "nimbus/config.py",
        include_str!("../../../guests/sdk/python/nimbus/config.py"),
    ),
    (
        "nimbus/errors.py",
        include_str!("../../../guests/sdk/python/nimbus/errors.py"),
    ),
    (
        "nimbus/events.py",
        include_str!("../../../guests/sdk/python/nimbus/events.py"),
    ),
    (
        "nimbus/http.py",
        include_str!("../../../guests/sdk/python/nimbus/http.py"),
    ),
    (
        "nimbus/kv.py",
        include_str!("../../../guests/sdk/python/nimbus/kv.py"),
    ),
    (
        "nimbus/objects.py",
        include_str!("../../../guests/sdk/python/nimbus/objects.py"),
    ),
    (
        "nimbus/queue.py",
        include_str!("../../../guests/sdk/python/nimbus/queue.py"),
    ),
    (
        "nimbus/auth_admin.py",
        include_str!("../../../guests/sdk/python/nimbus/auth_admin.py"),
    ),
];

const RUST_COMMON: [(&str, &str); 2] = [
    (
        "Cargo.toml",
        include_str!("../../templates/rust-http/Cargo.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/rust-http/gitignore"),
    ),
];
const JS_COMMON: [(&str, &str); 3] = [
    (
        "package.json",
        include_str!("../../templates/js-http/package.json"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/js-http/gitignore"),
    ),
    ("build.sh", include_str!("../../../guests/js/build.sh")),
];
const PYTHON_COMMON: [(&str, &str); 2] = [
    (
        "requirements.txt",
        include_str!("../../templates/python-http/requirements.txt"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/python-http/gitignore"),
    ),
];

/// `--target-dir`: `source` names the folder, whatever CARGO_TARGET_DIR the caller has set.
const CARGO_BUILD: &str = "cargo build --release --target wasm32-wasip2 --target-dir target";
const NPM_BUILD: &str = "npm install --prefer-offline --no-audit --no-fund --loglevel=error && sh build.sh app.js app.wasm";
const COMPONENTIZE_PY: &str = "componentize-py -d wit -w guest componentize app -p . -o app.wasm";
const RUST_WASM: &str = "target/wasm32-wasip2/release/{{crate}}.wasm";

const TEMPLATES: &[Template] = &[
    Template {
        name: "rust-http",
        summary: "Rust record handler with the nimbus SDK (key-value, storage, auth, queues)",
        files: &[
            RUST_COMMON[0],
            RUST_COMMON[1],
            (
                "src/lib.rs",
                include_str!("../../templates/rust-http/src/lib.rs"),
            ),
            (
                "README.md",
                include_str!("../../templates/rust-http/README.md"),
            ),
        ],
        source: RUST_WASM,
        build: CARGO_BUILD,
        // The SDK's bindings cover every interface; the linker keeps the imports it calls.
        world: false,
        kind: Kind::Http,
        sdk: Sdk::Rust,
    },
    Template {
        name: "rust-event",
        summary: "Rust event handler with the nimbus SDK, started by a queue",
        files: &[
            RUST_COMMON[0],
            RUST_COMMON[1],
            (
                "src/lib.rs",
                include_str!("../../templates/rust-event/src/lib.rs"),
            ),
            (
                "README.md",
                include_str!("../../templates/rust-event/README.md"),
            ),
        ],
        source: RUST_WASM,
        build: CARGO_BUILD,
        world: false,
        kind: Kind::Event,
        sdk: Sdk::Rust,
    },
    Template {
        name: "js-http",
        summary: "JavaScript record handler (componentize-js), with the nimbus SDK",
        files: &[
            JS_COMMON[0],
            JS_COMMON[1],
            JS_COMMON[2],
            ("app.js", include_str!("../../templates/js-http/app.js")),
            (
                "README.md",
                include_str!("../../templates/js-http/README.md"),
            ),
        ],
        source: "app.wasm",
        build: NPM_BUILD,
        world: true,
        kind: Kind::Http,
        sdk: Sdk::Js,
    },
    Template {
        name: "js-event",
        summary: "JavaScript event handler (componentize-js), started by a queue",
        files: &[
            JS_COMMON[0],
            JS_COMMON[1],
            JS_COMMON[2],
            ("app.js", include_str!("../../templates/js-event/app.js")),
            (
                "README.md",
                include_str!("../../templates/js-event/README.md"),
            ),
        ],
        source: "app.wasm",
        build: NPM_BUILD,
        world: true,
        kind: Kind::Event,
        sdk: Sdk::Js,
    },
    Template {
        name: "python-http",
        summary: "Python record handler (componentize-py), with the nimbus SDK",
        files: &[
            PYTHON_COMMON[0],
            PYTHON_COMMON[1],
            ("app.py", include_str!("../../templates/python-http/app.py")),
            (
                "README.md",
                include_str!("../../templates/python-http/README.md"),
            ),
        ],
        source: "app.wasm",
        build: COMPONENTIZE_PY,
        world: true,
        kind: Kind::Http,
        sdk: Sdk::Python,
    },
    Template {
        name: "python-event",
        summary: "Python event handler (componentize-py), started by a queue",
        files: &[
            PYTHON_COMMON[0],
            PYTHON_COMMON[1],
            (
                "app.py",
                include_str!("../../templates/python-event/app.py"),
            ),
            (
                "README.md",
                include_str!("../../templates/python-event/README.md"),
            ),
        ],
        source: "app.wasm",
        build: COMPONENTIZE_PY,
        world: true,
        kind: Kind::Event,
        sdk: Sdk::Python,
    },
    Template {
        name: "wasi-http-rust",
        summary: "Rust wasi:http/proxy component: runs unchanged under wasmtime serve and Spin",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/wasi-http-rust/Cargo.toml"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/wasi-http-rust/src/lib.rs"),
            ),
            (
                "README.md",
                include_str!("../../templates/wasi-http-rust/README.md"),
            ),
            (
                ".gitignore",
                include_str!("../../templates/wasi-http-rust/gitignore"),
            ),
        ],
        source: RUST_WASM,
        build: CARGO_BUILD,
        world: false,
        kind: Kind::Http,
        sdk: Sdk::None,
    },
];

/// Crate names cargo refuses or that would shadow a crate the template needs (compared with
/// `-` as `_`).
const RESERVED_CRATE_NAMES: &[&str] = &[
    "nimbus_sdk",
    "wit_bindgen",
    "serde",
    "serde_json",
    "wasip2",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "self",
    "super",
    "crate",
    "fn",
    "mod",
    "struct",
    "enum",
    "type",
    "use",
    "impl",
    "trait",
    "match",
    "loop",
    "while",
    "for",
    "if",
    "else",
    "let",
    "const",
    "static",
    "ref",
    "mut",
    "move",
    "return",
    "async",
    "await",
    "dyn",
    "pub",
    "where",
    "unsafe",
    "extern",
    "true",
    "false",
    "break",
    "continue",
    "in",
    "as",
];

/// `nimbus new --list`.
pub fn list() -> String {
    TEMPLATES
        .iter()
        .map(|t| format!("{:<16} {}\n", t.name, t.summary))
        .collect()
}

/// `nimbus new TEMPLATE NAME --app APP`: the component folder APP/NAME and its manifest entry.
pub fn create(template: &str, name: &str, app: &Path) -> anyhow::Result<PathBuf> {
    let template = TEMPLATES
        .iter()
        .find(|t| t.name == template)
        .with_context(|| format!("no template `{template}`; the templates are:\n{}", list()))?;
    Name::try_from(name.to_string())
        .map_err(|why| anyhow::anyhow!("`{name}` cannot name a component: {why}"))?;
    if template.name.contains("rust")
        && RESERVED_CRATE_NAMES.contains(&name.replace('-', "_").as_str())
    {
        anyhow::bail!(
            "`{name}` cannot name a Rust component: cargo reserves it or the template uses it"
        );
    }
    let manifest_path = app.join("nimbus.toml");
    let folder = app.join(name);
    if folder.exists() {
        anyhow::bail!("{} already exists", folder.display());
    }
    let before = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context(format!("cannot read {}", manifest_path.display())),
    };
    if let Some(text) = &before {
        let manifest = Manifest::parse(&manifest_path, text.clone())?;
        if manifest.components.iter().any(|c| c.name == name) {
            anyhow::bail!(
                "{} already has a [component.{name}]",
                manifest_path.display()
            );
        }
    }

    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
    };
    let sdk: &[(&str, &str)] = match template.sdk {
        Sdk::Js => JS_SDK,
        Sdk::Python => PYTHON_SDK,
        Sdk::Rust => RUST_SDK,
        Sdk::None => &[],
    };
    let platform_wit = crate::guest_wit::PLATFORM_FILES
        .iter()
        .filter(|_| template.sdk == Sdk::Rust)
        .map(|(file, text)| (format!("nimbus-sdk/wit/{file}"), *text));
    let files = template
        .files
        .iter()
        .chain(sdk)
        .map(|(path, text)| (path.to_string(), *text))
        .chain(platform_wit);
    for (path, text) in files {
        let target = folder.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, fill(text))
            .with_context(|| format!("cannot write {}", target.display()))?;
    }

    let wit = if template.world {
        ", wit = \"wit\""
    } else {
        ""
    };
    let mut entry = format!(
        "\n[component.{name}]\nsource = \"{name}/{source}\"\nbuild = {{ command = \"{build}\", workdir = \"{name}\"{wit} }}\n",
        source = fill(template.source),
        build = template.build,
    );
    match template.kind {
        Kind::Http => entry.push_str(&format!("routes = [\"GET /{name}\"]\n")),
        Kind::Event => entry.push_str(&format!(
            "\n[[trigger.queue]]\nqueue = \"{name}\"\ncomponent = \"{name}\"\n"
        )),
    }
    let text = match &before {
        Some(text) => format!("{}\n{entry}", text.trim_end()),
        None => format!("[app]\nname = \"{}\"\n{entry}", app_name(app, name)),
    };
    // The manifest must still parse with the new component; otherwise nothing of it stays.
    if let Err(error) = Manifest::parse(&manifest_path, text.clone()) {
        let _ = std::fs::remove_dir_all(&folder);
        return Err(error).context("the manifest would not parse with the new component");
    }
    std::fs::create_dir_all(app).with_context(|| format!("cannot create {}", app.display()))?;
    std::fs::write(&manifest_path, text)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    Ok(folder)
}

/// A new app's name: its folder's, when that makes a valid name.
fn app_name(app: &Path, component: &str) -> String {
    std::path::absolute(app)
        .ok()
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().to_lowercase()))
        .filter(|candidate| Name::try_from(candidate.clone()).is_ok())
        .unwrap_or_else(|| component.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_writes_a_new_app_then_adds_to_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = dir.path().join("shop");
        create("js-http", "web", &app).expect("new app");
        create("python-http", "api", &app).expect("added");
        let manifest = Manifest::load(&app.join("nimbus.toml")).expect("manifest");
        assert_eq!(manifest.app, "shop");
        let names: Vec<&str> = manifest
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["api", "web"], "in name order");
        let web = manifest.components[1].build.as_ref().expect("build");
        assert_eq!(web.workdir, app.join("web"));
        assert_eq!(web.wit, Some(app.join("web/wit")));
        let js = std::fs::read_to_string(app.join("web/app.js")).expect("app.js");
        assert!(js.contains("router.get(\"/web\""), "{js}");
        assert!(app.join("web/nimbus/kv.js").is_file());
        assert!(app.join("api/nimbus/http.py").is_file());
    }

    #[test]
    fn a_bad_name_or_a_taken_one_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = dir.path();
        create("rust-http", "hello", app).expect("new app");
        let before = std::fs::read_to_string(app.join("nimbus.toml")).expect("manifest");
        let taken = create("js-http", "hello", app).expect_err("taken");
        assert!(taken.to_string().contains("already exists"), "{taken}");
        let bad = create("js-http", "Bad Name", app).expect_err("bad name");
        assert!(bad.to_string().contains("cannot name a component"), "{bad}");
        let reserved = create("rust-http", "nimbus-sdk", app).expect_err("reserved");
        assert!(
            reserved.to_string().contains("cargo reserves"),
            "{reserved}"
        );
        let unknown = create("cobol-http", "x", app).expect_err("unknown");
        assert!(unknown.to_string().contains("rust-http"), "{unknown}");
        assert!(!app.join("x").exists());
        assert_eq!(
            std::fs::read_to_string(app.join("nimbus.toml")).expect("manifest"),
            before
        );
    }
}
