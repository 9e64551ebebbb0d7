//! Signed webhook emitter: Meta's side of `POST /webhooks/meta`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use super::payloads;
use crate::crypto::signature;

#[derive(Debug, Clone)]
pub struct EmitOptions {
    /// The bridge's webhook URL.
    pub url: String,
    /// Meta app secret used to sign.
    pub secret: String,
    pub waba_id: String,
    pub phone_number_id: String,
    /// Webhook requests to send.
    pub count: u64,
    /// Requests per second (0 = as fast as possible).
    pub rate: f64,
    /// Messages per request.
    pub batch: usize,
    /// Distinct contacts messages come from.
    pub contacts: u64,
    /// Send every request this many extra times (Meta's retries and duplicate storms).
    pub duplicates: u32,
    /// Shuffle each batch's messages (Meta's array order is not chronological).
    pub reorder: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// First sequence number (to run several emitters with disjoint ids).
    pub start_seq: u64,
}

impl Default for EmitOptions {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080/webhooks/meta".into(),
            secret: String::new(),
            waba_id: "102000000000001".into(),
            phone_number_id: "106000000000001".into(),
            count: 10,
            rate: 10.0,
            batch: 1,
            contacts: 5,
            duplicates: 0,
            reorder: false,
            concurrency: 16,
            start_seq: 0,
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct EmitReport {
    pub requests: u64,
    pub acknowledged: u64,
    pub failed: u64,
    pub messages: u64,
    pub seconds: f64,
}

/// Builds request `seq`'s signed body.
pub fn signed_request(opts: &EmitOptions, seq: u64) -> (Vec<u8>, String) {
    let mut body = payloads::whatsapp_text_batch(
        &opts.waba_id,
        &opts.phone_number_id,
        seq * opts.batch.max(1) as u64,
        opts.batch.max(1),
        opts.contacts,
    );
    if opts.reorder
        && let Some(list) = body["entry"][0]["changes"][0]["value"]["messages"].as_array_mut()
    {
        list.shuffle(&mut rand::rng());
    }
    let bytes = payloads::meta_bytes(&body);
    let sig = signature::sign(&opts.secret, &bytes);
    (bytes, sig)
}

/// Sends `opts.count` requests (plus duplicates) at `opts.rate`.
pub async fn emit(opts: EmitOptions) -> anyhow::Result<EmitReport> {
    crate::crypto::install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    for i in 0..opts.count {
        if opts.rate > 0.0 {
            let due = started + Duration::from_secs_f64(i as f64 / opts.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let (body, sig) = signed_request(&opts, opts.start_seq + i);
        for _ in 0..=opts.duplicates {
            sent += 1;
            let permit = Arc::clone(&sem).acquire_owned().await?;
            let (client, url, body, sig) =
                (client.clone(), opts.url.clone(), body.clone(), sig.clone());
            let (acked, failed) = (Arc::clone(&acked), Arc::clone(&failed));
            tasks.spawn(async move {
                let res = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().as_u16() == 200 => acked.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                drop(permit);
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(EmitReport {
        requests: sent,
        acknowledged: acked.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        messages: opts.count * opts.batch.max(1) as u64,
        seconds: started.elapsed().as_secs_f64(),
    })
}
