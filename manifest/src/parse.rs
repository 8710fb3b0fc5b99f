//! Reading `nimbus.toml`: TOML into the raw schema, then every check that makes it a
//! [`Manifest`], each failure located at its line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_spanned::Spanned;

use crate::routes::RoutePattern;
use crate::{
    AuthLinks, BucketSpec, ComponentSpec, DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_LOG_LINES,
    DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_OBJECT_SIZE, DEFAULT_MEMORY, DEFAULT_OUTBOUND_REQUESTS,
    DEFAULT_OUTBOUND_TIMEOUT, DEFAULT_TIMEOUT, INSTANCES_PER_PROCESS, Limits, Manifest,
    ManifestError, Name, RESERVED_BUCKET_NAMES, RateLimitKey, RouteAuth, RouteSpec, TriggerSource,
    TriggerSpec, functions, schema, triggers,
};

impl Manifest {
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
