//! Timestamps on the wire: ISO 8601 in UTC with milliseconds, `2026-01-15T10:30:00.000Z`; read
//! back from any RFC 3339 date-time (`2026-01-15T11:30:00.5+01:00`).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

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

/// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, optional fraction (to nanoseconds),
/// then `Z` or `±HH:MM` (`t`/`z` and a space for `T` accepted, as RFC 3339 allows).
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
        })
    };
    let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(5, 2)?).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(num(8, 2)?).ok()?).ok()?;
    let (h, m, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut at = 19;
    let mut nanos = 0u32;
    if sep(at, b".") {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(at + 1, digits)? * 10u32.pow(9 - digits as u32);
        at += 1 + digits;
    }
    let offset = match b.get(at..)? {
        [b'Z' | b'z'] => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            let seconds = i32::try_from(oh * 3600 + om * 60).ok()?;
            UtcOffset::from_whole_seconds(if *sign == b'-' { -seconds } else { seconds }).ok()?
        }
        _ => return None,
    };
    let time = Time::from_hms_nano(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
        nanos,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
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

    #[test]
    fn parses_rfc3339() {
        let at = |nanos: i128| OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("valid");
        for (text, expected) in [
            (
                "2024-01-15T10:30:00.123Z",
                Some(at(1_705_314_600_123_000_000)),
            ),
            ("2024-01-15T10:30:00Z", Some(at(1_705_314_600_000_000_000))),
            (
                "2024-01-15t11:30:00.123456789+01:00",
                Some(at(1_705_314_600_123_456_789)),
            ),
            (
                "2024-01-15 05:00:00-05:30",
                Some(at(1_705_314_600_000_000_000)),
            ),
            ("1970-01-01T00:00:00.000Z", Some(at(0))),
            ("2024-02-30T10:30:00Z", None),
            ("2024-01-15T24:00:00Z", None),
            ("2024-01-15T10:30:00", None),
            ("2024-01-15T10:30:00.Z", None),
            ("2024-01-15T10:30:00+0100", None),
            ("tomorrow", None),
            ("", None),
            ("2024-01-15T10:30:00Zjunk", None),
        ] {
            assert_eq!(parse_timestamp(text), expected, "{text}");
        }
        let now = at(1_705_314_600_123_000_000);
        assert_eq!(parse_timestamp(&format_timestamp(now)), Some(now));
    }
}
