//! The manifest as written: serde types that reject unknown keys and validate values while
//! parsing, so that `toml` reports the line and column of the offending key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::grants::{AuthGrant, BucketAccess, BucketMode, ContentTypePattern, RawRoute};
use super::units::{ByteSize, HumanDuration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub app: RawApp,
    #[serde(default)]
    pub component: BTreeMap<Spanned<Name>, Spanned<RawComponent>>,
    #[serde(default)]
    pub bucket: BTreeMap<Spanned<Name>, RawBucket>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub trigger: crate::triggers::RawTriggers,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub name: Name,
    #[serde(default)]
    pub require_api_key: bool,
    #[serde(default)]
    pub trusted_proxies: Vec<TrustedProxy>,
    #[serde(default)]
    pub metrics: bool,
    #[serde(default)]
    pub forwarded_header: ForwardedHeader,
    pub cors: Option<crate::cors::Cors>,
    #[serde(default)]
    pub functions: Vec<Spanned<Name>>,
}

/// Which header the trusted proxies write the client's address into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// A network whose `X-Forwarded-For` is believed: `"10.0.0.5"` (one address) or
/// `"10.0.0.0/24"`; never every address.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct TrustedProxy(pub ipnet::IpNet);

impl TryFrom<String> for TrustedProxy {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let net = match text.parse::<std::net::IpAddr>() {
            Ok(address) => ipnet::IpNet::from(address),
            Err(_) => text.parse::<ipnet::IpNet>().map_err(|_| {
                format!("`{text}` is not an address or a network like \"10.0.0.0/24\"")
            })?,
        };
        if net.prefix_len() == 0 {
            return Err(format!(
                "`{text}` would believe every client's X-Forwarded-For; name your proxies' own addresses"
            ));
        }
        Ok(Self(net))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub access_token_ttl: Option<HumanDuration>,
    #[serde(default)]
    pub anonymous: bool,
    pub site_url: Option<crate::auth_email::SiteUrl>,
    #[serde(default)]
    pub redirect_urls: Vec<crate::auth_email::RedirectPattern>,
    #[serde(default)]
    pub email: crate::auth_email::AuthEmail,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBucket {
    pub access: BucketAccess,
    pub max_size: Option<ByteSize>,
    #[serde(default)]
    pub content_types: Vec<ContentTypePattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComponent {
    pub source: Spanned<String>,
    pub build: Option<crate::build::RawBuild>,
    #[serde(default)]
    pub routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub auth_required: bool,
    #[serde(default)]
    pub key_value: Vec<Spanned<Name>>,
    #[serde(default)]
    pub buckets: BTreeMap<Name, BucketMode>,
    #[serde(default)]
    pub auth: AuthGrant,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<Spanned<OutboundHost>>,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<Spanned<SecretName>>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub instances: crate::instances::RawInstances,
    pub rate_limit: Option<Spanned<crate::rate_limit::RawRateLimit>>,
    #[serde(default)]
    pub queues: Vec<Spanned<crate::triggers::QueueName>>,
    #[serde(default)]
    pub idempotency: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub timeout: Option<HumanDuration>,
    pub memory: Option<ByteSize>,
    pub max_concurrency: Option<u32>,
    pub outbound_requests: Option<u32>,
    pub outbound_timeout: Option<HumanDuration>,
    pub log_lines: Option<u32>,
}

/// An app, component or store name: 1 to 63 of `a-z`, `0-9`, `-`, `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(pub String);

impl TryFrom<String> for Name {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let mut chars = text.chars();
        let starts_well = matches!(chars.next(), Some(c) if c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if starts_well && rest_ok && text.len() <= 63 {
            Ok(Name(text))
        } else {
            Err(format!(
                "`{text}` is not a valid name; use 1-63 lowercase letters, digits, `-` or `_`, starting with a letter"
            ))
        }
    }
}

/// A secret's name, as `secrets = [...]` grants it and `nimbus secrets set` stores it: 1 to 64
/// of `A-Z`, `0-9`, `_`, starting with a letter (like an environment variable).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct SecretName(pub String);

impl TryFrom<String> for SecretName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let mut chars = text.chars();
        let starts_well = matches!(chars.next(), Some(c) if c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if starts_well && rest_ok && text.len() <= 64 {
            Ok(SecretName(text))
        } else {
            Err(format!(
                "`{text}` is not a valid secret name; use 1-64 uppercase letters, digits or `_`, starting with a letter (e.g. STRIPE_KEY)"
            ))
        }
    }
}

/// An `allowed_outbound_hosts` entry: `scheme://host[:port]`, where host may be `*` or
/// `*.domain`; or `*` alone for any host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OutboundHost(pub String);

impl TryFrom<String> for OutboundHost {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = || {
            format!(
                "`{text}` is not an outbound host; write e.g. \"https://api.example.com\", \"http://localhost:8080\", \"https://*.example.com\" or \"*\""
            )
        };
        if text == "*" {
            return Ok(OutboundHost(text));
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(invalid)?;
        if !matches!(scheme, "http" | "https" | "*") || rest.is_empty() || rest.contains('/') {
            return Err(invalid());
        }
        Ok(OutboundHost(text.to_ascii_lowercase()))
    }
}
