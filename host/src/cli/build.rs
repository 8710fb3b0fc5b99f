//! `nimbus build` and `nimbus wit`: run each component's build command, after writing the WIT
//! world its toolchain builds against.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::manifest::{ComponentSpec, Manifest};

/// The toolchain versions the templates and examples pin, named in install hints.
pub const COMPONENTIZE_JS: &str = "0.23.0";
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// Builds `only` (every component when empty).
pub fn build_components(manifest: &Manifest, only: &[String]) -> anyhow::Result<()> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !manifest.components.iter().any(|c| &c.name == *name))
    {
        anyhow::bail!("the manifest has no [component.{unknown}]");
    }
    for component in &manifest.components {
        if !only.is_empty() && !only.contains(&component.name) {
            continue;
        }
        let Some(build) = &component.build else {
            continue;
        };
        if let Some(folder) = &build.wit {
            write_world(manifest, component, folder)?;
        }
        tracing::info!(component = %component.name, "building: {}", build.command);
        // What a build script may need to know of the component: JavaScript guests leave
        // wasi:http out unless the component may make outbound requests.
        let outbound: Vec<&str> = component
            .allowed_outbound_hosts
            .iter()
            .map(|host| host.0.as_str())
            .collect();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&build.workdir)
            .env("NIMBUS_COMPONENT", &component.name)
            .env("NIMBUS_OUTBOUND_HOSTS", outbound.join(" "))
            .status()
            .with_context(|| {
                format!(
                    "cannot run the build command of component `{}` in {}",
                    component.name,
                    build.workdir.display()
                )
            })?;
        if !status.success() {
            let hint = match status.code() {
                // What `sh` answers when the command is not installed.
                Some(127) => missing_tool_hint(&build.command),
                _ => String::new(),
            };
            anyhow::bail!(
                "component.{}.build: `{}` failed ({status}){hint}",
                component.name,
                build.command
            );
        }
    }
    Ok(())
}

/// `nimbus wit COMPONENT [--out DIR]`.
pub fn write_wit(manifest: &Manifest, name: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let component = manifest
        .components
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("the manifest has no [component.{name}]"))?;
    let folder = match out {
        Some(folder) => folder,
        None => component
            .build
            .as_ref()
            .and_then(|build| build.wit.clone())
            .with_context(|| {
                format!("component.{name} has no `build.wit` folder; give one with --out")
            })?,
    };
    write_world(manifest, component, &folder)?;
    println!("{}: world `{}`", folder.display(), crate::guest_wit::WORLD);
    Ok(())
}

fn write_world(
    manifest: &Manifest,
    component: &ComponentSpec,
    folder: &std::path::Path,
) -> anyhow::Result<()> {
    crate::guest_wit::write(manifest, component, folder).with_context(|| {
        format!(
            "cannot write the WIT world of component `{}` to {}",
            component.name,
            folder.display()
        )
    })
}

/// How to install the toolchain a failed build command names.
fn missing_tool_hint(command: &str) -> String {
    let words: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
        .collect();
    let uses = |tool: &str| words.iter().any(|word| word.ends_with(tool));
    let install = if uses("componentize-py") {
        format!(
            "componentize-py is not installed: `pip install componentize-py=={COMPONENTIZE_PY}` (in a virtual environment), then put it on PATH"
        )
    } else if uses("npm") || uses("npx") || uses("node") || uses("componentize-js") {
        format!(
            "Node.js and npm are needed (Node 20 or newer), then `npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS}` in the component's folder"
        )
    } else if uses("cargo") {
        "Rust is needed: install it from https://rustup.rs, then `rustup target add wasm32-wasip2`"
            .to_string()
    } else {
        "a program it runs is not installed".to_string()
    };
    format!("; {install}")
}

#[cfg(test)]
mod tests {
    use super::missing_tool_hint;

    #[test]
    fn a_missing_toolchain_names_its_install_command() {
        assert!(
            missing_tool_hint("componentize-py -d wit -w guest componentize app -o app.wasm")
                .contains("pip install componentize-py==")
        );
        assert!(
            missing_tool_hint("npm install && npx componentize-js app.js")
                .contains("@bytecodealliance/componentize-js@")
        );
        assert!(missing_tool_hint("cargo build --release").contains("rustup"));
        assert!(missing_tool_hint("make").contains("not installed"));
    }
}
