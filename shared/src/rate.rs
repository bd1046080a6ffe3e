//! Rate limits as configured (`"30/1m"`: 30 per minute) and the pure GCRA step that enforces them
//! (a token bucket in one timestamp per key: bursts up to N, refilled evenly over the window).
//! Storage and clocks belong to the caller; this module only decides.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// `limit` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub window: Duration,
}

impl Rate {
    /// `limit` per `window`.
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }

    /// Time one event's worth of allowance takes to come back, in nanoseconds (at least 1).
    fn interval_nanos(&self) -> u64 {
        (self.window_nanos() / u64::from(self.limit.max(1))).max(1)
    }

    fn window_nanos(&self) -> u64 {
        u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, window) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not of the form N/window, e.g. \"30/1m\""))?;
        let limit: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` in `{text}` is not a whole number"))?;
        if limit == 0 {
            return Err(format!("`{text}` allows nothing; use a positive count"));
        }
        let window = parse_duration(window)?;
        if window.is_zero() {
            return Err(format!("`{text}` has an empty window"));
        }
        Ok(Rate { limit, window })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.limit, format_duration(self.window))
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The outcome of one check, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Events still allowed right now.
    pub remaining: u32,
    /// Until the allowance is full again.
    pub reset_after: Duration,
    /// When refused: until one more event is allowed. Zero when allowed.
    pub retry_after: Duration,
}

impl Decision {
    /// `retryAfter` for a refusal: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// One GCRA step. `tat` is the key's stored "theoretical arrival time" (nanoseconds on the
/// caller's monotonic clock; `None` for a key never seen), `now` the current time on that clock.
/// Returns the decision and the value to store (unchanged when refused).
pub fn check(rate: Rate, tat: Option<u64>, now: u64) -> (Decision, Option<u64>) {
    let interval = rate.interval_nanos();
    let window = rate.window_nanos();
    let tat = tat.map_or(now, |t| t.max(now));
    let next = tat.saturating_add(interval);
    let ahead = next - now;
    if ahead > window {
        let decision = Decision {
            allowed: false,
            limit: rate.limit,
            remaining: 0,
            reset_after: Duration::from_nanos(tat - now),
            retry_after: Duration::from_nanos(ahead - window),
        };
        return (decision, Some(tat));
    }
    let remaining = u32::try_from((window - ahead) / interval).unwrap_or(u32::MAX);
    let decision = Decision {
        allowed: true,
        limit: rate.limit,
        remaining,
        reset_after: Duration::from_nanos(ahead),
        retry_after: Duration::ZERO,
    };
    (decision, Some(next))
}

/// Whether a stored `tat` carries no information any more (the key is back to a full allowance)
/// and may be forgotten.
pub fn is_idle(tat: u64, now: u64) -> bool {
    tat <= now
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn parses_rates_table() {
        let cases = [
            ("30/1m", Some((30, 60))),
            ("3/1h", Some((3, 3600))),
            ("5/15m", Some((5, 900))),
            ("100000/1m", Some((100_000, 60))),
            (" 7 / 2s", Some((7, 2))),
            ("0/1m", None),
            ("30", None),
            ("30/", None),
            ("x/1m", None),
            ("30/0", None),
            ("30/1 minute", None),
        ];
        for (text, want) in cases {
            let got = text
                .parse::<Rate>()
                .ok()
                .map(|r| (r.limit, r.window.as_secs()));
            assert_eq!(got, want, "{text:?}");
        }
        assert_eq!(
            "5/15m".parse::<Rate>().map(|r| r.to_string()),
            Ok("5/15m".to_owned())
        );
    }

    #[test]
    fn allows_a_burst_then_refuses_with_a_retry_hint() {
        let rate = Rate::new(3, Duration::from_secs(60));
        let mut tat = None;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let (decision, next) = check(rate, tat, 100 * SEC);
            assert!(decision.allowed);
            remaining.push(decision.remaining);
            tat = next;
        }
        assert_eq!(remaining, [2, 1, 0]);
        let (refused, kept) = check(rate, tat, 100 * SEC);
        assert!(!refused.allowed);
        assert_eq!(kept, tat, "a refusal does not consume allowance");
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        assert_eq!(refused.reset_after, Duration::from_secs(60));
        // One interval later exactly one more is allowed.
        let (later, _) = check(rate, tat, 120 * SEC);
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
        // After a full window the key is idle and a fresh burst is allowed.
        let stored = tat.expect("stored");
        assert!(is_idle(stored, 160 * SEC));
        let (fresh, _) = check(rate, tat, 160 * SEC);
        assert_eq!(fresh.remaining, 2);
    }
}
