//! The mails of the auth flows: a link just issued, written with the app's template for its
//! kind (or the default), with links that point at this host's public URL.

use std::collections::BTreeMap;

use nimbus_auth::{IssuedLink, LinkKind};
use nimbus_mail::Mail;

use crate::manifest::{AuthEmail, MailTemplate, Manifest, TemplateKind};

/// The template kind that writes a link of `kind`.
fn template_kind(kind: LinkKind) -> TemplateKind {
    match kind {
        LinkKind::Signup => TemplateKind::Confirmation,
        LinkKind::Invite => TemplateKind::Invite,
        LinkKind::Magiclink => TemplateKind::MagicLink,
        LinkKind::Recovery => TemplateKind::Recovery,
        LinkKind::EmailChange => TemplateKind::EmailChange,
        LinkKind::Reauthentication => TemplateKind::Reauthentication,
    }
}

/// The default subject and body of each kind, in Supabase's words.
fn default_template(kind: TemplateKind) -> MailTemplate {
    let link = |subject: &str, action: &str| MailTemplate {
        subject: subject.to_string(),
        body: format!(
            "Follow this link to {action}:\n\n{{{{ .ConfirmationURL }}}}\n\nOr enter this code: {{{{ .Token }}}}\n\nIf you did not ask for this, ignore this mail.\n"
        ),
    };
    match kind {
        TemplateKind::Confirmation => link("Confirm Your Signup", "confirm your email address"),
        TemplateKind::Invite => link("You have been invited", "accept the invitation"),
        TemplateKind::MagicLink => link("Your Magic Link", "sign in"),
        TemplateKind::Recovery => link("Reset Your Password", "reset your password"),
        TemplateKind::EmailChange => link(
            "Confirm Email Change",
            "confirm {{ .NewEmail }} as your new email address",
        ),
        TemplateKind::Reauthentication => MailTemplate {
            subject: "Confirm reauthentication".to_string(),
            body: "Enter this code to confirm: {{ .Token }}\n\nIf you did not ask for this, someone may be using your account.\n".to_string(),
        },
    }
}

/// The URL a link of `issued` points at: this host's `/auth/v1/verify`. Where it then sends
/// the browser was stored with the link, so the URL does not carry it.
pub fn verify_url(public_url: &str, issued: &IssuedLink) -> String {
    format!(
        "{}/auth/v1/verify?token={}&type={}",
        public_url.trim_end_matches('/'),
        issued.token_hash,
        issued.kind.as_str()
    )
}

/// `text` with `&`, `<`, `>`, `"` and `'` written as entities, for an HTML body.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The mail that carries `issued`.
pub fn compose(manifest: &Manifest, public_url: &str, issued: &IssuedLink) -> Mail {
    let email: &AuthEmail = &manifest.auth_email;
    let kind = template_kind(issued.kind);
    let template = email
        .templates
        .get(&kind)
        .cloned()
        .unwrap_or_else(|| default_template(kind));
    let site_url = manifest
        .auth_links
        .site_url
        .clone()
        .unwrap_or_else(|| public_url.to_string());
    let mut values = BTreeMap::from([
        ("ConfirmationURL", verify_url(public_url, issued)),
        ("Token", issued.code.clone()),
        ("TokenHash", issued.token_hash.clone()),
        ("SiteURL", site_url.clone()),
        ("Email", issued.user.email.clone()),
        ("NewEmail", issued.email.clone()),
        ("RedirectTo", issued.redirect_to.clone().unwrap_or(site_url)),
    ]);
    let (subject, _) = template.render(&values);
    // Values a client chose (its redirect URL, the metadata-free address) go into an HTML
    // body escaped, as Supabase's html/template does; the subject is a plain header.
    if template.body.trim_start().starts_with('<') {
        for value in values.values_mut() {
            *value = escape_html(value);
        }
    }
    let (_, body) = template.render(&values);
    Mail {
        from: email.sender.clone(),
        to: issued.email.clone(),
        subject,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_html_bodies_only() {
        assert_eq!(
            escape_html(r#"https://a/"><a href=//evil>"#),
            "https://a/&quot;&gt;&lt;a href=//evil&gt;"
        );
        let template = default_template(TemplateKind::Recovery);
        assert!(!template.body.trim_start().starts_with('<'));
    }
}
