//! Cryptography of the bridge: Meta webhook signatures ([`signature`]), the Fernet token vault
//! ([`vault`]) and JWTs in both directions ([`jwt`]). Nothing here logs or returns a secret.

pub mod canonical;
pub mod jwt;
pub mod signature;
pub mod vault;

/// Installs the process-wide TLS provider (ring) once; reqwest needs it before any client.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
