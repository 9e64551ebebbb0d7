//! The control API under `/_sim/`: faults, closed windows, channels and the request log.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::Request;
use poem::http::Method;
use serde_json::{Value, json};

use crate::sim::onboarding::{self};

use super::replies::Reply;
use super::send::read_json;
use super::validate::recipient_key;
use super::{Fault, GraphRequest, MediaItem, State, lock};

pub(super) async fn control(state: &Arc<State>, req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let (_, body) = req.split();
    let ok = || Reply::json(200, &json!({"ok": true}));
    let bad = |msg: &str| Reply::json(400, &json!({"error": msg}));
    if method == Method::GET {
        return match path.as_str() {
            "/_sim/requests" => {
                let inner = lock(&state.inner);
                let list: Vec<Value> = inner
                    .requests
                    .iter()
                    .map(|r| request_json(r, state.started))
                    .collect();
                Reply::json(200, &Value::Array(list))
            }
            "/_sim/webhooks" => {
                let inner = lock(&state.inner);
                let list: Vec<Value> = inner
                    .webhooks
                    .iter()
                    .map(|w| {
                        json!({
                            "wamid": w.wamid, "status": w.status, "attempts": w.attempts,
                            "answered": w.answered,
                            "at_ms": w.at.saturating_duration_since(state.started).as_millis() as u64,
                        })
                    })
                    .collect();
                Reply::json(200, &Value::Array(list))
            }
            p => onboarding::control::control_get(state, p)
                .unwrap_or_else(|| Reply::json(404, &json!({"error": "unknown simulator path"}))),
        };
    }
    if method != Method::POST {
        return Reply::json(405, &json!({"error": "method not allowed"}));
    }
    let json = read_json(body).await;
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
    match path.as_str() {
        "/_sim/faults" => match Fault::from_json(&json) {
            Ok(f) => {
                state.push_fault(f);
                ok()
            }
            Err(e) => bad(&e),
        },
        "/_sim/faults/clear" => {
            lock(&state.inner).faults.clear();
            ok()
        }
        "/_sim/window/close" | "/_sim/window/open" => {
            let Some(r) = field("recipient") else {
                return bad("recipient is required");
            };
            let mut inner = lock(&state.inner);
            if path.ends_with("close") {
                inner.closed.insert(recipient_key(&r));
            } else {
                inner.closed.remove(&recipient_key(&r));
            }
            ok()
        }
        "/_sim/channels" => {
            let (Some(kind), Some(id), Some(token)) =
                (field("kind"), field("external_id"), field("token"))
            else {
                return bad("kind, external_id and token are required");
            };
            match state.add_channel(&kind, &id, field("waba_id").as_deref(), &token) {
                Ok(()) => ok(),
                Err(e) => bad(&e),
            }
        }
        // A person who wrote to a business, with the profile Meta's User Profile API answers.
        "/_sim/contacts" => {
            let (Some(user), Some(profile)) = (
                field("user_id"),
                json.get("profile").filter(|p| p.is_object()).cloned(),
            ) else {
                return bad("user_id and a profile object are required");
            };
            lock(&state.inner).profiles.insert(user, profile);
            ok()
        }
        "/_sim/tokens/revoke" => {
            let Some(t) = field("token") else {
                return bad("token is required");
            };
            lock(&state.inner).revoked.insert(t);
            ok()
        }
        "/_sim/media" => {
            let (Some(id), Some(mime), Some(data)) =
                (field("media_id"), field("mime"), field("data_base64"))
            else {
                return bad("media_id, mime and data_base64 are required");
            };
            let Ok(bytes) = STANDARD.decode(data) else {
                return bad("data_base64 is not base64");
            };
            lock(&state.inner)
                .media
                .insert(id, MediaItem::new(mime, bytes));
            ok()
        }
        p => onboarding::control::control_post(state, p, &json)
            .unwrap_or_else(|| Reply::json(404, &json!({"error": "unknown simulator path"}))),
    }
}

fn request_json(r: &GraphRequest, started: Instant) -> Value {
    json!({
        "method": r.method,
        "path": r.path,
        "sender_id": r.sender_id,
        "authorization_ok": r.authorization_ok,
        "body": r.body,
        "answered": r.answered,
        "at_ms": r.at.saturating_duration_since(started).as_millis() as u64,
        "message_id": r.message_id,
        "accepted_send": r.accepted_send,
        "fault": r.fault,
    })
}
