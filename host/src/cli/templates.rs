//! The templates `nimbus new` writes, with the SDK sources each vendors: all carried by the
//! binary, since nothing here comes from a registry of ours.

pub(super) struct Template {
    pub(super) name: &'static str,
    pub(super) summary: &'static str,
    /// Files written into the component's folder, with `{{name}}` and `{{crate}}` replaced.
    pub(super) files: &'static [(&'static str, &'static str)],
    /// The `.wasm` the build makes, relative to the component's folder.
    pub(super) source: &'static str,
    /// The build command, run in the component's folder.
    pub(super) build: &'static str,
    /// Whether the build needs the component's WIT world (JavaScript and Python do).
    pub(super) world: bool,
    /// What starts it.
    pub(super) kind: Kind,
    /// The SDK sources it vendors.
    pub(super) sdk: Sdk,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `GET /NAME`.
    Http,
    /// Messages on the queue NAME.
    Event,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Sdk {
    None,
    Rust,
    Js,
    Python,
}

pub(super) const JS_SDK: &[(&str, &str)] = &[
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

pub(super) const RUST_SDK: &[(&str, &str)] = &[
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

pub(super) const PYTHON_SDK: &[(&str, &str)] = &[
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
    (
        "nimbus/data.py",
        include_str!("../../../guests/sdk/python/nimbus/data.py"),
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

pub(super) const TEMPLATES: &[Template] = &[
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
                include_str!("../../../guests/http-hello/src/lib.rs"),
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
