//! Outbound sends end to end: `POST /v1/messages` → queue → per-channel sender → the Graph
//! simulator (which checks the token and the request shape and emits status webhooks) →
//! statuses back through the inbound pipeline → events at the fake DSK receiver.

use std::time::Duration;

use metabridge::sim::graph::Fault;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::graph::*;
use crate::helpers::*;

both_backends!(
    text_round_trips_with_statuses_and_events,
    every_message_type_reaches_meta_as_meta_expects,
    validation_errors_name_the_field_and_rule,
    idempotency_key_sends_once_under_concurrency,
    a_key_reused_within_one_commit_queues_the_first_message_only,
    window_is_checked_before_calling_meta,
    throttling_and_server_errors_are_retried_then_sent_once,
    meta_window_error_fails_the_message_with_its_code,
    ambiguous_timeout_is_reconciled_by_the_status_echo,
    queued_sends_survive_a_restart_and_are_sent_once,
    p10_messages_and_channels_of_another_instance_are_404,
    p03_p13_disconnect_deletes_the_token_and_stops_sending,
    media_is_streamed_down_and_uploaded,
    undecryptable_token_is_a_channel_error_and_nothing_is_sent,
    messenger_echo_and_ig_read_name_the_bridge_message,
    wait_returns_metas_answer_in_the_response,
    channel_settings_are_validated_and_applied,
    oversized_api_bodies_are_refused_before_anything_is_stored,
    other_types_are_accepted_by_metas_shape_checks,
);

fn text(channel: &str, to: &str, body: &str) -> Value {
    json!({"channel_id": channel, "to": to, "message": {"type": "text", "body": body}})
}

async fn text_round_trips_with_statuses_and_events(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    let (s, v) = o
        .send(
            json!({"channel_id": o.wa, "to": format!("+{CUSTOMER}"), "client_reference": "ticket-7",
            "message": {"type": "text", "body": "Temos sim!", "preview_url": true}}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("msg_"));
    assert_eq!(v["client_reference"], "ticket-7");
    let read = o.wait_status(&id, "read").await;
    let sends = o.sim.sends();
    assert_eq!(sends.len(), 1, "{:#?}", o.sim.requests());
    assert_eq!(
        sends[0].body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": {"body": "Temos sim!", "preview_url": true},
            "biz_opaque_callback_data": id})
    );
    assert!(
        read["meta_message_id"]
            .as_str()
            .expect("wamid")
            .starts_with("wamid.")
    );
    let history: Vec<&str> = read["statuses"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or(""))
        .collect();
    for st in ["accepted", "sent", "delivered", "read"] {
        assert!(history.contains(&st), "{st} in {history:?}");
    }
    assert!(
        read["sent_at"].is_string()
            && read["delivered_at"].is_string()
            && read["read_at"].is_string()
    );
    // The instance hears about it: message.sent once, and statuses naming the bridge id.
    let app = &o.app;
    wait_until(Duration::from_secs(10), "events", || async {
        app.receiver
            .state
            .accepted()
            .iter()
            .filter(|e| e.event_type == "message.status")
            .count()
            >= 3
    })
    .await;
    let sent = o.events_of("message.sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["bridge_message_id"], id.as_str());
    assert_eq!(sent[0]["data"]["client_reference"], "ticket-7");
    for st in o.events_of("message.status") {
        assert_eq!(st["data"]["bridge_message_id"], id.as_str(), "{st}");
        // One conversation for the send and its statuses (delivered in order).
        assert_eq!(st["conversation_id"], sent[0]["conversation_id"], "{st}");
    }
    // Message content is gone once sent (P05).
    let bodies: i64 = o
        .app
        .count("SELECT COUNT(*) FROM messages WHERE body IS NOT NULL")
        .await;
    assert_eq!(bodies, 0);
    o.stop().await;
}

async fn every_message_type_reaches_meta_as_meta_expects(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    o.customer_writes_ig("instagram", IG, "6120000000000001")
        .await;
    o.customer_writes_ig("page", PAGE, "7120000000000001").await;
    let wa = |m: Value| json!({"channel_id": o.wa, "to": CUSTOMER, "message": m});
    let cases: Vec<(Value, Value)> = vec![
        (
            wa(
                json!({"type": "image", "link": "https://cdn.example.com/p.jpg", "caption": "Foto"}),
            ),
            json!({"type": "image", "image": {"link": "https://cdn.example.com/p.jpg", "caption": "Foto"}}),
        ),
        (
            wa(json!({"type": "document", "media_id": "1234567890", "filename": "nota.pdf"})),
            json!({"type": "document", "document": {"id": "1234567890", "filename": "nota.pdf"}}),
        ),
        (
            wa(json!({"type": "location", "latitude": -23.5, "longitude": -46.6, "name": "Loja"})),
            json!({"type": "location", "location": {"latitude": -23.5, "longitude": -46.6, "name": "Loja"}}),
        ),
        (
            wa(
                json!({"type": "buttons", "body": "Quer reservar?", "buttons": [{"id": "yes", "title": "Sim"}, {"id": "no", "title": "Não"}]}),
            ),
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Quer reservar?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Sim"}}, {"type": "reply", "reply": {"id": "no", "title": "Não"}}]}}}),
        ),
        (
            wa(
                json!({"type": "template", "name": "order_update", "language": "pt_BR", "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                    {"type": "currency", "fallback_value": "R$ 99,90", "code": "BRL", "amount_1000": 99900}]},
                {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "TRACK"}]}]}),
            ),
            json!({"type": "template", "template": {"name": "order_update", "language": {"code": "pt_BR"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                    {"type": "currency", "currency": {"fallback_value": "R$ 99,90", "code": "BRL", "amount_1000": 99900}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]}]}}),
        ),
        (
            wa(json!({"type": "reaction", "message_id": "wamid.X", "emoji": "👍"})),
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
        ),
    ];
    let mut ids = Vec::new();
    for (req, _) in &cases {
        let (s, v) = o.send(req.clone()).await;
        assert_eq!(s, 202, "{req} → {v}");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    for id in &ids {
        o.wait_status(id, "read").await;
    }
    let sends = o.sim.sends();
    for ((_, expected), id) in cases.iter().zip(&ids) {
        let got = sends
            .iter()
            .find(|r| r.body["biz_opaque_callback_data"] == id.as_str())
            .unwrap_or_else(|| panic!("no send for {id}"));
        let mut want = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "biz_opaque_callback_data": id});
        for (k, v) in expected.as_object().expect("object") {
            want[k] = v.clone();
        }
        assert_eq!(got.body, want);
    }
    // Read receipt with typing indicator: no callback data, a `success` answer, status `sent`.
    let (s, v) = o
        .send(wa(
            json!({"type": "mark_read", "message_id": "wamid.IN1", "typing_indicator": true}),
        ))
        .await;
    assert_eq!(s, 202, "{v}");
    o.wait_status(v["id"].as_str().expect("id"), "sent").await;
    let last = o
        .sim
        .requests()
        .into_iter()
        .rfind(|r| r.body["status"] == "read")
        .expect("read receipt");
    assert_eq!(
        last.body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1", "typing_indicator": {"type": "text"}})
    );
    // Instagram text with quick replies, Messenger typing indicator.
    let (s, v) = o
        .send(json!({"channel_id": o.ig, "to": "6120000000000001", "message": {"type": "text", "body": "Oi!",
            "quick_replies": [{"title": "Sim", "payload": "Y"}]}}))
        .await;
    assert_eq!(s, 202, "{v}");
    let ig_id = v["id"].as_str().expect("id").to_string();
    let ig = o.wait_status(&ig_id, "sent").await;
    assert!(ig["meta_message_id"].is_string());
    let got = o
        .sim
        .sends()
        .into_iter()
        .find(|r| r.sender_id.as_deref() == Some(IG))
        .expect("ig send");
    assert_eq!(
        got.body,
        json!({"recipient": {"id": "6120000000000001"}, "messaging_type": "RESPONSE",
            "message": {"text": "Oi!", "quick_replies": [{"content_type": "text", "title": "Sim", "payload": "Y"}], "metadata": ig_id}})
    );
    let (s, v) = o
        .send(
            json!({"channel_id": o.fb, "to": "7120000000000001", "message": {"type": "typing_on"}}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    o.wait_status(v["id"].as_str().expect("id"), "sent").await;
    let got = o
        .sim
        .requests()
        .into_iter()
        .find(|r| r.sender_id.as_deref() == Some(PAGE))
        .expect("messenger send");
    assert_eq!(
        got.body,
        json!({"recipient": {"id": "7120000000000001"}, "sender_action": "typing_on"})
    );
    o.stop().await;
}

async fn validation_errors_name_the_field_and_rule(db: Db) {
    let o = outbound(db, |_| {}).await;
    let wa =
        |m: Value| json!({"channel_id": o.wa, "to": CUSTOMER, "message": m, "ignore_window": true});
    let buttons: Vec<Value> = (0..4)
        .map(|i| json!({"id": format!("b{i}"), "title": "x"}))
        .collect();
    let cases = vec![
        (
            wa(json!({"type": "text", "body": "a".repeat(4097)})),
            "message.body",
            "max_length",
        ),
        (
            wa(json!({"type": "buttons", "body": "q", "buttons": buttons})),
            "message.buttons[3]",
            "too_many",
        ),
        (
            wa(
                json!({"type": "buttons", "body": "q", "buttons": [{"id": "a", "title": "t".repeat(21)}]}),
            ),
            "message.buttons[0].title",
            "max_length",
        ),
        (
            wa(json!({"type": "image", "link": "http://insecure.example.com/a.jpg"})),
            "message.link",
            "https_required",
        ),
        (
            json!({"channel_id": o.ig, "to": "6120000000000001", "message": {"type": "template", "name": "x", "language": "en"}, "ignore_window": true}),
            "message.type",
            "not_allowed_for_channel",
        ),
    ];
    for (req, field, rule) in cases {
        let (s, v) = o.send(req.clone()).await;
        assert_eq!(s, 422, "{req} → {v}");
        assert_eq!(v["code"], "validation_failed", "{v}");
        assert_eq!(v["field"], field, "{v}");
        assert_eq!(v["rule"], rule, "{v}");
    }
    // Shape errors are 400 with the error shape; an unknown message type too.
    let (s, v) = o
        .send(json!({"channel_id": o.wa, "to": CUSTOMER, "message": {"type": "hologram"}}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["code"], "invalid_request");
    assert_eq!(
        o.app.count("SELECT COUNT(*) FROM messages").await,
        0,
        "nothing queued"
    );
    assert!(o.sim.sends().is_empty());
    o.stop().await;
}

/// Sends queued in one group commit where an idempotency key comes twice, beside a send
/// without a key and a key of its own: the first message with the key is queued, the second
/// is answered with it; a key used in an earlier commit is answered with that message.
/// (Through the writer directly: concurrent HTTP requests land in one commit only sometimes.)
async fn a_key_reused_within_one_commit_queues_the_first_message_only(db: Db) {
    use metabridge::ids::{ChannelId, InstanceId, MessageId};
    use metabridge::store::{Enqueued, NewMessage};
    let o = outbound(db, |_| {}).await;
    let msg = |key: Option<&str>, text: &str| {
        NewMessage {
        id: MessageId::new(),
        instance_id: InstanceId::parse(&o.tenant.instance_id).expect("instance id"),
        channel_id: ChannelId::parse(&o.wa).expect("channel id"),
        recipient: CUSTOMER.to_string(),
        message_type: "text".to_string(),
        body: json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": text}})
            .to_string(),
        expects_message_id: false,
        client_reference: None,
        idempotency_key: key.map(str::to_string),
        request_hash: format!("hash-of-{text}"),
        created_at: 1,
    }
    };
    let (a, b, c, d) = (
        msg(Some("k"), "a"),
        msg(None, "b"),
        msg(Some("k"), "c"),
        msg(Some("j"), "d"),
    );
    let first = o
        .app
        .state
        .writer
        .enqueue(vec![a.clone(), b.clone(), c, d.clone()])
        .await
        .expect("enqueue");
    assert_eq!(
        first,
        [
            Enqueued::Created(a.id.clone()),
            Enqueued::Created(b.id.clone()),
            Enqueued::Existing {
                id: a.id.clone(),
                same_request: false
            },
            Enqueued::Created(d.id.clone()),
        ]
    );
    let (e, f) = (msg(Some("j"), "d"), msg(None, "f"));
    let second = o
        .app
        .state
        .writer
        .enqueue(vec![e, f.clone()])
        .await
        .expect("enqueue");
    assert_eq!(
        second,
        [
            Enqueued::Existing {
                id: d.id.clone(),
                same_request: true
            },
            Enqueued::Created(f.id.clone()),
        ]
    );
    assert_eq!(o.app.count("SELECT COUNT(*) FROM messages").await, 4);
    o.stop().await;
}

async fn idempotency_key_sends_once_under_concurrency(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    let body = text(&o.wa, CUSTOMER, "uma vez só");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let req = o
            .app
            .http
            .post(format!("{}/v1/messages", o.app.url))
            .bearer_auth(o.app.jwt(&o.tenant))
            .header("Idempotency-Key", "order-42-confirmation")
            .json(&body);
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.expect("send");
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.expect("json"))
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let (s, v) = t.await.expect("task");
        assert!(s == 202 || s == 200, "{s} {v}");
        if s == 202 {
            created += 1;
        }
        ids.insert(v["id"].as_str().expect("id").to_string());
    }
    assert_eq!(ids.len(), 1, "one message for one key");
    assert_eq!(created, 1, "exactly one 202");
    let id = ids.into_iter().next().expect("id");
    o.wait_status(&id, "read").await;
    let (s, v) = o
        .send_with(body.clone(), Some("order-42-confirmation"), "")
        .await;
    assert_eq!((s, v["id"].as_str()), (200, Some(id.as_str())));
    let (s, v) = o
        .send_with(
            text(&o.wa, CUSTOMER, "outra coisa"),
            Some("order-42-confirmation"),
            "",
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], "idempotency_key_reused");
    let (s, v) = o.send_with(body, Some(&"k".repeat(300)), "").await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("idempotency_key_invalid"))
    );
    holds_for(Duration::from_millis(500), "never sent twice", || async {
        o.sim.sends().len() == 1
    })
    .await;
    o.stop().await;
}

async fn window_is_checked_before_calling_meta(db: Db) {
    let o = outbound(db, |_| {}).await;
    let (s, v) = o.send(text(&o.wa, "15550009999", "oi")).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        (v["code"].as_str(), v["field"].as_str()),
        (Some("window_closed"), Some("to"))
    );
    assert!(v["message"].as_str().unwrap_or("").contains("template"));
    let (s, w) = o
        .app
        .v1(
            &o.tenant,
            reqwest::Method::GET,
            &format!("/v1/channels/{}/contacts/15550009999", o.wa),
        )
        .await;
    assert_eq!((s, w["window_open"].as_bool()), (200, Some(false)), "{w}");
    // A template is allowed outside the window; so is an explicit override.
    let (s, v) = o
        .send(json!({"channel_id": o.wa, "to": "15550009999", "message": {"type": "template", "name": "hello", "language": "en_US"}}))
        .await;
    assert_eq!(s, 202, "{v}");
    let mut over = text(&o.wa, "15550009999", "oi");
    over["ignore_window"] = json!(true);
    assert_eq!(o.send(over).await.0, 202);
    // Once the customer writes, the window is open for 24 hours.
    o.customer_writes("15550009999").await;
    let (s, w) = o
        .app
        .v1(
            &o.tenant,
            reqwest::Method::GET,
            &format!("/v1/channels/{}/contacts/15550009999", o.wa),
        )
        .await;
    assert_eq!((s, w["window_open"].as_bool()), (200, Some(true)), "{w}");
    assert_eq!(o.send(text(&o.wa, "15550009999", "oi")).await.0, 202);
    o.stop().await;
}

async fn throttling_and_server_errors_are_retried_then_sent_once(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    o.sim.push_fault(Fault::Throttle { times: 2 });
    o.sim.push_fault(Fault::ServerError { times: 1 });
    o.sim.push_fault(Fault::BareServerError { times: 1 });
    let (s, v) = o.send(text(&o.wa, CUSTOMER, "insistente")).await;
    assert_eq!(s, 202);
    let id = v["id"].as_str().expect("id").to_string();
    let m = o.wait_status(&id, "read").await;
    assert_eq!(o.sim.sends().len(), 1, "accepted exactly once");
    // Four refused calls (two throttles, two server errors), then the accepted one.
    let calls = o
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/messages") && r.body["biz_opaque_callback_data"] == id.as_str()
        })
        .count();
    assert_eq!(calls, 5, "Graph calls for the message");
    assert_eq!(m["attempts"].as_i64(), Some(5), "one attempt per call: {m}");
    let history: Vec<&str> = m["statuses"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or(""))
        .collect();
    assert!(history.contains(&"retrying"), "{history:?}");
    o.stop().await;
}

async fn meta_window_error_fails_the_message_with_its_code(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    o.sim.push_fault(Fault::Window { times: 1 });
    let (_, v) = o.send(text(&o.wa, CUSTOMER, "tarde demais")).await;
    let id = v["id"].as_str().expect("id").to_string();
    let m = o.wait_status(&id, "failed").await;
    assert_eq!(m["error"]["code"], "131047", "{m}");
    assert_eq!(m["error"]["meta_code"], 131047);
    assert!(!m["error"]["reason"].as_str().unwrap_or("").is_empty());
    // Meta accepting but later failing the message (window closed on Meta's side).
    o.sim.close_window("15550004444");
    o.customer_writes("15550004444").await;
    let (_, v) = o.send(text(&o.wa, "15550004444", "oi")).await;
    let id2 = v["id"].as_str().expect("id").to_string();
    let m = o.wait_status(&id2, "failed").await;
    assert_eq!(m["error"]["code"], "131047", "{m}");
    let app = &o.app;
    wait_until(
        Duration::from_secs(10),
        "two message.failed events",
        || async {
            app.receiver
                .state
                .accepted()
                .iter()
                .filter(|e| e.event_type == "message.failed")
                .count()
                == 2
        },
    )
    .await;
    o.stop().await;
}

async fn ambiguous_timeout_is_reconciled_by_the_status_echo(db: Db) {
    // Meta's statuses arrive (in reverse order) only after the bridge's call timed out.
    let o = outbound_with(db, [800, 900, 1000], true, |c| {
        c.graph.timeout = Duration::from_millis(300);
        c.sending.reconcile_window = Duration::from_secs(30);
    })
    .await;
    o.customer_writes(CUSTOMER).await;
    o.sim.push_fault(Fault::Timeout {
        times: 1,
        delay: Duration::from_millis(1500),
    });
    let (_, v) = o.send(text(&o.wa, CUSTOMER, "chegou?")).await;
    let id = v["id"].as_str().expect("id").to_string();
    // Meta got it (the simulator emits its statuses); the bridge never resends.
    let m = o.wait_status(&id, "read").await;
    assert!(
        m["statuses"]
            .as_array()
            .expect("h")
            .iter()
            .any(|s| s["status"] == "unconfirmed"),
        "{m}"
    );
    assert_eq!(
        o.sim
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/messages"))
            .count(),
        1,
        "one Graph call"
    );
    o.stop().await;
}

async fn queued_sends_survive_a_restart_and_are_sent_once(db: Db) {
    let sim = start_sim(FAST_STATUSES, false).await;
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
    let database_url = fresh_database(db, &dir).await;
    let key = metabridge::crypto::vault::generate_key();
    let graph_url = sim.url();
    // First run: API only (no senders), five sends queued.
    let app = spawn_app_on(db, dir.clone(), database_url.clone(), key.clone(), |c| {
        c.graph.base_url = graph_url.clone();
        c.run_workers = false;
    })
    .await;
    sim.add_channel("whatsapp", PNID, Some(WABA), TOKEN);
    let tenant = app.tenant("Loja", None).await;
    let wa = app.channel(&tenant, "whatsapp", PNID, Some(WABA)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = app
            .http
            .post(format!("{}/v1/messages", app.url))
            .bearer_auth(app.jwt(&tenant))
            .json(&json!({"channel_id": wa, "to": format!("1555000{i:04}"), "ignore_window": true, "message": {"type": "text", "body": "oi"}}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 202);
        ids.push(
            r.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let secret = tenant.secret.clone();
    app.stop().await;
    assert!(sim.sends().is_empty());
    // Second run with senders: each queued message is sent exactly once.
    let app = spawn_app_on(db, dir, database_url, key, |c| c.graph.base_url = graph_url).await;
    sim.set_webhook_url(&format!("{}/webhooks/meta", app.url));
    let t = Tenant {
        instance_id: tenant.instance_id.clone(),
        secret,
    };
    // Each message is sent: Meta accepted it (its status moved past `sent`) under the wamid
    // the simulator handed out for that message's one Graph call.
    for id in &ids {
        let path = format!("/v1/messages/{id}");
        wait_until(Duration::from_secs(15), "the message sent", || async {
            let (_, m) = app.v1(&t, reqwest::Method::GET, &path).await;
            ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap_or_default())
        })
        .await;
        let calls: Vec<_> = sim
            .sends()
            .into_iter()
            .filter(|r| r.body["biz_opaque_callback_data"] == id.as_str())
            .collect();
        assert_eq!(calls.len(), 1, "{id}: one Graph call");
        let (s, m) = app.v1(&t, reqwest::Method::GET, &path).await;
        assert_eq!(s, 200);
        assert_eq!(m["meta_message_id"], json!(calls[0].message_id), "{m}");
    }
    holds_for(
        Duration::from_millis(500),
        "no further Graph call",
        || async { sim.sends().len() == 5 },
    )
    .await;
    app.stop().await;
}

async fn p10_messages_and_channels_of_another_instance_are_404(db: Db) {
    let o = outbound(db, |_| {}).await;
    let other = o.app.tenant("Outra", None).await;
    o.customer_writes(CUSTOMER).await;
    let (_, v) = o.send(text(&o.wa, CUSTOMER, "privado")).await;
    let id = v["id"].as_str().expect("id").to_string();
    let missing_msg = "msg_0000000000000000000000000000000a";
    let missing_ch = "ch_0000000000000000000000000000000a";
    for (theirs, missing) in [
        (
            format!("/v1/messages/{id}"),
            format!("/v1/messages/{missing_msg}"),
        ),
        (
            format!("/v1/channels/{}", o.wa),
            format!("/v1/channels/{missing_ch}"),
        ),
        (
            format!("/v1/channels/{}/contacts/{CUSTOMER}", o.wa),
            format!("/v1/channels/{missing_ch}/contacts/{CUSTOMER}"),
        ),
    ] {
        let a = o.app.v1(&other, reqwest::Method::GET, &theirs).await;
        let b = o.app.v1(&other, reqwest::Method::GET, &missing).await;
        assert_eq!(a.0, 404, "{theirs}");
        assert_eq!(
            a, b,
            "another instance's object looks exactly like a missing one"
        );
    }
    // Sending through another instance's channel is a 404 too, and nothing is queued.
    let r = o
        .app
        .http
        .post(format!("{}/v1/messages", o.app.url))
        .bearer_auth(o.app.jwt(&other))
        .json(&text(&o.wa, CUSTOMER, "intruso"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 404);
    let (s, list) = o.app.v1(&other, reqwest::Method::GET, "/v1/channels").await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(0)));
    o.stop().await;
}

async fn p03_p13_disconnect_deletes_the_token_and_stops_sending(db: Db) {
    let o = outbound(db, |c| c.run_workers = true).await;
    let (s, _) = o
        .app
        .v1(
            &o.tenant,
            reqwest::Method::DELETE,
            &format!("/v1/channels/{}", o.ig),
        )
        .await;
    assert_eq!(s, 204);
    let (s, c) = o
        .app
        .v1(
            &o.tenant,
            reqwest::Method::GET,
            &format!("/v1/channels/{}", o.ig),
        )
        .await;
    assert_eq!(
        (s, c["status"].as_str(), c["has_token"].as_bool()),
        (200, Some("disconnected"), Some(false))
    );
    let tokens: i64 = o
        .app
        .count("SELECT COUNT(*) FROM channels WHERE kind = 'instagram' AND token_enc IS NOT NULL")
        .await;
    assert_eq!(tokens, 0, "the token is deleted, not flagged");
    let (s, _) = o.send(text(&o.ig, "6120000000000001", "oi")).await;
    assert_eq!(s, 404);
    let app = &o.app;
    wait_until(Duration::from_secs(10), "channel.disconnected", || async {
        app.receiver
            .state
            .accepted()
            .iter()
            .any(|e| e.event_type == "channel.disconnected")
    })
    .await;
    // A send that raced the disconnect (accepted just before it committed) is failed, not
    // left queued forever.
    let orphan = "msg_0000000000000000000000000000000b";
    sqlx::query(
        "INSERT INTO messages (id, instance_id, channel_id, recipient, type, body, expects_message_id, \
         request_hash, state, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, '6120000000000001', 'text', '{}', 1, 'h', 'queued', 0, 0, 0)",
    )
    .bind(orphan)
    .bind(o.tenant.instance_id.as_str())
    .bind(o.ig.as_str())
    .execute(o.app.state.store.pool())
    .await
    .expect("insert");
    o.app
        .state
        .senders
        .wake(&metabridge::ids::ChannelId::parse(&o.ig).expect("channel id"));
    let m = o.wait_status(orphan, "failed").await;
    assert_eq!(m["error"]["code"], "channel_disconnected", "{m}");
    // The Meta id can be connected again.
    o.app.channel(&o.tenant, "instagram", IG, None).await;
    o.stop().await;
}

async fn media_is_streamed_down_and_uploaded(db: Db) {
    let o = outbound(db, |_| {}).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    o.sim.add_media("9988776655", "image/jpeg", bytes.clone());
    let r = o
        .app
        .http
        .get(format!(
            "{}/v1/channels/{}/media/9988776655",
            o.app.url, o.wa
        ))
        .bearer_auth(o.app.jwt(&o.tenant))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    let (s, v) = o
        .app
        .v1(
            &o.tenant,
            reqwest::Method::GET,
            &format!("/v1/channels/{}/media/1111", o.wa),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("media_not_found")),
        "{v}"
    );
    let (s, v) = o
        .app
        .v1(
            &o.tenant,
            reqwest::Method::GET,
            &format!("/v1/channels/{}/media/..%2F..%2Fetc", o.wa),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("media_id")), "{v}");
    let r = o
        .app
        .http
        .post(format!(
            "{}/v1/channels/{}/media?filename=foto.png",
            o.app.url, o.wa
        ))
        .bearer_auth(o.app.jwt(&o.tenant))
        .header("content-type", "image/png")
        .body(vec![1u8; 1000])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    // Meta got the file (its type and every byte) and the id Meta gave it is the one answered.
    let uploaded = o.sim.uploaded();
    assert_eq!(
        uploaded,
        [(
            v["media_id"].as_str().expect("media_id").to_string(),
            "image/png".to_string(),
            1000
        )],
        "{v}"
    );
    let r = o
        .app
        .http
        .post(format!("{}/v1/channels/{}/media", o.app.url, o.wa))
        .bearer_auth(o.app.jwt(&o.tenant))
        .header("content-type", "image/webp")
        .body(vec![1u8; 600 * 1024])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 413);
    o.stop().await;
}

async fn undecryptable_token_is_a_channel_error_and_nothing_is_sent(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    // A token encrypted under a key the service does not have (a key dropped too early).
    let foreign = metabridge::crypto::vault::Vault::new(&[metabridge::config::Secret::new(
        metabridge::crypto::vault::generate_key(),
    )])
    .expect("vault")
    .encrypt(TOKEN);
    sqlx::query("UPDATE channels SET token_enc = $1 WHERE id = $2")
        .bind(foreign)
        .bind(o.wa.as_str())
        .execute(o.app.state.store.pool())
        .await
        .expect("update");
    let (s, v) = o.send(text(&o.wa, CUSTOMER, "sem chave")).await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let app = &o.app;
    let (tenant, wa) = (&o.tenant, o.wa.clone());
    wait_until(Duration::from_secs(10), "channel marked", || async {
        let (_, c) = app
            .v1(tenant, reqwest::Method::GET, &format!("/v1/channels/{wa}"))
            .await;
        c["status"] == "token_invalid"
            && c["status_reason"]
                .as_str()
                .is_some_and(|r| r.contains("cannot be decrypted"))
    })
    .await;
    assert_eq!(o.message(&id).await["status"], "queued", "held, not failed");
    // Nothing reached Meta for this number (the other channels' tokens are checked with
    // `GET /me` meanwhile; that is not this channel).
    assert!(
        !o.sim
            .requests()
            .iter()
            .any(|r| r.path.contains(PNID) || r.sender_id.as_deref() == Some(PNID)),
        "no Graph call without a token"
    );
    // The ciphertext is kept: fixing the key configuration recovers it.
    let kept: i64 = o
        .app
        .count("SELECT COUNT(*) FROM channels WHERE kind = 'whatsapp' AND token_enc IS NOT NULL")
        .await;
    assert_eq!(kept, 1);
    o.stop().await;
}

async fn messenger_echo_and_ig_read_name_the_bridge_message(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes_ig("page", PAGE, "7120000000000001").await;
    let (s, v) = o
        .send(json!({"channel_id": o.fb, "to": "7120000000000001", "message": {"type": "text", "body": "Oi"}}))
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let m = o.wait_status(&id, "sent").await;
    let mid = m["meta_message_id"].as_str().expect("mid").to_string();
    // Meta's echo of our own send carries our id in `metadata`.
    let now = chrono::Utc::now().timestamp_millis();
    let echo = json!({"object": "page", "entry": [{"id": PAGE, "time": now, "messaging": [{
        "sender": {"id": PAGE}, "recipient": {"id": "7120000000000001"}, "timestamp": now,
        "message": {"mid": mid, "is_echo": true, "app_id": 1, "metadata": id, "text": "Oi"}}]}]});
    assert_eq!(
        o.app
            .post_webhook(&serde_json::to_vec(&echo).expect("json"))
            .await,
        200
    );
    let app = &o.app;
    wait_until(Duration::from_secs(10), "echo event", || async {
        app.receiver
            .state
            .accepted()
            .iter()
            .any(|e| e.event_type == "message.echo")
    })
    .await;
    let ev = o.events_of("message.echo");
    assert_eq!(ev[0]["data"]["bridge_message_id"], id.as_str(), "{}", ev[0]);
    o.stop().await;
}

async fn wait_returns_metas_answer_in_the_response(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    let (s, v) = o
        .send_with(text(&o.wa, CUSTOMER, "espera"), None, "?wait=5")
        .await;
    assert_eq!(s, 202, "{v}");
    assert!(
        ["sent", "delivered", "read"].contains(&v["status"].as_str().unwrap_or("")),
        "{v}"
    );
    assert!(
        v["meta_message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("wamid.")),
        "{v}"
    );
    // A failure comes back in the response too, with Meta's code.
    o.sim.push_fault(Fault::Permanent {
        times: 1,
        code: 131026,
    });
    let (s, v) = o
        .send_with(text(&o.wa, CUSTOMER, "falha"), None, "?wait=5")
        .await;
    assert_eq!((s, v["status"].as_str()), (202, Some("failed")), "{v}");
    assert_eq!(v["error"]["code"], "131026");
    // The pair limit (131056) backs the recipient off and the message still goes out once.
    o.sim.push_fault(Fault::PairRate { times: 1 });
    let (_, v) = o.send(text(&o.wa, CUSTOMER, "de novo")).await;
    let id = v["id"].as_str().expect("id").to_string();
    let m = o.wait_status(&id, "sent").await;
    assert_eq!(m["attempts"], 2, "{m}");
    let (s, v) = o
        .send_with(text(&o.wa, CUSTOMER, "x"), None, "?wait=31")
        .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("wait")), "{v}");
    // Both waits ended on the commit that recorded Meta's answer, not on a re-read of the
    // database (issue 17 item 7: the wait used to poll every 250 ms). `immediately` (settled
    // before the wait's first read) is allowed; the safety re-read (5 s) must not have been
    // what found either answer.
    let ended = |how| {
        o.app
            .metric_with("metabridge_send_waits_total", "ended", how)
    };
    let (notified, immediately, polled) = (
        ended("notified").await,
        ended("immediately").await,
        ended("polled").await,
    );
    assert_eq!(
        notified + immediately,
        2.0,
        "notified {notified}, immediately {immediately}"
    );
    assert!(notified >= 1.0, "at least one wait was woken by its commit");
    assert_eq!(polled, 0.0);
    o.stop().await;
}

async fn channel_settings_are_validated_and_applied(db: Db) {
    let o = outbound(db, |_| {}).await;
    let patch = |body: Value| {
        let req = o
            .app
            .http
            .patch(format!("{}/v1/channels/{}", o.app.url, o.wa))
            .bearer_auth(o.app.jwt(&o.tenant))
            .json(&body);
        async move {
            let r = req.send().await.expect("patch");
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = patch(json!({"rate_limit": 5000})).await;
    assert_eq!(
        (s, v["field"].as_str(), v["rule"].as_str()),
        (422, Some("rate_limit"), Some("out_of_range")),
        "{v}"
    );
    let (s, v) = patch(json!({"rate_limit": 120, "name": "Loja Centro"})).await;
    assert_eq!(
        (s, v["rate_limit"].as_i64(), v["name"].as_str()),
        (200, Some(120), Some("Loja Centro")),
        "{v}"
    );
    let (s, v) = patch(json!({"rate_limit": 0})).await;
    assert_eq!(s, 200);
    assert!(v.get("rate_limit").is_none(), "back to the default: {v}");
    let (s, v) = patch(json!({"name": ""})).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("name")), "{v}");
    o.stop().await;
}

async fn oversized_api_bodies_are_refused_before_anything_is_stored(db: Db) {
    let o = outbound(db, |c| c.max_body_bytes = 64 * 1024).await;
    let mut big = text(&o.wa, CUSTOMER, &"a".repeat(100 * 1024));
    big["ignore_window"] = json!(true);
    // Declared length over the limit: 413 in the API's error shape.
    let r = o
        .app
        .http
        .post(format!("{}/v1/messages", o.app.url))
        .bearer_auth(o.app.jwt(&o.tenant))
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "payload_too_large");
    // No declared length (chunked): cut off while streaming, a 4xx, never a 5xx. The server
    // may answer and close before the client has sent everything: the client then sees the
    // connection closed instead of the answer, which is just as good.
    let bytes = serde_json::to_vec(&big).expect("json");
    let stream = futures_util::stream::iter(
        bytes
            .chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = o
        .app
        .http
        .post(format!("{}/v1/messages", o.app.url))
        .bearer_auth(o.app.jwt(&o.tenant))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
        // The body too, unless the connection closed under it.
        if let Ok(v) = r.json::<Value>().await {
            assert_eq!(v["code"], "payload_too_large", "{v}");
        }
    }
    assert_eq!(o.app.count("SELECT COUNT(*) FROM messages").await, 0);
    o.stop().await;
}

/// The types not asserted body by body above (their exact bodies are unit-tested in
/// `outbound::model`): the simulator checks each shape as Meta would, so each must be
/// accepted, not failed with code 100.
async fn other_types_are_accepted_by_metas_shape_checks(db: Db) {
    let o = outbound(db, |_| {}).await;
    o.customer_writes(CUSTOMER).await;
    o.customer_writes_ig("instagram", IG, "6120000000000001")
        .await;
    let wa = |m: Value| json!({"channel_id": o.wa, "to": CUSTOMER, "message": m});
    let ig = |m: Value| json!({"channel_id": o.ig, "to": "6120000000000001", "message": m});
    let requests = vec![
        wa(json!({"type": "text", "body": "citando"})),
        wa(
            json!({"type": "list", "body": "Horários", "button": "Ver", "sections": [
            {"title": "Manhã", "rows": [{"id": "m9", "title": "09:00", "description": "cedo"}]},
            {"title": "Tarde", "rows": [{"id": "t2", "title": "14:00"}]}]}),
        ),
        wa(
            json!({"type": "cta_url", "body": "Acompanhe", "display_text": "Rastrear", "url": "https://loja.example.com/p/1"}),
        ),
        wa(
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana Pereira", "first_name": "Ana"},
            "phones": [{"phone": "+55 11 98888-7777", "type": "CELL", "wa_id": "5511988887777"}]}]}),
        ),
        wa(json!({"type": "sticker", "media_id": "777"})),
        wa(json!({"type": "audio", "link": "https://cdn.example.com/a.ogg"})),
        wa(json!({"type": "video", "link": "https://cdn.example.com/v.mp4", "caption": "Vídeo"})),
        wa(
            json!({"type": "buttons", "body": "Confirma?", "header": {"type": "text", "text": "Pedido"}, "footer": "Loja",
            "buttons": [{"id": "ok", "title": "Sim"}]}),
        ),
        ig(json!({"type": "image", "link": "https://cdn.example.com/p.jpg"})),
        ig(json!({"type": "document", "link": "https://cdn.example.com/nota.pdf"})),
    ];
    let mut ids = Vec::new();
    for (i, mut req) in requests.into_iter().enumerate() {
        if i == 0 {
            req["reply_to"] = json!("wamid.QUOTED");
        }
        let (s, v) = o.send(req.clone()).await;
        assert_eq!(s, 202, "{req} → {v}");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    for id in &ids {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let m = o.message(id).await;
            let st = m["status"].as_str().unwrap_or("").to_string();
            assert_ne!(st, "failed", "Meta's shape check refused it: {m}");
            if ["sent", "delivered", "read"].contains(&st.as_str()) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{m}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let quoted = o
        .sim
        .sends()
        .into_iter()
        .find(|r| r.body["biz_opaque_callback_data"] == ids[0].as_str())
        .expect("reply");
    assert_eq!(
        quoted.body["context"],
        json!({"message_id": "wamid.QUOTED"})
    );
    o.stop().await;
}
