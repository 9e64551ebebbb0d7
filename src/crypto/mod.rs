//! Cryptography of the bridge: Meta webhook signatures ([`signature`]), the Fernet token vault
//! ([`vault`]) and JWTs in both directions ([`jwt`]). Nothing here logs or returns a secret.

pub mod jwt;
pub mod signature;
pub mod vault;
