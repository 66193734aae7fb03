//! Email over SMTP, for what must reach a person outside tokpost: invitations, password resets
//! and the alerts people choose (`webhooks::message`). The operator configures one SMTP server
//! (`email.smtp_url`, a secret since it may carry a password, and `email.from`); without it
//! nothing is emailed and the pages say how else the link gets there.
//!
//! URLs: `smtp://host:25` (plain, for a relay on the same host or network),
//! `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtps://user:password@host:465`
//! (TLS from the start, verified by rustls against the platform's roots). A send waits at most
//! [`SEND_TIMEOUT`]; a failure is returned, never retried here.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

/// The longest one message may take to hand over.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Where mail goes out.
#[derive(Clone)]
pub struct MailSettings {
    /// The SMTP server's URL (may carry a user and password: a secret).
    pub smtp_url: SecretString,
    /// The sender, `tokpost <tokpost@example.com>` or a bare address.
    pub from: String,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_url", &"[REDACTED]")
            .field("from", &self.from)
            .finish()
    }
}

/// Why mail could not be configured or sent. Never holds the SMTP URL.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email.smtp_url is not a usable SMTP URL (smtp://, smtps://): {0}")]
    Url(String),
    #[error("{field} is not an email address ({value:?})")]
    Address { field: &'static str, value: String },
    #[error("the message could not be built: {0}")]
    Message(String),
    #[error("the SMTP server did not take the message: {0}")]
    Send(String),
}

/// Sends plain-text mail through the configured server. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `settings` (nothing is sent or connected yet).
    ///
    /// # Errors
    /// [`MailError::Url`] or [`MailError::Address`] (the sender).
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose_secret())
                // The error's text may quote the URL; say only what kind of fault it is.
                .map_err(|error| {
                    MailError::Url(if error.is_client() {
                        "malformed".to_owned()
                    } else {
                        "unsupported".to_owned()
                    })
                })?
                .timeout(Some(SEND_TIMEOUT))
                .build();
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|_| MailError::Address {
                field: "email.from",
                value: settings.from.clone(),
            })?;
        Ok(Self { transport, from })
    }

    /// Sends a plain-text message to `to`.
    ///
    /// # Errors
    /// [`MailError::Address`] for a recipient that is not an address, [`MailError::Send`] when
    /// the server refuses or cannot be reached in time.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to = to.parse::<Mailbox>().map_err(|_| MailError::Address {
            field: "to",
            value: to.to_owned(),
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|error| MailError::Message(error.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| MailError::Send(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_or_sender_is_refused_without_showing_the_url() {
        let bad = MailSettings {
            smtp_url: SecretString::from("ftp://user:hunter2@mail.example.com"),
            from: "tokpost@example.com".to_owned(),
        };
        let error = Mailer::new(&bad).unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
        let sender = MailSettings {
            smtp_url: SecretString::from("smtp://127.0.0.1:2525"),
            from: "not an address".to_owned(),
        };
        assert!(matches!(
            Mailer::new(&sender).unwrap_err(),
            MailError::Address {
                field: "email.from",
                ..
            }
        ));
        let debug = format!(
            "{:?}",
            MailSettings {
                smtp_url: SecretString::from("smtps://u:hunter2@mail.example.com"),
                from: "x@example.com".to_owned(),
            }
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
