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
mod parse;
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
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(path, text)
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

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trigger_tests;
