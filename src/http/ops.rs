//! Health, readiness and metrics.

use std::sync::Arc;

use poem::web::Data;
use poem::{Response, handler};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::AppState;
use super::api::Tag;

/// Adds the operational routes (`/metrics`) to `route`.
pub fn routes(route: poem::Route) -> poem::Route {
    route.at("/metrics", poem::get(metrics))
}

/// Prometheus text exposition; with `METABRIDGE_METRICS_TOKEN` set, only for
/// `Authorization: Bearer <token>` (compared in constant time): `401 token_missing` without
/// one, `401 token_invalid` with another.
#[handler]
pub fn metrics(state: Data<&Arc<AppState>>, req: &poem::Request) -> Response {
    use poem::IntoResponse;
    if let Some(want) = &state.config.metrics_token {
        let given = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let refused = match given {
            None => Some(super::errors::ApiError::unauthorized(
                super::errors::codes::TOKEN_MISSING,
                "Send `Authorization: Bearer <METABRIDGE_METRICS_TOKEN>`.",
            )),
            Some(token)
                if !crate::crypto::signature::constant_time_eq(
                    token.as_bytes(),
                    want.expose().as_bytes(),
                ) =>
            {
                Some(super::errors::ApiError::unauthorized(
                    super::errors::codes::TOKEN_INVALID,
                    "The token is not valid for /metrics.",
                ))
            }
            Some(_) => None,
        };
        if let Some(e) = refused {
            return e.into_response();
        }
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database is reachable and every migration is applied.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// Not ready: the database is unreachable or migrations are missing.
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

/// A public key of the bridge (RFC 8037 OKP / Ed25519).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// The key id the bridge puts in its tokens' `kid` header (RFC 7638 thumbprint).
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[oai(rename = "use")]
    pub key_use: String,
}

/// The bridge's public signing keys.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JwkSet {
    /// Empty when the bridge signs its callbacks HS256 with each instance's secret.
    pub keys: Vec<Jwk>,
}

pub struct OpsApi;

#[OpenApi(tag = "Tag::Operations")]
impl OpsApi {
    /// The process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "ops.health")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
        })
    }

    /// The public keys that verify the bridge's callback JWTs (`alg: EdDSA`, `kid` in the
    /// header). Receivers cache this document and refetch it on an unknown `kid`.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "ops.jwks"
    )]
    async fn jwks(&self, state: Data<&Arc<AppState>>) -> Json<JwkSet> {
        let keys = state
            .bridge_key
            .iter()
            .map(|k| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: k.x().to_string(),
                kid: k.kid().to_string(),
                alg: "EdDSA".into(),
                key_use: "sig".into(),
            })
            .collect();
        Json(JwkSet { keys })
    }

    /// The service can do its work: database reachable, migrations applied.
    #[oai(path = "/readyz", method = "get", operation_id = "ops.ready")]
    async fn readyz(&self, state: Data<&Arc<AppState>>) -> ReadyResponse {
        match state.store.ready().await {
            Ok(true) => ReadyResponse::Ready(Json(Health {
                status: "ok".into(),
            })),
            _ => ReadyResponse::NotReady(Json(Health {
                status: "unavailable".into(),
            })),
        }
    }
}
