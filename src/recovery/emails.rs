//! What each email job does: find the account, apply the per-address cap, make the token,
//! write the email and send it. Runs on a worker, never in a request.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};

use crate::config::MailConfig;
use crate::db::begin_write;
use crate::email_tokens::{self, Purpose};
use crate::jobs::{Job, JobError, Perform};
use crate::mail::{Email, Mailer, SendError};
use crate::users::domain::Email as Address;
use crate::users::model::Model as User;
use crate::users::queries as users;

/// Emails with a link (reset, verification) one address gets per hour, at most.
pub const EMAILS_PER_ADDRESS_PER_HOUR: u64 = 3;

/// Runs email jobs with this database, configuration and mailer.
pub struct EmailJobs {
    pub db: DatabaseConnection,
    pub mail: MailConfig,
    pub mailer: Mailer,
    /// How long one hand-over to the SMTP server may take.
    pub send_timeout: Duration,
}

impl EmailJobs {
    pub fn new(
        db: DatabaseConnection,
        mail: MailConfig,
        mailer: Mailer,
        send_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(EmailJobs {
            db,
            mail,
            mailer,
            send_timeout,
        })
    }

    /// Sends `email`, giving up after `send_timeout` (lettre bounds only the connection).
    async fn send(&self, email: &Email) -> Result<(), SendError> {
        match tokio::time::timeout(self.send_timeout, self.mailer.send(email)).await {
            Ok(sent) => sent,
            Err(_) => Err(SendError::Transient(format!(
                "the mail server did not take the message within {} s",
                self.send_timeout.as_secs()
            ))),
        }
    }
}

impl Perform for EmailJobs {
    fn perform(&self, job: Job) -> BoxFuture<'_, Result<(), JobError>> {
        Box::pin(self.run(job))
    }
}

fn retry(e: DbErr) -> JobError {
    JobError::Retry(format!("database: {e}"))
}

impl From<SendError> for JobError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Transient(e) => JobError::Retry(e),
            SendError::Permanent(e) => JobError::Permanent(e),
        }
    }
}

/// What a link email is for.
#[derive(Clone, Copy)]
enum LinkEmail {
    Reset,
    AdminReset,
    Verify,
}

impl EmailJobs {
    async fn run(&self, job: Job) -> Result<(), JobError> {
        match job {
            Job::PasswordReset { email } => match self.user_by_email(&email).await? {
                Some(user) => self.send_link(user.id, LinkEmail::Reset).await,
                // No account: nothing to send, and the requester cannot tell.
                None => Ok(()),
            },
            Job::AdminPasswordReset { user_id } => {
                self.send_link(user_id, LinkEmail::AdminReset).await
            }
            Job::VerifyEmail { user_id } => self.send_link(user_id, LinkEmail::Verify).await,
            Job::ResendVerification { email } => match self.user_by_email(&email).await? {
                Some(user) => self.send_link(user.id, LinkEmail::Verify).await,
                None => Ok(()),
            },
            Job::PasswordChanged { user_id, email } => {
                let Some(user) = users::find_by_id(&self.db, user_id).await.map_err(retry)? else {
                    return Ok(());
                };
                Ok(self.send(&password_changed(&user, &email)).await?)
            }
            Job::EmailChanged { user_id, old_email } => {
                let Some(user) = users::find_by_id(&self.db, user_id).await.map_err(retry)? else {
                    return Ok(());
                };
                Ok(self.send(&email_changed(&user, &old_email)).await?)
            }
        }
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, JobError> {
        let Ok(address) = Address::parse(email) else {
            return Ok(None);
        };
        users::find_by_email(&self.db, &address)
            .await
            .map_err(retry)
    }

    /// Makes a token and sends the link, unless the address has had its 3 emails this hour
    /// (then nothing changes: the earlier links stay valid). Cap check and token are one
    /// transaction on the locked user row, so concurrent jobs cannot both pass the cap. A
    /// send that fails takes its token back (it neither counts nor works); the job is then
    /// retried with a new one.
    async fn send_link(&self, user_id: i64, what: LinkEmail) -> Result<(), JobError> {
        let (purpose, ttl, template) = match what {
            LinkEmail::Reset | LinkEmail::AdminReset => (
                Purpose::PasswordReset,
                self.mail.password_reset_ttl,
                &self.mail.password_reset_url,
            ),
            LinkEmail::Verify => (
                Purpose::VerifyEmail,
                self.mail.email_verify_ttl,
                &self.mail.email_verify_url,
            ),
        };
        let tx = begin_write(&self.db).await.map_err(retry)?;
        let Some(user) = users::find_by_id_for_update(&tx, user_id)
            .await
            .map_err(retry)?
        else {
            return Ok(());
        };
        if matches!(what, LinkEmail::Verify) && user.email_verified {
            return Ok(());
        }
        let window_start = Utc::now() - email_tokens::CAP_WINDOW;
        let sent = email_tokens::sent_since(&tx, purpose, &user.email, window_start)
            .await
            .map_err(retry)?;
        if sent >= EMAILS_PER_ADDRESS_PER_HOUR {
            tracing::info!(
                user_id,
                purpose = purpose.as_str(),
                "per-address email cap reached; nothing sent"
            );
            return Ok(());
        }
        let token = email_tokens::issue(&tx, user.id, purpose, &user.email, ttl)
            .await
            .map_err(retry)?;
        tx.commit().await.map_err(retry)?;
        let link = template.replace("{token}", &token);
        let email = match what {
            LinkEmail::Reset => reset_email(&user, &link, ttl, false),
            LinkEmail::AdminReset => reset_email(&user, &link, ttl, true),
            LinkEmail::Verify => verify_email(&user, &link, ttl),
        };
        // A failed or timed-out send takes its token back, so a retry's new token is the
        // only one counted.
        if let Err(e) = self.send(&email).await {
            if let Err(withdraw) = email_tokens::withdraw(&self.db, &token).await {
                tracing::warn!(error = %withdraw, "an unsent token could not be taken back");
            }
            return Err(e.into());
        }
        Ok(())
    }
}

fn minutes_or_hours(ttl: Duration) -> String {
    let minutes = ttl.as_secs() / 60;
    match minutes {
        0 => format!("{} seconds", ttl.as_secs()),
        1 => "1 minute".to_owned(),
        m if m < 120 => format!("{m} minutes"),
        m => format!("{} hours", m / 60),
    }
}

fn reset_email(user: &User, link: &str, ttl: Duration, by_admin: bool) -> Email {
    let why = if by_admin {
        "An administrator started a password reset for your larch account."
    } else {
        "Someone, hopefully you, asked to reset the password of the larch account that uses this address."
    };
    Email {
        to: user.email.clone(),
        subject: "Reset your larch password".to_owned(),
        text: format!(
            "Hello {name},\n\n{why} To choose a new password, open this link within {valid}:\n\n\
             {link}\n\nThe link works once, and only the newest one sent works. Setting a new \
             password signs out every session of the account.\n\nIf you did not ask for this, \
             ignore this email: your password has not changed.\n",
            name = user.username,
            valid = minutes_or_hours(ttl),
        ),
        link: Some(link.to_owned()),
    }
}

fn verify_email(user: &User, link: &str, ttl: Duration) -> Email {
    Email {
        to: user.email.clone(),
        subject: "Confirm your email address for larch".to_owned(),
        text: format!(
            "Hello {name},\n\nPlease confirm that this address belongs to your larch account by \
             opening this link within {valid}:\n\n{link}\n\nIf you did not create an account or \
             change its address, ignore this email.\n",
            name = user.username,
            valid = minutes_or_hours(ttl),
        ),
        link: Some(link.to_owned()),
    }
}

fn password_changed(user: &User, to: &str) -> Email {
    Email {
        to: to.to_owned(),
        subject: "Your larch password was changed".to_owned(),
        text: format!(
            "Hello {name},\n\nThe password of your larch account was changed at {when} UTC, and \
             every session of the account was signed out.\n\nIf this was not you, ask for a \
             password reset now and tell an administrator.\n",
            name = user.username,
            when = Utc::now().format("%Y-%m-%d %H:%M"),
        ),
        link: None,
    }
}

fn email_changed(user: &User, old_email: &str) -> Email {
    Email {
        to: old_email.to_owned(),
        subject: "The email address of your larch account was changed".to_owned(),
        text: format!(
            "Hello {name},\n\nThe email address of your larch account was changed at {when} UTC \
             from this address to another one. Emails about the account now go to the new \
             address.\n\nIf this was not you, tell an administrator at once.\n",
            name = user.username,
            when = Utc::now().format("%Y-%m-%d %H:%M"),
        ),
        link: None,
    }
}
