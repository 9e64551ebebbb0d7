//! Ingest benchmark: drives signed webhooks at a running metabridge over loopback and, in the
//! same run, at a plain poem handler that answers 200 without reading the body and at the
//! durable baseline (`bench/baseline.rs`: HMAC, JSON parse, group commit, answer after commit).
//!
//! ```sh
//! cargo build --release --bin metabridge --example bench
//! target/release/examples/bench [--seconds 10] [--connections 64] [--database-url URL]
//! target/release/examples/bench --backlog 100000 --conversations 24 [--database-url URL]
//! target/release/examples/bench --backlog 100000 --conversations 500 --kill 2 --database-url URL
//! target/release/examples/bench --smoke        # CI: every phase briefly, exit 0 if it works
//! target/release/examples/bench --secure-delete [--seconds 10]   # SQLite secure_delete on vs off
//! ```
//! Reports requests/s for single-message, 10-message batch and status payloads (64
//! connections, deliveries flowing to a receiver at the same time), the ratios to the plain
//! handler and to the durable baseline of the backend in use, ack latency p50/p99 at fixed
//! rates of 200/s and 1,000/s, end-to-end latency (Meta POST → receiver has the event) at
//! 1,000/s, and the service's peak RSS. `--backlog` measures the drain of a backlog after a
//! restart (`bench/backlog.rs`).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metabridge::crypto::signature;
use metabridge::sim::payloads;
use poem::listener::TcpListener;
use poem::{Route, handler};

#[path = "bench/backlog.rs"]
mod backlog;
#[path = "bench/baseline.rs"]
mod baseline;
#[path = "bench/secure_delete.rs"]
mod secure_delete;

const SECRET: &str = "bench-app-secret";
const ADMIN: &str = "bench-admin-token-0123456789";
const WABA: &str = "102000000000001";
const PNID: &str = "106000000000001";

#[handler]
fn plain() -> &'static str {
    ""
}

struct Args {
    seconds: u64,
    connections: usize,
    database_url: Option<String>,
    /// `--replicas 1,2,3`: the scale-out run (PostgreSQL only).
    replicas: Vec<usize>,
    /// `--burst N`: N distinct webhooks at once (all connections), then until all delivered.
    burst: Option<usize>,
    /// `--backlog N`: N events stored with the workers off, then the drain after a restart.
    backlog: Option<u64>,
    /// `--conversations C`: contacts the backlog is spread over.
    conversations: u64,
    /// `--drain-limit S`: the backlog drain is measured for at most S seconds.
    drain_limit: u64,
    /// `--kill K`: the backlog is drained by K + 1 replicas, K of them killed mid-drain.
    kill: usize,
    /// `--smoke`: every phase for about a second and a small backlog (CI: it still works).
    smoke: bool,
    /// `--secure-delete`: SQLite with `secure_delete` on vs off (`bench/secure_delete.rs`).
    secure_delete: bool,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 10,
        connections: 64,
        database_url: None,
        replicas: Vec::new(),
        burst: None,
        backlog: None,
        conversations: 24,
        drain_limit: 600,
        kill: 0,
        smoke: false,
        secure_delete: false,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        match v[i].as_str() {
            "--seconds" => a.seconds = v.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(10),
            "--connections" => {
                a.connections = v.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(64)
            }
            "--database-url" => a.database_url = v.get(i + 1).cloned(),
            "--burst" => a.burst = v.get(i + 1).and_then(|s| s.parse().ok()),
            "--backlog" => a.backlog = v.get(i + 1).and_then(|s| s.parse().ok()),
            "--conversations" => {
                a.conversations = v.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(24)
            }
            "--kill" => a.kill = v.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(0),
            "--drain-limit" => {
                a.drain_limit = v.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(600)
            }
            "--smoke" => {
                a.smoke = true;
                a.seconds = 1;
                i += 1;
                continue;
            }
            "--secure-delete" => {
                a.secure_delete = true;
                i += 1;
                continue;
            }
            "--replicas" => {
                a.replicas = v
                    .get(i + 1)
                    .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                    .unwrap_or_default()
            }
            _ => {}
        }
        i += 2;
    }
    a
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

type Body = (bytes::Bytes, String);

/// A signed body factory: distinct ids for every call.
struct Bodies {
    kind: &'static str,
    next: AtomicU64,
}

impl Bodies {
    fn new(kind: &'static str, start: u64) -> Self {
        Self {
            kind,
            next: AtomicU64::new(start),
        }
    }
    fn make(&self) -> (Body, String) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let v = match self.kind {
            "batch" => payloads::whatsapp_text_batch(WABA, PNID, seq * 10, 10, 500),
            "status" => payloads::whatsapp_status(WABA, PNID, seq),
            _ => payloads::whatsapp_text_batch(WABA, PNID, seq, 1, 500),
        };
        let id = v["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let bytes = payloads::meta_bytes(&v);
        let sig = signature::sign(SECRET, &bytes);
        ((bytes::Bytes::from(bytes), sig), id)
    }
    /// Pre-builds `n` bodies so that building them is not measured.
    fn pool(&self, n: usize) -> Vec<Body> {
        (0..n).map(|_| self.make().0).collect()
    }
}

/// Closed loop: `conns` workers send back to back for `secs`; returns (ok, errors, latencies).
async fn closed_loop(
    client: &reqwest::Client,
    urls: &[String],
    pool: Arc<Vec<Body>>,
    conns: usize,
    secs: u64,
) -> (u64, u64, Vec<Duration>) {
    let ok = Arc::new(AtomicU64::new(0));
    let err = Arc::new(AtomicU64::new(0));
    let idx = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for worker in 0..conns {
        let (client, url, pool, ok, err, idx, lat) = (
            client.clone(),
            // Workers are spread evenly over the URLs (replicas), as a load balancer would.
            urls[worker % urls.len()].clone(),
            Arc::clone(&pool),
            ok.clone(),
            err.clone(),
            idx.clone(),
            lat.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while Instant::now() < end {
                let i = idx.fetch_add(1, Ordering::Relaxed) % pool.len();
                let (body, sig) = &pool[i];
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("x-hub-signature-256", sig.as_str())
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().as_u16() == 200 => {
                        let _ = resp.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        local.push(t.elapsed());
                    }
                    _ => {
                        err.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut l) = lat.lock() {
                l.extend(local);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut l = std::mem::take(&mut *lat.lock().expect("lat"));
    l.sort();
    (ok.load(Ordering::Relaxed), err.load(Ordering::Relaxed), l)
}

/// End to end at 1,000/s for `secs`: the instant each webhook leaves → its event's arrival at
/// the receiver (matched by wamid); prints one row.
async fn end_to_end(
    client: &reqwest::Client,
    url: &str,
    receiver: &metabridge::sim::receiver::Receiver,
    secs: u64,
) {
    let e2e_bodies = Bodies::new("single", 60_000_000);
    let (_, sent, _) = fixed_rate(client, url, &e2e_bodies, 1000, secs).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let arrivals: HashMap<String, Instant> = receiver
        .state
        .accepted()
        .into_iter()
        .filter_map(|ev| Some((ev.body["raw"]["id"].as_str()?.to_string(), ev.arrived)))
        .collect();
    let mut e2e: Vec<Duration> = sent
        .iter()
        .filter_map(|(id, t)| arrivals.get(id).map(|a| a.saturating_duration_since(*t)))
        .collect();
    e2e.sort();
    println!(
        "\n| end to end at 1,000/s | p50 ms | p99 ms | delivered |\n|---|---|---|---|\n| Meta POST → receiver | {:.2} | {:.2} | {}/{} |",
        percentile(&e2e, 0.5),
        percentile(&e2e, 0.99),
        e2e.len(),
        sent.len()
    );
}

/// Open loop at a fixed rate; returns ack latencies and (id, send instant) pairs.
async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    bodies: &Bodies,
    rate: u64,
    secs: u64,
) -> (Vec<Duration>, Vec<(String, Instant)>, u64) {
    let n = rate * secs;
    let prepared: Vec<(Body, String)> = (0..n).map(|_| bodies.make()).collect();
    let start = Instant::now() + Duration::from_millis(50);
    let lat = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
    let sent = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(n as usize);
    for (i, ((body, sig), id)) in prepared.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, lat, sent, errors) = (
            client.clone(),
            url.to_string(),
            lat.clone(),
            sent.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            if let Ok(mut s) = sent.lock() {
                s.push((id, t));
            }
            match client
                .post(&url)
                .header("x-hub-signature-256", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status().as_u16() == 200 => {
                    if let Ok(mut l) = lat.lock() {
                        l.push(t.elapsed());
                    }
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut l = std::mem::take(&mut *lat.lock().expect("lat"));
    l.sort();
    let s = std::mem::take(&mut *sent.lock().expect("sent"));
    (l, s, errors.load(Ordering::Relaxed))
}

/// Starts `metabridge serve` on a free port; every `METABRIDGE_*` variable of this process is
/// passed through, `env` set over them. Returns the process and its base URL.
fn spawn_service(
    bin: &std::path::Path,
    db: &str,
    fernet: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<(Proc, String)> {
    let port = free_port();
    let child = Command::new(bin)
        .arg("serve")
        .envs(env.iter().copied())
        .env("DATABASE_URL", db)
        .env("METABRIDGE_FERNET_KEYS", fernet)
        .env("META_APP_SECRET", SECRET)
        .env("META_VERIFY_TOKEN", "v")
        .env("METABRIDGE_ADMIN_TOKEN", ADMIN)
        .env("METABRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("METABRIDGE_ALLOW_PRIVATE_CALLBACKS", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    Ok((Proc(child), format!("http://127.0.0.1:{port}")))
}

/// Sums and counts of the service's group-commit metrics, read from `/metrics`: what one run
/// cost per commit (the difference of two readings).
#[derive(Debug, Default, Clone, Copy)]
struct CommitStats {
    /// (sum, count) of `ingest_batch_requests` and of `group_commit_seconds` per step.
    requests: (f64, f64),
    begin: (f64, f64),
    write: (f64, f64),
    commit: (f64, f64),
}

impl CommitStats {
    async fn read(client: &reqwest::Client, base: &str) -> Self {
        // The service gets this process's METABRIDGE_* variables, the metrics token with them.
        let mut get = client.get(format!("{base}/metrics"));
        if let Some(token) = std::env::var("METABRIDGE_METRICS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
        {
            get = get.bearer_auth(token);
        }
        let text = match get.send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let value = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let step = |s: &str| {
            (
                value(&format!(
                    "metabridge_group_commit_seconds_sum{{step=\"{s}\"}}"
                )),
                value(&format!(
                    "metabridge_group_commit_seconds_count{{step=\"{s}\"}}"
                )),
            )
        };
        Self {
            requests: (
                value("metabridge_ingest_batch_requests_sum"),
                value("metabridge_ingest_batch_requests_count"),
            ),
            begin: step("begin"),
            write: step("write"),
            commit: step("commit"),
        }
    }

    /// "commits/s, webhook requests per commit, mean ms of begin / write / commit" between two
    /// readings `secs` apart.
    fn since(&self, before: &Self, secs: f64) -> String {
        let d = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0, a.1 - b.1);
        let ms = |(sum, n): (f64, f64)| if n > 0.0 { sum / n * 1000.0 } else { f64::NAN };
        let (rs, rn) = d(self.requests, before.requests);
        let commits = d(self.commit, before.commit).1;
        format!(
            "{:.0} | {:.1} | {:.2} / {:.2} / {:.2}",
            commits / secs,
            if rn > 0.0 { rs / rn } else { f64::NAN },
            ms(d(self.begin, before.begin)),
            ms(d(self.write, before.write)),
            ms(d(self.commit, before.commit)),
        )
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An instance whose callback is `receiver`, and the WhatsApp channel the bodies address.
async fn register(
    client: &reqwest::Client,
    base: &str,
    receiver: &metabridge::sim::receiver::Receiver,
) -> anyhow::Result<()> {
    let v: serde_json::Value = client
        .post(format!("{base}/admin/v1/instances"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"name": "bench", "callback_url": receiver.url()}))
        .send()
        .await?
        .json()
        .await?;
    let instance = v["instance"]["id"].as_str().unwrap_or_default().to_string();
    receiver
        .state
        .add_instance(&instance, v["signing_secret"].as_str().unwrap_or_default());
    client
        .post(format!("{base}/admin/v1/channels"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"instance_id": instance, "kind": "whatsapp", "external_id": PNID, "waba_id": WABA, "access_token": "t"}))
        .send()
        .await?;
    Ok(())
}

/// A new, empty PostgreSQL database next to the one `admin_url` names; returns its URL.
async fn fresh_postgres(admin_url: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// The scale-out run: for each replica count, a fresh database, that many `serve` processes
/// sharing it, the generator's connections spread evenly over them (what a load balancer
/// does), single-message webhooks in a closed loop with deliveries flowing, then the time
/// until the receiver has every acknowledged event. Ratios against the plain handler and
/// against one replica, measured in the same run.
async fn replicas_run(
    args: &Args,
    bin: &std::path::Path,
    client: &reqwest::Client,
    plain_url: &str,
) -> anyhow::Result<()> {
    let admin_url = args
        .database_url
        .clone()
        .filter(|u| u.starts_with("postgres"))
        .ok_or_else(|| anyhow::anyhow!("--replicas needs --database-url postgres://…"))?;
    let (secs, conns) = (args.seconds, args.connections);
    let single = Bodies::new("single", 1);
    let pool = Arc::new(single.pool(400_000));
    let _ = closed_loop(
        client,
        &[plain_url.to_string()],
        Arc::clone(&pool),
        conns,
        2,
    )
    .await;
    let (b_ok, _, _) = closed_loop(
        client,
        &[plain_url.to_string()],
        Arc::clone(&pool),
        conns,
        secs,
    )
    .await;
    let baseline = b_ok as f64 / secs as f64;
    println!(
        "# scale-out on PostgreSQL ({conns} connections, {secs} s per run)\n\nplain poem handler: {baseline:.0} requests/s\n"
    );
    println!(
        "| replicas | webhooks/s | ratio to plain | ratio to 1 replica | p50 ms | p99 ms | errors | delivered/s (drain) | peak RSS per replica MB |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut first: Option<f64> = None;
    for (round, &n) in args.replicas.iter().enumerate() {
        let db = fresh_postgres(&admin_url, &format!("mb_bench_replicas_{n}")).await?;
        let fernet = metabridge::crypto::vault::generate_key();
        let mut procs = Vec::new();
        let mut urls = Vec::new();
        for _ in 0..n.max(1) {
            let (p, base) = spawn_service(bin, &db, &fernet, &[])?;
            wait_ready(client, &base).await;
            urls.push(base);
            procs.push(p);
        }
        let receiver = metabridge::sim::receiver::start("127.0.0.1:0".parse()?, false).await?;
        register(client, &urls[0], &receiver).await?;
        let hooks: Vec<String> = urls.iter().map(|u| format!("{u}/webhooks/meta")).collect();
        // Each round sends ids no earlier round used (the databases are fresh anyway).
        let bodies =
            Arc::new(Bodies::new("single", 100_000_000 * (round as u64 + 1)).pool(400_000));
        let _ = closed_loop(
            client,
            &hooks,
            Arc::new(bodies[..20_000].to_vec()),
            conns,
            2,
        )
        .await;
        let (ok, err, lat) = closed_loop(
            client,
            &hooks,
            Arc::new(bodies[20_000..].to_vec()),
            conns,
            secs,
        )
        .await;
        let rps = ok as f64 / secs as f64;
        let one = *first.get_or_insert(rps);
        // Drain: every acknowledged event (warm-up included) reaches the receiver.
        let drain = Instant::now();
        let before = receiver.state.unique_accepted();
        let mut last = before;
        let mut still = 0;
        while still < 20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = receiver.state.unique_accepted();
            if now == last {
                still += 1;
            } else {
                still = 0;
                last = now;
            }
        }
        let drained = (last - before) as f64 / (drain.elapsed().as_secs_f64() - 5.0).max(0.25);
        let rss: Vec<String> = procs
            .iter()
            .map(|p| format!("{:.0}", peak_rss_mb(p.0.id())))
            .collect();
        println!(
            "| {n} | {rps:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {err} | {drained:.0} | {} |",
            rps / baseline,
            rps / one,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            rss.join(" / ")
        );
        drop(procs);
    }
    Ok(())
}

/// `--burst N`: N distinct single-message webhooks sent as fast as `conns` connections allow
/// (each retried until it gets a 200, as Meta does); then waits until the receiver has every
/// acknowledged one. Reports sent / acknowledged / delivered / duplicated / lost.
async fn burst_run(
    client: &reqwest::Client,
    url: &str,
    receiver: &metabridge::sim::receiver::Receiver,
    n: usize,
    conns: usize,
) -> anyhow::Result<()> {
    let bodies = Bodies::new("single", 70_000_000);
    let prepared: Arc<Vec<(Body, String)>> = Arc::new((0..n).map(|_| bodies.make()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, url, prepared, next, retries) = (
            client.clone(),
            url.to_string(),
            Arc::clone(&prepared),
            Arc::clone(&next),
            Arc::clone(&retries),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(((body, sig), _)) = prepared.get(i) else {
                    return;
                };
                loop {
                    let r = client
                        .post(&url)
                        .header("x-hub-signature-256", sig.as_str())
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status().as_u16() == 200) {
                        break;
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let acked_in = start.elapsed();
    let ids: std::collections::HashSet<&str> = prepared.iter().map(|(_, id)| id.as_str()).collect();
    let delivered = || {
        let mut seen: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        for ev in receiver.state.accepted() {
            if let Some(id) = ev.body["raw"]["id"].as_str()
                && ids.contains(id)
            {
                seen.entry(id.to_string())
                    .or_default()
                    .insert(ev.event_id.clone());
            }
        }
        seen
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = delivered();
    while seen.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = delivered();
    }
    let all_in = start.elapsed();
    let duplicated = seen.values().filter(|ev| ev.len() > 1).count();
    println!(
        "| burst | sent | acknowledged | retried | delivered | duplicated (two event ids) | lost | all acknowledged | all delivered |\n|---|---|---|---|---|---|---|---|---|\n| {conns} connections | {n} | {n} | {} | {} | {duplicated} | {} | {:.1} s | {:.1} s |",
        retries.load(Ordering::Relaxed),
        seen.len(),
        n - seen.len(),
        acked_in.as_secs_f64(),
        all_in.as_secs_f64()
    );
    Ok(())
}

/// Starts the durable baseline (a child process of this example) on `db`; returns the process
/// and its webhook URL once it answers.
async fn spawn_durable(
    exe: &std::path::Path,
    client: &reqwest::Client,
    db: &str,
) -> anyhow::Result<(Proc, String)> {
    let port = free_port();
    let child = Proc(
        Command::new(exe)
            .env(baseline::PORT_ENV, port.to_string())
            .env(baseline::URL_ENV, db)
            .stdout(Stdio::null())
            .spawn()?,
    );
    let url = format!("http://127.0.0.1:{port}/webhooks/meta");
    // Unsigned, so refused (401) once it listens; nothing is stored.
    for _ in 0..400 {
        if client.post(&url).send().await.is_ok() {
            return Ok((child, url));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the durable baseline did not start")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    metabridge::crypto::install_tls_provider();
    // The baselines, in their own runtime thread pool inside this process, would share our
    // cores unevenly; they run as child processes of this same example instead.
    if let Ok(port) = std::env::var("BENCH_BASELINE_PORT") {
        poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(Route::new().at("/webhooks/meta", poem::post(plain)))
            .await?;
        return Ok(());
    }
    if let (Ok(port), Ok(url)) = (
        std::env::var(baseline::PORT_ENV),
        std::env::var(baseline::URL_ENV),
    ) {
        return baseline::serve(&port, &url, SECRET).await;
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("metabridge"))
        .expect("target dir");
    anyhow::ensure!(
        bin.exists(),
        "build the service first: cargo build --release ({} missing)",
        bin.display()
    );
    let dir = tempfile::tempdir()?;
    let postgres = args
        .database_url
        .clone()
        .filter(|u| u.starts_with("postgres"));
    // A database of its own for a helper run: a file in the temporary directory, or a fresh
    // PostgreSQL database next to the one given.
    let own_db = |name: &'static str| {
        let postgres = postgres.clone();
        let path = dir.path().join(format!("{name}.db"));
        async move {
            match postgres {
                Some(url) => fresh_postgres(&url, name).await,
                None => Ok(format!("sqlite://{}", path.display())),
            }
        }
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    if args.secure_delete {
        return secure_delete::run(
            &bin,
            dir.path(),
            &client,
            args.seconds,
            args.connections,
            args.smoke,
        )
        .await;
    }
    if let Some(n) = args.backlog {
        let db = own_db("mb_bench_backlog").await?;
        let limit = Duration::from_secs(args.drain_limit);
        return backlog::run(&bin, &db, &client, n, args.conversations, limit, args.kill).await;
    }

    let base_port = free_port();
    let _baseline = Proc(
        Command::new(&exe)
            .env("BENCH_BASELINE_PORT", base_port.to_string())
            .stdout(Stdio::null())
            .spawn()?,
    );
    let plain_url = format!("http://127.0.0.1:{base_port}/webhooks/meta");
    if !args.replicas.is_empty() {
        return replicas_run(&args, &bin, &client, &plain_url).await;
    }
    // The service on a fresh database too (a second run on the same one would be duplicates).
    let db = own_db("mb_bench_service").await?;
    let (_durable, durable_url) =
        spawn_durable(&exe, &client, &own_db("mb_bench_baseline").await?).await?;
    let fernet = metabridge::crypto::vault::generate_key();
    let (service, base) = spawn_service(&bin, &db, &fernet, &[])?;
    let pid = service.0.id();
    let url = format!("{base}/webhooks/meta");
    wait_ready(&client, &base).await;
    let receiver = metabridge::sim::receiver::start("127.0.0.1:0".parse()?, false).await?;
    register(&client, &base, &receiver).await?;

    if let Some(n) = args.burst {
        return burst_run(&client, &url, &receiver, n, args.connections).await;
    }
    let secs = args.seconds;
    let conns = args.connections;
    // `--smoke`: warm-ups of one second and fewer prepared bodies (a debug build makes them
    // slowly); the same phases otherwise.
    let (warmup, scale) = if args.smoke { (1, 10) } else { (2, 1) };
    let backend = if db.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!(
        "# metabridge ingest benchmark ({conns} connections, {secs} s per run, database {})\n",
        if db.starts_with("sqlite") {
            "SQLite, synchronous=FULL"
        } else {
            "PostgreSQL"
        }
    );
    let single = Bodies::new("single", 1);
    let pool = Arc::new(single.pool(400_000 / scale));
    let batches = Arc::new(Bodies::new("batch", 20_000_000).pool(100_000 / scale));
    let run = async |target: &str, pool: &Arc<Vec<Body>>, secs: u64| {
        let urls = [target.to_string()];
        closed_loop(&client, &urls, Arc::clone(pool), conns, secs).await
    };
    // Warm-up, then the plain handler.
    let _ = run(&plain_url, &pool, warmup).await;
    let (b_ok, b_err, b_lat) = run(&plain_url, &pool, secs).await;
    let baseline = b_ok as f64 / secs as f64;
    println!(
        "| run | requests/s | ratio to plain handler | ratio to durable baseline | p50 ms | p99 ms | errors | commits/s | requests per commit | begin / write / commit ms |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    println!(
        "| plain poem handler (no body read) | {baseline:.0} | 1.00 | | {:.2} | {:.2} | {b_err} | | | |",
        percentile(&b_lat, 0.5),
        percentile(&b_lat, 0.99)
    );
    // The durable baseline, with the same bodies the service gets next.
    let _ = run(&durable_url, &pool, warmup).await;
    let mut durable = [0.0; 2];
    for (i, (name, p)) in [("single message", &pool), ("10-message batch", &batches)]
        .into_iter()
        .enumerate()
    {
        let (ok, err, lat) = run(&durable_url, p, secs).await;
        let rps = ok as f64 / secs as f64;
        durable[i] = rps;
        let events = if i == 1 {
            format!(" ({:.0} events/s)", rps * 10.0)
        } else {
            String::new()
        };
        println!(
            "| durable baseline, {backend}: {name} | {rps:.0}{events} | {:.2} | 1.00 | {:.2} | {:.2} | {err} | | | |",
            rps / baseline,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
    }
    let warm = Arc::new(Bodies::new("single", 10_000_000).pool(20_000 / scale));
    let _ = closed_loop(&client, std::slice::from_ref(&url), warm, conns, warmup).await;
    for (name, kind) in [
        ("single message", "single"),
        ("10-message batch", "batch"),
        ("status", "status"),
    ] {
        let p = match kind {
            "single" => Arc::clone(&pool),
            "batch" => Arc::clone(&batches),
            _ => Arc::new(Bodies::new(kind, 30_000_000).pool(300_000 / scale)),
        };
        let before = CommitStats::read(&client, &base).await;
        let (ok, err, lat) = closed_loop(&client, std::slice::from_ref(&url), p, conns, secs).await;
        let commits = CommitStats::read(&client, &base)
            .await
            .since(&before, secs as f64);
        let rps = ok as f64 / secs as f64;
        // Batches against the baseline's batches (events/s), the rest against its single
        // message requests/s.
        let (events, reference) = if kind == "batch" {
            (format!(" ({:.0} events/s)", rps * 10.0), durable[1])
        } else {
            (String::new(), durable[0])
        };
        println!(
            "| {name} | {rps:.0}{events} | {:.2} | {:.2} | {:.2} | {:.2} | {err} | {commits} |",
            rps / baseline,
            rps / reference,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
    }
    // Let deliveries drain before the latency runs (they are measured on a quiet service).
    // (`--smoke`: at most 5 s; the backlog run at the end checks the deliveries.)
    // With `METABRIDGE_WORKERS=false` (ingest only) nothing is delivered: no wait.
    let workers_off = std::env::var("METABRIDGE_WORKERS").is_ok_and(|v| v == "false");
    let drain_start = Instant::now();
    let polls = match (workers_off, args.smoke) {
        (true, _) => 0,
        (false, true) => 10,
        (false, false) => 1200,
    };
    for _ in 0..polls {
        let v: serde_json::Value = client
            .get(format!("{base}/admin/v1/events?state=pending&limit=1"))
            .bearer_auth(ADMIN)
            .send()
            .await?
            .json()
            .await?;
        if v["events"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if workers_off {
        println!("\n(ingest only: the throughput runs' events stay pending, not delivered)");
    } else {
        println!(
            "\n(backlog of the throughput runs delivered in {:.0} s)",
            drain_start.elapsed().as_secs_f64()
        );
    }
    println!("\n| fixed rate | ack p50 ms | ack p99 ms | errors |\n|---|---|---|---|");
    let fixed = Bodies::new("single", 50_000_000);
    for rate in [200u64, 1000] {
        let (lat, _, err) = fixed_rate(&client, &url, &fixed, rate, secs).await;
        println!(
            "| {rate}/s | {:.2} | {:.2} | {err} |",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
    }
    // End to end at 1,000/s: send instant → arrival at the receiver (not when ingest only).
    if workers_off {
        println!("\n(ingest only: no end-to-end run)");
    } else {
        end_to_end(&client, &url, &receiver, secs).await;
    }
    println!("\npeak RSS of the service: {:.1} MB", peak_rss_mb(pid));
    drop(service);
    if args.smoke {
        println!();
        let db = own_db("mb_bench_backlog").await?;
        backlog::run(&bin, &db, &client, 2_000, 24, Duration::from_secs(120), 0).await?;
        if postgres.is_some() {
            // Two replicas, one killed mid-drain: the survivor takes its conversations over once
            // their leases run out (about 25 s with the default delivery timeout).
            println!();
            let db = own_db("mb_bench_backlog").await?;
            backlog::run(&bin, &db, &client, 2_000, 24, Duration::from_secs(120), 1).await?;
        }
    }
    Ok(())
}
