//! `nimbus.toml`: parsing, validation and the resolved model the host runs.
//!
//! Parsing rejects unknown keys and bad values with their line and column (see [`schema`]);
//! checks across keys (duplicate routes, missing files) come after, still naming file, line
//! and key.

mod error;
mod schema;
mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ManifestError;
pub use schema::{Name, OutboundHost};
pub use units::{ByteSize, HumanDuration};

use serde_spanned::Spanned;

use crate::routes::RoutePattern;

/// The file name `nimbus up DIR` looks for.
pub const MANIFEST_FILE: &str = "nimbus.toml";
/// `limits.timeout` when unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// `limits.memory` when unset.
pub const DEFAULT_MEMORY: u64 = 128 << 20;

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub dir: PathBuf,
    /// The `[app] name`.
    pub app: String,
    /// Components in name order.
    pub components: Vec<ComponentSpec>,
    text: String,
}

/// One `[component.NAME]`.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// The NAME of `[component.NAME]`.
    pub name: String,
    /// The `.wasm` file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// The command `nimbus build` runs in the manifest's directory.
    pub build: Option<String>,
    /// HTTP routes that invoke it.
    pub routes: Vec<RoutePattern>,
    /// Stores granted by `key_value`.
    pub key_value: BTreeSet<String>,
    /// Outbound HTTP origins granted by `allowed_outbound_hosts`.
    pub allowed_outbound_hosts: Vec<OutboundHost>,
    /// `config`, passed to the guest as its environment.
    pub config: BTreeMap<String, String>,
    /// `[component.NAME.limits]` with defaults applied.
    pub limits: Limits,
    source_span: Range<usize>,
    table_span: Range<usize>,
}

/// Resource limits of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one invocation may take.
    pub timeout: Duration,
    /// Largest linear memory (and table growth) one instance may reach, in bytes.
    pub memory: u64,
    /// Invocations in flight at once; `None` for no limit but the host's.
    pub max_concurrency: Option<u32>,
}

impl Manifest {
    /// Finds the manifest: `path` itself if it is a file, else `path/nimbus.toml`.
    pub fn locate(path: &Path) -> PathBuf {
        if path.is_dir() {
            path.join(MANIFEST_FILE)
        } else {
            path.to_path_buf()
        }
    }

    /// Reads, parses and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, text)
    }

    /// Parses and validates manifest text as if read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self, ManifestError> {
        let raw: schema::RawManifest = toml::from_str(&text).map_err(|e| {
            let offset = e.span().map_or(0, |span| span.start);
            let message = e.message().trim();
            let message = match key_before(&text, offset) {
                Some(key) if !message.contains(&format!("`{key}`")) => format!("{key}: {message}"),
                _ => message.to_string(),
            };
            ManifestError::at(path, &text, offset, message)
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let mut components = Vec::new();
        let mut seen_routes: Vec<(RoutePattern, String)> = Vec::new();
        for (name, component) in raw.component {
            let table_span = component.span();
            let name = name.into_inner().0;
            let raw = component.into_inner();
            for route in &raw.routes {
                if let Some((_, owner)) = seen_routes
                    .iter()
                    .find(|(seen, _)| seen.same_as(route.get_ref()))
                {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        route.span().start,
                        format!(
                            "component.{name}.routes: route `{}` is already taken by component `{owner}`; each route may invoke one component",
                            route.get_ref()
                        ),
                    ));
                }
                seen_routes.push((route.get_ref().clone(), name.clone()));
            }
            let mut key_value = BTreeSet::new();
            for store in raw.key_value {
                if !key_value.insert(store.get_ref().0.clone()) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        store.span().start,
                        format!(
                            "component.{name}.key_value: store `{}` is listed twice",
                            store.get_ref().0
                        ),
                    ));
                }
            }
            for key in raw.config.keys() {
                if key.is_empty() || key.contains(['=', '\0']) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        table_span.start,
                        format!(
                            "component.{name}.config: `{key}` is not a valid config name (no `=`, NUL, or empty names)"
                        ),
                    ));
                }
            }
            if raw.limits.max_concurrency == Some(0) {
                return Err(ManifestError::at(
                    path,
                    &text,
                    table_span.start,
                    format!("component.{name}.limits.max_concurrency: must be at least 1"),
                ));
            }
            let source_span = raw.source.span();
            components.push(ComponentSpec {
                source: dir.join(raw.source.get_ref()),
                build: raw.build,
                routes: raw.routes.into_iter().map(Spanned::into_inner).collect(),
                key_value,
                allowed_outbound_hosts: raw
                    .allowed_outbound_hosts
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                config: raw.config,
                limits: Limits {
                    timeout: raw.limits.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
                    memory: raw.limits.memory.map_or(DEFAULT_MEMORY, |m| m.0),
                    max_concurrency: raw.limits.max_concurrency,
                },
                name,
                source_span,
                table_span,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            dir,
            app: raw.app.name.0,
            components,
            text,
        })
    }

    /// An error located at `component`'s `source` key.
    pub fn error_at_source(&self, component: &ComponentSpec, message: String) -> ManifestError {
        ManifestError::at(&self.path, &self.text, component.source_span.start, message)
    }

    /// An error located at `component`'s table.
    pub fn error_at_component(&self, component: &ComponentSpec, message: String) -> ManifestError {
        ManifestError::at(&self.path, &self.text, component.table_span.start, message)
    }

    /// Checks that every component's `source` exists, naming the key of each one missing.
    pub fn check_sources(&self) -> Result<(), ManifestError> {
        for component in &self.components {
            if !component.source.is_file() {
                return Err(self.error_at_source(
                    component,
                    format!(
                        "component.{}.source: `{}` does not exist; build it (`nimbus build`, or `nimbus up --build`) or fix the path, which is relative to {}",
                        component.name,
                        component.source.display(),
                        self.dir.display(),
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The key of a `key = value` line when `offset` falls in the value, so that errors about a
/// value name its key as well as its line.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |nl| nl + 1);
    let (key, _) = text.get(line_start..offset)?.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.contains(['"', '[', '{'])).then_some(key)
}

#[cfg(test)]
mod tests;
