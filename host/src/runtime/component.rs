//! Loading one component: compile (or load from cache), check its imports against its grants,
//! link only what it was granted, and pre-instantiate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use tokio::sync::Semaphore;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

use super::engine::Runtime;
use super::kept::{HttpReady, KeptInstances, Ready};
use super::state::InvocationState;
use crate::bindings::types::TriggerKind;
use crate::bindings::{event_handler, http_handler};
use crate::capabilities::outbound::OutboundPolicy;
use crate::capabilities::{Grants, Interface, Services, kv, platform_interfaces};
use crate::manifest::{ComponentSpec, Manifest, ManifestError};

/// A monotonic clock in milliseconds since this process first asked.
fn process_clock() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The export a record-based HTTP handler provides.
const HTTP_HANDLER_EXPORT: &str = "nimbus:platform/http-handler";
/// The export a standard `wasi:http/proxy` component provides.
const WASI_HTTP_EXPORT: &str = "wasi:http/incoming-handler";
/// The export an event handler provides.
pub const EVENT_HANDLER_EXPORT: &str = "nimbus:platform/event-handler";

/// How a component is called: its linked code and the handlers it exports.
pub struct Entry {
    pre: InstancePre<InvocationState>,
    http: Option<HttpExport>,
    events: Option<event_handler::GuestIndices>,
}

/// Which HTTP handler a component exports.
enum HttpExport {
    /// `nimbus:platform/http-handler`.
    Handler(http_handler::GuestIndices),
    /// `wasi:http/incoming-handler`.
    Proxy(ProxyIndices),
}

/// How a component serves HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind {
    /// With the record-based handler.
    Handler,
    /// As a standard `wasi:http` component.
    Proxy,
}

impl Entry {
    /// How it serves HTTP, if it does.
    pub fn http(&self) -> Option<HttpKind> {
        self.http.as_ref().map(|export| match export {
            HttpExport::Handler(_) => HttpKind::Handler,
            HttpExport::Proxy(_) => HttpKind::Proxy,
        })
    }

    /// Whether it exports the event handler.
    pub fn handles_events(&self) -> bool {
        self.events.is_some()
    }

    /// A new instance in `store`, with its handlers looked up.
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<InvocationState>,
    ) -> wasmtime::Result<Ready> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let http = match &self.http {
            Some(HttpExport::Handler(indices)) => {
                Some(HttpReady::Handler(indices.load(&mut *store, &instance)?))
            }
            Some(HttpExport::Proxy(indices)) => {
                Some(HttpReady::Proxy(indices.load(&mut *store, &instance)?))
            }
            None => None,
        };
        let events = match &self.events {
            Some(indices) => Some(indices.load(&mut *store, &instance)?),
            None => None,
        };
        Ok(Ready { http, events })
    }
}

/// A component ready to serve: pre-instantiated, with its grants and limits.
pub struct LoadedComponent {
    /// The `[app] name` of the app it belongs to.
    pub app: Arc<str>,
    /// Its manifest entry.
    pub spec: ComponentSpec,
    /// Hex SHA-256 of its code.
    pub digest: String,
    /// How to call it: `None` while its compiled code is given back (scaled to zero).
    code: ArcSwapOption<Entry>,
    /// Its linker, kept to link the code again after a scale to zero.
    linker: Linker<InvocationState>,
    /// When an invocation last began, in milliseconds since [`process_clock`]'s start; kept
    /// only for components with `instances.idle_timeout`.
    last_used: AtomicU64,
    /// Held while its code is loaded again, so that requests arriving together after a scale
    /// to zero load it once.
    reloading: std::sync::Mutex<()>,
    pub(crate) grants: Grants,
    pub(crate) outbound: Arc<OutboundPolicy>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) concurrency: Arc<Semaphore>,
    /// Its idle kept instances (warm or provisioned); dropped with the component.
    pub kept: Arc<KeptInstances>,
    /// Its Prometheus series for each trigger kind, registered when first used.
    metrics: [OnceLock<crate::metrics::ComponentMetrics>; 5],
}

pub use crate::bindings::PLATFORM_VERSION;

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

/// Checks every import of `component` against what the host offers and `spec` grants,
/// before any linking, so the error can say exactly which manifest key is missing.
fn check_imports(
    manifest: &Manifest,
    spec: &ComponentSpec,
    component: &Component,
    runtime: &Runtime,
    interfaces: &[Interface<InvocationState>],
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
        let message = match interfaces.iter().find(|i| i.name == interface) {
            Some(offered) if (offered.granted)(spec) => continue,
            Some(offered) => format!(
                "component `{}` imports `{interface}` but is not granted it; add `{}` to [component.{}]",
                spec.name, offered.grant, spec.name
            ),
            None => format!(
                "component `{}` imports `{name}`, which nimbus does not provide; nimbus offers wasi:cli, wasi:clocks, wasi:random, wasi:io, wasi:filesystem, wasi:sockets, wasi:http and {}",
                spec.name,
                interfaces
                    .iter()
                    .map(|i| i.name)
                    .collect::<Vec<_>>()
                    .join(", ")
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
    services: &Services,
    interfaces: &[Interface<InvocationState>],
) -> wasmtime::Result<Linker<InvocationState>> {
    let mut linker = Linker::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    kv::add_types_to_linker(&mut linker)?;
    for interface in interfaces.iter().filter(|i| (i.granted)(spec)) {
        (interface.link)(&mut linker, services)?;
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
        let interfaces = platform_interfaces::<InvocationState>();
        check_imports(manifest, spec, &component, runtime, &interfaces)?;
        let linker = linker_for(spec, runtime, services, &interfaces)
            .map_err(|e| fail(format!("component `{}`: cannot link: {e:#}", spec.name)))?;
        let entry = entry_of(&linker, &component, runtime)
            .map_err(|e| fail(format!("component `{}`: {e}", spec.name)))?;
        if !spec.routes.is_empty() && entry.http().is_none() {
            return Err(manifest.error_at_component(
                spec,
                format!(
                    "component.{}.routes: the component exports no HTTP handler (`{HTTP_HANDLER_EXPORT}` or `{WASI_HTTP_EXPORT}`), so its routes could not invoke it; build it for the `http-app` or `app` world, or remove its routes",
                    spec.name
                ),
            ));
        }
        if let Some(trigger) = manifest.triggers_of(&spec.name).next()
            && !entry.handles_events()
        {
            return Err(manifest.error_at_trigger(
                trigger,
                format!(
                    "{}: component `{}` does not export `{EVENT_HANDLER_EXPORT}`, so no event can invoke it; build it for the `event-app` or `app` world",
                    trigger.key(),
                    spec.name
                ),
            ));
        }
        let loaded = Self {
            app: Arc::from(manifest.app.as_str()),
            digest,
            grants: Grants::configure(manifest, spec, services),
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
            kept: runtime.kept().register(),
            code: ArcSwapOption::from_pointee(entry),
            linker,
            last_used: AtomicU64::new(process_clock()),
            reloading: std::sync::Mutex::new(()),
            metrics: Default::default(),
            spec: spec.clone(),
        };
        // Its series are registered now, not on a first request, so that they exist (at zero)
        // from the start and cost nothing on a request's path.
        if !spec.routes.is_empty() {
            loaded.metrics(TriggerKind::Http);
        }
        for trigger in manifest.triggers_of(&spec.name) {
            loaded.metrics(match trigger.source {
                crate::manifest::TriggerSource::Queue { .. } => TriggerKind::Queue,
                crate::manifest::TriggerSource::Cron { .. } => TriggerKind::Schedule,
                crate::manifest::TriggerSource::Object { .. } => TriggerKind::Object,
                crate::manifest::TriggerSource::Kv { .. } => TriggerKind::Kv,
            });
        }
        Ok(loaded)
    }
}

/// The callable entry of `component` linked by `linker`: its HTTP handler (record-based or
/// `wasi:http`) and its event handler, whichever it exports.
fn entry_of(
    linker: &Linker<InvocationState>,
    component: &Component,
    runtime: &Runtime,
) -> Result<Entry, String> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| format!("cannot link its imports: {e:#}"))?;
    let exports: Vec<String> = component
        .component_type()
        .exports(runtime.engine())
        .map(|(name, _)| without_version(name).to_string())
        .collect();
    let exported = |name: &str| exports.iter().any(|e| e == name);
    let http = if exported(HTTP_HANDLER_EXPORT) {
        Some(HttpExport::Handler(
            http_handler::GuestIndices::new(&pre).map_err(|e| format!("{e:#}"))?,
        ))
    } else if exported(WASI_HTTP_EXPORT) {
        Some(HttpExport::Proxy(
            ProxyIndices::new(&pre).map_err(|e| format!("{e:#}"))?,
        ))
    } else {
        None
    };
    let events = if exported(EVENT_HANDLER_EXPORT) {
        Some(event_handler::GuestIndices::new(&pre).map_err(|e| format!("{e:#}"))?)
    } else {
        None
    };
    if http.is_none() && events.is_none() {
        return Err(format!(
            "exports none of `{HTTP_HANDLER_EXPORT}`, `{WASI_HTTP_EXPORT}` or `{EVENT_HANDLER_EXPORT}` (it exports: {}), so nothing can invoke it",
            if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            }
        ));
    }
    Ok(Entry { pre, http, events })
}

impl LoadedComponent {
    /// Its Prometheus series for invocations started by `trigger`.
    pub(crate) fn metrics(&self, trigger: TriggerKind) -> &crate::metrics::ComponentMetrics {
        let index = match trigger {
            TriggerKind::Http => 0,
            TriggerKind::Queue => 1,
            TriggerKind::Schedule => 2,
            TriggerKind::Object => 3,
            TriggerKind::Kv => 4,
        };
        self.metrics[index].get_or_init(|| {
            crate::metrics::ComponentMetrics::new(
                &self.spec.name,
                super::invoker::trigger_name(trigger),
            )
        })
    }

    /// Its callable code, and whether it had to be loaded again first (a cold start: the
    /// component had scaled to zero). Reloading loads the compiled code of exactly this
    /// version (its digest) from the code cache; a component scales to zero only while the
    /// cache holds that code.
    pub fn code(&self, runtime: &Runtime) -> Result<(Arc<Entry>, bool), String> {
        if self.spec.instances.idle_timeout.is_some() {
            self.last_used.store(process_clock(), Ordering::Relaxed);
        }
        if let Some(entry) = self.code.load_full() {
            return Ok((entry, false));
        }
        let _one_at_a_time = self.reloading.lock();
        if let Some(entry) = self.code.load_full() {
            return Ok((entry, false));
        }
        let (component, _) = runtime
            .load_component(&self.spec.source, Some(&self.digest))
            .map_err(|e| format!("cannot load its compiled code again: {e}"))?;
        let entry = Arc::new(entry_of(&self.linker, &component, runtime)?);
        self.code.store(Some(Arc::clone(&entry)));
        Ok((entry, true))
    }

    /// Gives back its compiled code if it has been idle for `idle` with nothing kept and
    /// nothing running; the next invocation loads it again. Returns whether it did.
    pub fn scale_to_zero(&self, idle: Duration, runtime: &Runtime) -> bool {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let quiet =
            process_clock().saturating_sub(self.last_used.load(Ordering::Relaxed)) >= idle_ms;
        let running =
            self.concurrency.available_permits() < self.spec.limits.max_concurrency as usize;
        if !quiet
            || running
            || !self.kept.is_empty()
            || self.code.load().is_none()
            || !runtime.has_cached(&self.digest)
        {
            return false;
        }
        self.code.store(None);
        true
    }
}
