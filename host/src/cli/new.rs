//! `nimbus new TEMPLATE NAME`: writes a component folder from a template this binary carries
//! (with the WIT and the SDK sources it needs, since nothing here comes from a registry of
//! ours) and adds the component to the app's manifest, or writes a new app.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::templates::{JS_SDK, Kind, PYTHON_SDK, RUST_SDK, Sdk, TEMPLATES};
use crate::manifest::{Manifest, Name};

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
