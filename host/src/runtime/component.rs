//! Loading one component: compile (or load from cache), check its imports against its grants,
//! link only what it was granted, and pre-instantiate.

use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::engine::Runtime;
use super::state::InvocationState;
use crate::bindings::HttpAppPre;
use crate::capabilities::Services;
use crate::capabilities::auth::{self, AuthCtx};
use crate::capabilities::kv::{self, KvCtx};
use crate::capabilities::objects::{self, ObjectsCtx};
use crate::capabilities::outbound::OutboundPolicy;
use crate::manifest::{AuthGrant, ComponentSpec, Manifest, ManifestError};

/// The export a record-based HTTP handler provides.
const HTTP_HANDLER_EXPORT: &str = "nimbus:platform/http-handler";
/// The export a standard `wasi:http/proxy` component provides.
const WASI_HTTP_EXPORT: &str = "wasi:http/incoming-handler";

/// How a component is called.
pub enum Entry {
    /// Exports `nimbus:platform/http-handler`.
    Handler(HttpAppPre<InvocationState>),
    /// Exports `wasi:http/incoming-handler`.
    Proxy(ProxyPre<InvocationState>),
}

/// A component ready to serve: pre-instantiated, with its grants and limits.
pub struct LoadedComponent {
    /// The `[app] name` of the app it belongs to.
    pub app: Arc<str>,
    /// Its manifest entry.
    pub spec: ComponentSpec,
    /// Hex SHA-256 of its code.
    pub digest: String,
    /// How to call it.
    pub entry: Entry,
    pub(crate) kv: KvCtx,
    pub(crate) auth: AuthCtx,
    pub(crate) objects: ObjectsCtx,
    pub(crate) outbound: Arc<OutboundPolicy>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) concurrency: Arc<Semaphore>,
}

/// The manifest key that grants a platform interface, for the interfaces that need one.
fn grant_key(interface: &str) -> Option<&'static str> {
    match interface {
        "nimbus:platform/key-value" => Some("key_value = [\"STORE\"]"),
        "nimbus:platform/object-store" => Some("buckets = { BUCKET = \"read-write\" }"),
        "nimbus:platform/auth" => Some("auth = \"verify\""),
        "nimbus:platform/auth-admin" => Some("auth = \"admin\""),
        _ => None,
    }
}

/// The version of the `nimbus:platform` WIT package this host implements.
pub const PLATFORM_VERSION: &str = "0.2.0";

fn without_version(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// An error for a `nimbus:platform` import or export of another package version than this
/// host's, which would otherwise fail to link with a message that does not say why.
fn version_mismatch(spec: &ComponentSpec, name: &str) -> Option<String> {
    let (interface, version) = name.split_once('@')?;
    if !interface.starts_with("nimbus:platform/") || version == PLATFORM_VERSION {
        return None;
    }
    Some(format!(
        "component `{}` was built against nimbus:platform@{version} (it uses `{name}`), but this nimbus implements nimbus:platform@{PLATFORM_VERSION}; rebuild it with the WIT files of this release (the README says what changed)",
        spec.name
    ))
}

fn is_granted(spec: &ComponentSpec, interface: &str) -> bool {
    match interface {
        "nimbus:platform/key-value" => !spec.key_value.is_empty(),
        "nimbus:platform/object-store" => !spec.buckets.is_empty(),
        "nimbus:platform/auth" => spec.auth >= AuthGrant::Verify,
        "nimbus:platform/auth-admin" => spec.auth == AuthGrant::Admin,
        _ => false,
    }
}

/// Checks every import of `component` against what the host offers and `spec` grants,
/// before any linking, so the error can say exactly which manifest key is missing.
fn check_imports(
    manifest: &Manifest,
    spec: &ComponentSpec,
    component: &Component,
    runtime: &Runtime,
) -> Result<(), ManifestError> {
    let component_type = component.component_type();
    let imports = component_type
        .imports(runtime.engine())
        .map(|(name, _)| name);
    let exports = component_type
        .exports(runtime.engine())
        .map(|(name, _)| name);
    if let Some(message) = imports
        .chain(exports)
        .find_map(|name| version_mismatch(spec, name))
    {
        return Err(manifest.error_at_component(spec, message));
    }
    for (name, _) in component.component_type().imports(runtime.engine()) {
        let interface = without_version(name);
        // Baseline WASI is linked powerless for everyone; `types` holds only type definitions.
        if interface.starts_with("wasi:") || interface == "nimbus:platform/types" {
            continue;
        }
        let message = match grant_key(interface) {
            Some(_) if is_granted(spec, interface) => continue,
            Some(key) => format!(
                "component `{}` imports `{interface}` but is not granted it; add `{key}` to [component.{}]",
                spec.name, spec.name
            ),
            None => format!(
                "component `{}` imports `{name}`, which nimbus does not provide; nimbus offers wasi:cli, wasi:clocks, wasi:random, wasi:io, wasi:filesystem, wasi:sockets, wasi:http and nimbus:platform/{{key-value, object-store, auth, auth-admin}}",
                spec.name
            ),
        };
        return Err(manifest.error_at_component(spec, message));
    }
    Ok(())
}

/// The linker for one component: baseline WASI and `wasi:http` for everyone, then only the
/// platform interfaces the manifest grants.
fn linker_for(
    spec: &ComponentSpec,
    runtime: &Runtime,
) -> wasmtime::Result<Linker<InvocationState>> {
    let mut linker = Linker::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    kv::add_types_to_linker(&mut linker)?;
    if !spec.key_value.is_empty() {
        kv::add_to_linker(&mut linker)?;
    }
    if !spec.buckets.is_empty() {
        objects::add_to_linker(&mut linker)?;
    }
    if spec.auth >= AuthGrant::Verify {
        auth::add_to_linker(&mut linker)?;
    }
    if spec.auth == AuthGrant::Admin {
        auth::add_admin_to_linker(&mut linker)?;
    }
    Ok(linker)
}

impl LoadedComponent {
    /// Loads `spec`'s component, failing with a located manifest error when it cannot serve.
    /// With `expected`, its code must have that content hash.
    pub fn load(
        manifest: &Manifest,
        spec: &ComponentSpec,
        runtime: &Runtime,
        services: &Services,
        expected: Option<&str>,
    ) -> Result<Self, ManifestError> {
        let fail = |message: String| manifest.error_at_source(spec, message);
        let (component, digest) = runtime
            .load_component(&spec.source, expected)
            .map_err(|e| fail(format!("component.{}.source: cannot load: {e}", spec.name)))?;
        check_imports(manifest, spec, &component, runtime)?;
        let linker = linker_for(spec, runtime)
            .map_err(|e| fail(format!("component `{}`: cannot link: {e:#}", spec.name)))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            fail(format!(
                "component `{}`: cannot link its imports: {e:#}",
                spec.name
            ))
        })?;
        let exports: Vec<String> = component
            .component_type()
            .exports(runtime.engine())
            .map(|(name, _)| without_version(name).to_string())
            .collect();
        let entry = if exports.iter().any(|e| e == HTTP_HANDLER_EXPORT) {
            Entry::Handler(
                HttpAppPre::new(pre)
                    .map_err(|e| fail(format!("component `{}`: {e:#}", spec.name)))?,
            )
        } else if exports.iter().any(|e| e == WASI_HTTP_EXPORT) {
            Entry::Proxy(
                ProxyPre::new(pre)
                    .map_err(|e| fail(format!("component `{}`: {e:#}", spec.name)))?,
            )
        } else {
            return Err(fail(format!(
                "component `{}` exports neither `{HTTP_HANDLER_EXPORT}` nor `{WASI_HTTP_EXPORT}` (it exports: {}), so no route can invoke it",
                spec.name,
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )));
        };
        Ok(Self {
            app: Arc::from(manifest.app.as_str()),
            digest,
            kv: KvCtx::new(
                &manifest.app,
                &spec.name,
                spec.key_value.clone(),
                Arc::clone(&services.kv),
            ),
            auth: AuthCtx::new(&spec.name, Arc::clone(&services.auth)),
            objects: ObjectsCtx::new(
                &manifest.app,
                &spec.name,
                spec.buckets
                    .iter()
                    .filter_map(|(name, mode)| {
                        manifest
                            .bucket(name)
                            .map(|bucket| (name.clone(), (*mode, bucket.clone())))
                    })
                    .collect(),
                Arc::clone(&services.objects),
                Arc::clone(&services.signer),
                spec.limits.memory,
            ),
            outbound: Arc::new(OutboundPolicy::new(
                &spec.name,
                spec.allowed_outbound_hosts.clone(),
                spec.limits.outbound_requests,
                spec.limits.outbound_timeout,
            )),
            env: spec
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            concurrency: Arc::new(Semaphore::new(spec.limits.max_concurrency as usize)),
            entry,
            spec: spec.clone(),
        })
    }
}
