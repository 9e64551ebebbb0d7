//! `--secure-delete`: what SQLite's `secure_delete = ON` costs (issue 17 item 5). The same
//! binary runs four times on fresh SQLite files (`synchronous=FULL`), alternating
//! `METABRIDGE_SQLITE_SECURE_DELETE=on` and `off` so that drift of the machine falls on both:
//! each run takes single-message webhooks on 64 connections for the given seconds while the
//! receiver accepts every event (deliveries flowing, so content is purged as it is delivered),
//! then waits until every acknowledged event has been delivered. Reported per setting: ingest
//! requests/s during the load, and events delivered (and purged) per second from the start of
//! the load until the receiver had them all; then the ratios on/off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Bodies, closed_loop, register, spawn_service, wait_ready};

pub async fn run(
    bin: &std::path::Path,
    dir: &std::path::Path,
    client: &reqwest::Client,
    secs: u64,
    conns: usize,
    smoke: bool,
) -> anyhow::Result<()> {
    let scale = if smoke { 10 } else { 1 };
    println!(
        "# SQLite secure_delete on vs off ({conns} connections, {secs} s per run, synchronous=FULL, deliveries flowing)\n"
    );
    println!(
        "| run | secure_delete | ingest requests/s | delivered events/s (load start → all delivered) | errors |\n|---|---|---|---|---|"
    );
    let mut ingest: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut delivered: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for (round, setting) in ["on", "off", "on", "off"].into_iter().enumerate() {
        let db = format!("sqlite://{}/secure-delete-{round}.db", dir.display());
        let (service, base) = spawn_service(
            bin,
            &db,
            &metabridge::crypto::vault::generate_key(),
            &[("METABRIDGE_SQLITE_SECURE_DELETE", setting)],
        )?;
        wait_ready(client, &base).await;
        let receiver = metabridge::sim::receiver::start("127.0.0.1:0".parse()?, false).await?;
        register(client, &base, &receiver).await?;
        let url = format!("{base}/webhooks/meta");
        // Distinct message ids per round: every run ingests new events.
        let bodies = Bodies::new("single", 70_000_000 + round as u64 * 1_000_000);
        let pool = Arc::new(bodies.pool(200_000 / scale));
        let started = Instant::now();
        let (ok, err, _) = closed_loop(client, std::slice::from_ref(&url), pool, conns, secs).await;
        let deadline = Instant::now() + Duration::from_secs(if smoke { 30 } else { 600 });
        while receiver.state.accepted_count() < ok && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let got = receiver.state.accepted_count();
        let all = started.elapsed().as_secs_f64();
        drop(service);
        anyhow::ensure!(
            got >= ok,
            "secure_delete={setting}: {got} of {ok} acknowledged events delivered before the deadline"
        );
        let i = usize::from(setting == "off");
        let rps = ok as f64 / secs as f64;
        let eps = ok as f64 / all;
        ingest[i].push(rps);
        delivered[i].push(eps);
        println!(
            "| {} | {setting} | {rps:.0} | {eps:.0} | {err} |",
            round + 1
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "\nsecure_delete=on / off: ingest {:.2}, delivered {:.2}",
        mean(&ingest[0]) / mean(&ingest[1]),
        mean(&delivered[0]) / mean(&delivered[1]),
    );
    Ok(())
}
