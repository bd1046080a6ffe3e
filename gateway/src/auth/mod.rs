//! Authentication: access tokens (HS256 JWTs), password hashing (Argon2id off the event loop) and
//! opaque refresh tokens, and the set of recently revoked login sessions. Nothing here logs a token, a password or a hash.

pub(crate) mod device;
pub mod jwt;
pub mod password;
pub mod refresh;
pub mod revoked;
pub mod totp;
pub(crate) mod watch;

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source is available (checked at start-up)");
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths (for comparing
/// secrets a client presents).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_table() {
        for (a, b, want) in [
            (&b""[..], &b""[..], true),
            (b"secret-token", b"secret-token", true),
            (b"secret-token", b"secret-tokex", false),
            (b"secret", b"secret-token", false),
        ] {
            assert_eq!(super::constant_time_eq(a, b), want, "{a:?} {b:?}");
        }
    }
}
