//! The real binary under mixed load, killed with SIGKILL: three replicas on one PostgreSQL
//! behind a load balancer with one of them killed mid-run, and one process killed and
//! restarted twenty times in a row (both backends). After each run the invariants a user
//! relies on are checked: every acknowledged webhook delivered, never under two event ids,
//! in order per conversation; every accepted send sent exactly once; no channel above its
//! rate limit.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use metabridge::sim::graph::{self, GraphSim, GraphSimOptions};
use metabridge::sim::payloads;

const WABA: &str = "102000000000001";
const PHONES: [&str; 2] = ["106000000000001", "106000000000002"];
const TOKEN: &str = "EAAG-cluster-token";
/// The channels' send rate (messages per second), low enough that the load exceeds it.
const RATE: u32 = 10;
/// How late a send may arrive at Meta after its start in the rate check of
/// [`check_invariants`]. Measured on this 2-core machine (debug build; 40 series of the
/// twenty-kill test, both backends, alone or next to other test binaries and a build): 0 ms in
/// most, up to 58 ms usually, 296 ms once under the heaviest load (13 arrivals within one
/// second; the 900 ms window this replaced failed there, as in CI). 500 ms leaves room above
/// that and still fails a second sender or a burst (see the check).
const JITTER: Duration = Duration::from_millis(500);
/// Conversations (WhatsApp users) writing to each number.
const CONVERSATIONS: u64 = 6;

/// What the load generator saw.
#[derive(Default)]
struct Ledger {
    /// Per conversation, the wamids acknowledged with 200, in the order they were sent.
    acked: HashMap<String, Vec<String>>,
    webhooks_sent: u64,
    webhook_errors: u64,
    /// Per send (client reference), the bridge's message id once the send was accepted.
    sends: HashMap<String, String>,
    send_errors: u64,
}

/// Meta and the platform, as clients: webhooks per conversation in order (each retried until
/// it gets a 200, as Meta does) and sends with an `Idempotency-Key` (retried with the same key
/// after a connection error, as a platform should).
struct Load {
    base: String,
    secret: String,
    instance: String,
    channels: Vec<String>,
    http: reqwest::Client,
    ledger: Mutex<Ledger>,
    next_seq: Mutex<HashMap<u64, u64>>,
    next_send: AtomicU64,
}

impl Load {
    fn new(base: &str, instance: &str, secret: &str, channels: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            base: base.to_string(),
            secret: secret.to_string(),
            instance: instance.to_string(),
            channels,
            // A fresh connection per request, so the balancer spreads requests.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            ledger: Mutex::new(Ledger::default()),
            next_seq: Mutex::new(HashMap::new()),
            next_send: AtomicU64::new(0),
        })
    }

    fn jwt(&self) -> String {
        instance_jwt(&self.instance, &self.secret)
    }

    /// The next webhook of conversation `conv` (a user writing to one of the numbers), posted
    /// until acknowledged. Conversation `conv` writes to number `conv % 2`.
    async fn webhook(&self, conv: u64) {
        let phone = PHONES[(conv % 2) as usize];
        let seq = {
            let mut m = self.next_seq.lock().expect("lock");
            let n = m.entry(conv).or_insert(0);
            *n += 1;
            // whatsapp_text_batch picks user `seq % contacts`: this keeps the user fixed.
            *n * CONVERSATIONS * 2 + conv
        };
        let body = payloads::meta_bytes(&payloads::whatsapp_text_batch(
            WABA,
            phone,
            seq,
            1,
            CONVERSATIONS * 2,
        ));
        let wamid = format!("wamid.SIM{seq:012}X{:04}", 0);
        let sig = metabridge::crypto::signature::sign(APP_SECRET, &body);
        loop {
            self.ledger.lock().expect("lock").webhooks_sent += 1;
            let r = self
                .http
                .post(format!("{}/webhooks/meta", self.base))
                .header("x-hub-signature-256", &sig)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(r) if r.status().as_u16() == 200 => {
                    let mut l = self.ledger.lock().expect("lock");
                    l.acked
                        .entry(format!("{phone}/{conv}"))
                        .or_default()
                        .push(wamid);
                    return;
                }
                _ => {
                    self.ledger.lock().expect("lock").webhook_errors += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// One send, retried with the same key until the bridge answers it.
    async fn send(&self) {
        let n = self.next_send.fetch_add(1, Ordering::Relaxed);
        // A reply to a user who wrote (the customer-service window is open): on the number
        // the user wrote to.
        let conv = n % (CONVERSATIONS * 2);
        while !self
            .ledger
            .lock()
            .expect("lock")
            .acked
            .contains_key(&format!("{}/{conv}", PHONES[(conv % 2) as usize]))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let channel = &self.channels[(conv % 2) as usize];
        let reference = format!("send-{n}");
        let body = json!({"channel_id": channel, "to": format!("1555{conv:07}"),
            // The simulated webhooks carry fixed timestamps from 2025: the bridge's own window
            // check would refuse; Meta (the simulator) keeps the window open.
            "ignore_window": true,
            "client_reference": reference, "message": {"type": "text", "body": format!("reply {n}")}});
        loop {
            let r = self
                .http
                .post(format!("{}/v1/messages", self.base))
                .bearer_auth(self.jwt())
                .header("Idempotency-Key", &reference)
                .json(&body)
                .send()
                .await;
            match r {
                Ok(r) if r.status().as_u16() == 202 || r.status().as_u16() == 200 => {
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    let id = v["id"].as_str().expect("message id").to_string();
                    let mut l = self.ledger.lock().expect("lock");
                    if let Some(prev) = l.sends.insert(reference.clone(), id.clone()) {
                        assert_eq!(prev, id, "one Idempotency-Key, two messages");
                    }
                    return;
                }
                Ok(r) if r.status().is_client_error() => {
                    panic!("send refused: {} {:?}", r.status(), r.text().await)
                }
                _ => {
                    self.ledger.lock().expect("lock").send_errors += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Drives webhooks (every conversation in parallel, each in order) and sends until `stop`.
    fn run(self: &Arc<Self>, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for conv in 0..CONVERSATIONS * 2 {
            let me = Arc::clone(self);
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    me.webhook(conv).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
        for _ in 0..2 {
            let me = Arc::clone(self);
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    me.send().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
        }
        tasks
    }
}

fn instance_jwt(instance: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": instance, "aud": "metabridge", "iat": now, "exp": now + 300}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

async fn start_graph(webhook_url: &str) -> GraphSim {
    let sim = graph::start(
        "127.0.0.1:0".parse().expect("addr"),
        GraphSimOptions {
            webhook_url: Some(webhook_url.to_string()),
            app_secret: APP_SECRET.to_string(),
            status_delays: [Some(Duration::from_millis(50)), None, None],
            ..Default::default()
        },
    )
    .await
    .expect("graph sim");
    for p in PHONES {
        sim.add_channel("whatsapp", p, Some(WABA), TOKEN);
    }
    sim
}

/// Registers the instance and both numbers through the admin API; returns (instance, secret,
/// channel ids).
async fn register(
    http: &reqwest::Client,
    base: &str,
    receiver: &metabridge::sim::receiver::Receiver,
) -> (String, String, Vec<String>) {
    let (instance, secret) = create_instance(http, base, "cluster test", &receiver.url()).await;
    receiver.state.add_instance(&instance, &secret);
    let mut channels = Vec::new();
    for p in PHONES {
        let r = http
            .post(format!("{base}/admin/v1/channels"))
            .bearer_auth(ADMIN)
            .json(
                &json!({"instance_id": instance, "kind": "whatsapp", "external_id": p,
                "waba_id": WABA, "access_token": TOKEN}),
            )
            .send()
            .await
            .expect("channel");
        assert_eq!(r.status().as_u16(), 201);
        let v: Value = r.json().await.expect("json");
        let id = v["id"].as_str().expect("channel id").to_string();
        // The platform lowers the number's send rate (the load exceeds it).
        let r = http
            .patch(format!("{base}/v1/channels/{id}"))
            .bearer_auth(instance_jwt(&instance, &secret))
            .json(&json!({"rate_limit": RATE}))
            .send()
            .await
            .expect("patch channel");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["rate_limit"], RATE, "{v}");
        channels.push(id);
    }
    (instance, secret, channels)
}

/// Waits for everything acknowledged to be delivered and every accepted send to settle, then
/// checks the invariants. Returns the figures for the record.
async fn check_invariants(
    load: &Load,
    receiver: &metabridge::sim::receiver::Receiver,
    sim: &GraphSim,
    what: &str,
) -> Figures {
    let (acked, sends) = {
        let l = load.ledger.lock().expect("lock");
        (l.acked.clone(), l.sends.clone())
    };
    let acked_ids: HashSet<String> = acked.values().flatten().cloned().collect();
    let r = &receiver.state;
    let delivered_wamids = || -> HashSet<String> {
        r.accepted()
            .iter()
            .filter(|e| e.event_type == "message.received")
            .filter_map(|e| e.body["raw"]["id"].as_str().map(str::to_string))
            .collect()
    };
    wait_until(
        Duration::from_secs(120),
        &format!("{what}: every acknowledged webhook delivered"),
        || async { acked_ids.is_subset(&delivered_wamids()) },
    )
    .await;
    // Every accepted send reaches Meta exactly once (its reference is in the body).
    let sent_refs = || -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for s in sim.sends() {
            if let Some(r) = s.body["biz_opaque_callback_data"].as_str() {
                *m.entry(r.to_string()).or_insert(0) += 1;
            }
        }
        m
    };
    let msg_ids: HashSet<&String> = sends.values().collect();
    wait_until(
        Duration::from_secs(120),
        &format!("{what}: every accepted send sent"),
        || async {
            let refs = sent_refs();
            let by_id: HashSet<String> = refs.keys().cloned().collect();
            msg_ids.iter().all(|id| by_id.contains(*id))
        },
    )
    .await;

    // No message delivered under two event ids; per conversation, first deliveries in order.
    let mut event_of: HashMap<String, String> = HashMap::new();
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    let mut redeliveries = 0u64;
    // In the order the requests arrived (a request the bridge gave up on after its timeout
    // may be answered by the receiver after the retry).
    let mut arrivals = r.accepted();
    arrivals.sort_by_key(|e| e.arrived);
    for e in arrivals {
        if e.event_type != "message.received" {
            continue;
        }
        let Some(wamid) = e.body["raw"]["id"].as_str() else {
            continue;
        };
        match event_of.get(wamid) {
            Some(prev) => {
                assert_eq!(
                    prev, &e.event_id,
                    "{what}: {wamid} delivered under two event ids"
                );
                redeliveries += 1;
            }
            None => {
                event_of.insert(wamid.to_string(), e.event_id.clone());
                order
                    .entry(e.conversation_id.clone())
                    .or_default()
                    .push(wamid.to_string());
            }
        }
    }
    // Each conversation's acknowledged webhooks appear in its delivery order as sent (a
    // webhook refused by a dying replica may still have been stored: then it is delivered
    // too, at its place, and the sender's retry is deduplicated).
    let position: HashMap<&str, usize> = order
        .values()
        .flat_map(|v| v.iter().enumerate().map(|(i, w)| (w.as_str(), i)))
        .collect();
    for (conv, wamids) in &acked {
        let positions: Vec<usize> = wamids.iter().map(|w| position[w.as_str()]).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{what}: conversation {conv} delivered out of order: {positions:?}"
        );
    }
    let refs = sent_refs();
    let twice: Vec<_> = refs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what}: sent more than once: {twice:?}");
    // No channel above its rate limit, as Meta sees it: at most RATE sends in any second.
    // The bridge spaces its send *starts* (at most RATE in any 1,020 ms); Meta sees arrivals,
    // each late by the time its request takes to get there, which on a loaded 2-core machine
    // (debug builds, the whole suite in parallel, a process just restarted with cold
    // connection pools) varies by far more than those 20 ms. So the check allows each arrival
    // to be up to JITTER late: for every i <= j of the sorted arrivals,
    //   count(i..=j) <= RATE × (⌊(t_j − t_i + JITTER) / 1 s⌋ + 1)
    // (see `jitter_needed`). With JITTER = 500 ms that is at most RATE sends within any 500 ms,
    // 2 × RATE within 1.5 s, …: a second sender for the channel for half a second, a handover
    // burst, or a rate 10 % above the limit for 5 s (50 % for 1 s) fails it.
    for (phone, times) in sim.send_times() {
        let need = jitter_needed(&times, RATE);
        let mut sorted = times.clone();
        sorted.sort();
        eprintln!(
            "{what}: {phone}: {} sends; jitter needed to conform {:.0} ms (allowed {} ms); at most {} within 1 s, {} within 900 ms",
            times.len(),
            need.secs * 1000.0,
            JITTER.as_millis(),
            max_in_window(&times, Duration::from_secs(1)),
            max_in_window(&times, Duration::from_millis(900)),
        );
        // The arrivals around the worst stretch, in ms from its first: evidence of what
        // happened (jitter shows as a gap, then a bunch; a second sender as steady spacing at
        // twice the rate).
        let first = sorted[need.from];
        let offsets: Vec<i128> = sorted
            [need.from.saturating_sub(5)..(need.to + 6).min(sorted.len())]
            .iter()
            .map(|t| {
                if *t >= first {
                    t.duration_since(first).as_millis() as i128
                } else {
                    -(first.duration_since(*t).as_millis() as i128)
                }
            })
            .collect();
        if need.secs > 0.1 {
            eprintln!("{what}: {phone}: arrivals around the worst stretch (ms): {offsets:?}");
        }
        assert!(
            need.secs <= JITTER.as_secs_f64(),
            "{what}: {phone} sent above {RATE}/s: {} sends within {:.3} s, {:.1} s after its first send (conforming would need arrivals {:.0} ms late; allowed {} ms); arrivals (ms): {offsets:?}",
            need.to - need.from + 1,
            sorted[need.to].duration_since(first).as_secs_f64(),
            first.duration_since(sorted[0]).as_secs_f64(),
            need.secs * 1000.0,
            JITTER.as_millis(),
        );
    }
    let l = load.ledger.lock().expect("lock");
    Figures {
        webhooks_acked: acked_ids.len() as u64,
        webhook_attempts: l.webhooks_sent,
        webhook_errors: l.webhook_errors,
        delivered: acked_ids.len() as u64,
        redeliveries,
        sends_accepted: sends.len() as u64,
        sends_sent: refs.len() as u64,
        send_errors: l.send_errors,
    }
}

#[derive(Debug)]
#[allow(dead_code)] // printed for docs/reliability.md
struct Figures {
    webhooks_acked: u64,
    webhook_attempts: u64,
    webhook_errors: u64,
    delivered: u64,
    redeliveries: u64,
    sends_accepted: u64,
    sends_sent: u64,
    send_errors: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_postgres_one_killed_mid_run() {
    let Some(_) = postgres_url() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide METABRIDGE_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: no PostgreSQL (set METABRIDGE_TEST_POSTGRES_URL)");
        return;
    };
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let database_url = fresh_database(Db::Postgres, &dir).await;
    let fernet = metabridge::crypto::vault::generate_key();
    let receiver = start_receiver().await;
    // Status webhooks go to the balancer, whose address is known only once the replicas' are.
    let sim = start_graph("http://127.0.0.1:9/unset").await;
    let mut replicas: Vec<Replica> = Vec::new();
    let mut replicas_ports = Vec::new();
    for _ in 0..3 {
        let r = Replica::new(dir.path(), &database_url, &fernet, &sim.url());
        replicas_ports.push(r.addr());
        replicas.push(r);
    }
    let lb = start_balancer(replicas_ports).await;
    let base = format!("http://{}", lb.addr);
    sim.set_webhook_url(&format!("{base}/webhooks/meta"));
    let http = reqwest::Client::new();
    for r in &mut replicas {
        r.start();
    }
    for r in &replicas {
        r.wait_ready(&http).await;
    }
    let (instance, secret, channels) = register(&http, &base, &receiver).await;
    let load = Load::new(&base, &instance, &secret, channels);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load.run(Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(4)).await;
    replicas[1].kill();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }
    let figures = check_invariants(&load, &receiver, &sim, "3 replicas").await;
    let served: Vec<u64> = lb
        .served
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    eprintln!(
        "three replicas, one SIGKILLed: {figures:?}; connections per replica {served:?}; settled {:.1}s after the kill",
        killed_at.elapsed().as_secs_f64()
    );
    assert!(
        served.iter().all(|n| *n > 0),
        "every replica served: {served:?}"
    );
    assert!(figures.webhooks_acked > 0 && figures.sends_accepted > 0);
}

both_backends!(twenty_sigkills_under_mixed_load_lose_and_duplicate_nothing);

async fn twenty_sigkills_under_mixed_load_lose_and_duplicate_nothing(db: Db) {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let database_url = fresh_database(db, &dir).await;
    let fernet = metabridge::crypto::vault::generate_key();
    let receiver = start_receiver().await;
    let sim = start_graph("http://127.0.0.1:9/unset").await;
    let mut replica = Replica::new(dir.path(), &database_url, &fernet, &sim.url());
    let base = replica.base();
    sim.set_webhook_url(&format!("{base}/webhooks/meta"));
    let http = reqwest::Client::new();
    replica.start();
    replica.wait_ready(&http).await;
    let (instance, secret, channels) = register(&http, &base, &receiver).await;
    let load = Load::new(&base, &instance, &secret, channels);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load.run(Arc::clone(&stop));
    let kills = 20;
    // The pauses between kills are random but replayable: the seed is printed.
    let (mut rng, seed) = seeded_rng("twenty_sigkills");
    for _ in 0..kills {
        let pause = rng.random_range(200..1200);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        replica.kill();
        replica.start();
        replica.wait_ready(&http).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }
    let figures = check_invariants(&load, &receiver, &sim, "20 SIGKILLs").await;
    eprintln!("{kills} SIGKILLs ({db:?}, seed {seed}): {figures:?}");
    assert!(figures.webhooks_acked > 0 && figures.sends_accepted > 0);
}

/// Two replicas on one PostgreSQL: a secret revoked through one stops working on the other at
/// once (its cache of verification keys lives 30 s; the NOTIFY drops it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_reaches_the_others_cache_at_once() {
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide METABRIDGE_TEST_POSTGRES_URL"
        );
        return;
    }
    let a = spawn_app(Db::Postgres).await;
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let b = spawn_app_on(
        Db::Postgres,
        dir,
        a.state.config.database_url.clone(),
        a.state.config.fernet_keys[0].expose().to_string(),
        |_| {},
    )
    .await;
    let t = a.tenant("Loja", None).await;
    let old = a.jwt(&t);
    let call = |base: String, token: String| {
        let http = a.http.clone();
        async move {
            http.get(format!("{base}/v1/events"))
                .bearer_auth(token)
                .send()
                .await
                .expect("get")
                .status()
                .as_u16()
        }
    };
    // B has verified (and cached) the instance's keys.
    assert_eq!(call(b.url.clone(), old.clone()).await, 200);
    let (s, _) = a
        .admin(
            reqwest::Method::POST,
            &format!(
                "/admin/v1/instances/{}/rotate-secret?grace_seconds=0",
                t.instance_id
            ),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(call(a.url.clone(), old.clone()).await, 401);
    // Well inside B's 30 s cache lifetime.
    wait_until(
        Duration::from_secs(5),
        "the other replica refuses the revoked secret",
        || {
            let c = call(b.url.clone(), old.clone());
            async move { c.await == 401 }
        },
    )
    .await;
    b.stop().await;
    a.stop().await;
}

/// Two replicas on one PostgreSQL: a send accepted with `wait=` by a replica that runs no
/// sender (API only, `run_workers = false`) is sent by the other replica, and its wait is
/// woken by the commit that recorded Meta's answer there (PostgreSQL `NOTIFY`, issue 17 item
/// 7), not found by reading the database again: before, every wait re-read the message every
/// 250 ms (no `ended` count existed); with the notice left out of the commit, the wait ends
/// `polled` after the 5 s safety re-read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_waiting_on_one_replica_is_woken_by_the_commit_on_another() {
    use crate::helpers::graph::{CUSTOMER, outbound};
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide METABRIDGE_TEST_POSTGRES_URL"
        );
        return;
    }
    // B: a full replica (sender included) with the tenant's WhatsApp number.
    let b = outbound(Db::Postgres, |_| {}).await;
    let graph_url = b.sim.url();
    // A: the same database, API only.
    let a = spawn_app_on(
        Db::Postgres,
        Arc::new(tempfile::tempdir().expect("tempdir")),
        b.app.state.config.database_url.clone(),
        b.app.state.config.fernet_keys[0].expose().to_string(),
        |c| {
            c.graph.base_url = graph_url;
            c.run_workers = false;
        },
    )
    .await;
    b.customer_writes(CUSTOMER).await;
    let started = Instant::now();
    let resp = a
        .http
        .post(format!("{}/v1/messages?wait=20", a.url))
        .bearer_auth(b.app.jwt(&b.tenant))
        .json(&json!({"channel_id": b.wa, "to": CUSTOMER,
            "message": {"type": "text", "body": "resposta"}}))
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.expect("json");
    let took = started.elapsed();
    assert_eq!(status, 202, "{v}");
    assert!(
        ["sent", "delivered", "read"].contains(&v["status"].as_str().unwrap_or("")),
        "Meta's answer in the response: {v}"
    );
    let ended = |how: &'static str| {
        let a = &a;
        async move {
            a.metric(&format!("metabridge_send_waits_total{{ended=\"{how}\"}}"))
                .await
        }
    };
    assert_eq!(
        (ended("notified").await, ended("polled").await),
        (1.0, 0.0),
        "A's wait was woken by B's commit (took {took:?})"
    );
    // B sent it (A has no sender), once.
    assert_eq!(b.sim.sends().len(), 1, "one Graph send, by B");
    a.stop().await;
    b.stop().await;
}
