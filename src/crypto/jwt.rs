//! JWTs in both directions (P08).
//!
//! - Bridge → instance: every callback carries `Authorization: Bearer <JWT>` signed HS256 with
//!   the instance's secret (shown once at creation): `iss` = "metabridge", `aud` = the
//!   instance id, `iat`, a short `exp`, a unique `jti`, `sub` = the event id.
//! - Instance → bridge (`/v1`): the instance signs with the same secret. The algorithm is
//!   pinned (HS256; `none` and every other algorithm are refused), `exp` is required and a
//!   lifetime over the configured maximum is refused, `aud` must be the bridge's audience and
//!   `iss` (or `sub`) names the instance.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Issuer of the bridge's own tokens.
pub const BRIDGE_ISSUER: &str = "metabridge";
/// Lifetime of the bridge's callback tokens.
pub const CALLBACK_TOKEN_TTL_SECS: i64 = 300;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
pub struct CallbackClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Mints the token that authenticates one delivery attempt to an instance.
pub fn mint_callback_token(secret: &str, instance_id: &str, event_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = CallbackClaims {
        iss: BRIDGE_ISSUER.to_string(),
        aud: instance_id.to_string(),
        sub: event_id.to_string(),
        iat: now,
        exp: now + CALLBACK_TOKEN_TTL_SECS,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding of plain claims cannot fail")
}

/// Why an instance's token was refused. Codes only: nothing that helps an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid for this service")]
    Invalid,
}

impl AuthError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "token_missing",
            Self::Expired => "token_expired",
            Self::Invalid => "token_invalid",
        }
    }
}

#[derive(Debug, Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
    sub: Option<String>,
}

/// Reads the claimed instance id (`iss`, else `sub`) from a token WITHOUT verifying it, only
/// to find which key verifies it. Nothing else may trust this value.
pub fn claimed_instance(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Invalid);
    };
    if payload.len() > 8192 {
        return Err(AuthError::Invalid);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthError::Invalid)?;
    let claims: UnverifiedClaims =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid)?;
    claims
        .iss
        .filter(|s| s.starts_with(crate::ids::INSTANCE))
        .or(claims.sub)
        .ok_or(AuthError::Invalid)
}

#[derive(Debug, Deserialize)]
struct UnverifiedAudience {
    aud: Option<String>,
}

/// Reads `aud` from a token WITHOUT verifying it (a receiver uses it to pick the key).
pub fn claimed_audience(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
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
}

/// Verifies an instance's token with its HS256 secret.
pub fn verify_instance_token(
    token: &str,
    instance_id: &str,
    secret: &str,
    audience: &str,
    max_lifetime: Duration,
) -> Result<(), AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
    if header.alg != Algorithm::HS256 {
        return Err(AuthError::Invalid);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    let data = jsonwebtoken::decode::<InstanceClaims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
        _ => AuthError::Invalid,
    })?;
    let claims = data.claims;
    let names_instance = claims.iss.as_deref() == Some(instance_id)
        || (claims.iss.is_none() && claims.sub.as_deref() == Some(instance_id))
        || claims.sub.as_deref() == Some(instance_id);
    if !names_instance {
        return Err(AuthError::Invalid);
    }
    let now = chrono::Utc::now().timestamp();
    let start = claims.iat.unwrap_or(now);
    if start > now + LEEWAY_SECS as i64 {
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
    use serde_json::json;

    const SECRET: &str = "instance-secret-0123456789abcdef";
    const INS: &str = "ins_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a0";

    fn token(alg: Algorithm, claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    fn verify(t: &str) -> Result<(), AuthError> {
        verify_instance_token(t, INS, SECRET, "metabridge", Duration::from_secs(3600))
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn p08_valid_token_is_accepted() {
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "metabridge", "iat": now(), "exp": now() + 60}),
            SECRET,
        );
        assert_eq!(claimed_instance(&t).expect("claim"), INS);
        assert_eq!(verify(&t), Ok(()));
    }

    #[test]
    fn p08_token_attacks_are_refused() {
        let n = now();
        // Expired.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "metabridge", "iat": n - 600, "exp": n - 300}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Expired));
        // No exp.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "metabridge"}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Wrong audience.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "other", "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Wrong secret.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "metabridge", "exp": n + 60}),
            "other-secret",
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Other algorithm with the same secret.
        let t = token(
            Algorithm::HS512,
            json!({"iss": INS, "aud": "metabridge", "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Lifetime over the maximum.
        let t = token(
            Algorithm::HS256,
            json!({"iss": INS, "aud": "metabridge", "iat": n, "exp": n + 7200}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // Another instance named.
        let t = token(
            Algorithm::HS256,
            json!({"iss": "ins_x", "aud": "metabridge", "exp": n + 60}),
            SECRET,
        );
        assert_eq!(verify(&t), Err(AuthError::Invalid));
        // alg none.
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&v).expect("json"))
        };
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(json!({"iss": INS, "aud": "metabridge", "exp": n + 60}))
        );
        assert_eq!(verify(&none), Err(AuthError::Invalid));
        // Garbage.
        assert_eq!(claimed_instance("a.b"), Err(AuthError::Invalid));
        assert_eq!(verify("not a token"), Err(AuthError::Invalid));
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
