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
}

fn callback_claims(instance_id: &str, event_id: &str) -> CallbackClaims {
    let now = chrono::Utc::now().timestamp();
    CallbackClaims {
        iss: BRIDGE_ISSUER.to_string(),
        aud: instance_id.to_string(),
        sub: event_id.to_string(),
        iat: now,
        exp: now + CALLBACK_TOKEN_TTL_SECS,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// Mints the token that authenticates one delivery attempt to an instance (HS256, the
/// instance's secret).
pub fn mint_callback_token(secret: &str, instance_id: &str, event_id: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &callback_claims(instance_id, event_id),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding of plain claims cannot fail")
}

/// Mints the callback token signed EdDSA with the bridge's own key; the header carries the
/// key's `kid` so the instance picks it from the bridge's JWKS.
pub fn mint_callback_token_eddsa(key: &BridgeKey, instance_id: &str, event_id: &str) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        &callback_claims(instance_id, event_id),
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

    /// Mints the token for one delivery attempt.
    pub fn mint(&self, instance_id: &str, event_id: &str) -> String {
        match self {
            Self::InstanceSecret(secret) => mint_callback_token(secret, instance_id, event_id),
            Self::BridgeKey(key) => mint_callback_token_eddsa(key, instance_id, event_id),
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
    instance_id: &str,
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
    instance_id: &str,
    keys: &[VerificationKey],
    audience: &str,
    max_lifetime: Duration,
) -> Result<(), AuthError> {
    verify(token, instance_id, keys, true, audience, max_lifetime)
}

fn verify(
    token: &str,
    instance_id: &str,
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
    instance_id: &str,
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
    if named_instance(claims.iss.as_deref(), claims.sub.as_deref()) != Some(instance_id) {
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
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use serde_json::json;

    const SECRET: &str = "instance-secret-0123456789abcdef";
    const INS: &str = "ins_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
    const AUD: &str = "metabridge";
    const HOUR: Duration = Duration::from_secs(3600);

    // Test keys made once with `openssl genrsa 2048|1024`, `openssl rsa -pubout`,
    // `openssl rsa -RSAPublicKey_out` and `openssl genpkey -algorithm ec` (P-256).
    const RSA_2048_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC5YBb1b9W0vmGv
/DocbS9qa+hRvl+Q+Curj1ygRfPi8JKjCISfI3LilwtLfvKeW87WZPha9HCNW3nz
QD2KD3uX1iQ0vgJ7NTniR5YpyL1Lk2NQjYNssnMY5oxg2HsW0kotO6tVxkyXCDT5
qcXVxU9WGsaKFhvNc5f//wLqyphgphTPdCiKLoT1WFip9ksKH/xHC92oebc78xsL
x2MAoi6gHLTZiB1+GxAScpvAhMV25FHa9J/+QFJPhTzY01bucfZIO9XN/1pL/g2v
ZV+o/xVsr7RyVIuGDY85xnBNDC41AjVBz/JguPbMhfdJlInfbm4rU+HX9AKI3O+t
2FvSHcjZAgMBAAECggEAAg742kteYGYv0AQ5QfkNan1dxFCcn4+97mcGZIo6UdYR
jslorZq3ayA5wiIcABmtY5CV+G6X9F3kbgjT1h1jZjV8y/AjN2qJJMPePUMLJRRz
KSEVKUcXA5sFyoqE3WVC6RstRSPRVGkFK5OQzJWnEqHz+/MQZnjm4nMavXA3/nS8
1gOsgwbHRiG0D/4VZ5BI71Dg3zRWLBP3c8jZB4S+ymJ6biFDUopv44RXH7qJASl3
kZQihhQaU936epNV0NVq/s7nQZaD+wvvsRjzm0Ju0MBvRdvo7l3tjVojwzDbsxjS
Ig2diW50RRxCwor1PfUu5p696EvnpZEpaCO0m9hWQQKBgQDfCb02Hl80zRdxh4bJ
wfNPZutKdqKnGFO6oIfO5MP0q3P8hES1urt/ezpWj2dcqdAjUpswzjwYf1tQZd6n
uVN9znCZpQp6HnpPx9SMdBDftGLeeZeS3e/CPOY3nUDvvlLB26bHCMBJS74X3+Fr
QnTTMikhAj+TlU6bM3uY1i9LuQKBgQDUxXKExknMig2m9Kd49qxeODkh+9ut8Aog
v5FBI2wk+s7zvnZXNgv03HAQZvewJBBRsYXPJT42e14gqvPX3YjD2cZJnkOPVkLY
L/rPymsmQ91Q/M6iMzPnGJkfrsi7cgRo+m6cr00ekvlXhfDBP4THoRYqQ5xbcCZN
sDtBmmw2IQKBgQCE3adi0usCaF7b2dF45VpNZdEq9ctlYT+XwMPGg08ctPqOZjkM
TWYexkj1gc4gTGTadf5PL7xrF4tNNLJUFjnfixhW3xODth5E4pUC6q2Wpj3zrFmY
Oy/19RNr8/jYGPfx1ijfDp6Fy2I9lLgTjm5L1ejcaht3jo1aNWwemxFnuQKBgARv
USG/WE5xGjO+qbb1vUYBef9hVoTbmfpww8BN0rU6nRGriJ/suncSGSveWY9MUSLC
xn0404EjNSUNKyP2tCEQ6vch21qje6Ux6tJl77HOfFBx1ITA+HX6p0ZnyDtP9xOR
FLkjVkIq4hOW8Ru2DThz/RhIbHvjbIj2AWYup87BAoGBAI4iYtH0hfa2tE2z2f9A
Yy8V3wIIe22FJn90gHt6edeaBU0T53D3biqPDaBOEmX/JukOFjGj5fWJPAZUcMdw
ykNWh8QRIdAXCqQyIg9JgALqc4w0aQpU5Wg5be3ybWRCL7CPrSMhfi4oeMQjoK61
Py50so9fXQPM5fVow5xDHHvE
-----END PRIVATE KEY-----
";

    const RSA_2048_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuWAW9W/VtL5hr/w6HG0v
amvoUb5fkPgrq49coEXz4vCSowiEnyNy4pcLS37ynlvO1mT4WvRwjVt580A9ig97
l9YkNL4CezU54keWKci9S5NjUI2DbLJzGOaMYNh7FtJKLTurVcZMlwg0+anF1cVP
VhrGihYbzXOX//8C6sqYYKYUz3Qoii6E9VhYqfZLCh/8RwvdqHm3O/MbC8djAKIu
oBy02YgdfhsQEnKbwITFduRR2vSf/kBST4U82NNW7nH2SDvVzf9aS/4Nr2VfqP8V
bK+0clSLhg2POcZwTQwuNQI1Qc/yYLj2zIX3SZSJ325uK1Ph1/QCiNzvrdhb0h3I
2QIDAQAB
-----END PUBLIC KEY-----
";

    const RSA_2048_PUBLIC_PKCS1: &str = "\
-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAuWAW9W/VtL5hr/w6HG0vamvoUb5fkPgrq49coEXz4vCSowiEnyNy
4pcLS37ynlvO1mT4WvRwjVt580A9ig97l9YkNL4CezU54keWKci9S5NjUI2DbLJz
GOaMYNh7FtJKLTurVcZMlwg0+anF1cVPVhrGihYbzXOX//8C6sqYYKYUz3Qoii6E
9VhYqfZLCh/8RwvdqHm3O/MbC8djAKIuoBy02YgdfhsQEnKbwITFduRR2vSf/kBS
T4U82NNW7nH2SDvVzf9aS/4Nr2VfqP8VbK+0clSLhg2POcZwTQwuNQI1Qc/yYLj2
zIX3SZSJ325uK1Ph1/QCiNzvrdhb0h3I2QIDAQAB
-----END RSA PUBLIC KEY-----
";

    const RSA_1024_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCf2k+48EPSFqxXOFBY5GNfQN/c
BcO6Rq661vbMHh5jeouWMyUZ85UcFYnwf9NopMjHeTg4LAnMyHZV+lu8xi5Efr1f
kKgbw9XPShjOr43kEvS2TS3Qzh9GxoNhjzcrXvrJqwfvWas0cGtS14NcaGXzNc6a
2Sxdf72yqmhT3gpOnwIDAQAB
-----END PUBLIC KEY-----
";

    const EC_P256_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEp6u/iTiy+OFeFDB+6lMntE8aqA5o
XxM50AaTZkrolRGoX0NpCcD4O098dydajsTdk/0JAwKtO6Df0w8fIYd3WQ==
-----END PUBLIC KEY-----
";

    fn token(alg: Algorithm, claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    fn signed(
        alg: Algorithm,
        kid: Option<&str>,
        claims: serde_json::Value,
        key: &EncodingKey,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, &claims, key).expect("encode")
    }

    fn verify(t: &str) -> Result<(), AuthError> {
        verify_instance_token(t, INS, SECRET, AUD, HOUR)
    }

    fn verify_keys(t: &str, keys: &[VerificationKey]) -> Result<(), AuthError> {
        verify_instance_token_with_keys(t, INS, keys, AUD, HOUR)
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn good_claims() -> serde_json::Value {
        json!({"iss": INS, "aud": AUD, "iat": now(), "exp": now() + 60})
    }

    fn b64(v: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).expect("json"))
    }

    fn rsa_signing_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(RSA_2048_PRIVATE.as_bytes()).expect("rsa key")
    }

    fn rs256_key(kid: &str) -> VerificationKey {
        VerificationKey::public_pem(kid, KeyAlg::Rs256, RSA_2048_PUBLIC).expect("rs256 key")
    }

    /// An Ed25519 pair: (signing key for tokens, registered verification key, private PEM).
    fn ed_pair(kid: &str) -> (EncodingKey, VerificationKey, String) {
        let (_, private_pem) = BridgeKey::generate();
        let sk = ed25519_dalek::SigningKey::from_pkcs8_pem(&private_pem).expect("pem");
        let public_pem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public pem");
        let enc = EncodingKey::from_ed_pem(private_pem.as_bytes()).expect("ed key");
        let vk = VerificationKey::public_pem(kid, KeyAlg::EdDsa, public_pem).expect("ed vk");
        (enc, vk, private_pem)
    }

    #[test]
    fn p08_valid_token_is_accepted() {
        let t = token(Algorithm::HS256, good_claims(), SECRET);
        assert_eq!(claimed_instance(&t).expect("claim"), INS);
        assert_eq!(verify(&t), Ok(()));
        // The single-secret wrapper ignores a kid.
        let t = signed(
            Algorithm::HS256,
            Some("whatever"),
            good_claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        );
        assert_eq!(verify(&t), Ok(()));
    }

    #[test]
    fn p08_token_attacks_are_refused() {
        let n = now();
        // Expired.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": AUD, "iat": n - 600, "exp": n - 300}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Expired));
        // No exp.
        let t = token(Algorithm::HS256, json!({"iss": INS, "aud": AUD}), SECRET);
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Wrong audience.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "other", "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Several audiences, ours among them.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": [AUD, "other"], "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Wrong secret.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": AUD, "exp": n + 60}),
            "other-secret",
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Other algorithm with the same secret.
        let t = token(
            Algorithm::HS512,
            json!({"iss": INS, "aud": AUD, "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Lifetime over the maximum.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": AUD, "iat": n, "exp": n + 7200}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Another instance named.
        let t = token(
            Algorithm::HS256,
            json!({"iss": "ins_x", "aud": AUD, "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // alg none.
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(json!({"iss": INS, "aud": AUD, "exp": n + 60}))
        );
        assert_eq!(verify(&none), Err(AuthError::Invalid));
        // Garbage.
        assert_eq!(claimed_instance("a.b"), Err(AuthError::Invalid));
        assert_eq!(verify("not a token"), Err(AuthError::Invalid));
    }

    #[test]
    fn keys_valid_hs256_rs256_eddsa_tokens_are_accepted() {
        let (ed_enc, ed_vk, _) = ed_pair("ed1");
        let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1"), ed_vk];
        let hs = EncodingKey::from_secret(SECRET.as_bytes());
        let rsa = rsa_signing_key();
        for kid in [None, Some("h1")] {
            let t = signed(Algorithm::HS256, kid, good_claims(), &hs);
            assert_eq!(verify_keys(&t, &keys), Ok(()), "HS256 kid {kid:?}");
        }
        for kid in [None, Some("r1")] {
            let t = signed(Algorithm::RS256, kid, good_claims(), &rsa);
            assert_eq!(verify_keys(&t, &keys), Ok(()), "RS256 kid {kid:?}");
        }
        for kid in [None, Some("ed1")] {
            let t = signed(Algorithm::EdDSA, kid, good_claims(), &ed_enc);
            assert_eq!(verify_keys(&t, &keys), Ok(()), "EdDSA kid {kid:?}");
        }
        // `sub` names the instance when `iss` is absent; no `iat` means exp - now counts.
        let t = signed(
            Algorithm::RS256,
            None,
            json!({"sub": INS, "aud": AUD, "exp": now() + 120}),
            &rsa,
        );
        assert_eq!(verify_keys(&t, &keys), Ok(()));
        // A PKCS#1 RSA public key works too.
        let pkcs1 = VerificationKey::public_pem("r2", KeyAlg::Rs256, RSA_2048_PUBLIC_PKCS1)
            .expect("pkcs1 key");
        let t = signed(Algorithm::RS256, None, good_claims(), &rsa);
        assert_eq!(verify_keys(&t, &[pkcs1]), Ok(()));
    }

    #[test]
    fn keys_expired_and_not_yet_valid() {
        let n = now();
        let (ed_enc, ed_vk, _) = ed_pair("ed1");
        let keys = [rs256_key("r1"), ed_vk];
        let expired = json!({"iss": INS, "aud": AUD, "iat": n - 600, "exp": n - 300});
        let t = signed(Algorithm::RS256, None, expired.clone(), &rsa_signing_key());
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Expired));
        let t = signed(Algorithm::EdDSA, None, expired, &ed_enc);
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Expired));
        // Expired but signed by someone else: not `Expired`.
        let (other_enc, _, _) = ed_pair("x");
        let t = signed(
            Algorithm::EdDSA,
            None,
            json!({"iss": INS, "aud": AUD, "iat": n - 600, "exp": n - 300}),
            &other_enc,
        );
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        // nbf in the future (beyond the leeway).
        let t = signed(
            Algorithm::RS256,
            None,
            json!({"iss": INS, "aud": AUD, "iat": n, "nbf": n + 600, "exp": n + 900}),
            &rsa_signing_key(),
        );
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        // nbf within the leeway is fine.
        let t = signed(
            Algorithm::RS256,
            None,
            json!({"iss": INS, "aud": AUD, "iat": n, "nbf": n + 5, "exp": n + 900}),
            &rsa_signing_key(),
        );
        assert_eq!(verify_keys(&t, &keys), Ok(()));
        // iat in the future.
        let t = signed(
            Algorithm::RS256,
            None,
            json!({"iss": INS, "aud": AUD, "iat": n + 600, "exp": n + 900}),
            &rsa_signing_key(),
        );
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    }

    #[test]
    fn keys_claim_checks() {
        let n = now();
        let keys = [rs256_key("r1")];
        let rsa = rsa_signing_key();
        let check = |claims: serde_json::Value| {
            verify_keys(&signed(Algorithm::RS256, None, claims, &rsa), &keys)
        };
        // Wrong audience.
        assert_eq!(
            check(json!({"iss": INS, "aud": "other", "iat": n, "exp": n + 60})),
            Err(AuthError::Invalid)
        );
        // Missing audience, missing exp.
        assert_eq!(
            check(json!({"iss": INS, "iat": n, "exp": n + 60})),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            check(json!({"iss": INS, "aud": AUD, "iat": n})),
            Err(AuthError::Invalid)
        );
        // iss of another instance (even with our id in sub).
        let other = "ins_0190b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
        assert_eq!(
            check(json!({"iss": other, "sub": INS, "aud": AUD, "iat": n, "exp": n + 60})),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            check(json!({"sub": other, "aud": AUD, "iat": n, "exp": n + 60})),
            Err(AuthError::Invalid)
        );
        // No instance named at all.
        assert_eq!(
            check(json!({"aud": AUD, "iat": n, "exp": n + 60})),
            Err(AuthError::Invalid)
        );
        // Lifetime over the maximum, with iat and without (exp - now).
        assert_eq!(
            check(json!({"iss": INS, "aud": AUD, "iat": n, "exp": n + 3600 + 60})),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            check(json!({"iss": INS, "aud": AUD, "exp": n + 7200})),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            check(json!({"iss": INS, "aud": AUD, "exp": n + 3000})),
            Ok(())
        );
    }

    #[test]
    fn keys_wrong_signature_is_refused() {
        let (_, ed_vk, _) = ed_pair("ed1");
        let (other_ed, _, _) = ed_pair("ed2");
        let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1"), ed_vk];
        let t = token(Algorithm::HS256, good_claims(), "not-the-secret");
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        let t = signed(Algorithm::EdDSA, None, good_claims(), &other_ed);
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        // A valid RS256 token whose payload was swapped.
        let good = signed(Algorithm::RS256, None, good_claims(), &rsa_signing_key());
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(json!({"iss": INS, "aud": AUD, "iat": now(), "exp": now() + 3000, "x": 1})),
            parts[2]
        );
        assert_eq!(verify_keys(&forged, &keys), Err(AuthError::Invalid));
        // No keys at all.
        assert_eq!(verify_keys(&good, &[]), Err(AuthError::Invalid));
    }

    #[test]
    fn keys_alg_none_is_refused() {
        let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1")];
        for header in [
            json!({"alg": "none", "typ": "JWT"}),
            json!({"alg": "none", "kid": "h1"}),
            json!({"alg": "None"}),
            json!({"alg": "NONE"}),
        ] {
            let t = format!("{}.{}.", b64(header.clone()), b64(good_claims()));
            assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid), "{header}");
        }
    }

    #[test]
    fn keys_algorithm_confusion_is_refused() {
        // HS256 token whose HMAC secret is the registered RS256 public key's PEM text.
        for pem in [RSA_2048_PUBLIC, RSA_2048_PUBLIC.trim()] {
            let confused = EncodingKey::from_secret(pem.as_bytes());
            let keys = [rs256_key("r1")];
            for kid in [None, Some("r1")] {
                let t = signed(Algorithm::HS256, kid, good_claims(), &confused);
                assert_eq!(
                    verify_keys(&t, &keys),
                    Err(AuthError::Invalid),
                    "kid {kid:?}"
                );
            }
            // Also when an HS256 key exists: the kid of the RSA key does not lend its PEM.
            let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1")];
            for kid in [None, Some("r1")] {
                let t = signed(Algorithm::HS256, kid, good_claims(), &confused);
                assert_eq!(
                    verify_keys(&t, &keys),
                    Err(AuthError::Invalid),
                    "kid {kid:?}"
                );
            }
        }
        // Same with an EdDSA key's PEM.
        let (_, ed_vk, _) = ed_pair("ed1");
        let KeyMaterial::PublicPem(ed_pem) = ed_vk.material.clone() else {
            panic!("pem");
        };
        let t = signed(
            Algorithm::HS256,
            None,
            good_claims(),
            &EncodingKey::from_secret(ed_pem.as_bytes()),
        );
        assert_eq!(verify_keys(&t, &[ed_vk]), Err(AuthError::Invalid));
        // Material that does not fit the declared algorithm is never used.
        let mislabeled = VerificationKey {
            kid: "m".into(),
            alg: KeyAlg::Hs256,
            material: KeyMaterial::PublicPem(RSA_2048_PUBLIC.into()),
        };
        let t = signed(
            Algorithm::HS256,
            None,
            good_claims(),
            &EncodingKey::from_secret(RSA_2048_PUBLIC.as_bytes()),
        );
        assert_eq!(verify_keys(&t, &[mislabeled]), Err(AuthError::Invalid));
        // An empty secret is never a key.
        let t = token(Algorithm::HS256, good_claims(), "");
        assert_eq!(
            verify_keys(&t, &[VerificationKey::hs256("e", "")]),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn keys_rs256_token_with_only_hs256_key_is_refused() {
        let keys = [VerificationKey::hs256("h1", SECRET)];
        let t = signed(Algorithm::RS256, None, good_claims(), &rsa_signing_key());
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        let t = signed(
            Algorithm::RS256,
            Some("h1"),
            good_claims(),
            &rsa_signing_key(),
        );
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        // And the single-secret wrapper.
        assert_eq!(verify(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn keys_unknown_kid_is_refused() {
        let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1")];
        let hs = EncodingKey::from_secret(SECRET.as_bytes());
        let t = signed(Algorithm::HS256, Some("nope"), good_claims(), &hs);
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        let t = signed(Algorithm::HS256, Some(""), good_claims(), &hs);
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    }

    #[test]
    fn keys_kid_selects_one_of_two_during_rotation() {
        let old = "old-secret-0123456789abcdef0123456";
        let new = "new-secret-0123456789abcdef0123456";
        let keys = [
            VerificationKey::hs256("k-old", old),
            VerificationKey::hs256("k-new", new),
        ];
        let enc_old = EncodingKey::from_secret(old.as_bytes());
        let enc_new = EncodingKey::from_secret(new.as_bytes());
        // Both keys valid, each under its own kid or without a kid.
        for (kid, enc) in [("k-old", &enc_old), ("k-new", &enc_new)] {
            let t = signed(Algorithm::HS256, Some(kid), good_claims(), enc);
            assert_eq!(verify_keys(&t, &keys), Ok(()), "{kid}");
            let t = signed(Algorithm::HS256, None, good_claims(), enc);
            assert_eq!(verify_keys(&t, &keys), Ok(()), "{kid} without kid");
        }
        // A kid selects only its key: signed by the new key, labelled old.
        let t = signed(Algorithm::HS256, Some("k-old"), good_claims(), &enc_new);
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        // Once the old key is removed its tokens stop working.
        let t = signed(Algorithm::HS256, Some("k-old"), good_claims(), &enc_old);
        assert_eq!(verify_keys(&t, &keys[1..]), Err(AuthError::Invalid));
        // Same with two EdDSA keys.
        let (e1, v1, _) = ed_pair("e1");
        let (e2, v2, _) = ed_pair("e2");
        let keys = [v1, v2];
        let t = signed(Algorithm::EdDSA, Some("e2"), good_claims(), &e2);
        assert_eq!(verify_keys(&t, &keys), Ok(()));
        let t = signed(Algorithm::EdDSA, Some("e1"), good_claims(), &e2);
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
        let t = signed(Algorithm::EdDSA, None, good_claims(), &e1);
        assert_eq!(verify_keys(&t, &keys), Ok(()));
    }

    #[test]
    fn keys_oversized_token_is_refused() {
        let padding = "x".repeat(MAX_TOKEN_BYTES);
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": AUD, "iat": now(), "exp": now() + 60, "pad": padding}),
            SECRET,
        );
        assert!(t.len() > MAX_TOKEN_BYTES);
        assert_eq!(
            verify_keys(&t, &[VerificationKey::hs256("h", SECRET)]),
            Err(AuthError::Invalid)
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        assert_eq!(claimed_instance(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn eddsa_callback_token_verifies_with_jwks() {
        let (key, pem) = BridgeKey::generate();
        let (retired, _) = BridgeKey::generate();
        let set = jwks(&[&key, &retired, &key]);
        assert_eq!(set["keys"].as_array().map(Vec::len), Some(2));
        let first = &set["keys"][0];
        assert_eq!(first["kty"], "OKP");
        assert_eq!(first["crv"], "Ed25519");
        assert_eq!(first["alg"], "EdDSA");
        assert_eq!(first["use"], "sig");
        assert_eq!(first["kid"], key.kid());
        assert_eq!(first["x"], key.x());

        let t = mint_callback_token_eddsa(&key, INS, "evt_1");
        let header = jsonwebtoken::decode_header(&t).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(claimed_audience(&t).as_deref(), Some(INS));

        // A receiver: pick the key by kid from the JWKS, decode it back from the JWK.
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(set).expect("jwks");
        let jwk = set
            .find(header.kid.as_deref().expect("kid"))
            .expect("key in set");
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[INS]);
        v.set_issuer(&[BRIDGE_ISSUER]);
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        let data = jsonwebtoken::decode::<CallbackClaims>(
            &t,
            &DecodingKey::from_jwk(jwk).expect("jwk"),
            &v,
        )
        .expect("verifies");
        assert_eq!(data.claims.sub, "evt_1");
        assert!(data.claims.exp - data.claims.iat <= CALLBACK_TOKEN_TTL_SECS);
        // From the raw x too.
        let raw = DecodingKey::from_ed_components(key.x()).expect("x");
        assert!(jsonwebtoken::decode::<CallbackClaims>(&t, &raw, &v).is_ok());
        // The retired key does not verify it.
        let wrong = set.find(retired.kid()).expect("retired");
        assert!(
            jsonwebtoken::decode::<CallbackClaims>(
                &t,
                &DecodingKey::from_jwk(wrong).expect("jwk"),
                &v
            )
            .is_err()
        );
        // The stored PEM reloads into the same key.
        let reloaded = BridgeKey::from_pkcs8_pem(&pem).expect("reload");
        assert_eq!(reloaded.kid(), key.kid());
        assert_eq!(reloaded.x(), key.x());
        assert!(
            jsonwebtoken::decode::<CallbackClaims>(
                &mint_callback_token_eddsa(&reloaded, INS, "evt_2"),
                &key.decoding_key(),
                &v
            )
            .is_ok()
        );
        // The Debug form shows no key material.
        assert!(!format!("{key:?}").contains(pem.lines().nth(1).unwrap_or("-")));
    }

    #[test]
    fn bridge_signer_mints_both_kinds() {
        let (key, _) = BridgeKey::generate();
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[INS]);
        let hs = BridgeSigner::InstanceSecret(SECRET);
        assert_eq!(hs.alg(), KeyAlg::Hs256);
        let t = hs.mint(INS, "evt_1");
        assert!(
            jsonwebtoken::decode::<CallbackClaims>(
                &t,
                &DecodingKey::from_secret(SECRET.as_bytes()),
                &v
            )
            .is_ok()
        );
        let ed = BridgeSigner::BridgeKey(&key);
        assert_eq!(ed.alg(), KeyAlg::EdDsa);
        let t = ed.mint(INS, "evt_1");
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[INS]);
        assert!(jsonwebtoken::decode::<CallbackClaims>(&t, &key.decoding_key(), &v).is_ok());
        assert!(!format!("{hs:?}").contains(SECRET));
    }

    #[test]
    fn bridge_key_kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 appendix A.1 / A.3: the Ed25519 key and its JWK thumbprint.
        let d = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .expect("d");
        let seed: [u8; 32] = d.try_into().expect("32 bytes");
        let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem");
        let key = BridgeKey::from_pkcs8_pem(&pem).expect("key");
        assert_eq!(key.x(), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn bridge_key_refuses_other_keys() {
        let err = BridgeKey::from_pkcs8_pem(RSA_2048_PRIVATE).expect_err("rsa");
        assert_eq!(err.code(), "wrong_key_type");
        let err = BridgeKey::from_pkcs8_pem(RSA_2048_PUBLIC).expect_err("public");
        assert_eq!(err.code(), "invalid_key");
        let err = BridgeKey::from_pkcs8_pem("garbage").expect_err("garbage");
        assert_eq!(err.code(), "invalid_key");
        let (_, pem) = BridgeKey::generate();
        let two = format!("{pem}{pem}");
        assert_eq!(
            BridgeKey::from_pkcs8_pem(&two).expect_err("two").code(),
            "invalid_key"
        );
    }

    #[test]
    fn public_key_validation() {
        assert_eq!(
            validate_public_key_pem(KeyAlg::Rs256, RSA_2048_PUBLIC),
            Ok(())
        );
        assert_eq!(
            validate_public_key_pem(KeyAlg::Rs256, RSA_2048_PUBLIC_PKCS1),
            Ok(())
        );
        let (_, ed_vk, ed_private) = ed_pair("e");
        let KeyMaterial::PublicPem(ed_pem) = &ed_vk.material else {
            panic!("pem");
        };
        assert_eq!(validate_public_key_pem(KeyAlg::EdDsa, ed_pem), Ok(()));
        // CRLF line endings and surrounding whitespace.
        let crlf = format!("\n{}\n", ed_pem.replace('\n', "\r\n"));
        assert_eq!(validate_public_key_pem(KeyAlg::EdDsa, &crlf), Ok(()));

        // Private keys, with the exact message.
        for (alg, pem) in [
            (KeyAlg::Rs256, RSA_2048_PRIVATE),
            (KeyAlg::EdDsa, ed_private.as_str()),
            (KeyAlg::EdDsa, RSA_2048_PRIVATE),
        ] {
            let err = validate_public_key_pem(alg, pem).expect_err("private");
            assert_eq!(err, KeyError::PrivateKey);
            assert_eq!(err.code(), "private_key");
            assert_eq!(err.message(), "private key: register the public half only");
        }
        // A public key followed by a private one.
        let both = format!("{RSA_2048_PUBLIC}{RSA_2048_PRIVATE}");
        assert_eq!(
            validate_public_key_pem(KeyAlg::Rs256, &both)
                .expect_err("both")
                .code(),
            "private_key"
        );

        // RSA-1024.
        let err = validate_public_key_pem(KeyAlg::Rs256, RSA_1024_PUBLIC).expect_err("weak");
        assert_eq!(err.code(), "weak_key");
        assert!(err.message().contains("1024"), "{err}");

        // Wrong type for the algorithm.
        for (alg, pem) in [
            (KeyAlg::Rs256, ed_pem.as_str()),
            (KeyAlg::Rs256, EC_P256_PUBLIC),
            (KeyAlg::EdDsa, RSA_2048_PUBLIC),
            (KeyAlg::EdDsa, RSA_2048_PUBLIC_PKCS1),
            (KeyAlg::EdDsa, EC_P256_PUBLIC),
            (KeyAlg::Hs256, RSA_2048_PUBLIC),
        ] {
            let err = validate_public_key_pem(alg, pem).expect_err("wrong type");
            assert_eq!(err.code(), "wrong_key_type", "{alg} {err}");
        }

        // Unreadable, oversized, several blocks, certificate.
        for (alg, pem) in [
            (KeyAlg::Rs256, "not a pem".to_string()),
            (KeyAlg::EdDsa, String::new()),
            (
                KeyAlg::Rs256,
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_string(),
            ),
            (KeyAlg::Rs256, RSA_2048_PUBLIC.replace("MIIB", "MIIC")),
            (KeyAlg::Rs256, format!("{RSA_2048_PUBLIC}{RSA_2048_PUBLIC}")),
            (
                KeyAlg::Rs256,
                format!("{RSA_2048_PUBLIC}{}", " ".repeat(MAX_KEY_PEM_BYTES)),
            ),
            (
                KeyAlg::Rs256,
                RSA_2048_PUBLIC.replace("PUBLIC KEY", "CERTIFICATE"),
            ),
        ] {
            let err = validate_public_key_pem(alg, &pem).expect_err("invalid");
            assert_eq!(err.code(), "invalid_key", "{alg} {err}");
        }

        // A key of the right shape that fails validation is never used for verification,
        // even if it was stored before the rule existed.
        let weak = VerificationKey {
            kid: "w".into(),
            alg: KeyAlg::Rs256,
            material: KeyMaterial::PublicPem(RSA_1024_PUBLIC.into()),
        };
        assert!(weak.decoding_key().is_none());
        assert!(VerificationKey::public_pem("w", KeyAlg::Rs256, RSA_1024_PUBLIC).is_err());
        // Debug never shows a secret.
        assert!(!format!("{:?}", VerificationKey::hs256("h", SECRET)).contains(SECRET));
    }

    #[test]
    fn key_alg_names_round_trip() {
        for alg in KeyAlg::ALL {
            assert_eq!(KeyAlg::parse(alg.as_str()), Some(alg));
            assert_eq!(alg.as_str().parse::<KeyAlg>(), Ok(alg));
            assert_eq!(
                alg.algorithm(),
                Algorithm::from_str(alg.as_str()).expect("alg")
            );
            assert_eq!(
                serde_json::to_value(alg).expect("json"),
                serde_json::Value::String(alg.as_str().to_string())
            );
        }
        assert_eq!(KeyAlg::parse("eddsa"), Some(KeyAlg::EdDsa));
        assert_eq!(KeyAlg::parse("none"), None);
        assert_eq!(KeyAlg::parse("HS512"), None);
        assert_eq!(
            "PS256".parse::<KeyAlg>().expect_err("ps").code(),
            "invalid_key"
        );
    }

    #[test]
    fn callback_token_verifies_with_instance_secret() {
        let t = mint_callback_token(SECRET, INS, "evt_1");
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[INS]);
        let data = jsonwebtoken::decode::<CallbackClaims>(
            &t,
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &v,
        )
        .expect("verifies");
        assert_eq!(data.claims.iss, BRIDGE_ISSUER);
        assert_eq!(data.claims.sub, "evt_1");
        assert!(data.claims.exp - data.claims.iat <= CALLBACK_TOKEN_TTL_SECS);
    }
}
