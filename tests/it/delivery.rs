//! Delivery behaviour: retries, order per conversation, dead letters, replays, 410 Gone.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::both_backends;
use crate::helpers::*;
use metabridge::sim::payloads;

both_backends!(
    receiver_down_for_a_while_gets_everything_in_order_per_conversation,
    failing_conversation_does_not_hold_up_others,
    failing_conversation_does_not_hold_up_another_of_the_same_instance,
    dead_letters_after_the_horizon_then_replay_delivers_with_the_same_id,
    gone_receiver_pauses_its_instance_only_until_resumed,
    slow_instance_backlog_does_not_starve_another_instance,
    stepped_delivery_takes_each_conversations_oldest_event_once,
    wide_backlog_every_step_takes_a_full_share_in_order,
    a_step_walks_past_a_run_of_conversations_waiting_out_a_backoff,
    a_quiet_drain_frees_slots_at_each_answer_and_keeps_order,
    a_claim_seeks_conversation_heads_and_never_scans_the_backlog,
    callback_jwt_binds_the_body_sha256,
);

fn wa_batch(seq: u64, n: usize, contacts: u64) -> Vec<u8> {
    payloads::meta_bytes(&payloads::whatsapp_text_batch(
        "102000000000001",
        "106000000000001",
        seq,
        n,
        contacts,
    ))
}

/// Each customer's message ids (`from` → wamids) in the order the body names them.
fn ids_by_customer(body: &[u8], into: &mut HashMap<String, Vec<String>>) {
    let v: serde_json::Value = serde_json::from_slice(body).expect("payload json");
    for m in v["entry"][0]["changes"][0]["value"]["messages"]
        .as_array()
        .expect("messages")
    {
        into.entry(m["from"].as_str().expect("from").to_string())
            .or_default()
            .push(m["id"].as_str().expect("id").to_string());
    }
}

/// What the receiver accepted, as each customer's message ids in the order they arrived.
fn arrived_by_customer(
    r: &metabridge::sim::receiver::ReceiverState,
) -> HashMap<String, Vec<String>> {
    let mut arrived: HashMap<String, Vec<String>> = HashMap::new();
    for e in r.accepted() {
        let raw = &e.body["raw"];
        arrived
            .entry(raw["from"].as_str().expect("from").to_string())
            .or_default()
            .push(raw["id"].as_str().expect("id").to_string());
    }
    arrived
}

async fn receiver_down_for_a_while_gets_everything_in_order_per_conversation(db: Db) {
    let app = spawn_app_with(db, |c| c.delivery_backoff = Duration::from_millis(50)).await;
    let t = app.fixture_tenant().await;
    let r = &app.receiver.state;
    r.set_status(503);
    // 20 single-message webhooks over 3 contacts, plus a batch whose array is shuffled.
    for seq in 0..20 {
        assert_eq!(app.post_webhook(&wa_batch(seq, 1, 3)).await, 200);
    }
    let mut shuffled =
        payloads::whatsapp_text_batch("102000000000001", "106000000000001", 1000, 6, 2);
    if let Some(list) = shuffled["entry"][0]["changes"][0]["value"]["messages"].as_array_mut() {
        list.reverse();
    }
    assert_eq!(
        app.post_webhook(&payloads::meta_bytes(&shuffled)).await,
        200
    );
    wait_until(
        Duration::from_secs(10),
        "several failed attempts",
        || async { r.received().len() >= 6 },
    )
    .await;
    // Attempts are visible to the instance.
    let first = r.received()[0].event_id.clone();
    let (s, v) = app
        .v1(&t, reqwest::Method::GET, &format!("/v1/events/{first}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["event"]["state"], "pending");
    assert!(
        v["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty() && a[0]["status_code"] == 503)
    );
    r.set_status(200);
    wait_until(Duration::from_secs(30), "all 26 delivered", || async {
        r.unique_accepted() == 26
    })
    .await;
    // Per conversation, Meta's timestamps (carried in data.message_id order) never go back.
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    for ev in r.accepted() {
        let ts = ev.body["raw"]["timestamp"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .expect("timestamp");
        let prev = last.insert(ev.conversation_id.clone(), ts);
        assert!(
            prev.is_none_or(|p| p <= ts),
            "conversation {} went back: {prev:?} then {ts}",
            ev.conversation_id
        );
    }
    app.stop().await;
}

async fn failing_conversation_does_not_hold_up_others(db: Db) {
    // Two instances: one receiver answers 500 forever, the other must still get everything.
    let app = spawn_app_with(db, |c| c.delivery_backoff = Duration::from_millis(50)).await;
    let good = app.fixture_tenant().await;
    let bad_receiver = start_receiver().await;
    bad_receiver.state.set_status(500);
    let bad = app.tenant_at("broken", None, &bad_receiver).await;
    app.channel(&bad, "whatsapp", "106000000000009", Some("102000000000009"))
        .await;
    for seq in 0..10 {
        let b = payloads::meta_bytes(&payloads::whatsapp_text_batch(
            "102000000000009",
            "106000000000009",
            500 + seq,
            1,
            1,
        ));
        assert_eq!(app.post_webhook(&b).await, 200);
        assert_eq!(app.post_webhook(&wa_batch(seq, 1, 4)).await, 200);
    }
    let r = &app.receiver.state;
    wait_until(
        Duration::from_secs(15),
        "healthy instance served",
        || async { r.unique_accepted() == 10 },
    )
    .await;
    assert!(bad_receiver.state.accepted().is_empty());
    assert!(!bad_receiver.state.received().is_empty());
    let _ = good;
    app.stop().await;
}

/// Head-of-line isolation inside one instance: one conversation's events fail (500), the
/// other conversation of the same instance and number gets all of its own meanwhile; once the
/// receiver accepts again, the failing conversation arrives complete and in order.
async fn failing_conversation_does_not_hold_up_another_of_the_same_instance(db: Db) {
    let app = spawn_app_with(db, |c| c.delivery_backoff = Duration::from_millis(50)).await;
    app.fixture_tenant().await;
    let r = &app.receiver.state;
    // Two users write to the fixtures' number: even sequence numbers are user 0
    // (wa_id 15550000000), odd ones user 1 (15550000001). User 0's events fail.
    r.set_status_where(Some(("15550000000", 500)));
    for seq in 0..20 {
        assert_eq!(app.post_webhook(&wa_batch(seq, 1, 2)).await, 200);
    }
    let wamids_of = |parity: u64| -> Vec<String> {
        let mut seen = HashSet::new();
        r.accepted()
            .iter()
            .filter_map(|e| e.body["raw"]["id"].as_str().map(str::to_string))
            .filter(|w| w[9..21].parse::<u64>().is_ok_and(|seq| seq % 2 == parity))
            .filter(|w| seen.insert(w.clone()))
            .collect()
    };
    let expected = |parity: u64| -> Vec<String> {
        (0..20u64)
            .filter(|s| s % 2 == parity)
            .map(|s| format!("wamid.SIM{s:012}X0000"))
            .collect()
    };
    wait_until(
        Duration::from_secs(15),
        "user 1's conversation served while user 0's fails",
        || async { wamids_of(1) == expected(1) },
    )
    .await;
    assert!(wamids_of(0).is_empty(), "user 0's events all failed");
    assert!(
        r.received().iter().any(|e| e.answered == 500),
        "user 0's head was attempted"
    );
    r.set_status_where(None);
    wait_until(
        Duration::from_secs(15),
        "user 0's conversation complete, in order",
        || async { wamids_of(0) == expected(0) },
    )
    .await;
    app.stop().await;
}

async fn dead_letters_after_the_horizon_then_replay_delivers_with_the_same_id(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.delivery_backoff = Duration::from_millis(100);
        c.delivery_horizon = Duration::from_millis(600);
    })
    .await;
    let t = app.fixture_tenant().await;
    let r = &app.receiver.state;
    r.set_status(500);
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    let store = &app.state.store;
    wait_until(Duration::from_secs(15), "dead-lettered", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE state = 'dead'")
            .fetch_one(store.pool())
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    let (s, v) = app
        .v1(&t, reqwest::Method::GET, "/v1/events?state=dead")
        .await;
    assert_eq!(s, 200);
    let id = v["events"][0]["id"]
        .as_str()
        .expect("dead letter")
        .to_string();
    assert_eq!(v["events"][0]["content_available"], true);
    assert!(app.metric("metabridge_dead_letters_created_total").await >= 1.0);
    let attempts_before = r.received().len();
    assert!(attempts_before >= 2);
    r.set_status(200);
    let (s, v) = app
        .v1(
            &t,
            reqwest::Method::POST,
            &format!("/v1/events/{id}/replay"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "pending");
    wait_until(Duration::from_secs(10), "replayed delivery", || async {
        r.accepted().len() == 1
    })
    .await;
    assert_eq!(
        r.accepted()[0].event_id,
        id,
        "same event id, so the receiver can dedup"
    );
    // Replaying a delivered event is a conflict, not a second send.
    wait_until(Duration::from_secs(5), "delivered state", || async {
        app.v1(&t, reqwest::Method::GET, &format!("/v1/events/{id}"))
            .await
            .1["event"]["state"]
            == "delivered"
    })
    .await;
    let (s, v) = app
        .v1(
            &t,
            reqwest::Method::POST,
            &format!("/v1/events/{id}/replay"),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(v["code"], "event_not_replayable");
    app.stop().await;
}

async fn gone_receiver_pauses_its_instance_only_until_resumed(db: Db) {
    let app = spawn_app_with(db, |c| c.delivery_backoff = Duration::from_millis(50)).await;
    let t = app.fixture_tenant().await;
    let r = &app.receiver.state;
    r.set_status(410);
    for seq in 0..3 {
        assert_eq!(app.post_webhook(&wa_batch(seq, 1, 1)).await, 200);
    }
    wait_until(Duration::from_secs(10), "410 seen", || async {
        !r.received().is_empty()
    })
    .await;
    let path = format!("/admin/v1/instances/{}", t.instance_id);
    wait_until(Duration::from_secs(5), "paused", || async {
        app.admin(reqwest::Method::GET, &path, None).await.1["delivery_paused_reason"]
            == "receiver_gone"
    })
    .await;
    // Unpaused, the 50 ms backoff would have retried several times by the deadline.
    holds_for(
        Duration::from_millis(500),
        "no hammering of a receiver that said 410",
        || async { r.received().len() == 1 },
    )
    .await;
    r.set_status(200);
    let (s, _) = app
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(serde_json::json!({"resume_delivery": true})),
        )
        .await;
    assert_eq!(s, 200);
    wait_until(Duration::from_secs(15), "resumed", || async {
        r.unique_accepted() == 3
    })
    .await;
    app.stop().await;
}

async fn slow_instance_backlog_does_not_starve_another_instance(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.delivery_concurrency = 4;
        c.delivery_per_instance = 2;
        c.delivery_timeout = Duration::from_secs(10);
    })
    .await;
    // The slow instance: 12 conversations queued, its receiver takes 2 s per request.
    let slow_receiver = start_receiver().await;
    slow_receiver.state.set_delay(Duration::from_secs(2));
    let slow = app.tenant_at("slow", None, &slow_receiver).await;
    app.channel(
        &slow,
        "whatsapp",
        "106000000000009",
        Some("102000000000009"),
    )
    .await;
    let b = payloads::meta_bytes(&payloads::whatsapp_text_batch(
        "102000000000009",
        "106000000000009",
        0,
        12,
        12,
    ));
    assert_eq!(app.post_webhook(&b).await, 200);
    let s = &slow_receiver.state;
    // Its two slots are taken (counted on arrival, before the 2 s answer).
    wait_until(
        Duration::from_secs(10),
        "the slow instance busy",
        || async { s.in_flight() == 2 },
    )
    .await;
    // The fast instance's event arrives while the slow one holds its two slots.
    app.fixture_tenant().await;
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    let r = &app.receiver.state;
    // Starved, it would wait for all 12 slow deliveries (6 rounds of 2 s).
    wait_until(
        Duration::from_secs(3),
        "fast instance served while the slow one is busy",
        || async { r.accepted().len() == 1 },
    )
    .await;
    // Meanwhile the slow instance never had more than its share (2) of requests at once.
    assert_eq!(
        s.max_in_flight(),
        2,
        "the slow instance's concurrent requests"
    );
    // Later it is served too, never more than two at a time.
    wait_until(Duration::from_secs(60), "the slow backlog", || async {
        s.unique_accepted() == 12
    })
    .await;
    assert_eq!(
        s.max_in_flight(),
        2,
        "the slow instance's concurrent requests"
    );
    app.stop().await;
}

/// Delivery stepped by the test with the workers off, so nothing here depends on timing:
/// nothing arrives before a step; each step delivers the oldest due event of every
/// conversation and only that (order within a conversation); once everything is delivered a
/// step delivers nothing (no duplicate); a refused attempt is not tried again before its
/// backoff.
async fn stepped_delivery_takes_each_conversations_oldest_event_once(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.run_workers = false;
        c.delivery_backoff = Duration::from_secs(3600);
    })
    .await;
    app.fixture_tenant().await;
    // Six messages from two customers (even sequence numbers from one, odd from the other),
    // as the bodies posted name them.
    let mut posted: HashMap<String, Vec<String>> = HashMap::new();
    for seq in 0..6 {
        let body = wa_batch(seq, 1, 2);
        ids_by_customer(&body, &mut posted);
        assert_eq!(app.post_webhook(&body).await, 200);
    }
    assert_eq!(posted.len(), 2, "{posted:?}");
    let r = &app.receiver.state;
    assert!(
        r.received().is_empty(),
        "nothing is delivered before a step"
    );
    for step in 1..=3 {
        assert_eq!(
            app.deliver_due().await,
            2,
            "step {step}: one per conversation"
        );
        assert_eq!(r.accepted().len(), 2 * step);
    }
    assert_eq!(app.deliver_due().await, 0, "everything was delivered once");
    let arrived = arrived_by_customer(r);
    assert_eq!(
        arrived, posted,
        "each customer's messages arrive once, in order"
    );
    // A refused attempt waits for its backoff (an hour here): the next step leaves it alone.
    r.set_status(500);
    assert_eq!(app.post_webhook(&wa_batch(6, 1, 2)).await, 200);
    assert_eq!(app.deliver_due().await, 1);
    assert_eq!(r.received().len(), 7);
    assert_eq!(app.deliver_due().await, 0, "not retried before its backoff");
    assert_eq!(r.received().len(), 7);
    app.stop().await;
}

/// Posts `batches` webhooks of 10 messages, sequence numbers 10·batch … 10·batch + 9, the
/// customer of each being its sequence number mod `customers`; each customer's message ids in
/// the order posted.
async fn post_round_robin(
    app: &TestApp,
    batches: u64,
    customers: u64,
) -> HashMap<String, Vec<String>> {
    let mut posted: HashMap<String, Vec<String>> = HashMap::new();
    for batch in 0..batches {
        let body = wa_batch(batch * 10, 10, customers);
        ids_by_customer(&body, &mut posted);
        assert_eq!(app.post_webhook(&body).await, 200);
    }
    posted
}

/// Steps delivery (workers off) until a step attempts nothing; how many each step attempted.
async fn step_until_idle(app: &TestApp, most: usize) -> Vec<usize> {
    let mut steps = Vec::new();
    loop {
        let n = app.deliver_due().await;
        if n == 0 {
            return steps;
        }
        steps.push(n);
        assert!(steps.len() <= most, "delivery does not finish: {steps:?}");
    }
}

/// 300 customers with two messages each (600 events), stepped with the workers off: the
/// claim walks the instance's conversations from where the previous one stopped, so every
/// step delivers a full share (16, the per-instance cap) until fewer remain; each message
/// arrives once, each customer's in the order posted. Expected figures come from the test's
/// own numbers: ceil(600 / 16) = 38 steps, the last one 600 - 37 × 16 = 8.
async fn wide_backlog_every_step_takes_a_full_share_in_order(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.run_workers = false;
        c.delivery_concurrency = 64;
        c.delivery_per_instance = 16;
    })
    .await;
    app.fixture_tenant().await;
    let posted = post_round_robin(&app, 60, 300).await;
    assert_eq!(posted.len(), 300);
    assert!(posted.values().all(|ids| ids.len() == 2));
    let steps = step_until_idle(&app, 60).await;
    let mut expected = vec![16; 37];
    expected.push(8);
    assert_eq!(steps, expected, "events delivered per step");
    let arrived = arrived_by_customer(&app.receiver.state);
    assert_eq!(arrived, posted, "each message once, in order per customer");
    app.stop().await;
}

/// 40 customers with three messages each (120 events), stepped with the workers off, 4 slots
/// for the instance; customers 10–19 (wa_ids `1555000001x`, which sort next to each other)
/// are answered 500 and then wait out an hour's backoff. A claim walks a few conversations
/// first and walks on while its slots are not filled (issue 14: a short walk made the drain
/// of a wide backlog cheaper), so a step that meets the run of ten waiting conversations
/// still takes a full share: 30 × 3 deliveries and 10 failures are 100 attempts, 25 steps of
/// 4, then nothing is due.
async fn a_step_walks_past_a_run_of_conversations_waiting_out_a_backoff(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.run_workers = false;
        c.delivery_concurrency = 64;
        c.delivery_per_instance = 4;
        c.delivery_backoff = Duration::from_secs(3600);
    })
    .await;
    app.fixture_tenant().await;
    let r = &app.receiver.state;
    r.set_status_where(Some(("1555000001", 500)));
    let posted = post_round_robin(&app, 12, 40).await;
    assert_eq!(posted.len(), 40);
    let failing: Vec<String> = (10..20).map(|u| format!("1555{u:07}")).collect();
    let steps = step_until_idle(&app, 60).await;
    assert_eq!(steps, vec![4; 25], "events attempted per step");
    let mut healthy = posted.clone();
    healthy.retain(|from, _| !failing.contains(from));
    assert_eq!(healthy.len(), 30);
    assert_eq!(
        arrived_by_customer(r),
        healthy,
        "each healthy customer's messages once, in order; none of the failing ones"
    );
    let mut refused: Vec<String> = r
        .received()
        .iter()
        .filter(|e| e.answered == 500)
        .map(|e| e.body["raw"]["from"].as_str().expect("from").to_string())
        .collect();
    refused.sort();
    assert_eq!(
        refused, failing,
        "each failing customer tried once (its oldest)"
    );
    app.stop().await;
}

/// A backlog drained while nothing else arrives frees an instance's slot when the receiver
/// answers, before the outcome is committed (issue 14). 1,200 events in 6 conversations, the
/// receiver taking 10 ms per request, 3 slots per instance: the drain runs for seconds, most
/// of it with no webhook arriving. The instance never has more than 3 requests open, every
/// event is accepted exactly once, and each customer's messages arrive in the order posted.
async fn a_quiet_drain_frees_slots_at_each_answer_and_keeps_order(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.delivery_concurrency = 8;
        c.delivery_per_instance = 3;
    })
    .await;
    app.fixture_tenant().await;
    let r = &app.receiver.state;
    r.set_delay(Duration::from_millis(10));
    let mut posted: HashMap<String, Vec<String>> = HashMap::new();
    for batch in 0..12u64 {
        let body = wa_batch(batch * 100, 100, 6);
        ids_by_customer(&body, &mut posted);
        assert_eq!(app.post_webhook(&body).await, 200);
    }
    assert_eq!(posted.values().map(Vec::len).sum::<usize>(), 1200);
    wait_until(Duration::from_secs(90), "the backlog delivered", || async {
        r.accepted().len() >= 1200
    })
    .await;
    let arrived = arrived_by_customer(r);
    assert_eq!(arrived, posted, "each message once, in order per customer");
    assert!(
        r.max_in_flight() <= 3,
        "requests open at once: {}",
        r.max_in_flight()
    );
    app.stop().await;
}

/// The claim's plans on a 3,000-event backlog in three conversations: the conversation walk
/// and the claim of the heads seek through indexes (the heads' index, the primary key); no
/// step reads the events table or an index of it from end to end, so a claim costs the same
/// whatever the backlog (issue 14: before, each claim tested every pending event of the
/// instance for an earlier one). The plans are printed for docs/benchmark.md.
async fn a_claim_seeks_conversation_heads_and_never_scans_the_backlog(db: Db) {
    let app = spawn_app_with(db, |c| c.run_workers = false).await;
    let tenant = app.fixture_tenant().await;
    for batch in 0..300u64 {
        assert_eq!(app.post_webhook(&wa_batch(batch * 10, 10, 3)).await, 200);
    }
    let store = &app.state.store;
    let instance: metabridge::ids::InstanceId = tenant.instance_id.parse().expect("an instance id");
    // Twice: with the statistics a bulk load leaves (PostgreSQL has not analyzed the table
    // since it was empty: it then took the instance's whole pending index for a few rows and
    // the claim read every pending event, 142 ms a claim with 98,000 pending), and analyzed.
    for analyzed in [false, true] {
        if analyzed {
            sqlx::query("ANALYZE")
                .execute(store.pool())
                .await
                .expect("analyze");
        }
        let plan = store.explain_claim(&instance).await.expect("explain claim");
        check_claim_plan(&plan, analyzed, app.state.config.backend);
    }
    app.stop().await;
}

/// What a claim's plan must not do, whatever the statistics: scan the events table, walk the
/// primary key, or range over an instance's events by `seq` or due time (the indexes
/// `events_instance` and `events_pending_instance` hold the whole backlog of an instance).
fn check_claim_plan(plan: &[String], analyzed: bool, backend: metabridge::config::Backend) {
    let plan_text = plan.join("\n");
    println!("claim plan ({backend:?}, analyzed: {analyzed}):\n{plan_text}");
    let full_scans: Vec<&String> = plan
        .iter()
        .filter(|l| {
            let l = l.trim_start().trim_start_matches("->").trim_start();
            // PostgreSQL: a sequential scan of the events table; SQLite: `SCAN` of it (`e`,
            // `p` are its aliases; a full pass, also when it says `USING INDEX`). The walk's
            // own recursive table and the instances table (one row here) may be scanned.
            l.contains("Seq Scan on events")
                || ["SCAN events", "SCAN e", "SCAN p"]
                    .iter()
                    .any(|s| l == *s || l.starts_with(&format!("{s} ")))
        })
        .collect();
    // PostgreSQL: the primary key is only ever used to look rows up by `seq`, never walked
    // in `seq` order with a filter on the conversation (which reads every older event).
    for (i, l) in plan.iter().enumerate() {
        if l.contains("using events_pkey") || l.contains("on events_pkey") {
            let next = plan.get(i + 1).map(|n| n.trim()).unwrap_or("");
            assert!(
                next.starts_with("Index Cond: (seq ="),
                "the primary key is walked, not searched (analyzed: {analyzed}): {l} / {next}\n{plan_text}"
            );
        }
    }
    assert!(
        full_scans.is_empty(),
        "the claim scans (analyzed: {analyzed}): {full_scans:?}\n{plan_text}"
    );
    let instance_wide: Vec<&String> = plan
        .iter()
        .filter(|l| {
            ["events_pending_instance", "events_instance "]
                .iter()
                .any(|i| l.contains(i) || l.ends_with(i.trim_end()))
        })
        .collect();
    assert!(
        instance_wide.is_empty(),
        "the claim ranges over an instance's whole backlog (analyzed: {analyzed}): {instance_wide:?}\n{plan_text}"
    );
    // PostgreSQL: the heads index is only ever entered by instance (a seek), never read whole
    // to find `seq`s (its leading column is the instance).
    for (i, l) in plan.iter().enumerate() {
        if l.contains("using events_pending_heads") {
            let next = plan.get(i + 1).map(|n| n.trim()).unwrap_or("");
            assert!(
                next.starts_with("Index Cond: ((instance_id ="),
                "the heads index is read whole (analyzed: {analyzed}): {l} / {next}\n{plan_text}"
            );
        }
    }
    assert!(
        plan.iter().any(|l| l.contains("events_pending_heads")),
        "the walk uses the heads index (analyzed: {analyzed}):\n{plan_text}"
    );
}

/// Issue 17 item 9: the callback JWT binds the body. What a receiver observes: every token's
/// `body_sha256` claim is the lowercase hex SHA-256 the receiver computes itself over the
/// bytes it received (computed here with sha2, independently of the product); the same token
/// with a body altered in transit fails the receiver's check; and the test receiver refuses
/// (401, counted) a delivery whose claim is missing or does not match.
async fn callback_jwt_binds_the_body_sha256(db: Db) {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    use metabridge::sim::receiver::verify_callback;
    use sha2::Digest as _;

    let app = spawn_app_with(db, |c| c.delivery_backoff = Duration::from_millis(50)).await;
    let t = app.fixture_tenant().await;
    let r = &app.receiver.state;
    for seq in 0..3 {
        assert_eq!(app.post_webhook(&wa_batch(seq, 1, 2)).await, 200);
    }
    wait_until(Duration::from_secs(15), "3 events delivered", || async {
        r.unique_accepted() == 3
    })
    .await;
    assert_eq!(r.rejected_jwt(), 0, "no delivery refused");

    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[t.instance_id.as_str()]);
    v.set_issuer(&["metabridge"]);
    for ev in r.accepted() {
        let computed = hex::encode(sha2::Sha256::digest(&ev.raw_body));
        assert_eq!(computed.len(), 64);
        assert_eq!(computed, computed.to_lowercase());
        // Decoded here from the token itself, not from what the product reports.
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &ev.token,
            &DecodingKey::from_secret(t.secret.as_bytes()),
            &v,
        )
        .expect("token verifies")
        .claims;
        assert_eq!(
            claims["body_sha256"],
            computed.as_str(),
            "claim = sha256(body)"
        );
        assert_eq!(claims["sub"], ev.event_id.as_str());
        assert_eq!(ev.body_sha256, computed);

        // The receiver-side check: the bytes received pass, a body altered in transit fails.
        let raw = ev.raw_body.to_vec();
        assert!(verify_callback(&ev.token, &t.instance_id, &t.secret, &raw).is_some());
        let mut trailing = raw.clone();
        trailing.push(b'\n');
        assert!(
            verify_callback(&ev.token, &t.instance_id, &t.secret, &trailing).is_none(),
            "one byte appended"
        );
        let mut flipped = raw.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        assert!(
            verify_callback(&ev.token, &t.instance_id, &t.secret, &flipped).is_none(),
            "one bit flipped"
        );
    }
    // Two different events carry different claims (each token is proof for its own body only).
    let claims: HashSet<String> = r.accepted().into_iter().map(|e| e.body_sha256).collect();
    assert!(claims.len() >= 3);

    // The test receiver over HTTP: a token with a body that does not match, and a token
    // without the claim, are refused with 401 and counted.
    let ev = r.accepted().into_iter().next().expect("one event");
    let client = reqwest::Client::new();
    let post = |token: String, body: Vec<u8>| {
        client
            .post(app.receiver.url())
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let mut altered = ev.raw_body.to_vec();
    altered.push(b' ');
    let resp = post(ev.token.clone(), altered).await.expect("post");
    assert_eq!(resp.status().as_u16(), 401, "altered body refused");
    let now = chrono::Utc::now().timestamp();
    let without = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({
            "iss": "metabridge", "aud": t.instance_id, "sub": ev.event_id,
            "iat": now, "exp": now + 300, "jti": "no-body-claim",
        }),
        &EncodingKey::from_secret(t.secret.as_bytes()),
    )
    .expect("encode");
    let resp = post(without, ev.raw_body.to_vec()).await.expect("post");
    assert_eq!(
        resp.status().as_u16(),
        401,
        "token without body_sha256 refused"
    );
    assert_eq!(r.rejected_jwt(), 2);
    app.stop().await;
}

/// PostgreSQL keeps the old version of every row a delivery rewrites (the claim's lease, the
/// outcome) until a `VACUUM`, and the claim's walk of conversation heads steps over their index
/// entries: a 100,000-event drain slowed from ~2,900 to ~1,600 events/s as it went (issue 14,
/// docs/benchmark.md). A replica vacuums `events` once it has committed
/// `METABRIDGE_PG_VACUUM_EVERY` outcomes since its last vacuum, and not before; seen through
/// PostgreSQL's own count of manual vacuums of the table (`pg_stat_user_tables.vacuum_count`;
/// autovacuum's runs are counted apart). First stepped (the app's own task off), then the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vacuums_events_after_enough_delivery_outcomes() {
    if postgres_url().is_none() {
        return;
    }
    const VACUUMS: &str = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'events' AND schemaname = 'public'";
    let app = spawn_app_with(Db::Postgres, |c| c.pg_vacuum_every = 0).await;
    app.fixture_tenant().await;
    let (store, writer) = (&app.state.store, &app.state.writer);
    let r = &app.receiver.state;
    let mut last = 0;
    deliver(&app, 0..3, 30).await;
    let vacuumed = metabridge::workers::maintenance::vacuum_step(store, writer, 50, &mut last)
        .await
        .expect("vacuum step");
    assert!(!vacuumed, "30 outcomes, fewer than 50: no vacuum");
    assert_eq!(app.count(VACUUMS).await, 0);
    deliver(&app, 3..6, 60).await;
    let vacuumed = metabridge::workers::maintenance::vacuum_step(store, writer, 50, &mut last)
        .await
        .expect("vacuum step");
    assert!(vacuumed, "60 outcomes since the start: a vacuum");
    assert_eq!(app.count(VACUUMS).await, 1);
    assert_eq!(last, writer.outcomes_committed());
    // Nothing since: no second vacuum.
    let vacuumed = metabridge::workers::maintenance::vacuum_step(store, writer, 50, &mut last)
        .await
        .expect("vacuum step");
    assert!(!vacuumed);
    assert_eq!(app.count(VACUUMS).await, 1);
    // Every event arrived once, whatever the vacuum did beside the deliveries.
    let ids: HashSet<String> = r
        .accepted()
        .iter()
        .map(|e| e.body["raw"]["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!((ids.len(), r.accepted().len()), (60, 60));
    app.stop().await;

    // The replica's own task, with the setting: it vacuums within a few of its one-second
    // checks once 20 outcomes are committed.
    let app = spawn_app_with(Db::Postgres, |c| c.pg_vacuum_every = 20).await;
    app.fixture_tenant().await;
    deliver(&app, 0..3, 30).await;
    wait_until(Duration::from_secs(30), "the replica's vacuum", || async {
        app.count(VACUUMS).await >= 1
    })
    .await;
    app.stop().await;
}

/// Posts the 10-message batches `batches` and waits until `total` events are delivered and
/// their outcomes committed.
async fn deliver(app: &TestApp, batches: std::ops::Range<u64>, total: usize) {
    for b in batches {
        assert_eq!(app.post_webhook(&wa_batch(b * 10, 10, 3)).await, 200);
    }
    let r = &app.receiver.state;
    wait_until(Duration::from_secs(30), "outcomes committed", || async {
        r.accepted().len() >= total && app.state.writer.outcomes_committed() >= total as u64
    })
    .await;
}
