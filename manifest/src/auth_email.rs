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

/// The longest `redirect_to` considered.
pub const MAX_REDIRECT_LEN: usize = 2048;

impl AuthLinks {
    /// Whether a link may send the browser to `url`: the site URL (or under it), or a match
    /// of one of the redirect URLs. A URL with credentials (`user@host`), a backslash,
    /// whitespace or control characters, or longer than [`MAX_REDIRECT_LEN`], never is.
    pub fn allows(&self, url: &str) -> bool {
        if url.len() > MAX_REDIRECT_LEN
            || url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return false;
        }
        let Some((_, authority, _)) = split_url(url) else {
            return false;
        };
        if authority.contains('@') {
            return false;
        }
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

/// `scheme://authority/rest` as its three parts; the rest keeps its leading `/`, `?` or `#`.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, &rest[..end], &rest[end..]))
}

/// One of `[auth] redirect_urls`: an exact URL, or a Supabase-style glob. In the host and
/// port, `*` stands for a run of characters other than `.`, `:`, `/`, `@` and the like (so
/// `https://*.example.com` is one label under example.com, never another host); in the path,
/// `*` is a run without `/` and `**` any run at all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RedirectPattern(String);

impl TryFrom<String> for RedirectPattern {
    type Error = String;

    fn try_from(pattern: String) -> Result<Self, String> {
        let Some((scheme, authority, _)) = split_url(&pattern) else {
            return Err(format!(
                "redirect URL `{pattern}` needs a scheme, like https://app.example.com/**"
            ));
        };
        if scheme.is_empty() || scheme.contains('*') {
            return Err(format!("redirect URL `{pattern}` needs a literal scheme"));
        }
        let host = authority.split(':').next().unwrap_or_default();
        // Right of the last wildcard label, two literal labels (a registrable domain, not
        // just `com`); a host without a wildcard needs one.
        let labels: Vec<&str> = host.split('.').collect();
        let after_wildcard = labels
            .iter()
            .rev()
            .take_while(|label| !label.contains('*'))
            .filter(|label| !label.is_empty())
            .count();
        let named = if labels.iter().any(|label| label.contains('*')) {
            after_wildcard >= 2
        } else {
            after_wildcard >= 1
        };
        if authority.contains("**") || authority.contains('@') || !named {
            return Err(format!(
                "redirect URL `{pattern}` must name its host: a wildcard may stand for one label or the port, never the whole host (it would let a link send tokens anywhere)"
            ));
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("redirect URL `{pattern}` contains whitespace"));
        }
        if pattern.matches("**").count() > 2 {
            return Err(format!(
                "redirect URL `{pattern}` has more than two `**`; one at the end of the path is usual"
            ));
        }
        Ok(Self(pattern))
    }
}

impl RedirectPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `url` matches: the same scheme, the authority label by label, the path by
    /// its glob (a pattern without a path takes the bare URL or `/`).
    pub fn matches(&self, url: &str) -> bool {
        let (Some((scheme, authority, rest)), Some((p_scheme, p_authority, p_rest))) =
            (split_url(url), split_url(&self.0))
        else {
            return false;
        };
        let rest_matches = if p_rest.is_empty() {
            rest.is_empty() || rest == "/"
        } else {
            glob(p_rest.as_bytes(), rest.as_bytes(), b"/")
        };
        scheme == p_scheme
            && glob(p_authority.as_bytes(), authority.as_bytes(), b"./:@?#[]\\")
            && rest_matches
    }
}

/// Matches `text` against `pattern`, where `*` is a run of bytes not in `stops` and `**` any
/// run. The pattern is short and operator-written; `text` is at most [`MAX_REDIRECT_LEN`].
fn glob(pattern: &[u8], text: &[u8], stops: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob(rest, &text[i..], stops)),
        [b'*', rest @ ..] => {
            let run = text
                .iter()
                .position(|c| stops.contains(c))
                .unwrap_or(text.len());
            (0..=run).any(|i| glob(rest, &text[i..], stops))
        }
        [c, rest @ ..] => text.first() == Some(c) && glob(rest, &text[1..], stops),
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
    /// The code that confirms a password change (`reauthenticate`).
    Reauthentication,
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
    /// Whether changing a password needs the code `reauthenticate` mails (the `nonce`) when
    /// the user last signed in more than a day ago, as Supabase's "secure password change"
    /// (default false, as there).
    #[serde(default)]
    pub secure_password_change: bool,
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
            secure_password_change: false,
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
        let one_label = pattern("https://*.example.com/cb");
        assert!(one_label.matches("https://app.example.com/cb"));
        assert!(!one_label.matches("https://evil.com/x.example.com/cb"));
        assert!(!one_label.matches("https://a.b.example.com/cb"));
        assert!(pattern("myapp://callback").matches("myapp://callback"));
        assert!(!pattern("myapp://callback").matches("myapp://callback/x"));
        let any_port = pattern("http://localhost:*/**");
        assert!(any_port.matches("http://localhost:5173/cb"));
        for bad in [
            "localhost:3000",
            "https://**",
            "*://x",
            "https://",
            "https://*/x",
            "https://app**",
            "https://*.com/**",
            "https://a/**/**/**/x",
        ] {
            assert!(RedirectPattern::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_glob_lets_a_url_name_another_host() {
        let links = AuthLinks {
            site_url: None,
            redirect_urls: vec![
                pattern("http://localhost:*/**"),
                pattern("https://preview-*.example.com/**"),
            ],
        };
        for hostile in [
            "http://localhost:x@1572395042/",
            "http://localhost:1@evil.com/",
            "https://preview-x@[2001:db8::1]?.example.com/",
            "https://preview-x.evil.com/.example.com/",
            "http://localhost:5173\\@evil.com/",
            "http://localhost:5173/\nx",
        ] {
            assert!(!links.allows(hostile), "{hostile}");
        }
        assert!(links.allows("https://preview-42.example.com/cb"));
        assert!(!links.allows(&format!(
            "http://localhost:1/{}",
            "a".repeat(MAX_REDIRECT_LEN)
        )));
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
