//! The send endpoints: WhatsApp Cloud API `messages` (sends, read receipts) and the
//! Instagram/Messenger Send API, with queued faults applied before an answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::RequestBody;
use serde_json::{Value, json};

use super::replies::{Host, Reply, coded_error, err_param};
use super::routing::{Handled, authorize, fault_reply};
use super::status::schedule_statuses;
use super::validate::{
    MetaRequest, WaRecipient, WaRequest, recipient_key, validate_meta, validate_whatsapp,
};
use super::{Channel, Fault, JSON_LIMIT, Kind, State, lock};

pub(in crate::sim) async fn messages(
    state: &Arc<State>,
    host: Host,
    object: &str,
    token: Option<&str>,
    body: RequestBody,
    at: Instant,
) -> Handled {
    let json = read_json(body).await;
    let recipient = json
        .get("recipient")
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str);
    let channel = match authorize(state, host, object, token, recipient, "post") {
        Ok(c) => c,
        Err(mut h) => {
            h.body = json;
            return *h;
        }
    };
    let mut h = match channel.kind {
        Kind::WhatsApp => whatsapp_message(state, &channel, &json, at),
        Kind::Instagram | Kind::Messenger => meta_message(state, &channel, &json),
    };
    h.sender_id = Some(channel.external_id.clone());
    h.authorization_ok = true;
    h.body = json;
    h
}

pub(in crate::sim) async fn read_json(body: RequestBody) -> Value {
    let mut body = body;
    let Ok(body) = body.take() else {
        return Value::Null;
    };
    match body.into_bytes_limit(JSON_LIMIT).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Takes one use of the first queued fault.
fn take_fault(state: &State) -> Option<Fault> {
    let mut inner = lock(&state.inner);
    loop {
        let front = inner.faults.front_mut()?;
        let times = front.times_mut();
        if *times == 0 {
            inner.faults.pop_front();
            continue;
        }
        *times -= 1;
        let fault = front.clone();
        if *front.times_mut() == 0 {
            inner.faults.pop_front();
        }
        return Some(fault);
    }
}

type FaultEffect = (Option<Duration>, Option<&'static str>);

/// Applies a queued fault to a send: `Ok` (delay, fault name) to go on processing, `Err` with
/// the answer.
fn apply_fault(state: &State, kind: Kind) -> Result<FaultEffect, Box<Handled>> {
    let Some(fault) = take_fault(state) else {
        return Ok((None, None));
    };
    match fault {
        Fault::Timeout { delay, .. } => Ok((Some(delay), Some(fault.name()))),
        Fault::DropConnection { .. } => {
            let mut h = Handled::new(Reply::html(500, ""));
            h.drop_connection = true;
            h.fault = Some(fault.name());
            Err(Box::new(h))
        }
        f => {
            let mut h = Handled::new(fault_reply(&f, kind));
            h.fault = Some(f.name());
            Err(Box::new(h))
        }
    }
}

/// A phone number in any format → its digits; anything else (BSUID, IGSID) unchanged.
fn whatsapp_message(state: &Arc<State>, channel: &Channel, json: &Value, at: Instant) -> Handled {
    let is_receipt = json.get("status").is_some();
    let (delay, fault) = if is_receipt {
        (None, None)
    } else {
        match apply_fault(state, Kind::WhatsApp) {
            Ok(d) => d,
            Err(h) => return *h,
        }
    };
    let mut h = match validate_whatsapp(json) {
        Err(what) => Handled::new(err_param(&what, Kind::WhatsApp)),
        Ok(WaRequest::Receipt) => Handled::new(Reply::json(200, &json!({"success": true}))),
        Ok(WaRequest::Send(send)) => {
            let wamid = state.new_wamid(&send.recipient.key());
            let contact = match &send.recipient {
                WaRecipient::Phone(input, wa_id) => json!({"input": input, "wa_id": wa_id}),
                WaRecipient::Group(id) => json!({"input": id, "wa_id": id}),
                WaRecipient::User(id) => json!({"input": id, "user_id": id}),
            };
            let mut message = json!({ "id": wamid });
            if send.template {
                message["message_status"] = json!("accepted");
            }
            let closed =
                !send.template && lock(&state.inner).closed.contains(&send.recipient.key());
            schedule_statuses(state, channel, &send, &wamid, at, closed);
            let mut h = Handled::new(Reply::json(
                200,
                &json!({
                    "messaging_product": "whatsapp",
                    "contacts": [contact],
                    "messages": [message],
                }),
            ));
            h.message_id = Some(wamid);
            h.accepted_send = true;
            h
        }
    };
    h.delay = delay;
    h.fault = fault;
    h
}

fn meta_message(state: &Arc<State>, channel: &Channel, json: &Value) -> Handled {
    let is_action = json.get("sender_action").is_some();
    let (delay, fault) = if is_action {
        (None, None)
    } else {
        match apply_fault(state, channel.kind) {
            Ok(d) => d,
            Err(h) => return *h,
        }
    };
    let mut h = match validate_meta(json, channel.kind) {
        Err(what) => Handled::new(err_param(&what, channel.kind)),
        // Sender Actions (Messenger Platform, read 2026-12-02,
        // https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/sender-actions):
        // a reaction answers the recipient's id and the message id; typing and seen answer the
        // recipient's id only (Send API reference).
        Ok(MetaRequest::Action(rid, Some(mid))) => Handled::new(Reply::json(
            200,
            &json!({"recipient_id": rid, "message_id": mid}),
        )),
        Ok(MetaRequest::Action(rid, None)) => {
            Handled::new(Reply::json(200, &json!({"recipient_id": rid})))
        }
        Ok(MetaRequest::Send(rid)) => {
            if lock(&state.inner).closed.contains(&recipient_key(&rid)) {
                Handled::new(coded_error(400, 10, channel.kind))
            } else {
                let mid = state.new_mid(&rid);
                let mut h = Handled::new(Reply::json(
                    200,
                    &json!({"recipient_id": rid, "message_id": mid}),
                ));
                h.message_id = Some(mid);
                h.accepted_send = true;
                h
            }
        }
    };
    h.delay = delay;
    h.fault = fault;
    h
}
