//! The handover protocol's edges on graph.facebook.com (Page token): `POST
//! /{page-id|me}/pass_thread_control`, `/take_thread_control`, `/request_thread_control`.
//!
//! Meta's pages (read 2026-12-04): "Handover Protocol API Reference"
//! (<https://developers.facebook.com/docs/messenger-platform/reference/handover-protocol>):
//! `recipient.id` required, `target_app_id` the app to pass to (`263902037430900` = Page inbox,
//! `1217981644879628` = Instagram inbox); "Page Take Thread Control"
//! (<https://developers.facebook.com/docs/graph-api/reference/page/take_thread_control/>):
//! answer `{success: bool}`, errors 100 (invalid parameter), 190 (token), 200, 230, 551, 613;
//! "Request Thread Control"
//! (<https://developers.facebook.com/docs/messenger-platform/handover-protocol/request-thread-control/>).
//! Corpus: `messenger.pass_thread_control.json`, `messenger.take_thread_control.json`,
//! `messenger.request_thread_control.json`.
//!
//! The simulator keeps who controls each conversation ([`crate::sim::graph::GraphSim::thread_owner`]):
//! a pass gives it to the target app, a take to the simulated app, a request changes nothing.
//! Meta documents no error code for a send by an app that does not control the thread, so
//! the simulator's send edge does not refuse one (the bridge refuses it itself).

use std::sync::Arc;

use poem::RequestBody;
use serde_json::{Value, json};

use super::helpers::{fail, ok_json, param_err};
use crate::sim::graph::replies::{Host, err_token, err_unknown_object, host_refuses};
use crate::sim::graph::routing::Handled;
use crate::sim::graph::{APP_ID, Kind, State, TokenState, lock};

/// The Page inbox's app id (Meta's handover pages).
pub const PAGE_INBOX_APP_ID: &str = "263902037430900";
/// The Instagram inbox's app id (Meta's handover pages).
pub const INSTAGRAM_INBOX_APP_ID: &str = "1217981644879628";

/// `POST /{object}/{edge}` with a JSON body.
pub(in crate::sim) async fn thread_control(
    state: &Arc<State>,
    edge: &str,
    object: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = crate::sim::graph::send::read_json(body).await;
    let mut h = answer(state, edge, object, token, &json);
    h.body = json;
    h
}

fn answer(state: &State, edge: &str, object: &str, token: Option<&str>, json: &Value) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    if let Some(reply) = host_refuses(&inner, t, Host::Facebook) {
        return fail(reply);
    }
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let recipient = json
        .get("recipient")
        .and_then(|r| r.get("id"))
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
        .filter(|r| !r.is_empty());
    let Some(recipient) = recipient else {
        return param_err("(#100) The parameter recipient is required");
    };
    // The account the call is for: the Page named, or (`me`) the token's Page, its Instagram
    // account when the recipient is an Instagram user.
    let fits = |c: &crate::sim::graph::Channel| {
        c.kind != Kind::WhatsApp && (c.token == t || inner.onboard.covers(t, &c.external_id))
    };
    let account = if object == "me" {
        let mut owned: Vec<&crate::sim::graph::Channel> =
            inner.channels.values().filter(|c| fits(c)).collect();
        owned.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        let want = if inner.ig_users.contains(&recipient) {
            Kind::Instagram
        } else {
            Kind::Messenger
        };
        owned
            .iter()
            .find(|c| c.kind == want)
            .or_else(|| owned.first())
            .map(|c| c.external_id.clone())
    } else {
        inner
            .channels
            .get(object)
            .filter(|c| fits(c))
            .map(|c| c.external_id.clone())
    };
    let Some(account) = account else {
        return fail(err_unknown_object("POST", object));
    };
    let key = (account.clone(), recipient);
    match edge {
        "pass_thread_control" => {
            let target = json.get("target_app_id").and_then(|v| {
                v.as_u64()
                    .map(|n| n.to_string())
                    .or_else(|| v.as_str().map(str::to_owned))
            });
            let Some(target) = target else {
                return param_err("(#100) The parameter target_app_id is required");
            };
            let known = target == APP_ID
                || target == PAGE_INBOX_APP_ID
                || target == INSTAGRAM_INBOX_APP_ID
                || inner.handover_apps.contains(&target);
            if !known {
                return param_err(
                    "(#100) Invalid parameter: target_app_id is not an app of this Page",
                );
            }
            inner.thread_owners.insert(key, target);
        }
        "take_thread_control" => {
            inner.thread_owners.insert(key, APP_ID.to_owned());
        }
        _ => {}
    }
    let mut h = ok_json(&json!({"success": true}));
    h.sender_id = Some(account);
    h
}
