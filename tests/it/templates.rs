//! WhatsApp message templates (issue 16): the bridge reads a channel's templates from Meta (the
//! simulator, answering as the conformance corpus documents) on connect, on Meta's template
//! webhooks and on a schedule; lists them with filters and pages; submits and deletes
//! templates at Meta, passing Meta's refusals back; and checks a template send against them
//! before it is queued. Expected values are written here from the templates each test puts at
//! "Meta", not read from the product.

use std::time::Duration;

use metabridge::sim::graph::SimTemplate;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::graph::{
    CUSTOMER, Outbound, WABA, base_templates, outbound, outbound_templates,
};
use crate::helpers::{Db, spawn_app, wait_until};

both_backends!(
    templates_are_read_in_full_and_listed_with_filters_and_pages,
    a_template_send_is_refused_for_each_rule_and_a_valid_one_reaches_meta,
    an_unknown_template_is_read_again_once_before_it_is_refused,
    templates_are_created_and_deleted_at_meta_with_its_refusals_passed_back,
    template_webhooks_read_the_templates_again_and_reach_the_instance,
    templates_are_read_again_on_a_schedule,
    a_failed_read_does_not_block_template_sends,
);

async fn get(o: &Outbound, path: &str) -> (u16, Value) {
    o.app.v1(&o.tenant, Method::GET, path).await
}

async fn call(o: &Outbound, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = o
        .app
        .http
        .request(method, format!("{}{path}", o.app.url))
        .bearer_auth(o.app.jwt(&o.tenant));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The names (name/language) listed on the channel now.
async fn listed(o: &Outbound, query: &str) -> Vec<String> {
    let (s, v) = get(
        o,
        &format!("/v1/channels/{}/templates?limit=500{query}", o.wa),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap()
            )
        })
        .collect()
}

/// Waits until the channel lists `n` templates (the read after connect runs in the background).
async fn wait_listed(o: &Outbound, n: usize) {
    wait_until(
        Duration::from_secs(20),
        "the templates read from Meta",
        || async { listed(o, "").await.len() == n },
    )
    .await;
}

fn template_reads(o: &Outbound) -> usize {
    o.sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/message_templates"))
        .count()
}

fn send_body(o: &Outbound, message: Value) -> Value {
    json!({"channel_id": o.wa, "to": CUSTOMER, "message": message})
}

async fn templates_are_read_in_full_and_listed_with_filters_and_pages(db: Db) {
    // 130 templates: more than one page of Meta's list (the bridge asks 100 per page).
    let mut many = base_templates();
    for i in 0..125 {
        many.push(SimTemplate::new(
            &format!("bulk_{i:03}"),
            "es",
            "PENDING",
            "MARKETING",
        ));
    }
    many.push(
        SimTemplate::new("order_update", "en_US", "REJECTED", "UTILITY").id("2000000000000001"),
    );
    many.push(SimTemplate::new("greeting", "pt_BR", "APPROVED", "MARKETING").named());
    // Read when the channel is connected.
    let o = outbound_templates(db, many, |_| {}).await;
    wait_listed(&o, 130).await;

    let approved = listed(&o, "&status=APPROVED").await;
    assert_eq!(
        approved,
        [
            "greeting/pt_BR",
            "hello/en_US",
            "order_update/pt_BR",
            "promo/pt_BR"
        ]
    );
    assert_eq!(
        listed(&o, "&name=order_update").await,
        ["order_update/en_US", "order_update/pt_BR"]
    );
    assert_eq!(listed(&o, "&language=es").await.len(), 125);
    assert_eq!(
        listed(&o, "&category=utility&status=rejected").await,
        ["order_update/en_US"]
    );

    // Pages of 50, by name then language, each page continuing where the last one ended.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (s, v) = get(&o, &format!("/v1/channels/{}/templates?limit=50{q}", o.wa)).await;
        assert_eq!(s, 200, "{v}");
        pages += 1;
        for t in v["templates"].as_array().unwrap() {
            all.push(format!(
                "{}/{}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap()
            ));
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all.len(), 130);
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "ordered, no duplicates");

    // One template.
    let (s, v) = get(
        &o,
        &format!("/v1/channels/{}/templates/order_update/en_US", o.wa),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], "2000000000000001");
    assert_eq!(v["status"], "REJECTED");
    assert_eq!(v["parameter_format"], "POSITIONAL");
    assert_eq!(v["category"], "UTILITY");
    let (s, v) = get(
        &o,
        &format!("/v1/channels/{}/templates/greeting/pt_BR", o.wa),
    )
    .await;
    assert_eq!(
        (s, v["parameter_format"].as_str()),
        (200, Some("NAMED")),
        "{v}"
    );
    let (s, v) = get(
        &o,
        &format!("/v1/channels/{}/templates/order_update/fr", o.wa),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("template_not_found")),
        "{v}"
    );
    // Instagram has no templates.
    let (s, v) = get(&o, &format!("/v1/channels/{}/templates", o.ig)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("templates_unavailable")),
        "{v}"
    );
    // Another instance does not see this channel (P10).
    let other = o.app.tenant("Other", None).await;
    let (s, v) = o
        .app
        .v1(
            &other,
            Method::GET,
            &format!("/v1/channels/{}/templates", o.wa),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("channel_not_found")),
        "{v}"
    );
    // The instance's export lists the templates the bridge holds (P14), without components;
    // the other instance's export has none.
    let export = o.app.export(&o.tenant).await;
    let templates = export.of("template");
    assert_eq!(templates.len(), 130);
    let rejected = templates
        .iter()
        .find(|t| t["name"] == "order_update" && t["language"] == "en_US")
        .expect("order_update/en_US exported");
    assert_eq!(rejected["template_id"], "2000000000000001");
    assert_eq!(rejected["status"], "REJECTED");
    assert_eq!(rejected["category"], "UTILITY");
    assert_eq!(rejected["channel_id"], o.wa.as_str());
    assert!(rejected.get("components").is_none());
    assert_eq!(export.of("end")[0]["counts"]["templates"], 130);
    assert!(o.app.export(&other).await.of("template").is_empty());
    o.stop().await;
}

async fn a_template_send_is_refused_for_each_rule_and_a_valid_one_reaches_meta(db: Db) {
    let mut t = base_templates();
    t.push(SimTemplate::new(
        "paused_offer",
        "pt_BR",
        "PAUSED",
        "MARKETING",
    ));
    t.push(
        SimTemplate::new("named_hi", "pt_BR", "APPROVED", "UTILITY")
            .named()
            .components(json!([{"type": "BODY", "text": "Oi {{first_name}}!"}])),
    );
    t.push(
        SimTemplate::new("photo_offer", "pt_BR", "APPROVED", "MARKETING").components(json!([
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Veja a oferta"}
        ])),
    );
    let o = outbound_templates(db, t, |_| {}).await;
    wait_listed(&o, 6).await;

    let body = |params: Value| json!({"type": "body", "parameters": params});
    let two = body(json!([{"type": "text", "text": "Ana"}, {"type": "text", "text": "R$ 10"}]));
    let cases = [
        (
            json!({"type": "template", "name": "paused_offer", "language": "pt_BR"}),
            "not_approved",
            "message.name",
        ),
        (
            json!({"type": "template", "name": "order_update", "language": "en_US", "components": [two.clone()]}),
            "language_not_found",
            "message.language",
        ),
        (
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
                "components": [body(json!([{"type": "text", "text": "Ana"}]))]}),
            "parameter_count",
            "message.components[0].parameters",
        ),
        (
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
                "components": [body(json!([{"type": "text", "text": "Ana", "parameter_name": "name"},
                    {"type": "text", "text": "R$ 10", "parameter_name": "total"}]))]}),
            "parameter_format",
            "message.components[0].parameters",
        ),
        (
            json!({"type": "template", "name": "named_hi", "language": "pt_BR",
                "components": [body(json!([{"type": "text", "text": "Ana"}]))]}),
            "parameter_format",
            "message.components[0].parameters",
        ),
        (
            json!({"type": "template", "name": "photo_offer", "language": "pt_BR"}),
            "header_media_required",
            "message.components",
        ),
    ];
    let before = o.sim.requests().len();
    for (message, rule, field) in cases {
        let (s, v) = o.send(send_body(&o, message.clone())).await;
        assert_eq!(s, 422, "{message} → {v}");
        assert_eq!(v["code"], "template_invalid", "{v}");
        assert_eq!(v["rule"], rule, "{message} → {v}");
        assert_eq!(v["field"], field, "{message} → {v}");
        assert!(!v["message"].as_str().unwrap_or("").is_empty());
    }
    // Refused before queueing: no message was listed, nothing reached Meta's send endpoint.
    let (_, msgs) = get(&o, "/v1/messages").await;
    assert_eq!(msgs["messages"].as_array().map(Vec::len), Some(0), "{msgs}");
    assert!(
        o.sim.requests()[before..]
            .iter()
            .all(|r| !r.path.ends_with("/messages")),
        "no send reached Meta"
    );

    // Valid sends: positional with its two parameters, named with its name, the image header.
    let valid = [
        json!({"type": "template", "name": "order_update", "language": "pt_BR", "components": [two]}),
        json!({"type": "template", "name": "named_hi", "language": "pt_BR",
            "components": [body(json!([{"type": "text", "text": "Ana", "parameter_name": "first_name"}]))]}),
        json!({"type": "template", "name": "photo_offer", "language": "pt_BR", "components": [
            {"type": "header", "parameters": [{"type": "image", "link": "https://cdn.example.com/o.jpg"}]}]}),
    ];
    for message in valid {
        let (s, v) = o.send(send_body(&o, message.clone())).await;
        assert_eq!(s, 202, "{message} → {v}");
        let id = v["id"].as_str().expect("id").to_string();
        o.wait_status(&id, "sent").await;
        let sent = o
            .sim
            .sends()
            .into_iter()
            .find(|r| r.body["biz_opaque_callback_data"] == id.as_str())
            .expect("the send reached Meta");
        assert_eq!(sent.body["template"]["name"], message["name"]);
        assert_eq!(sent.body["template"]["language"]["code"], "pt_BR");
    }
    o.stop().await;
}

async fn an_unknown_template_is_read_again_once_before_it_is_refused(db: Db) {
    let o = outbound(db, |_| {}).await;
    wait_listed(&o, 3).await;
    let reads = template_reads(&o);
    let unknown = json!({"type": "template", "name": "never_made", "language": "pt_BR"});
    let (s, v) = o.send(send_body(&o, unknown.clone())).await;
    assert_eq!(
        (s, v["rule"].as_str()),
        (422, Some("template_not_found")),
        "{v}"
    );
    assert_eq!(v["code"], "template_invalid");
    assert_eq!(template_reads(&o), reads + 1, "read once before refusing");
    // Asked again at once: judged on that read, Meta is not asked again.
    let (s, _) = o.send(send_body(&o, unknown)).await;
    assert_eq!(s, 422);
    assert_eq!(template_reads(&o), reads + 1);

    // A template approved at Meta after the last read: the read for it finds it, the send goes.
    let mut t = base_templates();
    t.push(SimTemplate::new(
        "fresh_news",
        "en_US",
        "APPROVED",
        "MARKETING",
    ));
    o.sim.set_templates(WABA, t);
    let (s, v) = o
        .send(send_body(
            &o,
            json!({"type": "template", "name": "fresh_news", "language": "en_US"}),
        ))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(template_reads(&o), reads + 2);
    let id = v["id"].as_str().unwrap().to_string();
    o.wait_status(&id, "sent").await;
    o.stop().await;
}

async fn templates_are_created_and_deleted_at_meta_with_its_refusals_passed_back(db: Db) {
    let o = outbound(db, |_| {}).await;
    wait_listed(&o, 3).await;
    let path = format!("/v1/channels/{}/templates", o.wa);
    let new = json!({"name": "welcome_back", "language": "pt_BR", "category": "UTILITY",
        "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Oi {{first_name}}, que bom te ver!",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]});
    let (s, v) = call(&o, Method::POST, &path, Some(new.clone())).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["name"], "welcome_back");
    assert_eq!(v["status"], "PENDING");
    assert_eq!(v["parameter_format"], "NAMED");
    let at_meta = o.sim.templates(WABA);
    let made = at_meta
        .iter()
        .find(|t| t.name == "welcome_back")
        .expect("created at Meta");
    assert_eq!(v["id"], made.id.as_str());
    assert_eq!(made.parameter_format, "NAMED");
    assert!(
        listed(&o, "")
            .await
            .contains(&"welcome_back/pt_BR".to_string())
    );
    // A pending template is not sent.
    let (s, e) = o
        .send(send_body(&o, json!({"type": "template", "name": "welcome_back", "language": "pt_BR",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]}]})))
        .await;
    assert_eq!((s, e["rule"].as_str()), (422, Some("not_approved")), "{e}");

    // Meta refuses the same name and language again: its refusal comes back typed.
    let (s, v) = call(&o, Method::POST, &path, Some(new)).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["code"], "meta_rejected");
    assert_eq!(v["rule"], "meta_100");
    assert!(
        v["message"].as_str().unwrap().contains("already exists"),
        "{v}"
    );
    assert!(!v.to_string().contains("EAAG-test-token-secret"));
    // Checked here before Meta: a bad name, no body component, an unknown category.
    let (s, v) = call(
        &o,
        Method::POST,
        &path,
        Some(json!({"name": "Bad Name", "language": "pt_BR",
        "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]})),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (422, Some("validation_failed"), Some("name")),
        "{v}"
    );
    let (s, v) = call(
        &o,
        Method::POST,
        &path,
        Some(json!({"name": "no_body", "language": "pt_BR",
        "category": "UTILITY", "components": [{"type": "FOOTER", "text": "x"}]})),
    )
    .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("components")), "{v}");
    let (s, v) = call(
        &o,
        Method::POST,
        &path,
        Some(json!({"name": "x_cat", "language": "pt_BR",
        "category": "SPAM", "components": [{"type": "BODY", "text": "x"}]})),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    assert!(
        !o.sim
            .templates(WABA)
            .iter()
            .any(|t| t.name == "no_body" || t.name == "x_cat")
    );

    // Delete: gone at Meta and here, in every language.
    let (s, v) = call(&o, Method::DELETE, &format!("{path}/welcome_back"), None).await;
    assert_eq!(s, 204, "{v}");
    assert!(
        !o.sim
            .templates(WABA)
            .iter()
            .any(|t| t.name == "welcome_back")
    );
    let (s, _) = get(&o, &format!("{path}/welcome_back/pt_BR")).await;
    assert_eq!(s, 404);
    // Deleting what Meta does not have: Meta's refusal, typed.
    let (s, v) = call(&o, Method::DELETE, &format!("{path}/welcome_back"), None).await;
    assert_eq!(
        (s, v["code"].as_str(), v["rule"].as_str()),
        (422, Some("meta_rejected"), Some("meta_100")),
        "{v}"
    );
    o.stop().await;
}

async fn template_webhooks_read_the_templates_again_and_reach_the_instance(db: Db) {
    let mut t = base_templates();
    t[0] = t[0].clone().id("3000000000000001");
    let o = outbound_templates(db, t, |_| {}).await;
    wait_listed(&o, 3).await;
    let hook = |field: &str, value: Value| {
        let now = chrono::Utc::now().timestamp();
        serde_json::to_vec(
            &json!({"object": "whatsapp_business_account", "entry": [{"id": WABA,
            "time": now, "changes": [{"field": field, "value": value}]}]}),
        )
        .unwrap()
    };
    let path = format!("/v1/channels/{}/templates/order_update/pt_BR", o.wa);

    // A send queued while the template was approved (with an Idempotency-Key).
    let queued = send_body(
        &o,
        json!({"type": "template", "name": "order_update", "language": "pt_BR", "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "R$ 10"}]}]}),
    );
    let (s, first) = o.send_with(queued.clone(), Some("tpl-retry-1"), "").await;
    assert_eq!(s, 202, "{first}");

    // Meta pauses the template and says so.
    assert!(
        o.sim
            .set_template_status(WABA, "order_update", "pt_BR", "PAUSED", None)
    );
    let body = hook(
        "message_template_status_update",
        json!({"event": "PAUSED",
        "message_template_id": 3000000000000001_u64, "message_template_name": "order_update",
        "message_template_language": "pt_BR", "reason": null}),
    );
    assert_eq!(o.app.post_webhook(&body).await, 200);
    wait_until(
        Duration::from_secs(20),
        "the paused status read",
        || async { get(&o, &path).await.1["status"] == "PAUSED" },
    )
    .await;
    wait_until(
        Duration::from_secs(20),
        "template.status delivered",
        || async { !o.events_of("template.status").is_empty() },
    )
    .await;
    let ev = &o.events_of("template.status")[0];
    assert_eq!(ev["data"]["template_id"], "3000000000000001");
    assert_eq!(ev["data"]["template_name"], "order_update");
    assert_eq!(ev["data"]["language"], "pt_BR");
    assert_eq!(ev["data"]["event"], "PAUSED");
    let (s, v) = o
        .send(send_body(
            &o,
            json!({"type": "template", "name": "order_update", "language": "pt_BR"}),
        ))
        .await;
    assert_eq!((s, v["rule"].as_str()), (422, Some("not_approved")), "{v}");
    // The retry of the send queued before the pause answers that message, as retries do.
    let (s, again) = o.send_with(queued, Some("tpl-retry-1"), "").await;
    assert_eq!((s, &again["id"]), (200, &first["id"]), "{again}");

    // Quality.
    assert!(
        o.sim
            .set_template_status(WABA, "order_update", "pt_BR", "APPROVED", Some("RED"))
    );
    let body = hook(
        "message_template_quality_update",
        json!({"previous_quality_score": "GREEN",
        "new_quality_score": "RED", "message_template_id": 3000000000000001_u64,
        "message_template_name": "order_update", "message_template_language": "pt_BR"}),
    );
    assert_eq!(o.app.post_webhook(&body).await, 200);
    wait_until(Duration::from_secs(20), "the new quality read", || async {
        get(&o, &path).await.1["quality"] == "RED"
    })
    .await;
    wait_until(
        Duration::from_secs(20),
        "template.quality delivered",
        || async { !o.events_of("template.quality").is_empty() },
    )
    .await;
    let ev = &o.events_of("template.quality")[0];
    assert_eq!(ev["data"]["template_id"], "3000000000000001");
    assert_eq!(ev["data"]["template_name"], "order_update");
    assert_eq!(ev["data"]["language"], "pt_BR");

    // Category: Meta moved the template to MARKETING.
    let mut t = o.sim.templates(WABA);
    t[0].category = "MARKETING".into();
    o.sim.set_templates(WABA, t);
    let body = hook(
        "template_category_update",
        json!({"message_template_id": 3000000000000001_u64,
        "message_template_name": "order_update", "message_template_language": "pt_BR",
        "previous_category": "UTILITY", "new_category": "MARKETING"}),
    );
    assert_eq!(o.app.post_webhook(&body).await, 200);
    wait_until(Duration::from_secs(20), "the new category read", || async {
        get(&o, &path).await.1["category"] == "MARKETING"
    })
    .await;
    // ... and the instance hears of it as `template.category`, with the template's names.
    wait_until(
        Duration::from_secs(20),
        "template.category delivered",
        || async { !o.events_of("template.category").is_empty() },
    )
    .await;
    let ev = &o.events_of("template.category")[0];
    assert_eq!(ev["data"]["template_id"], "3000000000000001");
    assert_eq!(ev["data"]["template_name"], "order_update");
    assert_eq!(ev["data"]["language"], "pt_BR");
    assert_eq!(ev["data"]["change"], "changed");
    assert_eq!(ev["data"]["previous_category"], "UTILITY");
    assert_eq!(ev["data"]["new_category"], "MARKETING");
    assert!(o.events_of("meta.unsupported").is_empty());
    o.stop().await;
}

async fn templates_are_read_again_on_a_schedule(db: Db) {
    let o = outbound(db, |c| {
        c.lifecycle.template_sync_every = Duration::from_millis(300);
    })
    .await;
    wait_listed(&o, 3).await;
    // Approved at Meta without any webhook: the next scheduled read brings it.
    let mut t = base_templates();
    t.push(SimTemplate::new(
        "quiet_change",
        "es",
        "APPROVED",
        "UTILITY",
    ));
    o.sim.set_templates(WABA, t);
    wait_listed(&o, 4).await;
    let (s, v) = get(&o, &format!("/v1/channels/{}/templates", o.wa)).await;
    assert_eq!(s, 200);
    assert!(v["synced_at"].is_string(), "{v}");
    assert!(v.get("sync_error").is_none(), "{v}");
    o.stop().await;
}

/// Meta cannot be reached (the app's Graph URL answers nothing): the channel's templates are
/// never read, and a template send is still accepted — Meta, not the bridge's failed read,
/// decides. The list says why it is empty.
async fn a_failed_read_does_not_block_template_sends(db: Db) {
    let app = spawn_app(db).await;
    let tenant = app.tenant("Loja", None).await;
    let wa = app
        .channel(&tenant, "whatsapp", "106000000000001", Some(WABA))
        .await;
    let (s, v) = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .bearer_auth(app.jwt(&tenant))
        .json(&json!({"channel_id": wa, "to": CUSTOMER,
            "message": {"type": "template", "name": "order_update", "language": "pt_BR"}}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("send");
    let v: Value = v.json().await.unwrap_or(Value::Null);
    assert_eq!(s, 202, "{v}");
    wait_until(
        Duration::from_secs(20),
        "the failed read recorded",
        || async {
            let (s, v) = app
                .v1(
                    &tenant,
                    Method::GET,
                    &format!("/v1/channels/{wa}/templates"),
                )
                .await;
            s == 200 && v["sync_error"].is_string() && v["templates"] == json!([])
        },
    )
    .await;
    let (_, v) = app
        .v1(
            &tenant,
            Method::GET,
            &format!("/v1/channels/{wa}/templates"),
        )
        .await;
    assert!(v.get("synced_at").is_none(), "{v}");
    assert!(!v.to_string().contains("EAAG-test-token-secret"));
    app.stop().await;
}
