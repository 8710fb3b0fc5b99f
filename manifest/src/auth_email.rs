//! `[auth] site_url` and `redirect_urls`, where email links may send the browser, and
//! `[auth.email]`: the sender, whether sign-ups confirm their email, and the mail templates.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Where email links may send the browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthLinks {
    /// `[auth] site_url`: where a link sends the browser when the request named no
    /// `redirect_to`; always allowed.
    pub site_url: Option<String>,
    /// `[auth] redirect_urls`: what else a `redirect_to` may be.
    pub redirect_urls: Vec<RedirectPattern>,
}

impl AuthLinks {
    /// Whether a link may send the browser to `url`: the site URL (or under it), or a match
    /// of one of the redirect URLs.
    pub fn allows(&self, url: &str) -> bool {
        let under_site = self.site_url.as_deref().is_some_and(|site| {
            let site = site.trim_end_matches('/');
            url == site
                || url
                    .strip_prefix(site)
                    .is_some_and(|rest| rest.starts_with(['/', '?', '#']))
        });
        under_site || self.redirect_urls.iter().any(|p| p.matches(url))
    }
}

/// One of `[auth] redirect_urls`: an exact URL, or a Supabase-style glob where `*` stands for
/// any run of characters other than `/` and `.`, and `**` for any run at all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RedirectPattern(String);

impl TryFrom<String> for RedirectPattern {
    type Error = String;

    fn try_from(pattern: String) -> Result<Self, String> {
        let (scheme, rest) = pattern.split_once("://").ok_or_else(|| {
            format!("redirect URL `{pattern}` needs a scheme, like https://app.example.com/**")
        })?;
        if scheme.is_empty() || scheme.contains('*') {
            return Err(format!("redirect URL `{pattern}` needs a literal scheme"));
        }
        if rest.is_empty() || rest.starts_with('*') && scheme.starts_with("http") {
            return Err(format!(
                "redirect URL `{pattern}` must name its host: a wildcard host would let a link send tokens anywhere"
            ));
        }
        if pattern.chars().any(char::is_whitespace) {
            return Err(format!("redirect URL `{pattern}` contains whitespace"));
        }
        Ok(Self(pattern))
    }
}

impl RedirectPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `url` matches.
    pub fn matches(&self, url: &str) -> bool {
        glob(self.0.as_bytes(), url.as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let run = text
                .iter()
                .position(|c| *c == b'/' || *c == b'.')
                .unwrap_or(text.len());
            (0..=run).any(|i| glob(rest, &text[i..]))
        }
        [c, rest @ ..] => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The mails the auth flows send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// Confirm a sign-up.
    Confirmation,
    /// An invitation.
    Invite,
    /// A magic link and code.
    MagicLink,
    /// Reset a password.
    Recovery,
    /// Confirm a new email address.
    EmailChange,
}

/// A mail's subject and body, with Supabase's placeholders (`{{ .ConfirmationURL }}`,
/// `{{ .Token }}`, `{{ .TokenHash }}`, `{{ .SiteURL }}`, `{{ .Email }}`, `{{ .NewEmail }}`,
/// `{{ .RedirectTo }}`). A body starting with `<` is sent as HTML.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawTemplate")]
pub struct MailTemplate {
    /// Subject line.
    pub subject: String,
    /// Body.
    pub body: String,
}

/// The placeholders a template may use.
pub const TEMPLATE_PLACEHOLDERS: [&str; 7] = [
    "ConfirmationURL",
    "Token",
    "TokenHash",
    "SiteURL",
    "Email",
    "NewEmail",
    "RedirectTo",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    subject: String,
    body: String,
}

impl TryFrom<RawTemplate> for MailTemplate {
    type Error = String;

    fn try_from(raw: RawTemplate) -> Result<Self, String> {
        for text in [&raw.subject, &raw.body] {
            for name in placeholders(text)? {
                if !TEMPLATE_PLACEHOLDERS.contains(&name) {
                    return Err(format!(
                        "unknown placeholder `{{{{ .{name} }}}}`; use one of {}",
                        TEMPLATE_PLACEHOLDERS
                            .map(|p| format!("{{{{ .{p} }}}}"))
                            .join(", ")
                    ));
                }
            }
        }
        if raw.subject.contains(['\r', '\n']) {
            return Err("a subject is one line".into());
        }
        Ok(Self {
            subject: raw.subject,
            body: raw.body,
        })
    }
}

/// The names of the `{{ .Name }}` placeholders in `text`.
fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("a `{{` in a template is never closed with `}}`")?;
        let inner = after[..end].trim();
        let name = inner.strip_prefix('.').ok_or_else(|| {
            format!("`{{{{ {inner} }}}}` is not a placeholder like `{{{{ .Token }}}}`")
        })?;
        names.push(name);
        rest = &after[end + 2..];
    }
    Ok(names)
}

impl MailTemplate {
    /// The template with each placeholder replaced by its value in `values`.
    pub fn render(&self, values: &BTreeMap<&str, String>) -> (String, String) {
        (fill(&self.subject, values), fill(&self.body, values))
    }
}

fn fill(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim().trim_start_matches('.');
                out.push_str(values.get(name).map_or("", String::as_str));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `[auth.email]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthEmail {
    /// The `From` of every mail, `Name <address>` or an address.
    #[serde(default = "default_sender")]
    pub sender: String,
    /// Whether a sign-up must confirm its email before it may sign in (Supabase's hosted
    /// default; its local stack's, and nimbus', is false).
    #[serde(default)]
    pub confirm_signup: bool,
    /// Templates replacing the defaults, by kind.
    #[serde(default)]
    pub templates: BTreeMap<TemplateKind, MailTemplate>,
}

fn default_sender() -> String {
    "nimbus <no-reply@localhost>".into()
}

impl Default for AuthEmail {
    fn default() -> Self {
        Self {
            sender: default_sender(),
            confirm_signup: false,
            templates: BTreeMap::new(),
        }
    }
}

/// `[auth] site_url`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SiteUrl(pub String);

impl TryFrom<String> for SiteUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        check_site_url(&url)?;
        Ok(Self(url.trim_end_matches('/').to_string()))
    }
}

/// Checks `[auth] site_url`: an absolute http(s) URL.
fn check_site_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("site_url `{url}` must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(format!("site_url `{url}` must name a host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> RedirectPattern {
        RedirectPattern::try_from(text.to_string()).expect("valid pattern")
    }

    #[test]
    fn globs_match_as_supabase_documents_them() {
        let any_path = pattern("http://localhost:3000/**");
        assert!(any_path.matches("http://localhost:3000/"));
        assert!(any_path.matches("http://localhost:3000/auth/callback?next=/x"));
        assert!(!any_path.matches("http://localhost:3001/"));
        let one_segment = pattern("https://*.example.com/cb");
        assert!(one_segment.matches("https://app.example.com/cb"));
        assert!(!one_segment.matches("https://evil.com/x.example.com/cb"));
        assert!(!one_segment.matches("https://a.b.example.com/cb"));
        assert!(pattern("myapp://callback").matches("myapp://callback"));
        assert!(!pattern("myapp://callback").matches("myapp://callback/x"));
        for bad in ["localhost:3000", "https://**", "*://x", "https://"] {
            assert!(RedirectPattern::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_site_url_and_what_lies_under_it_are_allowed() {
        let links = AuthLinks {
            site_url: Some("https://app.example.com".into()),
            redirect_urls: vec![pattern("http://localhost:5173/**")],
        };
        assert!(links.allows("https://app.example.com"));
        assert!(links.allows("https://app.example.com/welcome"));
        assert!(!links.allows("https://app.example.com.evil.com/"));
        assert!(links.allows("http://localhost:5173/cb"));
        assert!(!links.allows("https://evil.com"));
    }

    #[test]
    fn templates_fill_their_placeholders_and_refuse_unknown_ones() {
        let template = MailTemplate::try_from(RawTemplate {
            subject: "Sign in to {{ .SiteURL }}".into(),
            body: "Code {{.Token}}, or {{ .ConfirmationURL }}".into(),
        })
        .expect("valid");
        let values = BTreeMap::from([
            ("SiteURL", "example".to_string()),
            ("Token", "123456".to_string()),
            ("ConfirmationURL", "https://x/verify".to_string()),
        ]);
        assert_eq!(
            template.render(&values),
            (
                "Sign in to example".to_string(),
                "Code 123456, or https://x/verify".to_string()
            )
        );
        let unknown = MailTemplate::try_from(RawTemplate {
            subject: "x".into(),
            body: "{{ .Password }}".into(),
        });
        assert!(unknown.is_err_and(|e| e.contains("Password")));
    }
}
