//! Lead Ads retrieval (issue 12, defect 4): a lead's Graph fetch starts when its webhook is
//! committed (the lifecycle tick is set to an hour here, so only the wake-up can deliver it in
//! time); the Page token reads only what it may (ad-level fields are a second, optional read
//! that needs an ads permission, as Meta's "Retrieving Leads" guide says); the form's question
//! labels are read once per form and put beside `field_data`.
//!
//! Expected values come from the simulated Meta side set up here (its lead, its form), never
//! from the product.

use std::time::{Duration, Instant};

use metabridge::sim::onboarding::accounts::{SimLead, SimLeadForm};
use serde_json::{Value, json};

use crate::both_backends;
use crate::connect::{Connect, PAGE1, connect_env};
use crate::helpers::*;

both_backends!(
    lead_is_fetched_when_its_webhook_is_committed_not_at_the_tick,
    lead_without_ads_permission_is_delivered_without_ad_fields,
    lead_carries_its_form_labels_and_the_form_is_read_once,
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
