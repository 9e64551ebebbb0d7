//! Status webhooks: after an accepted WhatsApp send, signed `sent`/`delivered`/`read` (or
//! `failed`) webhooks POSTed to the bridge late, possibly out of order, retried on failure.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::crypto::signature;
use crate::sim::payloads::meta_bytes;

use super::validate::{WaRecipient, WaSend};
use super::{
    Channel, DEFAULT_WABA_ID, Fault, GraphSimOptions, Kind, State, StatusWebhook, WEBHOOK_BACKOFF,
    WEBHOOK_RETRIES, lock,
};

impl State {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn new_wamid(&self, recipient: &str) -> String {
        let raw = format!("{recipient}SIM{:08X}{:010}", self.nonce, self.next_seq());
        format!("wamid.{}", STANDARD.encode(raw))
    }

    pub(super) fn new_mid(&self, recipient: &str) -> String {
        let raw = format!("{recipient}:SIM{:08X}:{:010}", self.nonce, self.next_seq());
        format!("m_{}", URL_SAFE_NO_PAD.encode(raw))
    }

    pub(super) fn new_media_id(&self) -> String {
        (1_490_000_000_000_000u64 + self.next_seq()).to_string()
    }

    pub(super) fn push_fault(&self, fault: Fault) {
        lock(&self.inner).faults.push_back(fault);
    }

    pub(super) fn add_channel(
        &self,
        kind: &str,
        external_id: &str,
        waba_id: Option<&str>,
        token: &str,
    ) -> Result<(), String> {
        let kind = Kind::parse(kind).ok_or_else(|| format!("unknown channel kind {kind}"))?;
        lock(&self.inner).channels.insert(
            external_id.to_string(),
            Channel {
                kind,
                external_id: external_id.to_string(),
                waba_id: waba_id.map(str::to_string),
                token: token.to_string(),
            },
        );
        Ok(())
    }
}

/// The (delay, status) plan for one accepted WhatsApp send.
pub(super) fn status_plan(opts: &GraphSimOptions, failed: bool) -> Vec<(Duration, &'static str)> {
    let [sent, delivered, read] = opts.status_delays;
    if failed {
        let delay = sent.or_else(|| opts.status_delays.iter().flatten().min().copied());
        return delay.map(|d| vec![(d, "failed")]).unwrap_or_default();
    }
    let mut plan: Vec<(Duration, &'static str)> =
        [(sent, "sent"), (delivered, "delivered"), (read, "read")]
            .into_iter()
            .filter_map(|(d, s)| d.map(|d| (d, s)))
            .collect();
    if opts.reorder_statuses {
        plan.reverse();
        let mut delays: Vec<Duration> = plan.iter().map(|(d, _)| *d).collect();
        delays.sort();
        for (slot, delay) in plan.iter_mut().zip(delays) {
            slot.0 = delay;
        }
    }
    plan.sort_by_key(|(d, _)| *d);
    plan
}

fn display_number(phone_number_id: &str) -> String {
    let digits: String = phone_number_id
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let tail = &digits[digits.len().saturating_sub(7)..];
    format!("1555{tail:0>7}")
}

fn status_body(channel: &Channel, send: &WaSend, wamid: &str, status: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut item = json!({
        "id": wamid,
        "status": status,
        "timestamp": now.to_string(),
    });
    let contact = match &send.recipient {
        WaRecipient::Phone(_, wa_id) => {
            item["recipient_id"] = json!(wa_id);
            Some(json!({"profile": {"name": "Sim User"}, "wa_id": wa_id}))
        }
        WaRecipient::Group(id) => {
            item["recipient_id"] = json!(id);
            item["recipient_type"] = json!("group");
            None
        }
        WaRecipient::User(id) => {
            item["recipient_user_id"] = json!(id);
            Some(json!({"profile": {"name": "Sim User"}, "user_id": id}))
        }
    };
    if let Some(b) = &send.biz_opaque {
        item["biz_opaque_callback_data"] = json!(b);
    }
    if status == "failed" {
        item["errors"] = json!([{
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message not sent: the customer last wrote more than 24 hours ago."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
        }]);
    } else {
        let (category, pricing_type) = if send.template {
            ("utility", "regular")
        } else {
            ("service", "free_customer_service")
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&channel.external_id, send.recipient.key()).hash(&mut hasher);
        let mut conversation = json!({
            "id": format!("{:016x}{:016x}", hasher.finish(), hasher.finish().rotate_left(17)),
            "origin": {"type": category},
        });
        if status == "sent" {
            conversation["expiration_timestamp"] = json!((now + 86_400).to_string());
        }
        item["conversation"] = conversation;
        item["pricing"] = json!({
            "billable": send.template,
            "pricing_model": "PMP",
            "type": pricing_type,
            "category": category,
        });
    }
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_number(&channel.external_id),
            "phone_number_id": channel.external_id,
        },
    });
    if let (Some(c), false) = (contact, status == "failed") {
        value["contacts"] = json!([c]);
    }
    value["statuses"] = json!([item]);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": channel.waba_id.as_deref().unwrap_or(DEFAULT_WABA_ID),
            "changes": [{"value": value, "field": "messages"}]
        }]
    })
}

pub(super) fn schedule_statuses(
    state: &Arc<State>,
    channel: &Channel,
    send: &WaSend,
    wamid: &str,
    at: Instant,
    failed: bool,
) {
    let Some(url) = lock(&state.webhook_override)
        .clone()
        .or_else(|| state.opts.webhook_url.clone())
    else {
        return;
    };
    let plan = status_plan(&state.opts, failed);
    if plan.is_empty() {
        return;
    }
    let bodies: Vec<(Instant, &'static str, Value)> = plan
        .into_iter()
        .filter_map(|(delay, status)| {
            Some((
                at.checked_add(delay)?,
                status,
                status_body(channel, send, wamid, status),
            ))
        })
        .collect();
    let state = Arc::clone(state);
    let wamid = wamid.to_string();
    tokio::spawn(async move {
        for (due, status, mut body) in bodies {
            tokio::select! {
                _ = state.stop.cancelled() => return,
                _ = tokio::time::sleep_until(due.into()) => {}
            }
            // The timestamp is when the status happened, not when the send was made.
            let now = chrono::Utc::now().timestamp().to_string();
            if let Some(item) = body.pointer_mut("/entry/0/changes/0/value/statuses/0") {
                item["timestamp"] = json!(now);
            }
            post_webhook(&state, &url, &body, &wamid, status).await;
        }
    });
}

/// POSTs one signed status webhook, retrying up to [`WEBHOOK_RETRIES`] times on anything
/// but 200 (Meta's success criterion).
async fn post_webhook(state: &State, url: &str, body: &Value, wamid: &str, status: &str) {
    let bytes = meta_bytes(body);
    let secret = lock(&state.secret_override)
        .clone()
        .unwrap_or_else(|| state.opts.app_secret.clone());
    let sig = signature::sign(&secret, &bytes);
    let mut attempts = 0;
    let mut answered = None;
    for attempt in 0..=WEBHOOK_RETRIES {
        if attempt > 0 {
            let backoff = WEBHOOK_BACKOFF * 2u32.pow(attempt - 1);
            tokio::select! {
                _ = state.stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
        }
        attempts += 1;
        let res = state
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &sig)
            .body(bytes.clone())
            .send()
            .await;
        answered = res.ok().map(|r| r.status().as_u16());
        if answered == Some(200) {
            break;
        }
    }
    if state.opts.print {
        println!(
            "graph: status {status} {wamid} -> {} after {attempts} attempt(s)",
            answered.map_or("no answer".to_string(), |a| a.to_string())
        );
    }
    lock(&state.inner).webhooks.push(StatusWebhook {
        wamid: wamid.to_string(),
        status: status.to_string(),
        attempts,
        answered,
        at: Instant::now(),
    });
}
