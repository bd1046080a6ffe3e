//! Two-factor codes: TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits, the step before and
//! after accepted for clock drift), base32 secrets for authenticator apps (RFC 4648, no padding),
//! `otpauth://` URIs, and single-use recovery codes. Pure: the caller stores the secret and the
//! last step used (a code is never accepted twice).

use ring::hmac;

/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Recovery codes issued at once.
pub const RECOVERY_CODES: usize = 10;

const DIGITS: u32 = 6;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The step `unix` seconds fall in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// The 6-digit code of `step`, as an authenticator app shows it.
pub fn code(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let digest = tag.as_ref();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        word % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step `presented` is the code of, within one step of `now_step` and after `last_used`
/// (a code already used, or an older one, is refused).
pub fn verify(secret: &[u8], presented: &str, now_step: i64, last_used: i64) -> Option<i64> {
    let presented = presented.trim();
    if presented.len() != DIGITS as usize || !presented.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    // Every candidate is computed, whichever matches, so timing says nothing about which.
    for step in [now_step - 1, now_step, now_step + 1] {
        let matches = super::constant_time_eq(code(secret, step).as_bytes(), presented.as_bytes());
        if matches && step > last_used && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// `secret` in base32 without padding (what authenticator apps take).
pub fn base32(secret: &[u8]) -> String {
    let mut out = String::with_capacity(secret.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in secret {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of base32 `text` (case and padding ignored); `None` for a character outside it.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://totp/` URI an authenticator app scans: `issuer:account`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{}:{}", escape(issuer), escape(account));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret),
        escape(issuer)
    )
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A recovery code from 50 random bits: `xxxxx-xxxxx` in lowercase base32.
pub fn recovery_code(random: [u8; 8]) -> String {
    let text = base32(&random[..7]).to_ascii_lowercase();
    format!("{}-{}", &text[..5], &text[5..10])
}

/// The form a presented recovery code is compared (and hashed) in: lowercase, no spaces or
/// dashes; `None` unless it has the shape of one.
pub fn normalize_recovery(presented: &str) -> Option<String> {
    let code: String = presented
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 10
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)))
    .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA1 key), the last six digits of each 8-digit value.
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (unix, want) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code(secret, step_at(unix)), want, "{unix}");
        }
    }

    #[test]
    fn verify_takes_one_step_of_drift_and_never_a_used_code() {
        let secret = b"12345678901234567890";
        let now = step_at(1_111_111_111);
        let current = code(secret, now);
        assert_eq!(verify(secret, &current, now, 0), Some(now));
        assert_eq!(verify(secret, &current, now, now), None, "replayed");
        assert_eq!(
            verify(secret, &code(secret, now - 1), now, 0),
            Some(now - 1)
        );
        assert_eq!(
            verify(secret, &code(secret, now + 1), now, 0),
            Some(now + 1)
        );
        assert_eq!(
            verify(secret, &code(secret, now - 2), now, 0),
            None,
            "too old"
        );
        assert_eq!(verify(secret, &code(secret, now - 1), now, now - 1), None);
        for junk in ["", "12345", "1234567", "abcdef", "12 456"] {
            assert_eq!(verify(secret, junk, now, 0), None, "{junk:?}");
        }
        assert_eq!(verify(secret, &format!(" {current} "), now, 0), Some(now));
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (input, want) in [
            (&b""[..], ""),
            (b"f", "MY"),
            (b"fo", "MZXQ"),
            (b"foo", "MZXW6"),
            (b"foob", "MZXW6YQ"),
            (b"fooba", "MZXW6YTB"),
            (b"foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input), want);
            assert_eq!(from_base32(want).as_deref(), Some(input));
            assert_eq!(from_base32(&want.to_lowercase()).as_deref(), Some(input));
        }
        assert_eq!(from_base32("MZXW6==="), Some(b"foo".to_vec()));
        assert_eq!(from_base32("MZ1W6"), None);
    }

    #[test]
    fn uri_and_recovery_codes() {
        let uri = otpauth_uri("Parley", "ann b", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Parley:ann%20b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Parley&algorithm=SHA1&digits=6&period=30"
        );
        let made = recovery_code([0xff, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]);
        assert_eq!(made.len(), 11);
        assert_eq!(
            normalize_recovery(&made.to_uppercase()).as_deref(),
            Some(made.replace('-', "").as_str())
        );
        assert_eq!(
            normalize_recovery("abcde fghij"),
            Some("abcdefghij".to_owned())
        );
        for junk in ["", "abcde-fghi", "abcde-fghij1", "abcde-fgh1j", "123456"] {
            assert_eq!(normalize_recovery(junk), None, "{junk:?}");
        }
    }
}
