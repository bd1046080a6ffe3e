//! Timestamps on the wire: ISO 8601 in UTC with milliseconds, `2026-01-15T10:30:00.000Z`.

use time::{OffsetDateTime, UtcOffset};

/// Formats `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// Serde adapters for timestamps in API types.
pub mod serde_ts {
    use serde::Serializer;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_timestamp(*at))
    }

    /// For `Option<OffsetDateTime>` fields (`null` when absent).
    pub mod option {
        use serde::Serializer;
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => serializer.serialize_str(&super::super::format_timestamp(*at)),
                None => serializer.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(1_705_314_600_123_456_789).expect("valid");
        assert_eq!(format_timestamp(at), "2024-01-15T10:30:00.123Z");
        let shifted = at.to_offset(UtcOffset::from_hms(5, 30, 0).expect("offset"));
        assert_eq!(format_timestamp(shifted), "2024-01-15T10:30:00.123Z");
        let epoch = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(format_timestamp(epoch), "1970-01-01T00:00:00.000Z");
    }
}
