//! The development mailbox: mails kept in the app's key-value store instead of being sent,
//! newest first, for a day, at most [`MAILBOX_KEEP`] of them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nimbus_kv::{KvStore, StoreId};
use serde::{Deserialize, Serialize};

use crate::{Mail, MailError, Mailer};

/// The reserved key-value store of the mailbox (not a valid manifest store name, so no guest
/// can be granted it).
pub const MAIL_STORE: &str = "~mail";
/// Most mails kept; older ones are dropped as new ones arrive.
pub const MAILBOX_KEEP: usize = 200;
/// How long a mail is kept.
const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// A mail as the mailbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMail {
    /// Its id (`nimbus mail show ID`).
    pub id: String,
    /// Milliseconds since the epoch when it was "sent".
    pub sent_at_ms: u64,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
}

/// One app's development mailbox.
pub struct DevMailbox {
    kv: Arc<dyn KvStore>,
    store: StoreId,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Keys sort newest first: the inverted time, then the id.
fn key_of(sent_at_ms: u64, id: &str) -> String {
    format!("{:020}-{id}", u64::MAX - sent_at_ms)
}

impl DevMailbox {
    /// The mailbox of `app` in `kv`.
    pub fn new(kv: Arc<dyn KvStore>, app: &str) -> Self {
        Self {
            kv,
            store: StoreId::new(app, MAIL_STORE),
        }
    }

    /// Up to `limit` mails, newest first, to `to` only when given.
    pub async fn list(&self, limit: usize, to: Option<&str>) -> Result<Vec<StoredMail>, MailError> {
        let mut mails = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .kv
                .scan(&self.store, "", cursor.as_deref(), 100)
                .await?;
            for (_, bytes) in &page.entries {
                if let Ok(mail) = serde_json::from_slice::<StoredMail>(bytes)
                    && to.is_none_or(|to| mail.to.eq_ignore_ascii_case(to))
                {
                    mails.push(mail);
                    if mails.len() >= limit {
                        return Ok(mails);
                    }
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(mails),
            }
        }
    }

    /// The mail with id `id`.
    pub async fn show(&self, id: &str) -> Result<Option<StoredMail>, MailError> {
        Ok(self
            .list(MAILBOX_KEEP, None)
            .await?
            .into_iter()
            .find(|mail| mail.id == id))
    }

    async fn drop_beyond_keep(&self) -> Result<(), MailError> {
        let page = self.kv.list_keys(&self.store, "", None).await?;
        for key in page.keys.iter().skip(MAILBOX_KEEP) {
            self.kv.delete(&self.store, key).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Mailer for DevMailbox {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| MailError::Other(format!("no randomness: {e}")))?;
        let stored = StoredMail {
            id: hex::encode(id),
            sent_at_ms: now_ms(),
            from: mail.from.clone(),
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            body: mail.body.clone(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| MailError::Other(e.to_string()))?;
        self.kv
            .set_expiring(
                &self.store,
                &key_of(stored.sent_at_ms, &stored.id),
                &bytes,
                KEEP_FOR,
            )
            .await?;
        self.drop_beyond_keep().await
    }

    fn delivers(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str, subject: &str) -> Mail {
        Mail {
            from: "no-reply@example.com".into(),
            to: to.into(),
            subject: subject.into(),
            body: "hello".into(),
        }
    }

    #[tokio::test]
    async fn mails_are_listed_newest_first_and_found_by_id() {
        let dir = tempfile::tempdir().expect("dir");
        let kv = nimbus_kv::RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv");
        let mailbox = DevMailbox::new(Arc::new(kv), "app");
        mailbox
            .send(&mail("ann@example.com", "first"))
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(2)).await;
        mailbox
            .send(&mail("bob@example.com", "second"))
            .await
            .expect("send");
        let all = mailbox.list(10, None).await.expect("list");
        let subjects: Vec<_> = all.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(subjects, ["second", "first"]);
        let ann = mailbox
            .list(10, Some("ANN@example.com"))
            .await
            .expect("list");
        assert_eq!(ann.len(), 1);
        let found = mailbox.show(&ann[0].id).await.expect("show");
        assert_eq!(found.as_ref().map(|m| m.subject.as_str()), Some("first"));
        assert!(!mailbox.delivers());
    }
}
