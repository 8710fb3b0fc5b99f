//! `nimbus mail list|show`: the development mailbox, where the auth flows' mails go when the
//! host has no SMTP server (`--smtp`), as Supabase's local stack keeps them in a test inbox.

use std::path::Path;

use anyhow::Context as _;
use nimbus_mail::DevMailbox;

use crate::manifest::Manifest;
use crate::services::StoreBackend;

/// What to read from the mailbox.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MailCommand {
    /// The newest mails: id, time, recipient and subject.
    List {
        /// Only mails to this address.
        #[arg(long)]
        to: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One mail, whole.
    Show {
        /// Its id, as `list` prints it.
        id: String,
    },
}

/// Runs `command` on the mailbox of `manifest`'s app.
pub async fn mail(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: MailCommand,
) -> anyhow::Result<()> {
    let kv = crate::admin::open_kv(data, store)?;
    let mailbox = DevMailbox::new(kv, &manifest.app);
    match command {
        MailCommand::List { to, limit } => {
            let mails = mailbox
                .list(limit, to.as_deref())
                .await
                .context("cannot read the mailbox")?;
            if mails.is_empty() {
                println!(
                    "no mail (mails are kept for a day, and only when the host has no --smtp)"
                );
            }
            for mail in mails {
                println!(
                    "{}  {}  {}  {}",
                    mail.id,
                    nimbus_auth::rfc3339(mail.sent_at_ms),
                    mail.to,
                    mail.subject
                );
            }
        }
        MailCommand::Show { id } => {
            let mail = mailbox
                .show(&id)
                .await
                .context("cannot read the mailbox")?
                .with_context(|| format!("no mail `{id}` in the mailbox"))?;
            println!("From: {}", mail.from);
            println!("To: {}", mail.to);
            println!("Date: {}", nimbus_auth::rfc3339(mail.sent_at_ms));
            println!("Subject: {}", mail.subject);
            println!();
            println!("{}", mail.body);
        }
    }
    Ok(())
}
