//! Issue 12, defect 9 and the coexistence webhooks of defect 7, as the DSK sees them: what
//! `POST /v1/messages` accepts or refuses (checked against Meta's documented rules, see the
//! conformance corpus), what reaches the Graph simulator, and which events a signed Meta
//! webhook produces at the DSK receiver.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::graph::{CUSTOMER, FAST_STATUSES, IG, PNID, WABA, outbound, outbound_with};
use crate::helpers::*;
use metabridge::config::{AmbiguousPolicies, AmbiguousPolicy};
use metabridge::sim::graph::Fault;

both_backends!(
    bsuid_from_a_webhook_is_a_recipient_the_send_api_accepts,
    contact_cards_without_a_name_part_are_refused_before_queueing,
    instagram_reactions_are_love_or_refused,
    template_flow_catalog_mpm_buttons_carry_their_action,
    coexistence_webhooks_reach_the_dsk_once,
    instagram_ambiguous_sends_fail_by_default_and_retry_when_configured,
);

const IGSID: &str = "6120000000000001";

/// A BSUID is a country code, a dot and alphanumerics (Meta, "Business-scoped user IDs"): the
/// contact id the DSK receives for such a customer is accepted back as `to` and sent to Meta as
/// `recipient`. Before the shared rule (src/meta/bsuid.rs) the sender took only digits after the
/// dot and answered 422 to the id the parser had handed out.
async fn bsuid_from_a_webhook_is_a_recipient_the_send_api_accepts(db: Db) {
    let o = outbound(db, |_| {}).await;
    let bsuid = "BR.13491208655302741918aB";
    let now = chrono::Utc::now().timestamp();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15559990000", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Ana"}, "user_id": bsuid}],
            "messages": [{"from_user_id": bsuid, "id": "wamid.BSUID1",
                "timestamp": now.to_string(), "type": "text", "text": {"body": "oi"}}]}}]}]});
    assert_eq!(
        o.app
            .post_webhook(&serde_json::to_vec(&body).expect("json"))
            .await,
        200
    );
    let app = &o.app;
    wait_until(Duration::from_secs(10), "message.received", || async {
        app.receiver
            .state
            .accepted()
            .iter()
            .any(|e| e.event_type == "message.received")
    })
    .await;
    let ev = o.events_of("message.received");
    let contact_id = ev[0]["contact"]["id"]
        .as_str()
        .expect("contact id")
        .to_string();
    assert_eq!(contact_id, bsuid);
    let (s, v) = o
        .send(json!({"channel_id": o.wa, "to": contact_id, "message": {"type": "text", "body": "Olá"}}))
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    o.wait_status(&id, "sent").await;
    let sent = o
        .sim
        .sends()
        .into_iter()
        .find(|r| r.body["biz_opaque_callback_data"] == id.as_str())
        .expect("send");
    assert_eq!(sent.body["recipient"], json!(bsuid));
    assert!(sent.body.get("to").is_none(), "{}", sent.body);
    o.stop().await;
}

/// Meta ("Contacts messages"): a card's name needs `formatted_name` and one of first_name,
/// last_name, middle_name, suffix, prefix. Without one the request is a 422 naming the field
/// and nothing is queued (before: 202, and Meta refused the send later).
async fn contact_cards_without_a_name_part_are_refused_before_queueing(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    let (s, v) = o
        .send(
            json!({"channel_id": o.wa, "to": CUSTOMER, "message": {"type": "contacts",
            "contacts": [{"name": {"formatted_name": "Ana Pereira"},
                          "phones": [{"phone": "+55 11 98888-7777"}]}]}}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["code"], "validation_failed", "{v}");
    assert_eq!(v["field"], "message.contacts[0].name.first_name", "{v}");
    assert_eq!(v["rule"], "required", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("last_name")),
        "{v}"
    );
    assert_eq!(o.app.count("SELECT COUNT(*) FROM messages").await, 0);
    // With a last name (and suffix/prefix, now part of the API) it goes out as given.
    let card = json!({"name": {"formatted_name": "Dr. Ana Pereira", "last_name": "Pereira",
        "prefix": "Dr."}, "phones": [{"phone": "+55 11 98888-7777"}]});
    let (s, v) = o
        .send(
            json!({"channel_id": o.wa, "to": CUSTOMER, "message": {"type": "contacts",
            "contacts": [card.clone()]}}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    o.wait_status(&id, "sent").await;
    let sent = o
        .sim
        .sends()
        .into_iter()
        .find(|r| r.body["biz_opaque_callback_data"] == id.as_str())
        .expect("send");
    assert_eq!(sent.body["contacts"], json!([card]));
    o.stop().await;
}

/// Instagram takes the reaction `love` only: the heart (and `love`) map to it, anything else is
/// a 422 `not_allowed_for_channel` on `message.emoji` (before: queued, then refused by Meta).
/// Messenger keeps any emoji.
async fn instagram_reactions_are_love_or_refused(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes_ig("instagram", IG, IGSID).await;
    let ig = |emoji: &str| {
        json!({"channel_id": o.ig, "to": IGSID,
               "message": {"type": "reaction", "message_id": "m_1", "emoji": emoji}})
    };
    for emoji in ["👍", "😂", "like"] {
        let (s, v) = o.send(ig(emoji)).await;
        assert_eq!(s, 422, "{emoji} → {v}");
        assert_eq!(v["field"], "message.emoji", "{v}");
        assert_eq!(v["rule"], "not_allowed_for_channel", "{v}");
    }
    assert_eq!(o.app.count("SELECT COUNT(*) FROM messages").await, 0);
    let (s, v) = o.send(ig("❤️")).await;
    assert_eq!(s, 202, "{v}");
    o.wait_status(v["id"].as_str().expect("id"), "sent").await;
    let sent = o
        .sim
        .requests()
        .into_iter()
        .find(|r| r.sender_id.as_deref() == Some(IG) && r.body.get("sender_action").is_some())
        .expect("reaction");
    assert_eq!(
        sent.body,
        json!({"recipient": {"id": IGSID}, "sender_action": "react",
               "payload": {"message_id": "m_1", "reaction": "love"}})
    );
    o.stop().await;
}

/// Flow, catalog and mpm template buttons take an `action` parameter (Meta: "Sending a Flow",
/// "Catalog templates", "Multi-product message templates"). Before, `action` was not a
/// parameter type of the API (400) and a flow button could only be sent with a wrong one.
async fn template_flow_catalog_mpm_buttons_carry_their_action(db: Db) {
    let o = outbound(db, |_| {}).await;
    let template = |button: Value| {
        json!({"channel_id": o.wa, "to": CUSTOMER, "message": {"type": "template",
               "name": "promo", "language": "pt_BR", "components": [button]}})
    };
    let cases = [
        (
            json!({"type": "button", "sub_type": "flow", "index": 0, "parameters": [
                {"type": "action", "flow_token": "tok-1", "flow_action_data": {"screen": "START"}}]}),
            json!({"type": "button", "sub_type": "flow", "index": "0", "parameters": [
                {"type": "action", "action": {"flow_token": "tok-1", "flow_action_data": {"screen": "START"}}}]}),
        ),
        (
            json!({"type": "button", "sub_type": "catalog", "index": 0, "parameters": [
                {"type": "action", "thumbnail_product_retailer_id": "SKU-1"}]}),
            json!({"type": "button", "sub_type": "catalog", "index": "0", "parameters": [
                {"type": "action", "action": {"thumbnail_product_retailer_id": "SKU-1"}}]}),
        ),
        (
            json!({"type": "button", "sub_type": "mpm", "index": 0, "parameters": [
                {"type": "action", "thumbnail_product_retailer_id": "SKU-1", "sections": [
                    {"title": "Tênis", "product_items": [{"product_retailer_id": "SKU-1"}]}]}]}),
            json!({"type": "button", "sub_type": "mpm", "index": "0", "parameters": [
                {"type": "action", "action": {"thumbnail_product_retailer_id": "SKU-1", "sections": [
                    {"title": "Tênis", "product_items": [{"product_retailer_id": "SKU-1"}]}]}}]}),
        ),
    ];
    for (button, want) in cases {
        let (s, v) = o.send(template(button.clone())).await;
        assert_eq!(s, 202, "{button} → {v}");
        let id = v["id"].as_str().expect("id").to_string();
        o.wait_status(&id, "sent").await;
        let sent = o
            .sim
            .sends()
            .into_iter()
            .find(|r| r.body["biz_opaque_callback_data"] == id.as_str())
            .expect("send");
        assert_eq!(sent.body["template"]["components"], json!([want]));
    }
    // A flow button with another parameter type is refused before queueing.
    let (s, v) = o
        .send(template(
            json!({"type": "button", "sub_type": "flow", "index": 0,
            "parameters": [{"type": "payload", "payload": "x"}]}),
        ))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["field"], "message.components[0].parameters[0].type",
        "{v}"
    );
    o.stop().await;
}

/// A signed coexistence webhook (history, contact sync, app echoes) reaches the DSK as the
/// documented events, once each, although Meta sends every body twice (a retry).
async fn coexistence_webhooks_reach_the_dsk_once(db: Db) {
    let app = spawn_app(db).await;
    app.fixture_tenant().await;
    for name in [
        "wa-smb-message-echoes.json",
        "wa-history.json",
        "wa-history-declined.json",
        "wa-smb-app-state-sync.json",
    ] {
        let body = fixture(name);
        for _ in 0..2 {
            assert_eq!(app.post_webhook(&body).await, 200, "{name}");
        }
    }
    let want: HashMap<&str, usize> = HashMap::from([
        ("message.echo", 1),
        ("message.history", 2),
        ("channel.error", 1),
        ("contact.synced", 2),
    ]);
    let total: usize = want.values().sum();
    let r = &app.receiver.state;
    wait_until(Duration::from_secs(20), "coexistence events", || async {
        r.unique_accepted() >= total
    })
    .await;
    // Every webhook was acknowledged after commit, so the retries were already deduplicated:
    // exactly `total` events exist and were delivered.
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, total as i64);
    let accepted = r.accepted();
    let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
    for e in &accepted {
        by_type
            .entry(e.event_type.clone())
            .or_default()
            .push(e.body.clone());
    }
    for (t, n) in &want {
        let got = by_type.get(*t).map_or(0, Vec::len);
        assert_eq!(got, *n, "{t}: {by_type:#?}");
    }
    let history = &by_type["message.history"];
    let inbound = history
        .iter()
        .find(|e| e["data"]["direction"] == "inbound")
        .expect("inbound history");
    assert_eq!(inbound["data"]["text"], "Vocês abrem sábado?");
    assert_eq!(inbound["data"]["history"]["phase"], 1);
    assert_eq!(inbound["data"]["history"]["status"], "READ");
    assert_eq!(inbound["contact"]["id"], "15550001234");
    assert!(history.iter().any(|e| e["data"]["direction"] == "outbound"));
    let echo = &by_type["message.echo"][0];
    assert_eq!(echo["data"]["is_echo"], true);
    assert_eq!(echo["contact"]["id"], "15550001234");
    // Echo and history of one customer share the conversation.
    assert_eq!(echo["conversation_id"], inbound["conversation_id"]);
    let synced = &by_type["contact.synced"];
    let added = synced
        .iter()
        .find(|e| e["data"]["action"] == "add")
        .expect("added contact");
    assert_eq!(added["data"]["full_name"], "Ana Pereira");
    assert_eq!(added["contact"]["name"], "Ana Pereira");
    assert_eq!(added["conversation_id"], inbound["conversation_id"]);
    assert_eq!(by_type["channel.error"][0]["data"]["code"], 2593109);
    app.stop().await;
}

/// An Instagram send whose Graph call timed out after the request left may have reached Meta,
/// and Instagram has no idempotency key nor status echo: by default (`instagram=fail`) it fails
/// as `unknown_outcome` after one call. `METABRIDGE_AMBIGUOUS_SEND_POLICY=instagram=retry`
/// (per kind, which the setting could not express before) resends it after the window.
async fn instagram_ambiguous_sends_fail_by_default_and_retry_when_configured(db: Db) {
    for (policy, want_status, want_calls) in [
        (AmbiguousPolicies::default(), "failed", 1),
        (
            AmbiguousPolicies {
                instagram: AmbiguousPolicy::Retry,
                ..AmbiguousPolicies::default()
            },
            "sent",
            2,
        ),
    ] {
        let o = outbound_with(db, FAST_STATUSES, false, |c| {
            c.graph.timeout = Duration::from_millis(300);
            c.sending.reconcile_window = Duration::from_millis(500);
            c.sending.ambiguous_policy = policy;
        })
        .await;
        o.customer_writes_ig("instagram", IG, IGSID).await;
        o.sim.push_fault(Fault::Timeout {
            times: 1,
            delay: Duration::from_millis(1500),
        });
        let (s, v) = o
            .send(
                json!({"channel_id": o.ig, "to": IGSID, "message": {"type": "text", "body": "Oi"}}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
        let m = o
            .wait_status(v["id"].as_str().expect("id"), want_status)
            .await;
        if want_status == "failed" {
            assert_eq!(m["error"]["code"], "unknown_outcome", "{m}");
        }
        let calls = o
            .sim
            .requests()
            .iter()
            .filter(|r| r.sender_id.as_deref() == Some(IG) && r.path.ends_with("/messages"))
            .count();
        assert_eq!(calls, want_calls, "{policy:?}: {m}");
        o.stop().await;
    }
}
