//! Meta's verification handshake and signed webhook deliveries (the operations are
//! `meta_api::MetaApi`; this is their logic).
//!
//! POST: read the raw body within the size limit, verify `X-Hub-Signature-256` over those exact
//! bytes (P07: nothing is parsed or stored before), split it into events, hand them to the
//! group-commit writer and answer 200 only after the commit. A signed body that cannot be
//! parsed is answered 200 (Meta would retry it forever), recorded (digest + reason) and
//! counted. When the database cannot commit, 503: Meta retries, nothing is lost.

use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::AppState;
use crate::crypto::signature;
use crate::events::parse::parse_webhook;

/// Whether a handshake is answered: the challenge to echo when `hub.mode=subscribe` and the
/// verify token matches (constant-time), else `None` (403).
pub fn handshake(
    state: &AppState,
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<String>,
) -> Option<String> {
    let token_ok = verify_token.is_some_and(|t| {
        crate::crypto::signature::constant_time_eq(
            t.as_bytes(),
            state.config.verify_token.expose().as_bytes(),
        )
    });
    match (mode, token_ok, challenge) {
        (Some("subscribe"), true, Some(challenge)) if challenge.len() <= 1024 => Some(challenge),
        _ => None,
    }
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Committed (or nothing to store): 200.
    Stored,
    /// Signed but unparseable: recorded (digest and reason) and acknowledged with 200, since
    /// Meta would retry it forever.
    Malformed,
    /// The signature is missing or wrong: 401 (the body's code says which).
    Unauthorized(signature::SignatureError),
    /// The database could not commit: 503, Meta retries.
    Unavailable,
}

/// What a delivery's `X-Hub-Signature-256` header says, read from the raw headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureHeader<'a> {
    Absent,
    One(&'a str),
    /// Sent twice, or not text: refused as malformed (a proxy might keep either copy; Meta
    /// sends exactly one ASCII header).
    Ambiguous,
}

/// Reads the signature header without the extractor's leniency: poem-openapi's `Header`
/// takes the first of several copies and treats a non-ASCII value as absent.
pub fn signature_header(headers: &poem::http::HeaderMap) -> SignatureHeader<'_> {
    let mut values = headers.get_all("x-hub-signature-256").iter();
    match (values.next(), values.next()) {
        (None, _) => SignatureHeader::Absent,
        (Some(v), None) => v
            .to_str()
            .map_or(SignatureHeader::Ambiguous, SignatureHeader::One),
        (Some(_), Some(_)) => SignatureHeader::Ambiguous,
    }
}

/// Verifies and stores one webhook body (the exact bytes Meta signed).
pub async fn accept(state: &AppState, header: SignatureHeader<'_>, bytes: &[u8]) -> Accepted {
    let received_at = crate::now_ms();
    let verified = match header {
        SignatureHeader::Absent => signature::verify(&state.config.app_secrets, None, bytes),
        SignatureHeader::One(h) => signature::verify(&state.config.app_secrets, Some(h), bytes),
        SignatureHeader::Ambiguous => Err(signature::SignatureError::Malformed),
    };
    if let Err(e) = verified {
        state.metrics.reject(e.code());
        debug!(reason = e.code(), "webhook refused: bad signature");
        return Accepted::Unauthorized(e);
    }
    state.metrics.webhooks_received.inc();
    let events = match parse_webhook(bytes) {
        Ok(events) => events,
        Err(reason) => {
            state.metrics.webhooks_malformed.inc();
            let digest = hex::encode(Sha256::digest(bytes));
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
            return Accepted::Malformed;
        }
    };
    let events = match state.config.stale_item_age {
        Some(age) => drop_stale(state, events, received_at, age),
        None => events,
    };
    if events.is_empty() {
        return Accepted::Stored;
    }
    let template_wabas = template_wabas(&events);
    let profile_requests = crate::contacts::profile_requests(&events);
    match state.writer.ingest(events, received_at).await {
        Ok(_) => {
            // Meta reported a template change: read that account's templates again (after the
            // commit, in the background; the events are delivered either way).
            state.sync_wabas_soon(template_wabas);
            // Instagram / Messenger contacts who wrote: their profiles are read in the
            // background (a non-blocking enqueue; nothing here waits for Meta).
            state.profiles.request_soon(profile_requests);
            Accepted::Stored
        }
        Err(_) => {
            state.metrics.reject("store_unavailable");
            Accepted::Unavailable
        }
    }
}

/// The WhatsApp Business Accounts whose templates changed according to these events:
/// `message_template_status_update` (`template.status`), `message_template_quality_update`
/// (`template.quality`) and `template_category_update` (`template.category`). Meta's
/// webhook references of the three fields (read 2026-12-03):
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/message_template_status_update/>,
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/message_template_quality_update/>,
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/template_category_update/>;
/// each is sent per WhatsApp Business Account (`entry[].id`).
fn template_wabas(events: &[crate::events::parse::ParsedEvent]) -> Vec<String> {
    use crate::events::data::EventData;
    use crate::events::parse::Route;
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let about_templates = matches!(
            &e.data,
            EventData::TemplateStatus(_)
                | EventData::TemplateQuality(_)
                | EventData::TemplateCategory(_)
        );
        if let (true, Route::Waba(w)) = (about_templates, &e.route)
            && !out.contains(w)
        {
            out.push(w.clone());
        }
    }
    out
}

/// Leaves out the items that occurred more than `age` before `received_at`: their keys may be
/// gone from the idempotency log (kept for its retention, P04), so one of them arriving again
/// (a very late retry, a replayed body) could not be told from a new item and would be
/// delivered twice. They are acknowledged with the rest of the body (Meta would retry a refusal
/// for days), counted in `metabridge_events_stale_total`, and logged by key only (ids, never
/// content).
fn drop_stale(
    state: &AppState,
    events: Vec<crate::events::parse::ParsedEvent>,
    received_at: i64,
    age: std::time::Duration,
) -> Vec<crate::events::parse::ParsedEvent> {
    let cutoff = received_at.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
    let (stale, fresh): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|e| e.occurred_at_ms.is_some_and(|t| t < cutoff));
    if !stale.is_empty() {
        state.metrics.events_stale.inc_by(stale.len() as u64);
        let keys: Vec<&str> = stale
            .iter()
            .take(10)
            .map(|e| e.idempotency_key.as_str())
            .collect();
        warn!(
            count = stale.len(),
            keys = ?keys,
            "webhook items older than the idempotency retention acknowledged and not delivered"
        );
    }
    fresh
}
