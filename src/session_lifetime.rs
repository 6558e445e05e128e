//! When a session ends on its own: `SESSION_IDLE_TIMEOUT` after its last refresh (or sooner,
//! when its refresh token expires first), and `SESSION_MAX_LIFETIME` after its login however
//! often it is refreshed. One rule, read by the caller check on every request, by refresh,
//! by the session list and by the clean-up.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;

#[derive(Clone, Copy, Debug)]
pub struct SessionLifetime {
    /// The idle timeout, capped by the refresh token's own lifetime: a session whose last
    /// refresh token has expired cannot be refreshed again.
    idle: chrono::Duration,
    max: chrono::Duration,
}

/// When a session ends, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionLifetime {
    pub fn new(idle: Duration, refresh_ttl: Duration, max: Duration) -> Self {
        let seconds = |d: Duration| chrono::Duration::seconds(d.as_secs() as i64);
        SessionLifetime {
            idle: seconds(idle.min(refresh_ttl)),
            max: seconds(max),
        }
    }

    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config.session_idle_timeout,
            config.refresh_token_ttl,
            config.session_max_lifetime,
        )
    }

    /// The moment the session ends unless it is refreshed (or ended) before.
    pub fn expires_at(&self, times: &SessionTimes) -> DateTime<Utc> {
        (times.created_at + self.max).min(times.last_used_at + self.idle)
    }

    pub fn is_live(&self, times: &SessionTimes, now: DateTime<Utc>) -> bool {
        times.ended_at.is_none() && now < self.expires_at(times)
    }

    /// Sessions last used before this have ended by idleness (clean-up).
    pub fn idle_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.idle
    }

    /// Sessions created before this have reached their maximum lifetime (clean-up).
    pub fn max_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn ends_when_idle_or_too_old_or_ended() {
        let rule = SessionLifetime::new(
            Duration::from_secs(100),
            Duration::from_secs(1000),
            Duration::from_secs(300),
        );
        let times = SessionTimes {
            created_at: at(0),
            last_used_at: at(250),
            ended_at: None,
        };
        assert_eq!(rule.expires_at(&times), at(300));
        assert!(rule.is_live(&times, at(299)));
        assert!(!rule.is_live(&times, at(300)));
        let idle = SessionTimes {
            last_used_at: at(10),
            ..times
        };
        assert_eq!(rule.expires_at(&idle), at(110));
        assert!(!rule.is_live(&idle, at(110)));
        let ended = SessionTimes {
            ended_at: Some(at(20)),
            ..times
        };
        assert!(!rule.is_live(&ended, at(21)));
    }

    /// The clean-up's cutoffs agree with `is_live`: a session last used (or created)
    /// before them has ended, one after them has not (on that count).
    #[test]
    fn clean_up_cutoffs_match_liveness() {
        let rule = SessionLifetime::new(
            Duration::from_secs(100),
            Duration::from_secs(1000),
            Duration::from_secs(300),
        );
        let now = at(1000);
        assert_eq!(rule.idle_cutoff(now), at(900));
        assert_eq!(rule.max_cutoff(now), at(700));
        let session = |created: i64, used: i64| SessionTimes {
            created_at: at(created),
            last_used_at: at(used),
            ended_at: None,
        };
        assert!(!rule.is_live(&session(850, 899), now));
        assert!(rule.is_live(&session(850, 901), now));
        assert!(!rule.is_live(&session(699, 950), now));
        assert!(rule.is_live(&session(701, 950), now));
    }

    #[test]
    fn the_refresh_token_lifetime_caps_idleness() {
        let rule = SessionLifetime::new(
            Duration::from_secs(1000),
            Duration::from_secs(60),
            Duration::from_secs(5000),
        );
        let times = SessionTimes {
            created_at: at(0),
            last_used_at: at(0),
            ended_at: None,
        };
        assert_eq!(rule.expires_at(&times), at(60));
    }
}
