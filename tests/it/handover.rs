//! Issue 16 §5: the handover protocol on Messenger and Instagram (through its Page). Handover
//! webhooks (`messaging_handovers`: pass / take / request thread control) become
//! `thread.control` events and record who controls each conversation; a send into a
//! conversation another Meta app controls is refused with `409 thread_not_owned` (and the
//! owner) unless it sets `take_thread_control`; `POST /v1/channels/{id}/threads/{contact}/
//! pass|take|request` call Meta's handover edges. The simulator answers those edges as the
//! corpus documents (`messenger.*_thread_control.json`, checked by `conformance`); webhook
//! bodies follow Meta's "messaging_handovers Webhook Event Reference" (read 2026-12-04).

use std::time::Duration;

use metabridge::sim::graph::APP_ID;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::graph::{IG, Outbound, PAGE, outbound};
use crate::helpers::*;

both_backends!(
    another_apps_thread_refuses_sends_until_the_bridge_takes_control,
    a_send_may_take_control_first_and_is_sent_once,
    pass_back_and_request_webhooks_are_events,
    pass_through_the_api_and_metas_refusal_is_typed,
    channels_without_handover_are_refused_clearly,
    another_instances_channel_is_not_found,
    a_duplicate_handover_webhook_is_delivered_once,
    p13_disconnect_and_instance_deletion_delete_thread_owners,
);

const PSID: &str = "7010000000000001";
const IGSID: &str = "6120000000000001";
/// Meta's Page inbox app (handover pages).
const PAGE_INBOX: &str = "263902037430900";

async fn env(db: Db) -> Outbound {
    let env = outbound(db, |c| c.connect.app_id = Some(APP_ID.to_owned())).await;
    env.sim.add_instagram_user(IGSID);
    env
}

/// One `messaging_handovers` item for the conversation of `account` with `user`, `ago_ms`
/// before now.
fn handover(object: &str, account: &str, user: &str, ago_ms: i64, item: Value) -> Vec<u8> {
    let at = chrono::Utc::now().timestamp_millis() - ago_ms;
    let mut messaging =
        json!({"sender": {"id": user}, "recipient": {"id": account}, "timestamp": at});
    if let (Some(m), Some(extra)) = (messaging.as_object_mut(), item.as_object()) {
        m.extend(extra.clone());
    }
    serde_json::to_vec(
        &json!({"object": object, "entry": [{"id": account, "time": at,
        "messaging": [messaging]}]}),
    )
    .expect("json")
}

async fn thread(env: &Outbound, channel: &str, contact: &str) -> (u16, Value) {
    env.app
        .v1(
            &env.tenant,
            Method::GET,
            &format!("/v1/channels/{channel}/threads/{contact}"),
        )
        .await
}

async fn call(
    env: &Outbound,
    channel: &str,
    contact: &str,
    action: &str,
    body: Value,
) -> (u16, Value) {
    let resp = env
        .app
        .http
        .post(format!(
            "{}/v1/channels/{channel}/threads/{contact}/{action}",
            env.app.url
        ))
        .bearer_auth(env.app.jwt(&env.tenant))
        .json(&body)
        .send()
        .await
        .expect("thread call");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The simulator's requests to a path ending in `suffix`: (path, body).
fn sim_calls(env: &Outbound, suffix: &str) -> Vec<(String, Value)> {
    env.sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(suffix))
        .map(|r| (r.path, r.body))
        .collect()
}

async fn wait_events(env: &Outbound, ty: &str, n: usize) -> Vec<Value> {
    wait_until(
        Duration::from_secs(20),
        "the events are delivered",
        || async { env.events_of(ty).len() >= n },
    )
    .await;
    env.events_of(ty)
}

fn text(to: &str, channel: &str, body: &str) -> Value {
    json!({"channel_id": channel, "to": to, "message": {"type": "text", "body": body}})
}

async fn another_apps_thread_refuses_sends_until_the_bridge_takes_control(db: Db) {
    let env = env(db).await;
    env.customer_writes_ig("page", PAGE, PSID).await;
    // Unknown thread: sends go ahead.
    let (s, v) = thread(&env, &env.fb, PSID).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["owner"], "unknown");
    assert_eq!(v["can_send"], true);

    // The Page inbox took the conversation away from the bridge's app.
    let hook = handover(
        "page",
        PAGE,
        PSID,
        1000,
        json!({"take_thread_control": {
        "previous_owner_app_id": APP_ID, "new_owner_app_id": PAGE_INBOX,
        "metadata": "agent took over"}}),
    );
    assert_eq!(env.app.post_webhook(&hook).await, 200);
    let ev = wait_events(&env, "thread.control", 1).await.remove(0);
    assert_eq!(ev["channel"]["id"], env.fb.as_str());
    assert_eq!(ev["contact"]["id"], PSID);
    assert_eq!(ev["data"]["action"], "take");
    assert_eq!(ev["data"]["new_owner_app_id"], PAGE_INBOX);
    assert_eq!(ev["data"]["previous_owner_app_id"], APP_ID);
    assert_eq!(ev["data"]["metadata"], "agent took over");
    assert_eq!(ev["data"]["owned_by_bridge"], false);
    let (_, v) = thread(&env, &env.fb, PSID).await;
    assert_eq!(v["owner"], "other");
    assert_eq!(v["owner_app_id"], PAGE_INBOX);
    assert_eq!(v["can_send"], false);
    assert_eq!(v["source"], "webhook");

    // A send is refused with the owner; nothing is queued or sent.
    let before = sim_calls(&env, "/messages").len();
    let (s, v) = env.send(text(PSID, &env.fb, "posso ajudar?")).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], "thread_not_owned");
    assert_eq!(v["owner_app_id"], PAGE_INBOX);
    assert_eq!(v["field"], "to");
    let (_, list) = env.app.v1(&env.tenant, Method::GET, "/v1/messages").await;
    assert_eq!(list["messages"].as_array().map(Vec::len), Some(0), "{list}");
    // Another contact of the same Page is not affected.
    env.customer_writes_ig("page", PAGE, "7010000000000002")
        .await;
    let (s, v) = env.send(text("7010000000000002", &env.fb, "oi")).await;
    assert_eq!(s, 202, "{v}");

    // Take control through the API: Meta's take edge, then sends go ahead.
    let (s, v) = call(
        &env,
        &env.fb,
        PSID,
        "take",
        json!({"metadata": "bot is back"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["owner"], "bridge");
    assert_eq!(v["owner_app_id"], APP_ID);
    assert_eq!(v["can_send"], true);
    assert_eq!(v["source"], "api");
    let takes = sim_calls(&env, "/take_thread_control");
    assert_eq!(takes.len(), 1, "{takes:?}");
    assert!(
        takes[0]
            .0
            .ends_with(&format!("/{PAGE}/take_thread_control")),
        "{takes:?}"
    );
    assert_eq!(
        takes[0].1,
        json!({"recipient": {"id": PSID}, "metadata": "bot is back"})
    );
    assert_eq!(env.sim.thread_owner(PAGE, PSID).as_deref(), Some(APP_ID));
    let (s, v) = env.send(text(PSID, &env.fb, "voltei")).await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    env.wait_status(&id, "accepted").await;
    assert!(
        sim_calls(&env, "/messages")
            .iter()
            .any(|(_, b)| b["recipient"]["id"] == PSID && b["message"]["text"] == "voltei")
    );
    assert!(before <= sim_calls(&env, "/messages").len());
    env.stop().await;
}

async fn a_send_may_take_control_first_and_is_sent_once(db: Db) {
    let env = env(db).await;
    env.customer_writes_ig("instagram", IG, IGSID).await;
    let hook = handover(
        "instagram",
        IG,
        IGSID,
        1000,
        json!({"take_thread_control": {
        "previous_owner_app_id": APP_ID, "new_owner_app_id": "1217981644879628"}}),
    );
    assert_eq!(env.app.post_webhook(&hook).await, 200);
    wait_events(&env, "thread.control", 1).await;
    let (s, v) = env.send(text(IGSID, &env.ig, "sem take")).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["owner_app_id"], "1217981644879628");

    let mut body = text(IGSID, &env.ig, "com take");
    body["take_thread_control"] = json!(true);
    let (s, v) = env.send_with(body.clone(), Some("k-take-1"), "").await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    // The Instagram account sends as its Page: the take goes to `me` with the Page token.
    let takes = sim_calls(&env, "/take_thread_control");
    assert_eq!(takes.len(), 1, "{takes:?}");
    assert!(takes[0].0.ends_with("/me/take_thread_control"), "{takes:?}");
    assert_eq!(takes[0].1, json!({"recipient": {"id": IGSID}}));
    env.wait_status(&id, "accepted").await;
    // A retry with the same key answers the same message: no second take, no second send.
    let (s, again) = env.send_with(body, Some("k-take-1"), "").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(sim_calls(&env, "/take_thread_control").len(), 1);
    let sends: Vec<_> = sim_calls(&env, "/messages")
        .into_iter()
        .filter(|(_, b)| b["message"]["text"] == "com take")
        .collect();
    assert_eq!(sends.len(), 1, "{sends:?}");
    let (_, v) = thread(&env, &env.ig, IGSID).await;
    assert_eq!(v["owner"], "bridge");
    // A failed take is a clear error and nothing is queued: a thread of an account the
    // token does not cover cannot be taken (Meta refuses with 100).
    let hook = handover(
        "instagram",
        IG,
        "6120000000000009",
        1000,
        json!({"take_thread_control": {
        "new_owner_app_id": PAGE_INBOX}}),
    );
    assert_eq!(env.app.post_webhook(&hook).await, 200);
    wait_events(&env, "thread.control", 2).await;
    env.sim.revoke_token(crate::helpers::graph::IG_PAGE_TOKEN);
    let mut body = text("6120000000000009", &env.ig, "falha");
    body["take_thread_control"] = json!(true);
    body["ignore_window"] = json!(true);
    let (s, v) = env.send(body).await;
    assert!(s == 422 || s == 502, "{s} {v}");
    assert!(
        v["code"] == "meta_rejected" || v["code"] == "meta_error",
        "{v}"
    );
    assert!(!v.to_string().contains(crate::helpers::graph::IG_PAGE_TOKEN));
    let (_, list) = env.app.v1(&env.tenant, Method::GET, "/v1/messages").await;
    assert!(
        list["messages"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["to"] != "6120000000000009")),
        "{list}"
    );
    env.stop().await;
}

async fn pass_back_and_request_webhooks_are_events(db: Db) {
    let env = env(db).await;
    env.customer_writes_ig("page", PAGE, PSID).await;
    let take = handover(
        "page",
        PAGE,
        PSID,
        2000,
        json!({"take_thread_control": {
        "previous_owner_app_id": APP_ID, "new_owner_app_id": PAGE_INBOX}}),
    );
    assert_eq!(env.app.post_webhook(&take).await, 200);
    // The inbox passes the conversation back to the bridge's app.
    let pass = handover(
        "page",
        PAGE,
        PSID,
        1000,
        json!({"pass_thread_control": {
        "previous_owner_app_id": PAGE_INBOX, "new_owner_app_id": APP_ID,
        "metadata": "resolved"}}),
    );
    assert_eq!(env.app.post_webhook(&pass).await, 200);
    let events = wait_events(&env, "thread.control", 2).await;
    assert_eq!(events[0]["data"]["action"], "take");
    assert_eq!(events[1]["data"]["action"], "pass");
    assert_eq!(events[1]["data"]["owned_by_bridge"], true);
    assert_eq!(events[1]["data"]["metadata"], "resolved");
    let (_, v) = thread(&env, &env.fb, PSID).await;
    assert_eq!(v["owner"], "bridge");
    assert_eq!(v["can_send"], true);
    let (s, v) = env.send(text(PSID, &env.fb, "de volta")).await;
    assert_eq!(s, 202, "{v}");
    // An older handover delivered late does not undo the newer one.
    let late = handover(
        "page",
        PAGE,
        PSID,
        5000,
        json!({"take_thread_control": {
        "previous_owner_app_id": APP_ID, "new_owner_app_id": "555000000000001"}}),
    );
    assert_eq!(env.app.post_webhook(&late).await, 200);
    wait_events(&env, "thread.control", 3).await;
    let (_, v) = thread(&env, &env.fb, PSID).await;
    assert_eq!(v["owner"], "bridge", "{v}");
    // Another app asks for control: an event, and nothing changes.
    let request = handover(
        "page",
        PAGE,
        PSID,
        0,
        json!({"request_thread_control": {
        "requested_owner_app_id": "555000000000001", "metadata": "may I?"}}),
    );
    assert_eq!(env.app.post_webhook(&request).await, 200);
    let events = wait_events(&env, "thread.control", 4).await;
    let req = events
        .iter()
        .find(|e| e["data"]["action"] == "request")
        .expect("request event");
    assert_eq!(req["data"]["requested_owner_app_id"], "555000000000001");
    assert_eq!(req["data"]["metadata"], "may I?");
    assert!(req["data"].get("owned_by_bridge").is_none(), "{req}");
    let (_, v) = thread(&env, &env.fb, PSID).await;
    assert_eq!(v["owner"], "bridge");
    env.stop().await;
}

async fn pass_through_the_api_and_metas_refusal_is_typed(db: Db) {
    let env = env(db).await;
    env.customer_writes_ig("page", PAGE, PSID).await;
    let (s, v) = call(
        &env,
        &env.fb,
        PSID,
        "pass",
        json!({"target_app_id": PAGE_INBOX,
        "metadata": "cliente pediu atendente"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["owner"], "other");
    assert_eq!(v["owner_app_id"], PAGE_INBOX);
    assert_eq!(v["can_send"], false);
    let passes = sim_calls(&env, "/pass_thread_control");
    assert_eq!(passes.len(), 1);
    assert!(
        passes[0]
            .0
            .ends_with(&format!("/{PAGE}/pass_thread_control"))
    );
    assert_eq!(
        passes[0].1,
        json!({"recipient": {"id": PSID}, "target_app_id": 263902037430900_u64,
            "metadata": "cliente pediu atendente"})
    );
    assert_eq!(
        env.sim.thread_owner(PAGE, PSID).as_deref(),
        Some(PAGE_INBOX)
    );
    let (s, v) = env.send(text(PSID, &env.fb, "ainda aqui?")).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["owner_app_id"], PAGE_INBOX);

    // An app that is not one of the Page's: Meta's 100, typed.
    let (s, v) = call(&env, &env.fb, PSID, "pass", json!({"target_app_id": "123"})).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["code"], "meta_rejected");
    assert_eq!(v["rule"], "meta_100");
    // The bridge's own checks, before Meta is asked.
    let calls = sim_calls(&env, "/pass_thread_control").len();
    let (s, v) = call(
        &env,
        &env.fb,
        PSID,
        "pass",
        json!({"target_app_id": "inbox"}),
    )
    .await;
    assert_eq!(
        (s, v["field"].clone()),
        (422, json!("target_app_id")),
        "{v}"
    );
    let long = "x".repeat(1001);
    let (s, v) = call(&env, &env.fb, PSID, "take", json!({"metadata": long})).await;
    assert_eq!((s, v["field"].clone()), (422, json!("metadata")), "{v}");
    let (s, v) = call(&env, &env.fb, "not-a-psid", "take", json!({})).await;
    assert_eq!((s, v["field"].clone()), (422, json!("contact")), "{v}");
    assert_eq!(sim_calls(&env, "/pass_thread_control").len(), calls);

    // Request control: Meta's request edge; the owner does not change.
    let (s, v) = call(
        &env,
        &env.fb,
        PSID,
        "request",
        json!({"metadata": "please"}),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["owner"], "other");
    let requests = sim_calls(&env, "/request_thread_control");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].1,
        json!({"recipient": {"id": PSID}, "metadata": "please"})
    );
    env.stop().await;
}

async fn channels_without_handover_are_refused_clearly(db: Db) {
    let env = env(db).await;
    for (path, method, body) in [
        ("", Method::GET, None),
        ("/take", Method::POST, Some(json!({}))),
        (
            "/pass",
            Method::POST,
            Some(json!({"target_app_id": PAGE_INBOX})),
        ),
        ("/request", Method::POST, Some(json!({}))),
    ] {
        let mut req = env
            .app
            .http
            .request(
                method,
                format!(
                    "{}/v1/channels/{}/threads/15550001234{path}",
                    env.app.url, env.wa
                ),
            )
            .bearer_auth(env.app.jwt(&env.tenant));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("call");
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 422, "{path}: {v}");
        assert_eq!(v["code"], "handover_unavailable", "{path}: {v}");
    }
    // A WhatsApp send cannot ask for thread control.
    env.customer_writes("15550001234").await;
    let mut body = text("15550001234", &env.wa, "oi");
    body["take_thread_control"] = json!(true);
    let (s, v) = env.send(body).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["field"], "take_thread_control");
    assert_eq!(v["rule"], "not_allowed_for_channel");
    // An Instagram Login channel: Meta documents no handover edge on graph.instagram.com.
    let ig_login = env
        .app
        .channel_with_token(
            &env.tenant,
            "instagram",
            "17841400000000009",
            None,
            "IGAAHandoverTestInstagramUserToken0001",
        )
        .await;
    let (s, v) = call(&env, &ig_login, IGSID, "take", json!({})).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["code"], "handover_unavailable");
    assert!(sim_calls(&env, "_thread_control").is_empty());
    env.stop().await;
}

async fn another_instances_channel_is_not_found(db: Db) {
    let env = env(db).await;
    let other = env.app.tenant("Outra", None).await;
    let paths = [
        (
            Method::GET,
            format!("/v1/channels/{}/threads/{PSID}", env.fb),
        ),
        (
            Method::POST,
            format!("/v1/channels/{}/threads/{PSID}/take", env.fb),
        ),
        (
            Method::POST,
            format!("/v1/channels/{}/threads/{PSID}/pass", env.fb),
        ),
        (
            Method::POST,
            format!("/v1/channels/{}/threads/{PSID}/request", env.fb),
        ),
    ];
    for (method, path) in paths {
        let resp = env
            .app
            .http
            .request(method, format!("{}{path}", env.app.url))
            .bearer_auth(env.app.jwt(&other))
            .json(&json!({"target_app_id": PAGE_INBOX}))
            .send()
            .await
            .expect("call");
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 404, "{path}: {v}");
        assert_eq!(v["code"], "channel_not_found", "{path}: {v}");
    }
    assert!(sim_calls(&env, "_thread_control").is_empty());
    env.stop().await;
}

async fn a_duplicate_handover_webhook_is_delivered_once(db: Db) {
    let env = env(db).await;
    let hook = handover(
        "page",
        PAGE,
        PSID,
        1000,
        json!({"take_thread_control": {
        "previous_owner_app_id": APP_ID, "new_owner_app_id": PAGE_INBOX}}),
    );
    assert_eq!(env.app.post_webhook(&hook).await, 200);
    assert_eq!(env.app.post_webhook(&hook).await, 200);
    wait_events(&env, "thread.control", 1).await;
    // A marker after both: once it is delivered, the duplicate would have been too.
    env.customer_writes_ig("page", PAGE, PSID).await;
    wait_events(&env, "message.received", 1).await;
    assert_eq!(env.events_of("thread.control").len(), 1);
    assert_eq!(
        env.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM events WHERE type = 'thread.control'")
            .await,
        1
    );
    env.stop().await;
}

async fn p13_disconnect_and_instance_deletion_delete_thread_owners(db: Db) {
    let env = env(db).await;
    for (object, account, user) in [("page", PAGE, PSID), ("instagram", IG, IGSID)] {
        let hook = handover(
            object,
            account,
            user,
            1000,
            json!({"take_thread_control": {
            "new_owner_app_id": PAGE_INBOX}}),
        );
        assert_eq!(env.app.post_webhook(&hook).await, 200);
    }
    wait_events(&env, "thread.control", 2).await;
    let count = || async {
        env.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM thread_owners")
            .await
    };
    assert_eq!(count().await, 2);
    env.app.disconnect_channel(&env.ig).await;
    assert_eq!(count().await, 1);
    env.app.delete_instance(&env.tenant).await;
    assert_eq!(count().await, 0);
    env.stop().await;
}
