//! `--backlog N --conversations C`: recovery after an outage. The service runs ingest only
//! (`METABRIDGE_WORKERS=false`) while N single-message events spread over C contacts (one
//! conversation each) are acknowledged; it is stopped with SIGTERM and the same binary is
//! started again on the same database with its workers on, the receiver answering at once.
//! Measured: seconds from the restart until the receiver has all N, and from what the receiver
//! recorded (independently of the service): duplicates, and whether each contact's events
//! arrived in the order they were acknowledged.
//!
//! `--kill K` (PostgreSQL): K + 1 replicas drain the backlog together and, once a fifth of it has
//! arrived, K of them are killed with SIGKILL in the middle of their deliveries. The survivor
//! takes over their conversations when the leases of the dead replicas' claims run out
//! (`METABRIDGE_DELIVERY_TIMEOUT_MS` + 15 s); the row also gives the drain after the kill. A
//! duplicate is possible there (a request the receiver answered whose outcome the dead replica
//! never committed is delivered again: at least once), a gap or a reordering is not.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use metabridge::crypto::signature;
use metabridge::sim::payloads;
use metabridge::sim::receiver::Receiver;

use super::{ADMIN, PNID, Proc, SECRET, WABA};

/// Events per webhook while the backlog is loaded.
const PER_WEBHOOK: u64 = 100;

/// The index of an event from its wamid. [`load`] sends event `g` (0-based) as message `i` of
/// the webhook whose first event is `seq` (`g = seq + i`); `whatsapp_text_batch` gives that
/// message the wamid `wamid.SIM{seq:012}X{i:04}` and the contact `g % C`.
fn event_index(wamid: &str) -> Option<u64> {
    let rest = wamid.strip_prefix("wamid.SIM")?;
    let (seq, i) = rest.split_once('X')?;
    Some(seq.parse::<u64>().ok()? + i.parse::<u64>().ok()?)
}

/// Posts one webhook until it is answered 200 (as Meta retries).
async fn post(client: &reqwest::Client, url: &str, seq: u64, n: u64, contacts: u64) {
    let v = payloads::whatsapp_text_batch(WABA, PNID, seq, n as usize, contacts);
    let body = bytes::Bytes::from(payloads::meta_bytes(&v));
    let sig = signature::sign(SECRET, &body);
    loop {
        let r = client
            .post(url)
            .header("x-hub-signature-256", sig.as_str())
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if r.is_ok_and(|r| r.status().as_u16() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Loads `n` events over `contacts` conversations so that each conversation's order is the
/// order of the event index: webhooks of `PER_WEBHOOK` consecutive events (contacts round
/// robin, so a contact may appear several times in one webhook, in index order), one after the
/// other, each sent once the previous one was acknowledged. One connection: a contact's events
/// are never in two requests in flight, whose order the service could not know.
async fn load(client: &reqwest::Client, url: &str, n: u64, contacts: u64) {
    let mut seq = 0;
    while seq < n {
        let k = PER_WEBHOOK.min(n - seq);
        post(client, url, seq, k, contacts).await;
        seq += k;
    }
}

/// SIGTERM, then waits up to 30 s for the process to exit.
fn terminate(service: &mut Proc) -> anyhow::Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(service.0.id().to_string())
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if service.0.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("the service did not exit within 30 s of SIGTERM")
}

/// What the receiver recorded for the backlog: (distinct events, duplicates, order kept).
fn check(receiver: &Receiver, contacts: u64) -> (usize, usize, bool) {
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut ordered = true;
    for ev in receiver.state.accepted() {
        let Some(g) = ev.body["raw"]["id"].as_str().and_then(event_index) else {
            continue;
        };
        if !seen.insert(g) {
            duplicates += 1;
            continue;
        }
        if last
            .insert(g % contacts, g)
            .is_some_and(|before| before > g)
        {
            ordered = false;
        }
    }
    (seen.len(), duplicates, ordered)
}

/// The whole run; prints the table row. The drain is measured for at most `limit` (then the
/// row says how many arrived and the rate until then).
pub async fn run(
    bin: &std::path::Path,
    db: &str,
    client: &reqwest::Client,
    n: u64,
    contacts: u64,
    limit: Duration,
    kill: usize,
) -> anyhow::Result<()> {
    let contacts = contacts.max(1);
    anyhow::ensure!(
        kill == 0 || !db.starts_with("sqlite"),
        "--kill needs --database-url postgres://… (replicas share one PostgreSQL database)"
    );
    let fernet = metabridge::crypto::vault::generate_key();
    let receiver = metabridge::sim::receiver::start("127.0.0.1:0".parse()?, false).await?;
    let (mut service, base) =
        super::spawn_service(bin, db, &fernet, &[("METABRIDGE_WORKERS", "false")])?;
    super::wait_ready(client, &base).await;
    super::register(client, &base, &receiver).await?;
    let loading = Instant::now();
    load(client, &format!("{base}/webhooks/meta"), n, contacts).await;
    eprintln!(
        "backlog: {n} events over {contacts} conversations acknowledged in {:.1} s (workers off)",
        loading.elapsed().as_secs_f64()
    );
    terminate(&mut service)?;
    anyhow::ensure!(
        receiver.state.accepted_count() == 0,
        "events were delivered while the workers were off"
    );

    let restart = Instant::now();
    let mut replicas = Vec::new();
    for _ in 0..=kill {
        replicas.push(super::spawn_service(
            bin,
            db,
            &fernet,
            &[("METABRIDGE_WORKERS", "true")],
        )?);
    }
    // (seconds since the restart, events the receiver had) when the K replicas were killed.
    let mut killed: Option<(f64, u64)> = None;
    let (mut last, mut progress) = (0, Instant::now());
    while receiver.state.accepted_count() < n
        && progress.elapsed() < Duration::from_secs(60)
        && restart.elapsed() < limit
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = receiver.state.accepted_count();
        if now != last {
            (last, progress) = (now, Instant::now());
        }
        if kill > 0 && killed.is_none() && now >= n / 5 {
            for (victim, _) in replicas.drain(..kill) {
                drop(victim); // SIGKILL, then reaped
            }
            killed = Some((restart.elapsed().as_secs_f64(), now));
        }
    }
    let secs = restart.elapsed().as_secs_f64();
    let (service, base) = replicas
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no replica left"))?;
    // Let late duplicates (a second delivery of an event) arrive before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (delivered, duplicates, ordered) = check(&receiver, contacts);
    let backend = if db.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!(
        "| backend | N | C | seconds | events/s | order kept | duplicates | delivered |\n|---|---|---|---|---|---|---|---|"
    );
    println!(
        "| {backend} | {n} | {contacts} | {secs:.1} | {:.0} | {} | {duplicates} | {delivered} |",
        delivered as f64 / secs,
        if ordered { "yes" } else { "NO" },
    );
    if let Some((at, had)) = killed {
        let after = (delivered as u64).saturating_sub(had) as f64 / (secs - at);
        println!(
            "\n{} replicas drained it; {kill} killed (SIGKILL) at {at:.1} s with {had} delivered; \
             after the kill {after:.0} events/s over {:.1} s",
            kill + 1,
            secs - at
        );
    }
    let pending: serde_json::Value = client
        .get(format!("{base}/admin/v1/events?state=pending&limit=1"))
        .bearer_auth(ADMIN)
        .send()
        .await?
        .json()
        .await
        .unwrap_or_default();
    drop(service);
    if restart.elapsed() >= limit && (delivered as u64) < n {
        println!(
            "\n(stopped after the --drain-limit of {} s: {delivered} of {n} delivered, {} pending)",
            limit.as_secs(),
            n - delivered as u64
        );
        anyhow::ensure!(ordered, "a conversation's events arrived out of order");
        return Ok(());
    }
    anyhow::ensure!(
        delivered as u64 == n,
        "only {delivered} of {n} events reached the receiver (no progress for 60 s; pending: {})",
        pending["events"]
    );
    anyhow::ensure!(ordered, "a conversation's events arrived out of order");
    Ok(())
}
