//! The per-job secret that every process of a cluster proves it knows, and the HMAC and nonces
//! of that proof (`hmac` + `sha2` for HMAC-SHA256, `getrandom` for the operating system's
//! random numbers; nothing here is hand-rolled cryptography).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::EngineError;

/// The environment variable that holds a cluster's secret (read by the `strads` binary; set by
/// `strads launch` for its children).
pub const SECRET_ENV: &str = "STRADS_SECRET";

/// A shared secret of at least [`Secret::MIN_LEN`] bytes. Its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The shortest secret accepted, in bytes. A secret also guards against offline guessing by
    /// anyone who watched a handshake, so it should be random: 32 random bytes in hex (what
    /// `strads launch` makes, or `openssl rand -hex 32`) are far beyond reach.
    pub const MIN_LEN: usize = 16;

    /// A secret from bytes; too short is a configuration error.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, EngineError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(EngineError::Config(format!(
                "the cluster secret is {} bytes long; it must have at least {} (e.g. the output \
                 of `openssl rand -hex 32`)",
                bytes.len(),
                Self::MIN_LEN
            )));
        }
        Ok(Secret(bytes))
    }

    /// A fresh random secret: 32 bytes from the operating system, as 64 hex digits (so that it
    /// can travel in an environment variable).
    pub fn random_hex() -> Result<String, EngineError> {
        let bytes: [u8; 32] = random_bytes()?;
        Ok(hex(&bytes))
    }

    /// HMAC-SHA256 of `parts` (concatenated) under this secret.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.hmac(parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC of `parts` (compared in constant time).
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.hmac(parts).verify_slice(tag).is_ok()
    }

    fn hmac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `N` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], EngineError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        EngineError::Config(format!("the operating system gave no random numbers: {e}"))
    })?;
    Ok(bytes)
}

/// Lower-case hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_debug_hides_the_secret() {
        assert!(Secret::new("too short").is_err());
        let secret = Secret::new("0123456789abcdef").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn macs_verify_only_with_the_same_secret_and_message() {
        let a = Secret::new("0123456789abcdef").unwrap();
        let b = Secret::new("0123456789abcdeg").unwrap();
        let tag = a.mac(&[b"hello ", b"world"]);
        assert!(a.verify(&[b"hello world"], &tag));
        assert!(!a.verify(&[b"hello worle"], &tag));
        assert!(!b.verify(&[b"hello world"], &tag));
        assert!(!a.verify(&[b"hello world"], &tag[..31]));
    }

    #[test]
    fn random_secrets_are_64_hex_digits_and_differ() {
        let (x, y) = (Secret::random_hex().unwrap(), Secret::random_hex().unwrap());
        assert_eq!(x.len(), 64);
        assert!(x.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(x, y);
    }
}
