//! A channel's connection and its sending are two states (issue 12, defects 2, 3 and 10).
//!
//! What production Meta does, from its pages (read 2026-12-02; rows of `docs/meta-errors.md`):
//! - Graph API "Handling Errors" (developers.facebook.com/docs/graph-api/guides/error-handling):
//!   190 = the token expired or was invalidated; 200–299 = a permission not granted or removed.
//! - Messenger Platform error codes: `(#200)` is also what Meta answers about one recipient
//!   ("This person isn't receiving messages from you right now") — the token is fine.
//! - WhatsApp error codes: 131048 "Spam rate limit hit" restricts how many messages the number
//!   may send; it says nothing about receiving.
//! - WhatsApp `account_update` / `phone_number_quality_update` webhook references.
//!
//! So: a permission error fails that message and keeps the token; only the token check
//! condemns a token; a send-side problem never stops the webhooks of the channel from reaching
//! the instance.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::graph::{CUSTOMER, Outbound, PAGE, PNID, TOKEN, WABA, outbound};
use crate::helpers::{Db, wait_until};
use metabridge::sim::graph::Fault;

both_backends!(
    p03_a_refused_token_is_condemned_by_the_token_check_and_inbound_keeps_flowing,
    a_permission_error_fails_that_message_and_keeps_the_token,
    spam_rate_limit_pauses_sends_not_inbound_and_resume_sends_them,
    paused_sends_resume_on_their_timer,
    account_update_webhooks_change_the_channels_of_the_waba,
);

fn text(channel: &str, to: &str, body: &str) -> Value {
    json!({"channel_id": channel, "to": to, "message": {"type": "text", "body": body}})
}

async fn channel(o: &Outbound, id: &str) -> Value {
    let (s, v) = o
        .app
        .v1(&o.tenant, Method::GET, &format!("/v1/channels/{id}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Customer messages of `from` the instance received (message.received events).
fn received_from(o: &Outbound, from: &str) -> usize {
    o.events_of("message.received")
        .iter()
        .filter(|e| e.to_string().contains(from))
        .count()
}

async fn p03_a_refused_token_is_condemned_by_the_token_check_and_inbound_keeps_flowing(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    o.sim.revoke_token(TOKEN);
    let (s, v) = o.send(text(&o.wa, CUSTOMER, "segura")).await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let app = &o.app;
    let tenant = &o.tenant;
    let wa = o.wa.clone();
    wait_until(Duration::from_secs(15), "sends token_invalid", || async {
        let (_, c) = app
            .v1(tenant, Method::GET, &format!("/v1/channels/{wa}"))
            .await;
        c["send_state"] == "token_invalid"
    })
    .await;
    let c = channel(&o, &o.wa).await;
    // The connection stands: only the sending is affected.
    assert_eq!(c["connection"], "connected", "{c}");
    assert_eq!(c["status"], "token_invalid", "{c}");
    assert_eq!(c["has_token"], false, "{c}");
    // The token was checked before it was condemned: Meta was asked about it (GET /me with the
    // token, as no app id is configured here) and answered that it is invalid.
    assert!(
        o.sim
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/me")),
        "no token check reached Meta"
    );
    let m = o.message(&id).await;
    assert_eq!(m["status"], "queued", "held, not burned: {m}");
    // P03: Meta said the token is invalid: it is deleted.
    let tokens: i64 = o
        .app
        .count("SELECT COUNT(*) FROM channels WHERE token_enc IS NOT NULL AND kind = 'whatsapp'")
        .await;
    assert_eq!(tokens, 0);
    wait_until(Duration::from_secs(10), "channel.updated event", || async {
        app.receiver.state.accepted().iter().any(|e| {
            e.event_type == "channel.updated"
                && e.body["data"]["send_state"] == "token_invalid"
                && e.body["data"]["connection"] == "connected"
        })
    })
    .await;
    // Inbound needs no token: the customer's next message still reaches the instance.
    let before = received_from(&o, "15550007777");
    o.customer_writes("15550007777").await;
    wait_until(Duration::from_secs(10), "inbound relayed", || async {
        received_from(&o, "15550007777") > before
    })
    .await;
    let unroutable = o
        .app
        .count("SELECT COUNT(*) FROM webhook_log WHERE outcome = 'unroutable'")
        .await;
    assert_eq!(unroutable, 0);
    // New sends are refused while the token is invalid.
    let (s, v) = o.send(text(&o.wa, CUSTOMER, "outra")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("channel_unavailable")),
        "{v}"
    );
    // A new token resumes the held send.
    o.sim
        .add_channel("whatsapp", PNID, Some(WABA), "EAAG-new-token");
    let (s, v) = o
        .app
        .admin(
            Method::PUT,
            &format!("/admin/v1/channels/{}/token", o.wa),
            Some(json!({"access_token": "EAAG-new-token"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["send_state"].as_str()),
        (Some("active"), Some("sending"))
    );
    o.wait_status(&id, "read").await;
    assert_eq!(o.sim.sends().len(), 1);
    o.stop().await;
}

async fn a_permission_error_fails_that_message_and_keeps_the_token(db: Db) {
    let o = outbound(db, |_| {}).await;
    let (ana, bia) = ("7010000000000001", "7010000000000002");
    o.customer_writes_ig("page", PAGE, ana).await;
    o.customer_writes_ig("page", PAGE, bia).await;
    // Meta: "(#200) This person isn't receiving messages from you right now."
    o.sim.push_fault(Fault::Permanent {
        times: 1,
        code: 200,
    });
    let (s, v) = o.send(text(&o.fb, ana, "olá")).await;
    assert_eq!(s, 202, "{v}");
    let first = v["id"].as_str().expect("id").to_string();
    let m = o.wait_status(&first, "failed").await;
    assert_eq!(m["error"]["code"], "200", "{m}");
    assert_eq!(m["error"]["meta_code"], 200, "{m}");
    // The token is checked (Meta is asked), and kept: it is valid.
    wait_until(Duration::from_secs(10), "token check", || async {
        o.sim
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/me"))
    })
    .await;
    let c = channel(&o, &o.fb).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["send_state"].as_str(),
            c["has_token"].as_bool()
        ),
        (Some("active"), Some("sending"), Some(true)),
        "{c}"
    );
    // Other recipients are served as before.
    let (s, v) = o.send(text(&o.fb, bia, "olá")).await;
    assert_eq!(s, 202, "{v}");
    let second = v["id"].as_str().expect("id").to_string();
    o.wait_status(&second, "sent").await;
    assert!(o.events_of("channel.updated").is_empty());
    o.stop().await;
}

async fn spam_rate_limit_pauses_sends_not_inbound_and_resume_sends_them(db: Db) {
    let o = outbound(db, |c| c.sending.pause = Duration::from_secs(3600)).await;
    o.customer_writes(CUSTOMER).await;
    o.sim.push_fault(Fault::Permanent {
        times: 1,
        code: 131_048,
    });
    let (_, v) = o.send(text(&o.wa, CUSTOMER, "promo")).await;
    let id = v["id"].as_str().expect("id").to_string();
    let app = &o.app;
    let tenant = &o.tenant;
    let wa = o.wa.clone();
    wait_until(Duration::from_secs(10), "sends paused", || async {
        let (_, c) = app
            .v1(tenant, Method::GET, &format!("/v1/channels/{wa}"))
            .await;
        c["send_state"] == "paused"
    })
    .await;
    let c = channel(&o, &o.wa).await;
    assert_eq!(
        (c["status"].as_str(), c["connection"].as_str()),
        (Some("paused"), Some("connected"))
    );
    assert_eq!(c["has_token"], true, "a pause keeps the token: {c}");
    assert!(
        c["send_reason"]
            .as_str()
            .is_some_and(|r| r.contains("131048")),
        "{c}"
    );
    // About an hour from now (the configured first pause).
    let until =
        chrono::DateTime::parse_from_rfc3339(c["send_paused_until"].as_str().expect("until"))
            .expect("rfc3339");
    let left = until.timestamp() - chrono::Utc::now().timestamp();
    assert!((3500..=3600).contains(&left), "{left} s left");
    assert_eq!(o.message(&id).await["status"], "queued");
    // Customers' messages keep arriving.
    let before = received_from(&o, "15550008888");
    o.customer_writes("15550008888").await;
    wait_until(
        Duration::from_secs(10),
        "inbound relayed while paused",
        || async { received_from(&o, "15550008888") > before },
    )
    .await;
    // The instance may resume at once; the held message goes out.
    let (s, v) = o
        .app
        .v1(
            &o.tenant,
            Method::POST,
            &format!("/v1/channels/{}/sends/resume", o.wa),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["send_state"], "sending", "{v}");
    o.wait_status(&id, "read").await;
    wait_until(
        Duration::from_secs(10),
        "two channel.updated events",
        || async { o.events_of("channel.updated").len() >= 2 },
    )
    .await;
    let updates: Vec<String> = o
        .events_of("channel.updated")
        .iter()
        .map(|e| e["data"]["send_state"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(updates, ["paused", "sending"]);
    // Another instance cannot resume this channel (P10).
    let other = o.app.tenant("Other", None).await;
    let (s, _) = o
        .app
        .v1(
            &other,
            Method::POST,
            &format!("/v1/channels/{}/sends/resume", o.wa),
        )
        .await;
    assert_eq!(s, 404);
    o.stop().await;
}

async fn paused_sends_resume_on_their_timer(db: Db) {
    let o = outbound(db, |c| c.sending.pause = Duration::from_secs(1)).await;
    o.customer_writes(CUSTOMER).await;
    // Meta still restricts the number when the first pause ends: the second pause is twice as
    // long; once a send gets through, the next pause would start from one second again.
    o.sim.push_fault(Fault::Permanent {
        times: 2,
        code: 131_048,
    });
    let (_, v) = o.send(text(&o.wa, CUSTOMER, "promo")).await;
    let id = v["id"].as_str().expect("id").to_string();
    o.wait_status(&id, "read").await;
    wait_until(
        Duration::from_secs(10),
        "four channel.updated events",
        || async { o.events_of("channel.updated").len() >= 4 },
    )
    .await;
    let updates: Vec<Value> = o.events_of("channel.updated");
    let states: Vec<&str> = updates
        .iter()
        .map(|e| e["data"]["send_state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["paused", "sending", "paused", "sending"]);
    let pause_ms = |e: &Value| {
        let at = |s: &Value| {
            chrono::DateTime::parse_from_rfc3339(s.as_str().expect("time"))
                .expect("rfc3339")
                .timestamp_millis()
        };
        at(&e["data"]["send_paused_until"]) - at(&e["occurred_at"])
    };
    assert_eq!(pause_ms(&updates[0]), 1000, "{}", updates[0]);
    assert_eq!(pause_ms(&updates[2]), 2000, "{}", updates[2]);
    assert_eq!(channel(&o, &o.wa).await["send_state"], "sending");
    let pauses = o
        .app
        .count("SELECT send_pauses FROM channels WHERE kind = 'whatsapp'")
        .await;
    assert_eq!(pauses, 0, "an accepted send resets the backoff");
    o.stop().await;
}

async fn account_update_webhooks_change_the_channels_of_the_waba(db: Db) {
    const APP: &str = "5731000000000001";
    let o = outbound(db, |c| c.connect.app_id = Some(APP.into())).await;
    let post = |value: Value, field: &str| {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA,
            "time": chrono::Utc::now().timestamp(), "changes": [{"field": field, "value": value}]}]});
        serde_json::to_vec(&body).expect("json")
    };
    // Messaging-limit tier and quality event are stored on the number.
    let body = post(
        json!({"display_phone_number": "15559990000", "event": "FLAGGED",
            "current_limit": "TIER_10K", "max_daily_conversations_per_business": "TIER_10K"}),
        "phone_number_quality_update",
    );
    assert_eq!(o.app.post_webhook(&body).await, 200);
    let c = channel(&o, &o.wa).await;
    assert_eq!(
        (
            c["messaging_limit_tier"].as_str(),
            c["quality_event"].as_str()
        ),
        (Some("TIER_10K"), Some("FLAGGED")),
        "{c}"
    );
    // A ban pauses sends; the reinstatement resumes them.
    let ban = post(
        json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "November 30, 2026"}}),
        "account_update",
    );
    assert_eq!(o.app.post_webhook(&ban).await, 200);
    assert_eq!(channel(&o, &o.wa).await["send_state"], "paused");
    // Meta retries: the same webhook again changes nothing more.
    assert_eq!(o.app.post_webhook(&ban).await, 200);
    let back = post(
        json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}}),
        "account_update",
    );
    assert_eq!(o.app.post_webhook(&back).await, 200);
    assert_eq!(channel(&o, &o.wa).await["send_state"], "sending");
    // Another partner's app leaving the account changes nothing here.
    let theirs = post(
        json!({"event": "PARTNER_APP_UNINSTALLED", "waba_info": {"waba_id": WABA,
            "owner_business_id": "2329000000000001", "partner_app_id": "999"}}),
        "account_update",
    );
    assert_eq!(o.app.post_webhook(&theirs).await, 200);
    assert_eq!(channel(&o, &o.wa).await["connection"], "connected");
    // Ours: the channel is disconnected and its token deleted.
    let ours = post(
        json!({"event": "PARTNER_APP_UNINSTALLED", "waba_info": {"waba_id": WABA,
            "owner_business_id": "2329000000000001", "partner_app_id": APP}}),
        "account_update",
    );
    assert_eq!(o.app.post_webhook(&ours).await, 200);
    let c = channel(&o, &o.wa).await;
    assert_eq!(
        (c["connection"].as_str(), c["has_token"].as_bool()),
        (Some("disconnected"), Some(false)),
        "{c}"
    );
    let app = &o.app;
    wait_until(Duration::from_secs(10), "events delivered", || async {
        let types: Vec<String> = app
            .receiver
            .state
            .accepted()
            .iter()
            .map(|e| e.event_type.clone())
            .collect();
        types.iter().filter(|t| *t == "account.updated").count() == 4
            && types.iter().filter(|t| *t == "channel.updated").count() == 2
            && types.iter().any(|t| t == "channel.disconnected")
    })
    .await;
    let sends: Vec<String> = o
        .events_of("channel.updated")
        .iter()
        .map(|e| e["data"]["send_state"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(sends, ["paused", "sending"]);
    o.stop().await;
}
