//! The nimbus mail service: what the auth service's flows send (confirmations, recovery,
//! magic links, email changes), through an SMTP server, or, when none is configured, into a
//! development mailbox that `nimbus mail` reads, as Supabase's local stack keeps its mails in
//! a test inbox.
#![deny(missing_docs)]

mod mailbox;
mod smtp;

pub use mailbox::{DevMailbox, MAIL_STORE, MAILBOX_KEEP, StoredMail};
pub use smtp::{SmtpConfig, SmtpMailer, SmtpSecurity};

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// The one recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The body: HTML when it starts with `<`, plain text otherwise.
    pub body: String,
}

impl Mail {
    /// Whether the body is HTML.
    pub fn is_html(&self) -> bool {
        self.body.trim_start().starts_with('<')
    }
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A sender or recipient that is no address.
    #[error("invalid address `{0}`")]
    Address(String),
    /// The SMTP server refused or could not be reached.
    #[error("the mail server failed: {0}")]
    Transport(String),
    /// The development mailbox could not store it.
    /// The failure is shown in the message, not chained as the source, so that an error
    /// printed with its causes (the CLI's) says it once.
    #[error("the development mailbox failed: {0}")]
    Mailbox(nimbus_kv::KvError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<nimbus_kv::KvError> for MailError {
    fn from(error: nimbus_kv::KvError) -> Self {
        MailError::Mailbox(error)
    }
}

/// Sends mail.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends `mail`; returns once the server accepted it (or the mailbox stored it).
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
    /// Whether mails really leave the host (false for the development mailbox).
    fn delivers(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_failure_is_named_once_with_its_causes() {
        let error = MailError::from(nimbus_kv::KvError::Storage("table locked".into()));
        assert!(std::error::Error::source(&error).is_none());
        assert_eq!(
            error.to_string(),
            "the development mailbox failed: storage failure: table locked"
        );
    }
}
