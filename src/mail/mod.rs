//! Sending email: SMTP through lettre, or, without `SMTP_URL` outside production, the log.
//! Only background jobs send (see `jobs`); a request never waits on a mail server.

use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Environment, MailConfig, redact_url};

/// One email to send: plain text, and the link it exists for (what the log shows when
/// there is no SMTP server).
#[derive(Clone, Debug)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub link: Option<String>,
}

/// Why a send failed: worth retrying (the server is down, busy, or said "try later"), or
/// not (the server refused the message or the address for good).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// Development and testing without `SMTP_URL`: each email is a log line.
    Log { from: Mailbox },
}

impl Mailer {
    /// The mailer the configuration asks for; `None` in production without `SMTP_URL`
    /// (the endpoints that send email then answer `503`).
    pub fn from_config(
        mail: &MailConfig,
        environment: Environment,
    ) -> anyhow::Result<Option<Self>> {
        let from: Mailbox = mail
            .from
            .parse()
            .with_context(|| format!("MAIL_FROM is not an address: {:?}", mail.from))?;
        Ok(match &mail.smtp_url {
            Some(url) => Some(Mailer::Smtp {
                transport: smtp_transport(url)?,
                from,
            }),
            None if environment == Environment::Production => None,
            None => Some(Mailer::Log { from }),
        })
    }

    /// What to say at start about where email goes.
    pub fn describe(mailer: Option<&Mailer>, mail: &MailConfig) -> String {
        match (mailer, &mail.smtp_url) {
            (Some(Mailer::Smtp { .. }), Some(url)) => {
                format!("email is sent through {}", redact_url(url))
            }
            (Some(_), _) => {
                "SMTP_URL is not set: emails are written to the log, not sent".to_owned()
            }
            (None, _) => {
                "SMTP_URL is not set: email is off, and the endpoints that send email answer 503"
                    .to_owned()
            }
        }
    }

    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        match self {
            Mailer::Log { from } => {
                tracing::info!(
                    from = %from,
                    to = %email.to,
                    subject = %email.subject,
                    link = email.link.as_deref().unwrap_or(""),
                    "email not sent (no SMTP_URL): written to the log"
                );
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let message = build_message(from, email)?;
                transport.send(message).await.map(|_| ()).map_err(|e| {
                    // 530/535 (authentication) is the server's configuration, not the
                    // message: it may be fixed, so those are retried too.
                    let authentication = e
                        .status()
                        .is_some_and(|code| code.to_string().starts_with("53"));
                    if e.is_permanent() && !authentication {
                        SendError::Permanent(format!("the mail server refused the message: {e}"))
                    } else {
                        SendError::Transient(format!("sending failed: {e}"))
                    }
                })
            }
        }
    }
}

/// lettre's transport for `SMTP_URL`. A bare `smtp://` would never use TLS in lettre; here
/// it upgrades with STARTTLS whenever the server offers it (`tls=opportunistic`), unless the
/// URL says otherwise (`?tls=required`). `smtps://` is TLS from the first byte.
pub fn smtp_transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut parsed = url::Url::parse(url).context("SMTP_URL is not a URL")?;
    if parsed.scheme() == "smtp" && !parsed.query_pairs().any(|(k, _)| k == "tls") {
        parsed.query_pairs_mut().append_pair("tls", "opportunistic");
    }
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(parsed.as_str())
        .with_context(|| format!("SMTP_URL {} is not usable", redact_url(url)))?;
    // lettre's timeout bounds only the connection; a whole attempt is bounded by the job's
    // timeout (JOBS_ATTEMPT_TIMEOUT_SECONDS).
    Ok(builder.timeout(Some(Duration::from_secs(10))).build())
}

fn build_message(from: &Mailbox, email: &Email) -> Result<Message, SendError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| SendError::Permanent(format!("the recipient is not an address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        )
        .map_err(|e| SendError::Permanent(format!("the message cannot be built: {e}")))
}
