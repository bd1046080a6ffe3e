//! Human-written durations for configuration values (`"250ms"`, `"5s"`, `"15m"`, `"1h"`, `"1d"`).

use std::time::Duration;

/// Parses `"<integer><unit>"` where unit is one of `ms`, `s`, `m`, `h`, `d`.
///
/// A bare `0` is accepted as zero. Fractions and compound forms (`1h30m`) are not: write `90m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (use ms, s, m, h or d, e.g. \"5s\")"))?;
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "`{text}` has unknown unit `{unit}` (use ms, s, m, h or d)"
            ));
        }
    };
    amount
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Formats a duration the way [`parse_duration`] reads it, choosing the largest exact unit.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// A duration in words for people, in its largest exact unit: "30 days", "1 hour", "90 seconds".
pub fn describe(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("day", 86_400), ("hour", 3_600), ("minute", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            let n = seconds / size;
            return format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{seconds} second{}", if seconds == 1 { "" } else { "s" })
}

/// Serde adapter: a [`Duration`] written as a human string in TOML.
pub mod serde_human {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_in_words() {
        for (seconds, words) in [
            (30 * 86_400, "30 days"),
            (86_400, "1 day"),
            (3_600, "1 hour"),
            (5_400, "90 minutes"),
            (90, "90 seconds"),
            (1, "1 second"),
        ] {
            assert_eq!(describe(Duration::from_secs(seconds)), words);
        }
    }

    #[test]
    fn parses_and_formats_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("250ms", Some(250)),
            ("5s", Some(5_000)),
            ("15m", Some(900_000)),
            ("1h", Some(3_600_000)),
            ("2d", Some(172_800_000)),
            (" 5s ", Some(5_000)),
            ("5", None),
            ("s", None),
            ("5x", None),
            ("1.5s", None),
            ("-1s", None),
            ("1h30m", None),
            ("99999999999999999999d", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, *want, "parse_duration({text:?})");
        }
        for millis in [0u64, 1, 999, 1_000, 90_000, 3_600_000, 86_400_000] {
            let d = Duration::from_millis(millis);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
