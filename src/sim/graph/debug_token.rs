//! `debug_token`: the Graph endpoint that inspects a token for the calling app.

use std::sync::Arc;

use poem::Request;
use serde_json::{Value, json};

use crate::sim::onboarding::{self};

use super::replies::{Reply, err_token, graph_error};
use super::routing::{Handled, query_param};
use super::{APP_ID, Channel, Kind, State, TokenState, lock};

pub(super) fn debug_token(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    // Debug-Token reference (Graph API, read 2026-12-02,
    // https://developers.facebook.com/docs/graph-api/reference/debug_token): the caller is the
    // app's access token (`{app-id}|{app-secret}`) or an app developer's user token; anything
    // else is an invalid token (code 190, Handling Errors).
    let caller_ok = match token.map(|t| t.split_once('|')) {
        None => false,
        Some(Some((app, secret))) => {
            app == APP_ID && onboarding::helpers::secret_ok(state, Some(secret))
        }
        Some(None) => token.is_some_and(|t| lock(&state.inner).token_state(t) == TokenState::Valid),
    };
    if !caller_ok {
        return Handled::new(err_token(TokenState::Unknown));
    }
    let Some(input) = query_param(req, "input_token").filter(|t| !t.is_empty()) else {
        let mut h = Handled::new(graph_error(
            400,
            100,
            None,
            "(#100) The parameter input_token is required",
            None,
            None,
        ));
        h.authorization_ok = true;
        return h;
    };
    let inner = lock(&state.inner);
    if let Some(minted) = inner.onboard.tokens.get(&input) {
        let data = onboarding::tokens::debug_data(&inner, minted);
        let mut h = Handled::new(Reply::json(200, &json!({ "data": data })));
        h.authorization_ok = true;
        return h;
    }
    let token_state = inner.token_state(&input);
    let mut scopes: Vec<&str> = Vec::new();
    let mut granular: Vec<(&str, Vec<String>)> = Vec::new();
    let mut grant = |scope: &'static str, target: &str, scopes: &mut Vec<&'static str>| {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
        match granular.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, ids)) if !ids.iter().any(|i| i == target) => ids.push(target.to_string()),
            Some(_) => {}
            None => granular.push((scope, vec![target.to_string()])),
        }
    };
    let mut channels: Vec<&Channel> = inner
        .channels
        .values()
        .filter(|c| c.token == input)
        .collect();
    channels.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    for c in channels {
        match c.kind {
            Kind::WhatsApp => {
                let target = c.waba_id.as_deref().unwrap_or(&c.external_id);
                grant("whatsapp_business_management", target, &mut scopes);
                grant("whatsapp_business_messaging", target, &mut scopes);
            }
            Kind::Messenger => {
                grant("pages_messaging", &c.external_id, &mut scopes);
                grant("pages_manage_metadata", &c.external_id, &mut scopes);
            }
            Kind::Instagram => {
                grant("instagram_basic", &c.external_id, &mut scopes);
                grant("instagram_manage_messages", &c.external_id, &mut scopes);
            }
        }
    }
    let mut data = json!({
        "app_id": APP_ID,
        "type": "SYSTEM_USER",
        "application": "Metabridge Graph Simulator",
        "data_access_expires_at": 0,
        "expires_at": 0,
        "is_valid": token_state == TokenState::Valid,
        "issued_at": 1_763_380_800,
        "user_id": "122100000000000001",
    });
    match token_state {
        TokenState::Valid => {
            scopes.push("public_profile");
            data["scopes"] = json!(scopes);
            data["granular_scopes"] = Value::Array(
                granular
                    .into_iter()
                    .map(|(scope, ids)| json!({"scope": scope, "target_ids": ids}))
                    .collect(),
            );
        }
        TokenState::Revoked => {
            data["scopes"] = json!([]);
            data["error"] = json!({
                "code": 190,
                "subcode": 463,
                "message": "Error validating access token: Session has expired.",
            });
        }
        TokenState::Unknown => {
            data = json!({
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": false,
                "scopes": [],
            });
        }
    }
    let mut h = Handled::new(Reply::json(200, &json!({ "data": data })));
    h.authorization_ok = true;
    h
}
