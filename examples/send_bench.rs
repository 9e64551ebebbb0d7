//! Outbound benchmark: the release service sends through the in-process Graph simulator.
//!
//! ```sh
//! cargo build --release --bin metabridge --example send_bench && target/release/examples/send_bench [--seconds 10]
//! ```
//! Reports, in one run:
//! - `POST /v1/messages` accept throughput (64 connections, durable write before the 202)
//!   against a plain poem handler that answers 202 without reading the body (the baseline);
//! - achieved send rate vs the channel's limit at 80/s and 1,000/s (mean over the steady part
//!   and the busiest 1-second window, which must never exceed the limit), and for 50
//!   channels at 80/s at once;
//! - bridge overhead per send under the limit: from the start of `POST /v1/messages` to the
//!   simulator receiving the Graph call (p50/p99).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metabridge::sim::graph::{self, GraphSimOptions};
use poem::listener::TcpListener;
use poem::{Route, handler};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token-0123456789";
const TOKEN: &str = "EAAG-bench-token";

#[handler]
fn plain() -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::ACCEPTED)
        .body("")
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn jwt(instance: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": instance, "aud": "metabridge", "iat": now, "exp": now + 3000}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

struct Bench {
    client: reqwest::Client,
    base: String,
    token: String,
    seq: AtomicU64,
}

impl Bench {
    fn body(&self, channel: &str) -> Value {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        json!({"channel_id": channel, "to": format!("1555{:07}", n % 10_000_000), "ignore_window": true,
            "message": {"type": "text", "body": format!("bench message {n}")}})
    }

    async fn send(&self, url: &str, channel: &str) -> bool {
        self.client
            .post(url)
            .bearer_auth(&self.token)
            .json(&self.body(channel))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 202)
    }
}

/// Closed loop: `conns` clients POSTing for `secs`; returns requests/s accepted.
async fn accept_rate(b: &Arc<Bench>, url: &str, channel: &str, conns: usize, secs: u64) -> f64 {
    let ok = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (b, ok, url, channel) = (
            Arc::clone(b),
            Arc::clone(&ok),
            url.to_string(),
            channel.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if b.send(&url, &channel).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    ok.load(Ordering::Relaxed) as f64 / secs as f64
}

/// Achieved rate of Graph calls for `sender`: mean over the steady part (first and last
/// second dropped) and the busiest 1-second window.
fn achieved(times: &[Instant]) -> (f64, usize) {
    if times.len() < 3 {
        return (0.0, times.len());
    }
    let mut t = times.to_vec();
    t.sort();
    let (first, last) = (t[0], t[t.len() - 1]);
    let steady: Vec<&Instant> = t
        .iter()
        .filter(|x| **x >= first + Duration::from_secs(1) && **x <= last - Duration::from_secs(1))
        .collect();
    let span = (last - first).as_secs_f64() - 2.0;
    let mean = if span > 0.0 {
        steady.len() as f64 / span
    } else {
        0.0
    };
    let mut max_window = 0;
    let mut j = 0;
    for i in 0..t.len() {
        while t[i] - t[j] >= Duration::from_secs(1) {
            j += 1;
        }
        max_window = max_window.max(i - j + 1);
    }
    (mean, max_window)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    let secs: u64 = argv
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| argv.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    metabridge::crypto::install_tls_provider();
    let exe = std::env::current_exe()?;
    if let Ok(port) = std::env::var("SEND_BENCH_BASELINE_PORT") {
        poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(Route::new().at("/v1/messages", poem::post(plain)))
            .await?;
        return Ok(());
    }
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("metabridge"))
        .expect("target dir");
    anyhow::ensure!(
        bin.exists(),
        "build the service first ({} missing)",
        bin.display()
    );
    let base_port = free_port();
    let _baseline = Proc(
        Command::new(&exe)
            .env("SEND_BENCH_BASELINE_PORT", base_port.to_string())
            .stdout(Stdio::null())
            .spawn()?,
    );
    // Meta's side, in this process: no status webhooks (the send path alone is measured).
    let sim = graph::start(
        "127.0.0.1:0".parse()?,
        GraphSimOptions {
            webhook_url: None,
            app_secret: "bench".into(),
            status_delays: [None, None, None],
            reorder_statuses: false,
            print: false,
            ..Default::default()
        },
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let db = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/send-bench.db", dir.path().display()));
    let port = free_port();
    let _service = Proc(
        Command::new(&bin)
            .arg("serve")
            .env("DATABASE_URL", &db)
            .env(
                "METABRIDGE_FERNET_KEYS",
                metabridge::crypto::vault::generate_key(),
            )
            .env("META_APP_SECRET", "bench")
            .env("META_VERIFY_TOKEN", "v")
            .env("METABRIDGE_ADMIN_TOKEN", ADMIN)
            .env("METABRIDGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("METABRIDGE_DEV", "true")
            .env("META_GRAPH_URL", sim.url())
            // The bench measures the bridge, not the per-instance request limit.
            .env("METABRIDGE_API_RATE", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receiver = metabridge::sim::receiver::start("127.0.0.1:0".parse()?, false).await?;
    let v: Value = client
        .post(format!("{base}/admin/v1/instances"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench", "callback_url": receiver.url(), "event_types": ["message.failed"]}))
        .send()
        .await?
        .json()
        .await?;
    let instance = v["instance"]["id"].as_str().unwrap_or_default().to_string();
    let secret = v["signing_secret"].as_str().unwrap_or_default().to_string();
    let token = jwt(&instance, &secret);
    let mut channels = Vec::new();
    for i in 0..53u64 {
        let pnid = format!("{}", 106_000_000_000_000 + i);
        sim.add_channel("whatsapp", &pnid, Some("102000000000001"), TOKEN);
        let c: Value = client
            .post(format!("{base}/admin/v1/channels"))
            .bearer_auth(ADMIN)
            .json(&json!({"instance_id": instance, "kind": "whatsapp", "external_id": pnid, "waba_id": "102000000000001", "access_token": TOKEN}))
            .send()
            .await?
            .json()
            .await?;
        channels.push((c["id"].as_str().unwrap_or_default().to_string(), pnid));
    }
    let b = Arc::new(Bench {
        client: client.clone(),
        base: base.clone(),
        token: token.clone(),
        seq: AtomicU64::new(0),
    });
    let set_rate = |id: String, rate: u32| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            client
                .patch(format!("{base}/v1/channels/{id}"))
                .bearer_auth(token)
                .json(&json!({"rate_limit": rate}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    // One snapshot of the simulator's log, grouped by sender (the log is large: copy it once).
    let by_sender = || sim.send_times();
    let sends_of =
        |pnid: &str| -> Vec<Instant> { sim.send_times().remove(pnid).unwrap_or_default() };
    let url = format!("{}/v1/messages", b.base);
    let plain_url = format!("http://127.0.0.1:{base_port}/v1/messages");

    // 1. Accept throughput (channel 51 at 1,000/s absorbs the queue).
    set_rate(channels[52].0.clone(), 1000).await?;
    let baseline = accept_rate(&b, &plain_url, &channels[52].0, 64, secs).await;
    let accepted = accept_rate(&b, &url, &channels[52].0, 64, secs).await;
    let queued = (accepted * secs as f64).round() as usize;
    println!(
        "accept: POST /v1/messages {accepted:.0} req/s; plain handler {baseline:.0} req/s; ratio {:.2}",
        accepted / baseline
    );
    // The accept phase's backlog drains at the channel's limit (1,000/s).
    let deadline = Instant::now() + Duration::from_secs(600);
    while sends_of(&channels[52].1).len() < queued && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (drain_mean, drain_window) = achieved(&sends_of(&channels[52].1));
    println!(
        "backlog of {queued} on a 1,000/s channel: drained at {drain_mean:.1}/s, busiest 1 s window {drain_window}"
    );

    // 2. One channel at 80/s and at 1,000/s: queue 2.5 s ahead of the limit continuously.
    for (idx, rate) in [(0usize, 80u32), (1, 1000)] {
        let (id, pnid) = channels[idx].clone();
        set_rate(id.clone(), rate).await?;
        let total = u64::from(rate) * secs;
        let mut tasks = Vec::new();
        let per = 32;
        for w in 0..per {
            let (b, url, id) = (Arc::clone(&b), url.clone(), id.clone());
            let n = total / per + u64::from(w < (total % per) as usize as u64);
            tasks.push(tokio::spawn(async move {
                for _ in 0..n {
                    b.send(&url, &id).await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let deadline = Instant::now() + Duration::from_secs(secs * 3 + 30);
        while (sends_of(&pnid).len() as u64) < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (mean, max_window) = achieved(&sends_of(&pnid));
        println!(
            "rate limit {rate}/s: {} sent, steady mean {mean:.1}/s ({:+.2}% of the limit), busiest 1 s window {max_window}",
            sends_of(&pnid).len(),
            (mean / f64::from(rate) - 1.0) * 100.0
        );
    }

    // 3. 50 channels at 80/s at once.
    let fifty: Vec<(String, String)> = channels[2..52].to_vec();
    for (id, _) in &fifty {
        set_rate(id.clone(), 80).await?;
    }
    let snapshot = by_sender();
    let already: HashMap<String, usize> = fifty
        .iter()
        .map(|(_, p)| (p.clone(), snapshot.get(p).map_or(0, Vec::len)))
        .collect();
    let mut tasks = Vec::new();
    for (id, _) in &fifty {
        for _ in 0..4 {
            let (b, url, id) = (Arc::clone(&b), url.clone(), id.clone());
            let n = 80 * secs / 4;
            tasks.push(tokio::spawn(async move {
                for _ in 0..n {
                    b.send(&url, &id).await;
                }
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let want = 80 * secs as usize;
    let deadline = Instant::now() + Duration::from_secs(secs * 3 + 60);
    loop {
        let snap = by_sender();
        let done = fifty
            .iter()
            .all(|(_, p)| snap.get(p).map_or(0, Vec::len) - already[p] >= want);
        if done || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let mut means = Vec::new();
    let mut worst_window = 0;
    let mut snap = by_sender();
    for (_, p) in &fifty {
        let mut t = snap.remove(p).unwrap_or_default();
        t.sort();
        let t = t.split_off(already[p]);
        let (mean, w) = achieved(&t);
        means.push(mean);
        worst_window = worst_window.max(w);
    }
    means.sort_by(|a, b| a.total_cmp(b));
    println!(
        "50 channels at 80/s: per-channel steady mean min {:.1} / median {:.1} / max {:.1} per s; busiest 1 s window of any channel {worst_window}",
        means[0],
        percentile(&means, 0.5),
        means[means.len() - 1]
    );

    // 4. Overhead under the limit: 20 sends/s on an 80/s channel, POST start → Graph call.
    let (id, pnid) = channels[0].clone();
    let mut starts: Vec<(String, Instant)> = Vec::new();
    for _ in 0..(20 * secs) {
        let t0 = Instant::now();
        let r = b
            .client
            .post(&url)
            .bearer_auth(&b.token)
            .json(&b.body(&id))
            .send()
            .await?;
        let v: Value = r.json().await?;
        starts.push((v["id"].as_str().unwrap_or_default().to_string(), t0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let arrivals: HashMap<String, Instant> = sim
        .sends()
        .into_iter()
        .filter(|r| r.sender_id.as_deref() == Some(pnid.as_str()))
        .filter_map(|r| {
            Some((
                r.body["biz_opaque_callback_data"].as_str()?.to_string(),
                r.at,
            ))
        })
        .collect();
    let mut lat: Vec<f64> = starts
        .iter()
        .filter_map(|(id, t0)| {
            arrivals
                .get(id)
                .map(|a| (a.saturating_duration_since(*t0)).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "overhead under the limit (POST start → Graph call, {} sends): p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    drop(receiver);
    Ok(())
}
