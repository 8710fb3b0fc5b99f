//! A component's own WIT world: the platform interfaces its grants allow, and the handlers its
//! routes and triggers call. componentize-js and componentize-py keep every import of the
//! world they build against, so a JavaScript or Python guest built against this world imports
//! exactly what the manifest grants it and loads; built against `http-app`, it would need
//! every grant.
//!
//! The folder written holds `world.wit` (package `nimbus:component`, world `guest`) and the
//! platform package it uses under `deps/nimbus-platform/`.

use std::io;
use std::path::Path;

use crate::bindings::PLATFORM_VERSION;
use crate::capabilities::platform_interfaces;
use crate::manifest::{ComponentSpec, Manifest};
use crate::runtime::state::InvocationState;

/// The world's name in the written package.
pub const WORLD: &str = "guest";

/// The platform package's files, as this binary implements them.
pub const PLATFORM_FILES: [(&str, &str); 10] = [
    ("types.wit", include_str!("../../wit/types.wit")),
    (
        "http-handler.wit",
        include_str!("../../wit/http-handler.wit"),
    ),
    (
        "event-handler.wit",
        include_str!("../../wit/event-handler.wit"),
    ),
    ("key-value.wit", include_str!("../../wit/key-value.wit")),
    (
        "object-store.wit",
        include_str!("../../wit/object-store.wit"),
    ),
    ("auth.wit", include_str!("../../wit/auth.wit")),
    ("auth-admin.wit", include_str!("../../wit/auth-admin.wit")),
    ("config.wit", include_str!("../../wit/config.wit")),
    ("queue.wit", include_str!("../../wit/queue.wit")),
    ("worlds.wit", include_str!("../../wit/worlds.wit")),
];

/// The `world.wit` of `component`: an import for each granted interface, an export for each
/// kind of trigger that starts it (HTTP when it has routes or nothing else starts it).
pub fn world_of(manifest: &Manifest, component: &ComponentSpec) -> String {
    let mut lines = vec![
        format!(
            "// The world of component `{}`, written by nimbus from its grants in nimbus.toml.",
            component.name
        ),
        "// `nimbus build` rewrites it; change the grants, not this file.".to_string(),
        "package nimbus:component;".to_string(),
        String::new(),
        format!("world {WORLD} {{"),
    ];
    for interface in platform_interfaces::<InvocationState>() {
        if (interface.granted)(component) {
            lines.push(format!("    import {}@{PLATFORM_VERSION};", interface.name));
        }
    }
    let has_triggers = manifest.triggers_of(&component.name).next().is_some();
    if !component.routes.is_empty() || !has_triggers {
        lines.push(format!(
            "    export nimbus:platform/http-handler@{PLATFORM_VERSION};"
        ));
    }
    if has_triggers {
        lines.push(format!(
            "    export nimbus:platform/event-handler@{PLATFORM_VERSION};"
        ));
    }
    lines.push("}".to_string());
    lines.join("\n") + "\n"
}

/// Writes `component`'s world and the platform package into `folder`, replacing what an
/// earlier run wrote there and leaving other files alone.
pub fn write(manifest: &Manifest, component: &ComponentSpec, folder: &Path) -> io::Result<()> {
    let platform = folder.join("deps").join("nimbus-platform");
    std::fs::create_dir_all(&platform)?;
    for (name, text) in PLATFORM_FILES {
        write_file(&platform.join(name), text)?;
    }
    write_file(&folder.join("world.wit"), &world_of(manifest, component))
}

/// Writes `text` to `path`, refusing a link there: only these files are ever replaced, never
/// what a link points at.
fn write_file(path: &Path, text: &str) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is a link; nimbus writes WIT files only in place",
                path.display()
            ),
        ));
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.wasm"), b"").expect("write");
        let path = dir.path().join("nimbus.toml");
        std::fs::write(&path, text).expect("write");
        Manifest::load(&path).expect("manifest")
    }

    #[test]
    fn a_world_imports_what_is_granted_and_exports_what_starts_it() {
        let m = manifest(
            r#"
            [app]
            name = "t"
            [component.web]
            source = "a.wasm"
            routes = ["/..."]
            key_value = ["todos"]
            [component.worker]
            source = "a.wasm"
            buckets = { uploads = "read" }
            queues = ["jobs"]
            auth = "admin"
            [bucket.uploads]
            access = "private"
            [[trigger.queue]]
            queue = "jobs"
            component = "worker"
            "#,
        );
        let web = world_of(&m, &m.components[0]);
        assert!(web.contains("world guest {"), "{web}");
        assert!(
            web.contains("import nimbus:platform/key-value@0.2.0;"),
            "{web}"
        );
        assert!(
            web.contains("import nimbus:platform/config@0.2.0;"),
            "{web}"
        );
        assert!(!web.contains("object-store"), "{web}");
        assert!(!web.contains("nimbus:platform/auth"), "{web}");
        assert!(
            web.contains("export nimbus:platform/http-handler@0.2.0;"),
            "{web}"
        );
        assert!(!web.contains("event-handler"), "{web}");

        let worker = world_of(&m, &m.components[1]);
        for import in ["object-store", "queue", "auth", "auth-admin"] {
            assert!(
                worker.contains(&format!("import nimbus:platform/{import}@0.2.0;")),
                "{worker}"
            );
        }
        assert!(!worker.contains("key-value"), "{worker}");
        assert!(
            worker.contains("export nimbus:platform/event-handler@0.2.0;"),
            "{worker}"
        );
        assert!(!worker.contains("http-handler"), "{worker}");
    }

    #[test]
    fn a_link_where_a_wit_file_goes_is_refused_and_left_alone() {
        let m = manifest("[app]\nname = \"t\"\n[component.web]\nsource = \"a.wasm\"\n");
        let folder = tempfile::tempdir().expect("temp dir");
        let target = folder.path().join("elsewhere.txt");
        std::fs::write(&target, "mine").expect("write");
        std::os::unix::fs::symlink(&target, folder.path().join("world.wit")).expect("link");
        let error = write(&m, &m.components[0], folder.path()).expect_err("a link");
        assert!(error.to_string().contains("is a link"), "{error}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "mine");
    }

    #[test]
    fn the_written_package_parses_with_every_world() {
        let m = manifest(
            "[app]\nname = \"t\"\n[component.web]\nsource = \"a.wasm\"\nkey_value = [\"k\"]\n",
        );
        let folder = tempfile::tempdir().expect("temp dir");
        write(&m, &m.components[0], folder.path()).expect("write");
        let mut resolve = wit_parser::Resolve::default();
        let (package, _) = resolve.push_dir(folder.path()).expect("the package parses");
        let world = resolve
            .select_world(&[package], Some(WORLD))
            .expect("world");
        assert_eq!(
            resolve.worlds[world].imports.len(),
            3,
            "types, key-value, config"
        );
        assert_eq!(resolve.worlds[world].exports.len(), 1);
    }
}
