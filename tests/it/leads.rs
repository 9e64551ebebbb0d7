//! Lead Ads retrieval (issue 12, defect 4): a lead's Graph fetch starts when its webhook is
//! committed (the lifecycle tick is set to an hour here, so only the wake-up can deliver it in
//! time); the Page token reads only what it may (ad-level fields are a second, optional read
//! that needs an ads permission, as Meta's "Retrieving Leads" guide says); the form's question
//! labels are read once per form and put beside `field_data`.
//!
//! Expected values come from the simulated Meta side set up here (its lead, its form), never
//! from the product.

use std::time::{Duration, Instant};

use reqwest::Method;

use metabridge::sim::onboarding::accounts::{SimLead, SimLeadForm};
use serde_json::{Value, json};

use crate::both_backends;
use crate::connect::{Connect, PAGE1, connect_env};
use crate::helpers::*;

both_backends!(
    lead_is_fetched_when_its_webhook_is_committed_not_at_the_tick,
    lead_without_ads_permission_is_delivered_without_ad_fields,
    lead_carries_its_form_labels_and_the_form_is_read_once,
    a_pages_lead_forms_are_listed_from_meta,
    backfill_relays_the_leads_webhooks_missed_and_never_one_twice,
    backfill_refuses_what_it_cannot_do_with_a_reason,
    gap_check_recovers_leads_after_the_pages_webhooks_stopped,
    gap_check_after_a_long_silence_reads_as_far_back_as_the_log_reaches,
);

const FORM: &str = "990000000000001";

/// A lifecycle tick far longer than any test: what arrives, arrived without it.
fn slow_tick(c: &mut metabridge::config::Config) {
    c.lifecycle.tick = Duration::from_secs(3600);
}

fn leadgen_webhook(leadgen_id: &str, form_id: &str) -> Vec<u8> {
    let body = json!({"object": "page", "entry": [{"id": PAGE1, "time": 1763380800, "changes": [{"field": "leadgen",
        "value": {"ad_id": "120210000000001", "form_id": form_id, "leadgen_id": leadgen_id,
                  "created_time": 1763380795, "page_id": PAGE1, "adgroup_id": "120210000000001"}}]}]});
    serde_json::to_vec(&body).expect("json")
}

fn lead(leadgen_id: &str, answers: Value) -> SimLead {
    let mut l = SimLead::new(leadgen_id, PAGE1, FORM, answers);
    l.adset_id = Some("120210000000777".into());
    l.campaign_id = Some("120210000000888".into());
    l
}

/// Waits at most `within` for `n` lead events.
async fn leads_within(env: &Connect, n: usize, within: Duration) -> Vec<Value> {
    wait_until(within, "lead.received delivered", || async {
        env.events("lead.received").len() >= n
    })
    .await;
    env.events("lead.received")
}

async fn lead_is_fetched_when_its_webhook_is_committed_not_at_the_tick(db: Db) {
    let env = connect_env(db, slow_tick).await;
    env.connect_messenger(PAGE1).await;
    // This Page's token may read the ad-level fields too.
    let token = env.sim.token_for(PAGE1).expect("page token");
    env.sim.grant_scopes(&token, &["ads_read"]);
    env.sim.add_lead(lead(
        "1234567890123456",
        json!([{"name": "email", "values": ["ana@example.com"]}]),
    ));
    let started = Instant::now();
    assert_eq!(
        env.app
            .post_webhook(&leadgen_webhook("1234567890123456", FORM))
            .await,
        200
    );
    let leads = leads_within(&env, 1, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "delivered without waiting for the tick"
    );
    let data = &leads[0]["data"];
    assert_eq!(data["fields"]["email"], json!(["ana@example.com"]));
    assert_eq!(data["adset_id"], "120210000000777");
    assert_eq!(data["campaign_id"], "120210000000888");
    assert_eq!(data["ad_fields"], "read");
    env.app.stop().await;
}

async fn lead_without_ads_permission_is_delivered_without_ad_fields(db: Db) {
    // The connect flow asks for leads_retrieval, not for an ads permission: Meta refuses
    // adset_id / campaign_id to this token, and the lead must still reach the platform.
    let env = connect_env(db, slow_tick).await;
    env.connect_messenger(PAGE1).await;
    for (id, email) in [
        ("1234567890123456", "ana@example.com"),
        ("1234567890123457", "bia@example.com"),
    ] {
        env.sim.add_lead(lead(
            id,
            json!([{"name": "email", "values": [email]}, {"name": "full_name", "values": ["Ana"]}]),
        ));
        assert_eq!(env.app.post_webhook(&leadgen_webhook(id, FORM)).await, 200);
    }
    let leads = leads_within(&env, 2, Duration::from_secs(10)).await;
    assert_eq!(leads.len(), 2, "{leads:?}");
    let first = leads
        .iter()
        .find(|l| l["data"]["leadgen_id"] == "1234567890123456")
        .expect("first lead");
    let data = &first["data"];
    assert_eq!(data["field_data"][0]["name"], "email");
    assert_eq!(data["field_data"][0]["values"], json!(["ana@example.com"]));
    assert_eq!(data["fields"]["full_name"], json!(["Ana"]));
    assert_eq!(data["created_time"], "2026-11-17T12:00:00+0000");
    // The webhook's ad id stays; the ad set and campaign Meta refused are absent.
    assert_eq!(data["ad_id"], "120210000000001");
    assert!(data.get("adset_id").is_none(), "{data}");
    assert!(data.get("campaign_id").is_none(), "{data}");
    assert_eq!(data["ad_fields"], "not_permitted");
    // The sim has no such form: the lead goes out without labels, not held back.
    assert!(data["field_data"][0].get("label").is_none(), "{data}");
    assert_eq!(
        env.app
            .count("SELECT COUNT(*) FROM events WHERE type = 'lead.received' AND state = 'dead'")
            .await,
        0,
        "no lead dead-lettered"
    );
    env.app.stop().await;
}

async fn lead_carries_its_form_labels_and_the_form_is_read_once(db: Db) {
    let env = connect_env(db, slow_tick).await;
    env.connect_messenger(PAGE1).await;
    // With ads permission, so that only the labels are at stake here.
    let token = env.sim.token_for(PAGE1).expect("page token");
    env.sim.grant_scopes(&token, &["ads_read"]);
    env.sim.add_lead_form(SimLeadForm::new(
        FORM,
        PAGE1,
        &[
            ("email", "Your work e-mail", "EMAIL"),
            ("budget_range", "What is your budget?", "CUSTOM"),
        ],
    ));
    for (id, budget) in [
        ("1234567890123456", "< 1000"),
        ("1234567890123457", "> 5000"),
    ] {
        env.sim.add_lead(lead(
            id,
            json!([{"name": "email", "values": ["ana@example.com"]},
                   {"name": "budget_range", "values": [budget]},
                   {"name": "not_on_the_form", "values": ["x"]}]),
        ));
        assert_eq!(env.app.post_webhook(&leadgen_webhook(id, FORM)).await, 200);
    }
    let leads = leads_within(&env, 2, Duration::from_secs(10)).await;
    assert_eq!(leads.len(), 2);
    for l in &leads {
        let fd = &l["data"]["field_data"];
        assert_eq!(fd[0]["name"], "email");
        assert_eq!(fd[0]["label"], "Your work e-mail", "{l}");
        assert_eq!(fd[1]["name"], "budget_range");
        assert_eq!(fd[1]["label"], "What is your budget?");
        assert!(fd[2].get("label").is_none(), "no question, no label: {l}");
    }
    let form_reads = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/{FORM}")))
        .count();
    assert_eq!(form_reads, 1, "the form is read once for both leads");
    env.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Backfill and forms (issue 16 §4). The leads are set up on the simulated Meta side with their
// creation times; which of them came by webhook is the test's choice, so the expected counts
// (listed, relayed, duplicates) follow from the setup alone.

/// `created_time` as Meta writes it, `secs_ago` seconds before now.
fn meta_time(secs_ago: i64) -> (String, i64) {
    let at = chrono::Utc::now().timestamp() - secs_ago;
    let t = chrono::DateTime::from_timestamp(at, 0).expect("time");
    (t.format("%Y-%m-%dT%H:%M:%S+0000").to_string(), at)
}

/// A lead of `FORM` created `secs_ago` seconds ago; its Unix creation time.
fn recent_lead(env: &Connect, leadgen_id: &str, secs_ago: i64) -> i64 {
    let (created, at) = meta_time(secs_ago);
    let mut l = lead(
        leadgen_id,
        json!([{"name": "email", "values": [format!("{leadgen_id}@example.com")]}]),
    );
    l.created_time = created;
    env.sim.add_lead(l);
    at
}

/// The `leadgen` webhook of a lead created at `created_unix`.
fn leadgen_webhook_at(leadgen_id: &str, created_unix: i64) -> Vec<u8> {
    let body = json!({"object": "page", "entry": [{"id": PAGE1, "time": created_unix + 5, "changes": [{"field": "leadgen",
        "value": {"ad_id": "120210000000001", "form_id": FORM, "leadgen_id": leadgen_id,
                  "created_time": created_unix, "page_id": PAGE1, "adgroup_id": "120210000000001"}}]}]});
    serde_json::to_vec(&body).expect("json")
}

fn rfc3339_ago(secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() - secs, 0).expect("t");
    t.to_rfc3339()
}

async fn v1(env: &Connect, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = env
        .app
        .http
        .request(method, format!("{}{path}", env.app.url))
        .bearer_auth(env.app.jwt(&env.tenant));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// How many times each lead id was delivered as `lead.received`.
fn delivered_ids(env: &Connect) -> Vec<String> {
    let mut ids: Vec<String> = env
        .events("lead.received")
        .iter()
        .map(|e| {
            e["data"]["leadgen_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

fn form_list_reads(env: &Connect) -> usize {
    env.sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/{FORM}/leads")))
        .count()
}

async fn a_pages_lead_forms_are_listed_from_meta(db: Db) {
    let env = connect_env(db, slow_tick).await;
    let ch = env.connect_messenger(PAGE1).await;
    let mut form = SimLeadForm::new(FORM, PAGE1, &[("email", "Email", "EMAIL")]);
    form.name = "Test drive".into();
    env.sim.add_lead_form(form);
    // A form of the other Page is not this channel's.
    env.sim.add_lead_form(SimLeadForm::new(
        "990000000000002",
        crate::connect::PAGE2,
        &[("email", "Email", "EMAIL")],
    ));
    let (s, v) = v1(
        &env,
        Method::GET,
        &format!("/v1/channels/{ch}/lead-forms"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let forms = v["forms"].as_array().expect("forms");
    assert_eq!(forms.len(), 1, "{v}");
    assert_eq!(forms[0]["id"], FORM);
    assert_eq!(forms[0]["name"], "Test drive");
    assert_eq!(forms[0]["status"], "ACTIVE");
    env.app.stop().await;
}

async fn backfill_relays_the_leads_webhooks_missed_and_never_one_twice(db: Db) {
    let env = connect_env(db, slow_tick).await;
    let ch = env.connect_messenger(PAGE1).await;
    env.sim.add_lead_form(SimLeadForm::new(
        FORM,
        PAGE1,
        &[("email", "Email", "EMAIL")],
    ));
    // Four leads in the last three days; only the first came by webhook. One is older than
    // the window asked for.
    let a = recent_lead(&env, "1234567890123401", 3 * 86_400);
    recent_lead(&env, "1234567890123402", 2 * 86_400);
    recent_lead(&env, "1234567890123403", 86_400);
    recent_lead(&env, "1234567890123404", 10 * 86_400);
    assert_eq!(
        env.app
            .post_webhook(&leadgen_webhook_at("1234567890123401", a))
            .await,
        200
    );
    leads_within(&env, 1, Duration::from_secs(10)).await;

    let path = format!("/v1/channels/{ch}/leads/backfill");
    let since = rfc3339_ago(4 * 86_400);
    let (s, v) = v1(&env, Method::POST, &path, Some(json!({"since": since}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["found"], 3, "{v}");
    assert_eq!(v["relayed"], 2, "{v}");
    assert_eq!(v["duplicates"], 1, "{v}");
    assert_eq!(v["form_ids"], json!([FORM]));
    assert_eq!(v["failed_forms"], json!([]));
    assert_eq!(v["trigger"], "api");
    assert_eq!(v["truncated"], false);

    let leads = leads_within(&env, 3, Duration::from_secs(10)).await;
    assert_eq!(leads.len(), 3);
    // The backfilled leads carry their answers like a webhook lead.
    let b = leads
        .iter()
        .find(|l| l["data"]["leadgen_id"] == "1234567890123402")
        .expect("backfilled lead");
    assert_eq!(
        b["data"]["fields"]["email"],
        json!(["1234567890123402@example.com"])
    );
    let ev = env.wait_event("channel.backfill", 1).await;
    assert_eq!(ev[0]["data"]["relayed"], 2, "{}", ev[0]);
    assert_eq!(ev[0]["data"]["channel_id"], ch.as_str());

    // Again, for one form: everything is known now.
    let (s, v) = v1(
        &env,
        Method::POST,
        &path,
        Some(json!({"since": since, "form_id": FORM})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["found"].clone(),
            v["relayed"].clone(),
            v["duplicates"].clone()
        ),
        (json!(3), json!(0), json!(3))
    );
    // Nothing more arrives: each lead exactly once, one backfill event.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        delivered_ids(&env),
        vec!["1234567890123401", "1234567890123402", "1234567890123403"]
    );
    assert_eq!(env.events("channel.backfill").len(), 1);
    env.app.stop().await;
}

async fn backfill_refuses_what_it_cannot_do_with_a_reason(db: Db) {
    let env = connect_env(db, slow_tick).await;
    let ch = env.connect_messenger(PAGE1).await;
    env.sim.add_lead_form(SimLeadForm::new(
        FORM,
        PAGE1,
        &[("email", "Email", "EMAIL")],
    ));
    let path = format!("/v1/channels/{ch}/leads/backfill");
    // Older than the idempotency log reaches back (30 days in the tests' configuration).
    for (body, field, rule) in [
        (
            json!({"since": rfc3339_ago(31 * 86_400)}),
            "since",
            "too_old",
        ),
        (json!({"since": rfc3339_ago(-3_600)}), "since", "in_future"),
        (json!({"since": "yesterday"}), "since", "invalid_format"),
        (
            json!({"since": rfc3339_ago(3_600), "form_id": "../me"}),
            "form_id",
            "invalid_format",
        ),
    ] {
        let (s, v) = v1(&env, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(s, 422, "{body}: {v}");
        assert_eq!(v["code"], "validation_failed", "{v}");
        assert_eq!(v["field"], field, "{v}");
        assert_eq!(v["rule"], rule, "{v}");
    }
    let (s, v) = v1(
        &env,
        Method::POST,
        &path,
        Some(json!({"since": rfc3339_ago(3_600), "form_id": "990000000000777"})),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("lead_form_not_found")),
        "{v}"
    );
    // Not a Page: a WhatsApp channel of the same instance.
    let wa = env
        .app
        .channel(
            &env.tenant,
            "whatsapp",
            "106000000000009",
            Some("102000000000009"),
        )
        .await;
    for (method, p, body) in [
        (Method::GET, format!("/v1/channels/{wa}/lead-forms"), None),
        (
            Method::POST,
            format!("/v1/channels/{wa}/leads/backfill"),
            Some(json!({"since": rfc3339_ago(3_600)})),
        ),
    ] {
        let (s, v) = v1(&env, method, &p, body).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (422, Some("leads_unavailable")),
            "{v}"
        );
    }
    // Another instance's Page is not found (P10).
    let other = env.app.tenant("Loja Bia", None).await;
    let resp = env
        .app
        .http
        .get(format!("{}/v1/channels/{ch}/lead-forms", env.app.url))
        .bearer_auth(env.app.jwt(&other))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 404);
    // Meta refuses the token: the reason comes back, the token does not.
    env.sim
        .revoke_token(&env.sim.token_for(PAGE1).expect("page token"));
    let (s, v) = v1(
        &env,
        Method::GET,
        &format!("/v1/channels/{ch}/lead-forms"),
        None,
    )
    .await;
    assert!(s == 422 || s == 502, "{s} {v}");
    assert!(
        !v.to_string().contains("EAA"),
        "no token in the answer: {v}"
    );
    assert!(env.events("lead.received").is_empty());
    env.app.stop().await;
}

async fn gap_check_recovers_leads_after_the_pages_webhooks_stopped(db: Db) {
    // A gap of two seconds (the shortest the configuration allows is ten minutes; the test
    // sets the config in code): the leads below are hours old, so the Page is "quiet" at once.
    let env = connect_env(db, |c| {
        c.lifecycle.lead_gap = Some(Duration::from_secs(2));
    })
    .await;
    let ch = env.connect_messenger(PAGE1).await;
    env.sim.add_lead_form(SimLeadForm::new(
        FORM,
        PAGE1,
        &[("email", "Email", "EMAIL")],
    ));
    let a = recent_lead(&env, "1234567890123501", 3 * 3_600);
    // Two leads whose webhooks never came.
    recent_lead(&env, "1234567890123502", 2 * 3_600);
    recent_lead(&env, "1234567890123503", 3_600);
    assert_eq!(
        env.app
            .post_webhook(&leadgen_webhook_at("1234567890123501", a))
            .await,
        200
    );
    let ev = env.wait_event("channel.backfill", 1).await;
    let data = &ev[0]["data"];
    assert_eq!(data["trigger"], "gap", "{data}");
    assert_eq!(data["relayed"], 2, "{data}");
    assert_eq!(data["duplicates"], 1, "{data}");
    assert_eq!(data["channel_id"], ch.as_str());
    leads_within(&env, 3, Duration::from_secs(10)).await;
    // The check runs again after another gap: it finds nothing new and says nothing.
    let reads = form_list_reads(&env);
    wait_until(Duration::from_secs(15), "a second gap check", || async {
        form_list_reads(&env) > reads
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        delivered_ids(&env),
        vec!["1234567890123501", "1234567890123502", "1234567890123503"]
    );
    assert_eq!(env.events("channel.backfill").len(), 1);
    env.app.stop().await;
}

async fn gap_check_after_a_long_silence_reads_as_far_back_as_the_log_reaches(db: Db) {
    // The Page's last lead is older than the idempotency log reaches (30 days here): the check
    // reads from the log's reach (less an hour), not from the old lead, and still finds the
    // recent one that never came by webhook.
    let env = connect_env(db, |c| {
        c.lifecycle.lead_gap = Some(Duration::from_secs(2));
    })
    .await;
    env.connect_messenger(PAGE1).await;
    env.sim.add_lead_form(SimLeadForm::new(
        FORM,
        PAGE1,
        &[("email", "Email", "EMAIL")],
    ));
    let old = recent_lead(&env, "1234567890123601", 40 * 86_400);
    recent_lead(&env, "1234567890123602", 3_600);
    assert_eq!(
        env.app
            .post_webhook(&leadgen_webhook_at("1234567890123601", old))
            .await,
        200
    );
    let ev = env.wait_event("channel.backfill", 1).await;
    let data = &ev[0]["data"];
    assert_eq!(data["trigger"], "gap", "{data}");
    assert_eq!(
        (data["found"].clone(), data["relayed"].clone()),
        (json!(1), json!(1)),
        "{data}"
    );
    leads_within(&env, 2, Duration::from_secs(10)).await;
    assert_eq!(
        delivered_ids(&env),
        vec!["1234567890123601", "1234567890123602"]
    );
    env.app.stop().await;
}
