//! Web Push message encryption (RFC 8291 over RFC 8188 `aes128gcm`): an ephemeral P-256 key per
//! message, ECDH with the subscription's `p256dh` key, HKDF-SHA256 with its `auth` secret and a
//! random salt, one AES-128-GCM record. No I/O. `decrypt` is the user agent's side, for tests.

use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, agreement, hkdf};

/// The record size announced in the header (one record holds the whole message).
const RECORD_SIZE: u32 = 4096;
/// Bytes of the header: salt (16), record size (4), key id length (1), key id (65).
const HEADER: usize = 16 + 4 + 1 + 65;
/// Longest message one record carries (the padding delimiter and the tag take 17).
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - 17;

/// Why a message could not be encrypted (or, for tests, decrypted).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EceError {
    #[error("the subscription's p256dh is not an uncompressed P-256 point")]
    PublicKey,
    #[error("the subscription's auth secret is not 16 bytes")]
    Auth,
    #[error("the message is longer than one record")]
    TooLong,
    #[error("malformed or unauthentic encrypted content")]
    Malformed,
    #[error("the system's random source failed")]
    Random,
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[u8], out: &mut [u8]) -> Result<(), EceError> {
    prk.expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| EceError::Malformed)
}

/// The content key and nonce (RFC 8291 section 3.4, RFC 8188 section 2.2) from the ECDH secret,
/// the subscription's auth secret and both public keys, and the salt.
pub fn derive(
    ecdh_secret: &[u8],
    auth: &[u8],
    ua_public: &[u8],
    as_public: &[u8],
    salt: &[u8],
) -> Result<([u8; 16], [u8; 12]), EceError> {
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let prk_key = hkdf::Salt::new(hkdf::HKDF_SHA256, auth).extract(ecdh_secret);
    let mut ikm = [0u8; 32];
    expand(&prk_key, &key_info, &mut ikm)?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    expand(&prk, b"Content-Encoding: aes128gcm\0", &mut cek)?;
    expand(&prk, b"Content-Encoding: nonce\0", &mut nonce)?;
    Ok((cek, nonce))
}

/// Seals `plaintext` (plus the last-record delimiter) with `cek` and `nonce`, behind the header.
pub fn seal(
    cek: &[u8; 16],
    nonce: [u8; 12],
    salt: &[u8; 16],
    as_public: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, EceError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLong);
    }
    let key = aead::UnboundKey::new(&aead::AES_128_GCM, cek).map_err(|_| EceError::Malformed)?;
    let key = aead::LessSafeKey::new(key);
    let mut out = Vec::with_capacity(HEADER + plaintext.len() + 17);
    out.extend_from_slice(salt);
    out.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    out.push(u8::try_from(as_public.len()).map_err(|_| EceError::PublicKey)?);
    out.extend_from_slice(as_public);
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    record.push(2);
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut record,
    )
    .map_err(|_| EceError::Malformed)?;
    out.extend_from_slice(&record);
    Ok(out)
}

/// Encrypts `plaintext` for the subscription with public key `ua_public` (65 bytes) and `auth`
/// (16 bytes): the request body of a Web Push message.
pub fn encrypt(ua_public: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err(EceError::PublicKey);
    }
    if auth.len() != 16 {
        return Err(EceError::Auth);
    }
    let rng = SystemRandom::new();
    let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| EceError::Random)?;
    let as_public = ephemeral
        .compute_public_key()
        .map_err(|_| EceError::Random)?
        .as_ref()
        .to_vec();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public);
    let secret = agreement::agree_ephemeral(ephemeral, &peer, |s| s.to_vec())
        .map_err(|_| EceError::PublicKey)?;
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| EceError::Random)?;
    let (cek, nonce) = derive(&secret, auth, ua_public, &as_public, &salt)?;
    seal(&cek, nonce, &salt, &as_public, plaintext)
}

/// The user agent's side: decrypts `body` with its one-use private key (ring's keys for ECDH are
/// ephemeral: a test makes one per expected message), its public key and auth secret.
pub fn decrypt(
    private: agreement::EphemeralPrivateKey,
    ua_public: &[u8],
    auth: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, EceError> {
    if body.len() < HEADER + 17 || body[20] != 65 {
        return Err(EceError::Malformed);
    }
    let (salt, as_public, record) = (&body[..16], &body[21..86], &body[86..]);
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, as_public);
    let secret = agreement::agree_ephemeral(private, &peer, |s| s.to_vec())
        .map_err(|_| EceError::Malformed)?;
    let (cek, nonce) = derive(&secret, auth, ua_public, as_public, salt)?;
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| EceError::Malformed)?,
    );
    let mut record = record.to_vec();
    let plain = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut record,
        )
        .map_err(|_| EceError::Malformed)?;
    // The last record ends with the delimiter 2, then optional zero padding.
    let end = plain
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(EceError::Malformed)?;
    if plain[end] != 2 {
        return Err(EceError::Malformed);
    }
    Ok(plain[..end].to_vec())
}

#[cfg(test)]
mod tests {
    use ring::agreement;
    use ring::rand::SystemRandom;

    use super::{EceError, MAX_PLAINTEXT, decrypt, encrypt};

    #[test]
    fn round_trip_and_refusals() {
        let rng = SystemRandom::new();
        let ua =
            agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).expect("key");
        let ua_public = ua.compute_public_key().expect("public").as_ref().to_vec();
        let auth = [7u8; 16];
        let body = encrypt(&ua_public, &auth, b"hello push").expect("encrypts");
        assert_eq!(&body[16..20], &4096u32.to_be_bytes(), "record size");
        assert_eq!(body[20], 65, "key id length");
        assert_eq!(
            decrypt(ua, &ua_public, &auth, &body).expect("decrypts"),
            b"hello push"
        );
        assert_eq!(
            encrypt(&ua_public[..64], &auth, b"x"),
            Err(EceError::PublicKey)
        );
        assert_eq!(encrypt(&ua_public, &auth[..15], b"x"), Err(EceError::Auth));
        let long = vec![b'x'; MAX_PLAINTEXT + 1];
        assert_eq!(encrypt(&ua_public, &auth, &long), Err(EceError::TooLong));
        // A flipped bit is refused.
        let other =
            agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).expect("key");
        let other_public = other
            .compute_public_key()
            .expect("public")
            .as_ref()
            .to_vec();
        let mut body = encrypt(&other_public, &auth, b"hello").expect("encrypts");
        let last = body.len() - 1;
        body[last] ^= 1;
        assert_eq!(
            decrypt(other, &other_public, &auth, &body),
            Err(EceError::Malformed)
        );
    }
}
