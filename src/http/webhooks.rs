//! `GET/POST /webhooks/meta`: Meta's verification handshake and signed webhook deliveries.
//!
//! POST: read the raw body within the size limit, verify `X-Hub-Signature-256` over those exact
//! bytes (P07: nothing is parsed or stored before), split it into events, hand them to the
//! group-commit writer and answer 200 only after the commit. A signed body that cannot be
//! parsed is answered 200 (Meta would retry it forever), recorded (digest + reason) and
//! counted. When the database cannot commit, 503: Meta retries, nothing is lost.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Body, Request, Response, handler};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::AppState;
use crate::crypto::signature;
use crate::events::parse::parse_webhook;

#[derive(Debug, serde::Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(format!(r#"{{"code":"{code}","message":"{message}"}}"#))
}

/// Echoes `hub.challenge` verbatim when `hub.mode=subscribe` and the verify token matches.
#[handler]
pub fn verify_handshake(state: Data<&Arc<AppState>>, query: Option<Query<Handshake>>) -> Response {
    let Some(Query(q)) = query else {
        return json_error(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "Missing hub parameters.",
        );
    };
    let token_ok = q.verify_token.as_deref().is_some_and(|t| {
        let expected = state.config.verify_token.expose().as_bytes();
        t.len() == expected.len()
            && t.as_bytes()
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    match (q.mode.as_deref(), token_ok, q.challenge) {
        (Some("subscribe"), true, Some(challenge)) if challenge.len() <= 1024 => {
            Response::builder()
                .status(StatusCode::OK)
                .content_type("text/plain")
                .body(challenge)
        }
        _ => json_error(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "hub.mode must be subscribe and hub.verify_token must match.",
        ),
    }
}

fn declared_length(req: &Request) -> Option<usize> {
    req.headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[handler]
pub async fn receive(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let received_at = crate::now_ms();
    let state = *state;
    let limit = state.config.max_body_bytes;
    if declared_length(req).is_some_and(|n| n > limit) {
        state.metrics.reject("too_large");
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body exceeds the size limit.",
        );
    }
    let bytes = match body.into_bytes_limit(limit).await {
        Ok(b) => b,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => {
            state.metrics.reject("too_large");
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body exceeds the size limit.",
            );
        }
        Err(_) => {
            state.metrics.reject("body_read_error");
            return json_error(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                "The body could not be read.",
            );
        }
    };
    let header = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(&state.config.app_secrets, header, &bytes) {
        state.metrics.reject(e.code());
        debug!(reason = e.code(), "webhook refused: bad signature");
        return json_error(
            StatusCode::UNAUTHORIZED,
            e.code(),
            "The X-Hub-Signature-256 header does not match the body.",
        );
    }
    state.metrics.webhooks_received.inc();
    let events = match parse_webhook(&bytes) {
        Ok(events) => events,
        Err(reason) => {
            state.metrics.webhooks_malformed.inc();
            let digest = hex::encode(Sha256::digest(&bytes));
            warn!(reason = %reason, body_sha256 = %digest, "signed webhook body could not be parsed; acknowledged and recorded");
            if let Err(e) = state
                .store
                .record_malformed(
                    &digest,
                    i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                    &reason.to_string(),
                )
                .await
            {
                warn!(error = %e, "could not record a malformed webhook");
            }
            return Response::builder().status(StatusCode::OK).body("");
        }
    };
    if events.is_empty() {
        return Response::builder().status(StatusCode::OK).body("");
    }
    match state.writer.ingest(events, received_at).await {
        Ok(_) => Response::builder().status(StatusCode::OK).body(""),
        Err(_) => {
            state.metrics.reject("store_unavailable");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The webhook could not be stored; retry later.",
            )
        }
    }
}
