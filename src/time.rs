//! Timestamps: UTC, millisecond precision everywhere (so every backend stores and returns the
//! same value), rendered as RFC 3339 with a `Z` suffix.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

pub fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(serialize_with = "crate::time::serialize")]` for response fields.
pub fn serialize<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn renders_milliseconds_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 5, 28, 10, 15, 30).unwrap();
        assert_eq!(rfc3339(&at), "2026-05-28T10:15:30.000Z");
        assert_eq!(now().timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
