//! `nimbus.toml`: parsing, validation and the resolved model the host runs, and the route
//! matcher its routes use. Pure logic with no runtime in it, so that it can be property-tested
//! and fuzzed on its own.
//!
//! Parsing rejects unknown keys and bad values with their line and column (see [`schema`]);
//! checks across keys (duplicate routes, missing files) come after, still naming file, line
//! and key.

mod auth_email;
mod build;
mod cors;
mod error;
mod functions;
mod grants;
mod instances;
mod rate_limit;
pub mod routes;
mod schema;
mod triggers;
mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use auth_email::{
    AuthEmail, AuthLinks, MailTemplate, RedirectPattern, TEMPLATE_PLACEHOLDERS, TemplateKind,
};
pub use build::BuildSpec;
pub use cors::{Cors, CorsOrigins};
pub use error::ManifestError;
pub use grants::{
    AuthGrant, BucketAccess, BucketMode, ContentTypePattern, RESERVED_BUCKET_NAMES, RouteAuth,
};
pub use instances::Instances;
pub use rate_limit::{RateLimit, RateLimitKey};
pub use schema::{ForwardedHeader, Name, OutboundHost, SecretName};
pub use triggers::{
    CatchUp, QueueName, Retry, TriggerSource, TriggerSpec, check_schedule, is_queue_name,
};
pub use units::{ByteSize, HumanDuration};

use serde_spanned::Spanned;

use crate::routes::RoutePattern;

/// The file name `nimbus up DIR` looks for.
pub const MANIFEST_FILE: &str = "nimbus.toml";
/// `limits.timeout` when unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// `limits.memory` when unset.
pub const DEFAULT_MEMORY: u64 = 128 << 20;
/// Instances one worker process holds at once (its pool): the ceiling of every
/// `limits.max_concurrency`, and of all of them together.
pub const INSTANCES_PER_PROCESS: u32 = 1000;
/// `limits.max_concurrency` when unset: a tenth of a worker process' instance pool, so that
/// one busy component cannot take every slot.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 100;
/// `limits.outbound_requests` when unset (Workers allows 50 subrequests on its free plan).
pub const DEFAULT_OUTBOUND_REQUESTS: u32 = 50;
/// `limits.outbound_timeout` when unset.
pub const DEFAULT_OUTBOUND_TIMEOUT: Duration = Duration::from_secs(30);
/// `limits.log_lines` when unset.
pub const DEFAULT_LOG_LINES: u32 = 100;
/// A bucket's `max_size` when unset (Supabase's default too).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 50 << 20;
/// `[auth] access_token_ttl` when unset.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

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
    /// `[bucket.NAME]` tables in name order.
    pub buckets: Vec<BucketSpec>,
    /// `[auth] access_token_ttl`.
    pub access_token_ttl: Duration,
    /// `[auth] anonymous`: a signup without email or password makes an anonymous user.
    pub anonymous_sign_in: bool,
    /// `[auth] site_url` and `redirect_urls`: where email links may send the browser.
    pub auth_links: AuthLinks,
    /// `[auth.email]`: the sender, sign-up confirmation and the mail templates.
    pub auth_email: AuthEmail,
    /// `[app] require_api_key`: refuse requests without the app's publishable key.
    pub require_api_key: bool,
    /// `[app] trusted_proxies`: networks whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `[app] metrics`: serve `GET /metrics` (Prometheus) on the app's own port.
    pub metrics: bool,
    /// `[app] forwarded_header`: which header the trusted proxies name the client in; only
    /// that one is read (a client could add the other).
    pub forwarded_header: ForwardedHeader,
    /// `[app] cors`: the browser origins allowed; none when absent.
    pub cors: Option<Cors>,
    /// `[[trigger.*]]` in the order written, queue triggers first.
    pub triggers: Vec<TriggerSpec>,
    /// Every queue: consumed by a trigger, a trigger's `dead_letter`, or granted.
    pub queues: BTreeSet<String>,
    text: String,
}

/// One `[bucket.NAME]`.
#[derive(Debug, Clone)]
pub struct BucketSpec {
    /// NAME.
    pub name: String,
    /// Who may use it over HTTP.
    pub access: BucketAccess,
    /// Largest object, in bytes.
    pub max_size: u64,
    /// Content types accepted; empty for any.
    pub content_types: Vec<ContentTypePattern>,
}

impl BucketSpec {
    /// Whether an object of `content_type` may be stored.
    pub fn accepts(&self, content_type: &str) -> bool {
        self.content_types.is_empty() || self.content_types.iter().any(|p| p.matches(content_type))
    }
}

/// One route of a component.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The pattern.
    pub pattern: RoutePattern,
    /// Whether it needs a bearer token.
    pub auth: RouteAuth,
    /// Its `rate_limit`, or its component's.
    pub rate_limit: Option<RateLimit>,
}

/// One `[component.NAME]`.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// The NAME of `[component.NAME]`.
    pub name: String,
    /// The `.wasm` file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// What `nimbus build` runs to make `source`.
    pub build: Option<BuildSpec>,
    /// HTTP routes that invoke it.
    pub routes: Vec<RouteSpec>,
    /// Stores granted by `key_value`.
    pub key_value: BTreeSet<String>,
    /// Buckets granted by `buckets`, with what it may do in each.
    pub buckets: BTreeMap<String, BucketMode>,
    /// `auth`: what it may do with the app's users.
    pub auth: AuthGrant,
    /// Outbound HTTP origins granted by `allowed_outbound_hosts`.
    pub allowed_outbound_hosts: Vec<OutboundHost>,
    /// `config`, passed to the guest as its environment and through WIT `config`.
    pub config: BTreeMap<String, String>,
    /// Secrets granted by `secrets`, read through WIT `config`.
    pub secrets: BTreeSet<String>,
    /// `[component.NAME.limits]` with defaults applied.
    pub limits: Limits,
    /// `[component.NAME.instances]` with defaults applied.
    pub instances: Instances,
    /// Queues granted by `queues`, which it may publish to.
    pub queues: BTreeSet<String>,
    /// `idempotency`: its routes honour an `Idempotency-Key` header on writes.
    pub idempotency: bool,
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
    /// Invocations in flight at once, in each worker process.
    pub max_concurrency: u32,
    /// Outbound HTTP requests one invocation may make.
    pub outbound_requests: u32,
    /// Longest wait for an outbound request to connect, for its first response byte, and
    /// between two body chunks.
    pub outbound_timeout: Duration,
    /// Lines of guest output one invocation may write to the host log.
    pub log_lines: u32,
}

/// The built-in API whose paths `pattern` would only ever match (the host answers those
/// before the app's routes), if any: `/metrics` only when the app serves it.
fn built_in_api(pattern: &RoutePattern, metrics_served: bool) -> Option<&'static str> {
    const BUILT_IN: [(&[&str], &str); 5] = [
        (&["auth", "v1"], "`/auth/v1` (the auth API)"),
        (&["storage", "v1"], "`/storage/v1` (the storage API)"),
        (&["queue", "v1"], "`/queue/v1` (the queue API)"),
        (&["admin", "v1"], "`/admin/v1` (the admin API)"),
        (&["healthz"], "`/healthz`"),
    ];
    if metrics_served && pattern.starts_with(&["metrics"]) {
        return Some("`/metrics` (`[app] metrics = true`)");
    }
    BUILT_IN
        .iter()
        .find(|(prefix, _)| pattern.starts_with(prefix))
        .map(|(_, api)| *api)
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
        let mut raw_buckets = BTreeMap::new();
        for (name, bucket) in raw.bucket {
            if RESERVED_BUCKET_NAMES.contains(&name.get_ref().0.as_str()) {
                return Err(ManifestError::at(
                    path,
                    &text,
                    name.span().start,
                    format!(
                        "bucket.{}: `{}` is reserved by the storage API ({}); choose another name",
                        name.get_ref().0,
                        name.get_ref().0,
                        RESERVED_BUCKET_NAMES.join(", ")
                    ),
                ));
            }
            raw_buckets.insert(name.into_inner(), bucket);
        }
        let mut components = Vec::new();
        let mut provisioned = 0u64;
        let mut seen_routes: Vec<(RoutePattern, String)> = Vec::new();
        let metrics_served = raw.app.metrics;
        let functions = functions::check(&raw.app.functions, &raw.component)
            .map_err(|(at, message)| ManifestError::at(path, &text, at, message))?;
        for (name, component) in raw.component {
            let table_span = component.span();
            let name = name.into_inner().0;
            let raw = component.into_inner();
            for route in &raw.routes {
                let pattern = &route.get_ref().pattern;
                if let Some((_, owner)) = seen_routes.iter().find(|(seen, _)| seen.same_as(pattern))
                {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        route.span().start,
                        format!(
                            "component.{name}.routes: route `{pattern}` is already taken by component `{owner}`; each route may invoke one component",
                        ),
                    ));
                }
                if let Some(api) = built_in_api(pattern, metrics_served) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        route.span().start,
                        format!(
                            "component.{name}.routes: route `{pattern}` lies under {api}, which the host serves itself; choose another path",
                        ),
                    ));
                }
                seen_routes.push((pattern.clone(), name.clone()));
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
            let mut queues = BTreeSet::new();
            for queue in raw.queues {
                if !queues.insert(queue.get_ref().0.clone()) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        queue.span().start,
                        format!(
                            "component.{name}.queues: queue `{}` is listed twice",
                            queue.get_ref().0
                        ),
                    ));
                }
            }
            let mut secrets = BTreeSet::new();
            for secret in raw.secrets {
                if !secrets.insert(secret.get_ref().0.clone()) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        secret.span().start,
                        format!(
                            "component.{name}.secrets: secret `{}` is listed twice",
                            secret.get_ref().0
                        ),
                    ));
                }
                if raw.config.contains_key(&secret.get_ref().0) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        secret.span().start,
                        format!(
                            "component.{name}.secrets: `{}` is also a `config` key; a name is either declared config or a secret",
                            secret.get_ref().0
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
            if raw
                .limits
                .max_concurrency
                .is_some_and(|n| n > INSTANCES_PER_PROCESS)
            {
                return Err(ManifestError::at(
                    path,
                    &text,
                    table_span.start,
                    format!(
                        "component.{name}.limits.max_concurrency: at most {} (the instances one worker process holds)",
                        INSTANCES_PER_PROCESS
                    ),
                ));
            }
            let max_concurrency = raw
                .limits
                .max_concurrency
                .unwrap_or(DEFAULT_MAX_CONCURRENCY);
            let instances = raw
                .instances
                .resolve(&name, max_concurrency)
                .map_err(|message| ManifestError::at(path, &text, table_span.start, message))?;
            provisioned += u64::from(instances.min);
            if provisioned > u64::from(INSTANCES_PER_PROCESS) {
                return Err(ManifestError::at(
                    path,
                    &text,
                    table_span.start,
                    format!(
                        "component.{name}.instances.min: the components' `min` add up to {provisioned}, more than the {INSTANCES_PER_PROCESS} instances one worker process holds"
                    ),
                ));
            }
            for bucket in raw.buckets.keys() {
                if !raw_buckets.contains_key(bucket) {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        table_span.start,
                        format!(
                            "component.{name}.buckets: bucket `{}` is not declared; add a [bucket.{}] table with its `access`",
                            bucket.0, bucket.0
                        ),
                    ));
                }
            }
            let default_auth = if raw.auth_required {
                RouteAuth::Required
            } else {
                RouteAuth::None
            };
            let component_limit = match &raw.rate_limit {
                Some(limit) => Some(limit.get_ref().resolve().map_err(|why| {
                    ManifestError::at(
                        path,
                        &text,
                        limit.span().start,
                        format!("component.{name}.rate_limit: {why}"),
                    )
                })?),
                None => None,
            };
            let mut routes = Vec::with_capacity(raw.routes.len());
            for route in raw.routes {
                let at = route.span().start;
                let route = route.into_inner();
                let auth = route.auth.unwrap_or(default_auth);
                let rate_limit = match &route.rate_limit {
                    Some(limit) => Some(limit.resolve().map_err(|why| {
                        ManifestError::at(
                            path,
                            &text,
                            at,
                            format!(
                                "component.{name}.routes: `{}`: rate_limit: {why}",
                                route.pattern
                            ),
                        )
                    })?),
                    None => component_limit,
                };
                if rate_limit.is_some_and(|l| l.per == RateLimitKey::User)
                    && auth != RouteAuth::Required
                {
                    let at = match (&route.rate_limit, &raw.rate_limit) {
                        (None, Some(limit)) => limit.span().start,
                        _ => at,
                    };
                    return Err(ManifestError::at(
                        path,
                        &text,
                        at,
                        format!(
                            "component.{name}: a rate limit per \"user\" needs a route that requires a token, and `{}` does not; give it auth = \"required\" or limit it per \"ip\"",
                            route.pattern
                        ),
                    ));
                }
                routes.push(RouteSpec {
                    pattern: route.pattern,
                    auth,
                    rate_limit,
                });
            }
            if let Some(at) = functions.get(&name) {
                let route = functions::route(&name, raw.auth_required, component_limit)
                    .map_err(|message| ManifestError::at(path, &text, *at, message))?;
                if let Some((_, owner)) = seen_routes
                    .iter()
                    .find(|(seen, _)| seen.same_as(&route.pattern))
                {
                    return Err(ManifestError::at(
                        path,
                        &text,
                        *at,
                        format!(
                            "app.functions: `{name}` would serve `{}`, which component `{owner}` routes already",
                            route.pattern
                        ),
                    ));
                }
                seen_routes.push((route.pattern.clone(), name.clone()));
                routes.push(route);
            }
            let source_span = raw.source.span();
            components.push(ComponentSpec {
                source: dir.join(raw.source.get_ref()),
                build: raw.build.map(|build| build.resolve(&dir)),
                routes,
                key_value,
                buckets: raw
                    .buckets
                    .into_iter()
                    .map(|(bucket, mode)| (bucket.0, mode))
                    .collect(),
                auth: raw.auth,
                allowed_outbound_hosts: raw
                    .allowed_outbound_hosts
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                config: raw.config,
                secrets,
                limits: Limits {
                    timeout: raw.limits.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
                    memory: raw.limits.memory.map_or(DEFAULT_MEMORY, |m| m.0),
                    max_concurrency,
                    outbound_requests: raw
                        .limits
                        .outbound_requests
                        .unwrap_or(DEFAULT_OUTBOUND_REQUESTS),
                    outbound_timeout: raw
                        .limits
                        .outbound_timeout
                        .map_or(DEFAULT_OUTBOUND_TIMEOUT, |t| t.0),
                    log_lines: raw.limits.log_lines.unwrap_or(DEFAULT_LOG_LINES),
                },
                instances,
                queues,
                idempotency: raw.idempotency,
                name,
                source_span,
                table_span,
            });
        }
        let triggers = resolve_triggers(raw.trigger, &components, &raw_buckets)
            .map_err(|(at, message)| ManifestError::at(path, &text, at, message))?;
        let queues = triggers
            .iter()
            .flat_map(|trigger| {
                let consumed = match &trigger.source {
                    TriggerSource::Queue { queue } => Some(queue.clone()),
                    _ => None,
                };
                consumed
                    .into_iter()
                    .chain([trigger.retry.dead_letter.clone()])
            })
            .chain(components.iter().flat_map(|c| c.queues.iter().cloned()))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            dir,
            app: raw.app.name.0,
            components,
            buckets: raw_buckets
                .into_iter()
                .map(|(name, bucket)| BucketSpec {
                    name: name.0,
                    access: bucket.access,
                    max_size: bucket.max_size.map_or(DEFAULT_MAX_OBJECT_SIZE, |s| s.0),
                    content_types: bucket.content_types,
                })
                .collect(),
            access_token_ttl: raw
                .auth
                .access_token_ttl
                .map_or(DEFAULT_ACCESS_TOKEN_TTL, |t| t.0),
            anonymous_sign_in: raw.auth.anonymous,
            auth_links: AuthLinks {
                site_url: raw.auth.site_url.map(|url| url.0),
                redirect_urls: raw.auth.redirect_urls,
            },
            auth_email: raw.auth.email,
            require_api_key: raw.app.require_api_key,
            trusted_proxies: raw.app.trusted_proxies.into_iter().map(|p| p.0).collect(),
            metrics: raw.app.metrics,
            cors: raw.app.cors,
            forwarded_header: raw.app.forwarded_header,
            triggers,
            queues,
            text,
        })
    }

    /// An error located at `trigger`'s table.
    pub fn error_at_trigger(&self, trigger: &TriggerSpec, message: String) -> ManifestError {
        ManifestError::at(&self.path, &self.text, trigger.span.start, message)
    }

    /// Queues that no `[[trigger.queue]]` consumes and no trigger dead-letters to, each with
    /// the dead-letter queue (`QUEUE.dead`) its messages go to when their retention is up.
    pub fn unconsumed_queues(&self) -> Vec<(String, String)> {
        self.queues
            .iter()
            .filter(|queue| {
                !self.triggers.iter().any(|t| {
                    t.retry.dead_letter == **queue
                        || matches!(&t.source, TriggerSource::Queue { queue: q } if q == *queue)
                })
            })
            .filter(|queue| !queue.ends_with(".dead"))
            .map(|queue| (queue.clone(), format!("{queue}.dead")))
            .collect()
    }

    /// Every dead-letter queue: the triggers' `dead_letter`s, and those of the queues nothing
    /// consumes.
    pub fn dead_letter_queues(&self) -> BTreeSet<String> {
        self.triggers
            .iter()
            .map(|t| t.retry.dead_letter.clone())
            .chain(self.unconsumed_queues().into_iter().map(|(_, dead)| dead))
            .collect()
    }

    /// The triggers that start `component`.
    pub fn triggers_of<'a>(&'a self, component: &'a str) -> impl Iterator<Item = &'a TriggerSpec> {
        self.triggers
            .iter()
            .filter(move |t| t.component == component)
    }

    /// The `[bucket.NAME]` called `name`.
    pub fn bucket(&self, name: &str) -> Option<&BucketSpec> {
        self.buckets.iter().find(|b| b.name == name)
    }

    /// The manifest's text, as it was parsed.
    pub fn text(&self) -> &str {
        &self.text
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

/// The triggers, checked against the components, buckets and stores they name.
fn resolve_triggers(
    raw: triggers::RawTriggers,
    components: &[ComponentSpec],
    buckets: &BTreeMap<Name, schema::RawBucket>,
) -> Result<Vec<TriggerSpec>, (usize, String)> {
    let known: Vec<(String, Duration, u32)> = components
        .iter()
        .map(|c| (c.name.clone(), c.limits.timeout, c.limits.max_concurrency))
        .collect();
    let buckets: BTreeSet<String> = buckets.keys().map(|name| name.0.clone()).collect();
    let triggers = raw.resolve(&triggers::Context {
        components: &known,
        buckets: &buckets,
    })?;
    for trigger in &triggers {
        if let TriggerSource::Kv { store, .. } = &trigger.source
            && !components.iter().any(|c| c.key_value.contains(store))
        {
            return Err((
                trigger.span.start,
                format!(
                    "trigger.kv: store `{store}` is not used by any component; grant it with `key_value = [\"{store}\"]` where it is written"
                ),
            ));
        }
    }
    Ok(triggers)
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
mod properties;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trigger_tests;
