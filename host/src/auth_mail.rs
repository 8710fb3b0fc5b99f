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
    }
}

/// The default subject and body of each kind, in Supabase's words.
fn default_template(kind: TemplateKind) -> MailTemplate {
    let (subject, action) = match kind {
        TemplateKind::Confirmation => ("Confirm Your Signup", "confirm your email address"),
        TemplateKind::Invite => ("You have been invited", "accept the invitation"),
        TemplateKind::MagicLink => ("Your Magic Link", "sign in"),
        TemplateKind::Recovery => ("Reset Your Password", "reset your password"),
        TemplateKind::EmailChange => (
            "Confirm Email Change",
            "confirm {{ .NewEmail }} as your new email address",
        ),
    };
    MailTemplate {
        subject: subject.to_string(),
        body: format!(
            "Follow this link to {action}:\n\n{{{{ .ConfirmationURL }}}}\n\nOr enter this code: {{{{ .Token }}}}\n\nIf you did not ask for this, ignore this mail.\n"
        ),
    }
}

/// The URL a link of `issued` points at: this host's `/auth/v1/verify`.
pub fn verify_url(public_url: &str, issued: &IssuedLink) -> String {
    let mut url = format!(
        "{}/auth/v1/verify?token={}&type={}",
        public_url.trim_end_matches('/'),
        issued.token_hash,
        issued.kind.as_str()
    );
    if let Some(redirect_to) = &issued.redirect_to {
        url.push_str("&redirect_to=");
        url.push_str(&nimbus_objects::url_encode(redirect_to));
    }
    url
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
    let values = BTreeMap::from([
        ("ConfirmationURL", verify_url(public_url, issued)),
        ("Token", issued.code.clone()),
        ("TokenHash", issued.token_hash.clone()),
        ("SiteURL", site_url.clone()),
        ("Email", issued.user.email.clone()),
        ("NewEmail", issued.email.clone()),
        ("RedirectTo", issued.redirect_to.clone().unwrap_or(site_url)),
    ]);
    let (subject, body) = template.render(&values);
    Mail {
        from: email.sender.clone(),
        to: issued.email.clone(),
        subject,
        body,
    }
}
