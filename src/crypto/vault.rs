//! The token vault: Fernet encryption (compatible with Python `cryptography.fernet`) of every
//! secret the bridge keeps at rest: channel access tokens (P01) and the per-instance signing
//! secrets. Keys come from configuration only, never from the database (P02); the first key
//! encrypts, every key decrypts, so keys rotate without downtime.

use fernet::{Fernet, MultiFernet};

use crate::config::Secret;

/// Decryption failed: wrong key set or a damaged token. Says nothing about the content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stored secret cannot be decrypted with the configured Fernet keys")]
pub struct VaultError;

pub struct Vault {
    primary: Fernet,
    all: MultiFernet,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(***)")
    }
}

impl Vault {
    /// Builds the vault; the error names which key (1-based) is invalid, never its value.
    pub fn new(keys: &[Secret]) -> Result<Self, String> {
        if let Some(problem) = crate::config::fernet_keys_problem(keys) {
            return Err(problem);
        }
        let parse = |k: &Secret| Fernet::new(k.expose().trim()).ok_or("a key is invalid");
        let primary = parse(&keys[0])?;
        let all = keys.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            primary,
            all: MultiFernet::new(all),
        })
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        self.primary.encrypt(plaintext.as_bytes())
    }

    /// Whether `token` is already encrypted under the first (current) key.
    pub fn is_current(&self, token: &str) -> bool {
        self.primary.decrypt(token).is_ok()
    }

    /// Re-encrypts `token` under the first key; `None` when it already is.
    pub fn reencrypt(&self, token: &str) -> Result<Option<String>, VaultError> {
        if self.is_current(token) {
            return Ok(None);
        }
        let plain = self.all.decrypt(token).map_err(|_| VaultError)?;
        Ok(Some(self.primary.encrypt(&plain)))
    }

    pub fn decrypt(&self, token: &str) -> Result<String, VaultError> {
        let bytes = self.all.decrypt(token).map_err(|_| VaultError)?;
        String::from_utf8(bytes).map_err(|_| VaultError)
    }
}

/// A new random Fernet key.
pub fn generate_key() -> String {
    Fernet::generate_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p01_round_trip_and_ciphertext_hides_plaintext() {
        let v = Vault::new(&[Secret::new(generate_key())]).expect("vault");
        let token = v.encrypt("EAAG-secret-token");
        assert!(!token.contains("EAAG"));
        assert_eq!(v.decrypt(&token).expect("decrypt"), "EAAG-secret-token");
    }

    #[test]
    fn p02_old_keys_decrypt_new_key_encrypts() {
        let old = generate_key();
        let new = generate_key();
        let v_old = Vault::new(&[Secret::new(old.clone())]).expect("vault");
        let t_old = v_old.encrypt("tok");
        let v = Vault::new(&[Secret::new(new.clone()), Secret::new(old)]).expect("vault");
        assert_eq!(v.decrypt(&t_old).expect("old token"), "tok");
        let t_new = v.encrypt("tok");
        let only_new = Vault::new(&[Secret::new(new)]).expect("vault");
        assert_eq!(only_new.decrypt(&t_new).expect("new token"), "tok");
        assert_eq!(only_new.decrypt(&t_old), Err(VaultError));
    }

    #[test]
    fn invalid_keys_are_reported_by_position() {
        let err = Vault::new(&[Secret::new(generate_key()), Secret::new("nope")]).expect_err("bad");
        assert!(err.contains("key 2"));
        assert!(!err.contains("nope"));
    }

    #[test]
    fn p01_python_cryptography_token_decrypts() {
        // Key and token produced by Python `cryptography.fernet.Fernet` (cryptography 48, generated for this test).
        let key = "NTdmzoKjjyMgLPlzLbSYboUxcdAhiSsjaXeDKNSr1Ig=";
        let token = "gAAAAABrA2w2WvE3W5FOR_GRTON8tsOSTG4peeejwHqrl24T__DZL7kCkbz2DhcxVXv2lBaHVigjVjnyaRpRPFkLN_Q6i9R_GW7B6L0P9UhUxknpbliaw0w=";
        let v = Vault::new(&[Secret::new(key)]).expect("vault");
        // The token above is older than any ttl; Fernet without ttl accepts it.
        match v.decrypt(token) {
            Ok(text) => assert_eq!(text, "hello from python"),
            Err(_) => panic!("python token must decrypt"),
        }
    }
}
