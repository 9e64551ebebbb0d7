//! JWTs in both directions (P08).
//!
//! - Bridge → instance: every callback carries `Authorization: Bearer <JWT>` with
//!   `iss` = "metabridge", `aud` = the instance id, `iat`, a short `exp`, a unique `jti`,
//!   `sub` = the event id. It is signed either HS256 with the instance's secret (shown once at
//!   creation) or EdDSA with the bridge's own Ed25519 key ([`BridgeKey`]), whose public half is
//!   served by [`jwks`] at `/.well-known/jwks.json` (the header's `kid` names the key).
//!   The bridge never signs RS256 (RUSTSEC-2023-0071 concerns RSA private-key operations).
//! - Instance → bridge (`/v1`): the instance signs with one of its registered
//!   [`VerificationKey`]s: the HS256 secret, or an RS256 / EdDSA public key. The algorithm is
//!   pinned per key (a token is only checked against keys of its header's algorithm, so a PEM
//!   is never used as an HMAC secret; `none` and every other algorithm are refused), a `kid`
//!   in the header selects exactly one key, `exp` is required and a lifetime over the
//!   configured maximum is refused, `aud` must be the bridge's audience and `iss` (or `sub`)
//!   names the instance.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, InstanceId};

/// Issuer of the bridge's own tokens.
pub const BRIDGE_ISSUER: &str = "metabridge";
/// Lifetime of the bridge's callback tokens.
pub const CALLBACK_TOKEN_TTL_SECS: i64 = 300;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
/// Largest instance token accepted (compact serialization, bytes).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Largest PEM accepted for a key.
pub const MAX_KEY_PEM_BYTES: usize = 16 * 1024;
/// Smallest RSA modulus accepted for RS256 verification keys.
pub const MIN_RSA_BITS: usize = 2048;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// Algorithm of an instance's verification key (the only algorithms the bridge accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlg {
    #[serde(rename = "HS256")]
    Hs256,
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 3] = [KeyAlg::Hs256, KeyAlg::Rs256, KeyAlg::EdDsa];

    /// The JOSE name: "HS256", "RS256" or "EdDSA".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name (ASCII case-insensitive); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The jsonwebtoken algorithm.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Rs256 => Algorithm::RS256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }

    fn from_algorithm(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::HS256 => Some(Self::Hs256),
            Algorithm::RS256 => Some(Self::Rs256),
            Algorithm::EdDSA => Some(Self::EdDsa),
            _ => None,
        }
    }

    /// Whether the key material is a PEM public key (else a shared secret).
    pub fn uses_public_key(self) -> bool {
        !matches!(self, Self::Hs256)
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlg {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| {
            KeyError::Invalid("unknown algorithm: use HS256, RS256 or EdDSA".to_string())
        })
    }
}

/// Why a key was refused. `code()` is the machine code, `Display` the message; neither ever
/// contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Unreadable, oversized or otherwise unusable key.
    #[error("{0}")]
    Invalid(String),
    /// A private key was offered where a public key belongs.
    #[error("private key: register the public half only")]
    PrivateKey,
    /// A key too weak to accept (RSA under 2048 bits, small-order Ed25519 point).
    #[error("{0}")]
    Weak(String),
    /// A key of another type than the algorithm needs.
    #[error("{0}")]
    WrongType(String),
}

impl KeyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_key",
            Self::PrivateKey => "private_key",
            Self::Weak(_) => "weak_key",
            Self::WrongType(_) => "wrong_key_type",
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    fn invalid(msg: &str) -> Self {
        Self::Invalid(msg.to_string())
    }
}

/// The material of an instance's verification key.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// HS256 shared secret.
    Secret(String),
    /// RS256 / EdDSA public key, PEM (`-----BEGIN PUBLIC KEY-----`; RS256 also takes
    /// `-----BEGIN RSA PUBLIC KEY-----`).
    PublicPem(String),
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([redacted])"),
            Self::PublicPem(p) => f.debug_tuple("PublicPem").field(&p.len()).finish(),
        }
    }
}

/// One key an instance may sign its `/v1` tokens with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    pub kid: String,
    pub alg: KeyAlg,
    pub material: KeyMaterial,
}

impl VerificationKey {
    /// An HS256 key (the instance's shared secret).
    pub fn hs256(kid: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            alg: KeyAlg::Hs256,
            material: KeyMaterial::Secret(secret.into()),
        }
    }

    /// An RS256 / EdDSA public key, validated with [`validate_public_key_pem`].
    pub fn public_pem(
        kid: impl Into<String>,
        alg: KeyAlg,
        pem: impl Into<String>,
    ) -> Result<Self, KeyError> {
        let pem = pem.into();
        validate_public_key_pem(alg, &pem)?;
        Ok(Self {
            kid: kid.into(),
            alg,
            material: KeyMaterial::PublicPem(pem),
        })
    }

    /// The jsonwebtoken key, or `None` when the material does not fit the algorithm or fails
    /// validation (so a key stored before a rule tightened is not used).
    fn decoding_key(&self) -> Option<DecodingKey> {
        match (self.alg, &self.material) {
            (KeyAlg::Hs256, KeyMaterial::Secret(s)) if !s.is_empty() => {
                Some(DecodingKey::from_secret(s.as_bytes()))
            }
            (KeyAlg::Rs256 | KeyAlg::EdDsa, KeyMaterial::PublicPem(pem)) => {
                public_decoding_key(self.alg, pem).ok()
            }
            _ => None,
        }
    }
}

/// Checks a PEM public key an instance registers for `alg` (RS256 or EdDSA): one PEM block of
/// at most 16 KiB, a public key (never a private key or a certificate), of the algorithm's
/// type, RSA at least 2048 bits.
pub fn validate_public_key_pem(alg: KeyAlg, pem: &str) -> Result<(), KeyError> {
    public_decoding_key(alg, pem).map(|_| ())
}

fn public_decoding_key(alg: KeyAlg, pem: &str) -> Result<DecodingKey, KeyError> {
    if pem.len() > MAX_KEY_PEM_BYTES {
        return Err(KeyError::invalid("the key PEM is larger than 16 KiB"));
    }
    if pem.contains("PRIVATE KEY") {
        return Err(KeyError::PrivateKey);
    }
    if alg == KeyAlg::Hs256 {
        return Err(KeyError::WrongType(
            "HS256 uses a shared secret, not a PEM key".to_string(),
        ));
    }
    let pem = pem.trim();
    let label = single_pem_label(pem)?;
    match alg {
        KeyAlg::Rs256 => {
            match label {
                "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
                "CERTIFICATE" => return Err(certificate_refused()),
                _ => return Err(KeyError::invalid("not a PEM public key")),
            }
            let wrong_type = || KeyError::WrongType("RS256 needs an RSA public key".to_string());
            let key = match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(key) => key,
                Err(_) if is_other_public_key(pem, alg) => return Err(wrong_type()),
                Err(_) => return Err(KeyError::invalid("not a readable RSA public key")),
            };
            let bits = rsa_modulus_bits(&key).ok_or_else(|| {
                KeyError::invalid("not a readable RSA public key (2048 to 4096 bits)")
            })?;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::Weak(format!(
                    "RSA key of {bits} bits: at least {MIN_RSA_BITS} are required"
                )));
            }
            Ok(key)
        }
        KeyAlg::EdDsa => {
            match label {
                "PUBLIC KEY" => {}
                "RSA PUBLIC KEY" => {
                    return Err(KeyError::WrongType(
                        "EdDSA needs an Ed25519 public key".to_string(),
                    ));
                }
                "CERTIFICATE" => return Err(certificate_refused()),
                _ => return Err(KeyError::invalid("not a PEM public key")),
            }
            match ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
                Ok(vk) if vk.is_weak() => {
                    Err(KeyError::Weak("Ed25519 key of small order".to_string()))
                }
                Ok(vk) => Ok(DecodingKey::from_ed_der(vk.as_bytes())),
                Err(_) if is_other_public_key(pem, alg) => Err(KeyError::WrongType(
                    "EdDSA needs an Ed25519 public key".to_string(),
                )),
                Err(_) => Err(KeyError::invalid("not a readable Ed25519 public key")),
            }
        }
        KeyAlg::Hs256 => unreachable!("refused above"),
    }
}

fn certificate_refused() -> KeyError {
    KeyError::invalid("a certificate: register its public key (`openssl x509 -pubkey -noout`)")
}

/// The label of the one PEM block in `pem` (`PUBLIC KEY`, …).
fn single_pem_label(pem: &str) -> Result<&str, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    match pem.matches(BEGIN).count() {
        0 => {
            return Err(KeyError::invalid(
                "not a PEM key (-----BEGIN PUBLIC KEY-----)",
            ));
        }
        1 => {}
        _ => return Err(KeyError::invalid("one PEM block expected")),
    }
    let start = pem.find(BEGIN).map(|i| i + BEGIN.len()).unwrap_or(0);
    let rest = &pem[start..];
    let end = rest
        .find("-----")
        .ok_or_else(|| KeyError::invalid("not a PEM key (-----BEGIN PUBLIC KEY-----)"))?;
    Ok(&rest[..end])
}

/// Whether `pem` reads as a public key of a type other than `alg` needs (for the error code).
fn is_other_public_key(pem: &str, alg: KeyAlg) -> bool {
    let b = pem.as_bytes();
    let ec = DecodingKey::from_ec_pem(b).is_ok();
    match alg {
        KeyAlg::Rs256 => ec || ed25519_dalek::VerifyingKey::from_public_key_pem(pem).is_ok(),
        KeyAlg::EdDsa => ec || DecodingKey::from_rsa_pem(b).is_ok(),
        KeyAlg::Hs256 => false,
    }
}

/// Size of an RSA public key's modulus, parsed the way verification parses it.
fn rsa_modulus_bits(key: &DecodingKey) -> Option<usize> {
    let jwk = Jwk::from_decoding_key(key, Some(Algorithm::RS256)).ok()?;
    let AlgorithmParameters::RSA(params) = jwk.algorithm else {
        return None;
    };
    let n = URL_SAFE_NO_PAD
        .decode(params.n.trim_end_matches('='))
        .ok()?;
    let first = n.iter().position(|&b| b != 0)?;
    let n = &n[first..];
    Some((n.len() - 1) * 8 + (8 - n[0].leading_zeros() as usize))
}

// ---------------------------------------------------------------------------------------------
// Bridge → instance
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
pub struct CallbackClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// Lowercase hex SHA-256 of the exact bytes POSTed as the body: the token is proof only for
    /// that body, so a body altered in transit (or a token moved onto another body) fails.
    pub body_sha256: String,
}

/// Lowercase hex SHA-256 of `body`: the value of the `body_sha256` claim.
pub fn body_sha256(body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body))
}

fn callback_claims(instance_id: &InstanceId, event_id: &EventId, body: &[u8]) -> CallbackClaims {
    let now = chrono::Utc::now().timestamp();
    CallbackClaims {
        iss: BRIDGE_ISSUER.to_string(),
        aud: instance_id.to_string(),
        sub: event_id.to_string(),
        iat: now,
        exp: now + CALLBACK_TOKEN_TTL_SECS,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        body_sha256: body_sha256(body),
    }
}

/// Mints the token that authenticates one delivery attempt to an instance (HS256, the
/// instance's secret). `body` is the exact bytes POSTed with it (bound by `body_sha256`).
pub fn mint_callback_token(
    secret: &str,
    instance_id: &InstanceId,
    event_id: &EventId,
    body: &[u8],
) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &callback_claims(instance_id, event_id, body),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding of plain claims cannot fail")
}

/// Mints the callback token signed EdDSA with the bridge's own key; the header carries the
/// key's `kid` so the instance picks it from the bridge's JWKS. `body` is the exact bytes
/// POSTed with it (bound by `body_sha256`).
pub fn mint_callback_token_eddsa(
    key: &BridgeKey,
    instance_id: &InstanceId,
    event_id: &EventId,
    body: &[u8],
) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        &callback_claims(instance_id, event_id, body),
        &key.encoding,
    )
    .expect("EdDSA encoding with a validated key cannot fail")
}

/// The bridge's Ed25519 signing key for callbacks.
#[derive(Clone)]
pub struct BridgeKey {
    kid: String,
    encoding: EncodingKey,
    /// Public key, base64url without padding (the JWK `x`).
    x: String,
}

impl fmt::Debug for BridgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeKey")
            .field("kid", &self.kid)
            .field("x", &self.x)
            .finish_non_exhaustive()
    }
}

impl BridgeKey {
    /// Loads the key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, Ed25519 only, as
    /// written by [`BridgeKey::generate`] or `openssl genpkey -algorithm ed25519`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.len() > MAX_KEY_PEM_BYTES {
            return Err(KeyError::invalid("the key PEM is larger than 16 KiB"));
        }
        let pem = pem.trim();
        match single_pem_label(pem)? {
            "PRIVATE KEY" => {}
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(KeyError::WrongType(
                    "the bridge signs with Ed25519 only".to_string(),
                ));
            }
            _ => {
                return Err(KeyError::invalid(
                    "not a PKCS#8 private key (-----BEGIN PRIVATE KEY-----)",
                ));
            }
        }
        match ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            Ok(sk) => Self::from_signing_key(&sk),
            Err(_)
                if EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok()
                    || EncodingKey::from_ec_pem(pem.as_bytes()).is_ok() =>
            {
                Err(KeyError::WrongType(
                    "the bridge signs with Ed25519 only".to_string(),
                ))
            }
            Err(_) => Err(KeyError::invalid("not a readable Ed25519 private key")),
        }
    }

    /// A fresh key and its PKCS#8 PEM (to store; `metabridge keys generate --jwt`, dev mode).
    pub fn generate() -> (Self, String) {
        use rand::RngCore;
        let mut seed = [0u8; ed25519_dalek::SECRET_KEY_LENGTH];
        rand::rng().fill_bytes(&mut seed);
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        let pem = sk
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding of a fresh Ed25519 key cannot fail")
            .to_string();
        let key = Self::from_signing_key(&sk).expect("a fresh Ed25519 key is valid");
        (key, pem)
    }

    fn from_signing_key(sk: &ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        let der = sk
            .to_pkcs8_der()
            .map_err(|_| KeyError::invalid("not a usable Ed25519 private key"))?;
        let x = URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes());
        let kid = ed25519_thumbprint(&x)?;
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            x,
        })
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, base64url (the JWK `x`).
    pub fn x(&self) -> &str {
        &self.x
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `kid`, `alg`, `use`).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// The key that verifies this key's tokens.
    pub fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_ed_components(&self.x).expect("x is base64url of our own key")
    }
}

/// RFC 7638 thumbprint of an Ed25519 public key given as base64url `x`:
/// base64url(SHA-256(`{"crv":"Ed25519","kty":"OKP","x":"…"}`)).
fn ed25519_thumbprint(x: &str) -> Result<String, KeyError> {
    let jwk: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": x,
    }))
    .map_err(|_| KeyError::invalid("not a usable Ed25519 key"))?;
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| KeyError::invalid("not a usable Ed25519 key"))
}

/// The JWKS document (`/.well-known/jwks.json`) publishing the bridge's public keys: the
/// current key and, during a rotation, retired ones still in use by receivers.
pub fn jwks(keys: &[&BridgeKey]) -> serde_json::Value {
    let mut seen = std::collections::HashSet::new();
    let keys: Vec<_> = keys
        .iter()
        .filter(|k| seen.insert(k.kid.as_str()))
        .map(|k| k.jwk())
        .collect();
    serde_json::json!({ "keys": keys })
}

/// How the bridge signs callbacks to one instance.
#[derive(Clone, Copy)]
pub enum BridgeSigner<'a> {
    /// HS256 with the instance's secret ([`mint_callback_token`]).
    InstanceSecret(&'a str),
    /// EdDSA with the bridge's key ([`mint_callback_token_eddsa`]).
    BridgeKey(&'a BridgeKey),
}

impl fmt::Debug for BridgeSigner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InstanceSecret(_) => f.write_str("InstanceSecret([redacted])"),
            Self::BridgeKey(k) => f.debug_tuple("BridgeKey").field(&k.kid).finish(),
        }
    }
}

impl BridgeSigner<'_> {
    pub fn alg(&self) -> KeyAlg {
        match self {
            Self::InstanceSecret(_) => KeyAlg::Hs256,
            Self::BridgeKey(_) => KeyAlg::EdDsa,
        }
    }

    /// Mints the token for one delivery attempt of `body` (the exact bytes POSTed).
    pub fn mint(&self, instance_id: &InstanceId, event_id: &EventId, body: &[u8]) -> String {
        match self {
            Self::InstanceSecret(secret) => {
                mint_callback_token(secret, instance_id, event_id, body)
            }
            Self::BridgeKey(key) => mint_callback_token_eddsa(key, instance_id, event_id, body),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Instance → bridge
// ---------------------------------------------------------------------------------------------

/// Why an instance's token was refused: nothing that helps an attacker (the API's codes for
/// these are `http::errors::codes::TOKEN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid for this service")]
    Invalid,
}

#[derive(Debug, Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
    sub: Option<String>,
}

/// The instance a token names: `iss` when it is an instance id, else `sub`. The same rule
/// picks the key ([`claimed_instance`]) and checks the verified claims.
fn named_instance<'a>(iss: Option<&'a str>, sub: Option<&'a str>) -> Option<&'a str> {
    match iss {
        Some(iss) if iss.starts_with(crate::ids::INSTANCE) => Some(iss),
        _ => sub,
    }
}

/// Reads the claimed instance id (`iss`, else `sub`) from a token WITHOUT verifying it, only
/// to find which key verifies it. Nothing else may trust this value.
pub fn claimed_instance(token: &str) -> Result<String, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Invalid);
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Invalid);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthError::Invalid)?;
    let claims: UnverifiedClaims =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid)?;
    named_instance(claims.iss.as_deref(), claims.sub.as_deref())
        .map(str::to_string)
        .ok_or(AuthError::Invalid)
}

#[derive(Debug, Deserialize)]
struct UnverifiedAudience {
    aud: Option<String>,
}

/// Reads `aud` from a token WITHOUT verifying it (a receiver uses it to pick the key).
pub fn claimed_audience(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<UnverifiedAudience>(&bytes)
        .ok()?
        .aud
}

#[derive(Debug, Deserialize)]
struct InstanceClaims {
    exp: i64,
    iat: Option<i64>,
    iss: Option<String>,
    sub: Option<String>,
    aud: serde_json::Value,
}

/// Verifies an instance's token with its HS256 secret (one key; a `kid` in the header is
/// ignored).
pub fn verify_instance_token(
    token: &str,
    instance_id: &InstanceId,
    secret: &str,
    audience: &str,
    max_lifetime: Duration,
) -> Result<(), AuthError> {
    let keys = [VerificationKey::hs256("", secret)];
    verify(token, instance_id, &keys, false, audience, max_lifetime)
}

/// Verifies an instance's token against its registered keys (see the module docs for the
/// rules). `Expired` only for a token whose signature verified.
pub fn verify_instance_token_with_keys(
    token: &str,
    instance_id: &InstanceId,
    keys: &[VerificationKey],
    audience: &str,
    max_lifetime: Duration,
) -> Result<(), AuthError> {
    verify(token, instance_id, keys, true, audience, max_lifetime)
}

fn verify(
    token: &str,
    instance_id: &InstanceId,
    keys: &[VerificationKey],
    match_kid: bool,
    audience: &str,
    max_lifetime: Duration,
) -> Result<(), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Invalid);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
    // Pinned: only HS256 / RS256 / EdDSA, and only against keys registered for that
    // algorithm (`none` does not even parse as a header).
    let alg = KeyAlg::from_algorithm(header.alg).ok_or(AuthError::Invalid)?;
    let kid = header.kid.as_deref().filter(|_| match_kid);
    if let Some(kid) = kid
        && !keys.iter().any(|k| k.kid == kid)
    {
        return Err(AuthError::Invalid);
    }
    let candidates = keys
        .iter()
        .filter(|k| k.alg == alg && kid.is_none_or(|kid| k.kid == kid));

    let mut validation = Validation::new(alg.algorithm());
    validation.algorithms = vec![alg.algorithm()];
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;

    for key in candidates {
        let Some(decoding_key) = key.decoding_key() else {
            continue;
        };
        match jsonwebtoken::decode::<InstanceClaims>(token, &decoding_key, &validation) {
            Ok(data) => {
                return check_claims(&data.claims, instance_id, audience, max_lifetime);
            }
            // Claims are validated after the signature: this key signed the token.
            Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                return Err(AuthError::Expired);
            }
            // Another key may still verify (rotation); claim failures end Invalid anyway.
            Err(_) => continue,
        }
    }
    Err(AuthError::Invalid)
}

fn check_claims(
    claims: &InstanceClaims,
    instance_id: &InstanceId,
    audience: &str,
    max_lifetime: Duration,
) -> Result<(), AuthError> {
    // `aud` names this service and nothing else.
    let aud_ok = match &claims.aud {
        serde_json::Value::String(aud) => aud == audience,
        serde_json::Value::Array(auds) => auds.len() == 1 && auds[0].as_str() == Some(audience),
        _ => false,
    };
    if !aud_ok {
        return Err(AuthError::Invalid);
    }
    if named_instance(claims.iss.as_deref(), claims.sub.as_deref()) != Some(instance_id.as_str()) {
        return Err(AuthError::Invalid);
    }
    let now = chrono::Utc::now().timestamp();
    let leeway = LEEWAY_SECS as i64;
    let start = claims.iat.unwrap_or(now);
    if start > now + leeway {
        return Err(AuthError::Invalid);
    }
    let max = i64::try_from(max_lifetime.as_secs()).unwrap_or(i64::MAX);
    if claims.exp.saturating_sub(start) > max {
        return Err(AuthError::Invalid);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
