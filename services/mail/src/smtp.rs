//! Sending through an SMTP server, with lettre.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::{Mail, MailError, Mailer};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// A plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// No encryption: only for a server on the same machine or network (tests, relays).
    None,
}

/// Where and how to send. Its `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// Login, when the server wants one.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SmtpConfig {
    /// Reads `smtp://[user:password@]host[:port]` (STARTTLS, port 587), `smtps://...` (TLS,
    /// port 465) or `smtp+insecure://...` (no encryption, port 25).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("the SMTP URL must start with smtp://, smtps:// or smtp+insecure://")?;
        let (security, default_port) = match scheme {
            "smtp" => (SmtpSecurity::StartTls, 587),
            "smtps" => (SmtpSecurity::Tls, 465),
            "smtp+insecure" => (SmtpSecurity::None, 25),
            other => {
                return Err(format!(
                    "scheme `{other}` is not smtp (STARTTLS), smtps (TLS) or smtp+insecure"
                ));
            }
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((credentials, address)) => (Some(credentials), address),
            None => (None, rest),
        };
        let (user, password) = match credentials {
            Some(credentials) => {
                let (user, password) = credentials
                    .split_once(':')
                    .ok_or("credentials in an SMTP URL are `user:password`")?;
                (Some(decode(user)?), Some(decode(password)?))
            }
            None => (None, None),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| format!("`{port}` is not a port number"))?,
            ),
            None => (address, default_port),
        };
        if host.is_empty() {
            return Err("the SMTP URL names no host".into());
        }
        Ok(Self {
            host: host.to_string(),
            port,
            security,
            user,
            password,
        })
    }
}

impl SmtpConfig {
    /// The URL [`SmtpConfig::parse`] reads back into this configuration.
    pub fn to_url(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::StartTls => "smtp",
            SmtpSecurity::Tls => "smtps",
            SmtpSecurity::None => "smtp+insecure",
        };
        let credentials = match (&self.user, &self.password) {
            (Some(user), Some(password)) => format!("{}:{}@", encode(user), encode(password)),
            _ => String::new(),
        };
        format!("{scheme}://{credentials}{}:{}", self.host, self.port)
    }
}

/// Percent-encodes what is not a letter, digit or one of `-._~`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Percent-decodes a URL's user or password.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .ok_or("a `%` in the SMTP URL is not followed by two hex digits")?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| "a `%` in the SMTP URL is not followed by two hex digits")?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the SMTP URL's credentials are not UTF-8".to_string())
}

/// Sends through one SMTP server, reusing connections.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

impl SmtpMailer {
    /// A mailer for `config`; nothing is connected until the first mail.
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let builder = match config.security {
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
            }
            SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &config.host,
            )),
        }
        .map_err(|e| MailError::Transport(e.to_string()))?;
        let mut builder = builder.port(config.port).timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
        })
    }
}

/// `mail` as a lettre message.
fn message(mail: &Mail) -> Result<Message, MailError> {
    let from = mail
        .from
        .parse()
        .map_err(|_| MailError::Address(mail.from.clone()))?;
    let to = mail
        .to
        .parse()
        .map_err(|_| MailError::Address(mail.to.clone()))?;
    let content_type = if mail.is_html() {
        ContentType::TEXT_HTML
    } else {
        ContentType::TEXT_PLAIN
    };
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .header(content_type)
        .body(mail.body.clone())
        .map_err(|e| MailError::Other(format!("cannot build the message: {e}")))
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = message(mail)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| MailError::Transport(e.to_string()))
    }

    fn delivers(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_name_security_port_and_credentials() {
        let config =
            SmtpConfig::parse("smtp://me%40example.com:p%3Ass@mail.example.com").expect("valid");
        assert_eq!(config.security, SmtpSecurity::StartTls);
        assert_eq!(config.port, 587);
        assert_eq!(config.user.as_deref(), Some("me@example.com"));
        assert_eq!(config.password.as_deref(), Some("p:ss"));
        assert!(
            !format!("{config:?}").contains("p:ss"),
            "Debug leaves the password out"
        );
        let config = SmtpConfig::parse("smtps://mail.example.com:2465").expect("valid");
        assert_eq!((config.security, config.port), (SmtpSecurity::Tls, 2465));
        let config = SmtpConfig::parse("smtp+insecure://127.0.0.1:2525").expect("valid");
        assert_eq!((config.security, config.port), (SmtpSecurity::None, 2525));
        let round_trip =
            SmtpConfig::parse("smtp://me%40example.com:p%3Ass@mail.example.com").expect("valid");
        assert_eq!(SmtpConfig::parse(&round_trip.to_url()), Ok(round_trip));
        for bad in [
            "mail.example.com",
            "http://x",
            "smtp://",
            "smtp://h:port",
            "smtp://a@h",
        ] {
            assert!(SmtpConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_addresses_are_named() {
        let mail = Mail {
            from: "nimbus <no-reply@example.com>".into(),
            to: "not an address".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        assert!(matches!(message(&mail), Err(MailError::Address(a)) if a == "not an address"));
    }
}
