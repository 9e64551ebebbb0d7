//! Delivery of events to instances' callback URLs.
//!
//! The dispatcher claims the heads of conversations that are due (an event is never sent
//! while an earlier event of its conversation is still pending, so each conversation is
//! delivered in the order received, and a failing conversation holds up nobody else), and
//! POSTs each with a JWT signed for the instance. A 2xx is delivered; anything else is retried
//! with exponential backoff and jitter until the retry horizon, then dead-lettered. A 410 Gone
//! pauses the instance (its events stay queued) until an operator resumes it. Concurrency is
//! capped globally and per instance, so a slow or dead receiver never takes every slot.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use crate::config::Config;
use crate::crypto::{jwt, vault::Vault};
use crate::ids::InstanceId;
use crate::metrics::Metrics;
use crate::shutdown::CancellationToken;
use crate::store::writer::Writer;
use crate::store::{ClaimCursors, DeliveryOutcome, DueEvent, OutcomeKind, Store};

/// Longest delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Delay before attempt `attempt + 1`, after `attempt` failures: base × 2^(attempt−1), capped,
/// with ±20 % jitter so a receiver coming back is not hit by every event at once.
pub fn backoff(base: Duration, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let raw = base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.8..1.2);
    raw.mul_f64(jitter)
}

/// What the receiver's answer means.
pub fn classify(status: Option<u16>) -> &'static str {
    match status {
        Some(s) if (200..300).contains(&s) => "delivered",
        Some(410) => "gone",
        _ => "retry",
    }
}

pub struct Dispatcher {
    store: Store,
    writer: Writer,
    vault: Arc<Vault>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    secrets: Cache<String, Arc<String>>,
    /// When set, callbacks are signed EdDSA with the bridge's key (JWKS) instead of HS256.
    bridge_key: Option<Arc<jwt::BridgeKey>>,
    /// Instagram / Messenger contact profiles this process knows: an event carries its
    /// contact's profile when it is here (an in-memory lookup; never a read from Meta or the
    /// database on the delivery path, see [`crate::contacts`]).
    profiles: crate::contacts::ProfileCache,
    wakeup: Arc<Notify>,
    /// `METABRIDGE_ALLOW_PRIVATE_CALLBACKS`: off, callbacks never reach private addresses.
    allow_private: bool,
    backoff: Duration,
    concurrency: usize,
    per_instance: usize,
    lease: Duration,
    poll: Duration,
    in_flight: Mutex<InFlight>,
}

#[derive(Default)]
struct InFlight {
    seqs: HashSet<i64>,
    per_instance: HashMap<InstanceId, usize>,
    /// Events whose delivery finished since the current claim query started: the query may
    /// have read them before their outcome was committed, so they must not start again.
    finished_during_claim: HashSet<i64>,
    /// Where the next claim goes on walking each instance's conversations.
    cursors: ClaimCursors,
}

impl InFlight {
    /// One of `instance`'s requests is over: another may start.
    fn release_slot(&mut self, instance: &InstanceId) {
        if let Some(n) = self.per_instance.get_mut(instance) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_instance.remove(instance);
            }
        }
    }
}

impl Dispatcher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &Config,
        store: Store,
        writer: Writer,
        vault: Arc<Vault>,
        metrics: Arc<Metrics>,
        wakeup: Arc<Notify>,
        secrets: Cache<String, Arc<String>>,
        bridge_key: Option<Arc<jwt::BridgeKey>>,
        profiles: crate::contacts::ProfileCache,
    ) -> anyhow::Result<Arc<Self>> {
        let resolver = CallbackResolver {
            allow_private: config.allow_private_callbacks,
            overrides: config
                .callback_dns_overrides
                .iter()
                .map(|(host, ip)| (normalise_host(host), *ip))
                .collect(),
        };
        let mut client = reqwest::Client::builder();
        if !config.allow_private_callbacks {
            // A proxy would resolve callback hosts itself, past the guard.
            client = client.no_proxy();
        }
        let client = client
            .dns_resolver(resolver)
            .timeout(config.delivery_timeout)
            .connect_timeout(config.delivery_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("metabridge/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(config.delivery_per_instance)
            .build()?;
        Ok(Arc::new(Self {
            store,
            writer,
            vault,
            metrics,
            client,
            secrets,
            bridge_key,
            profiles,
            wakeup,
            allow_private: config.allow_private_callbacks,
            backoff: config.delivery_backoff,
            concurrency: config.delivery_concurrency,
            per_instance: config.delivery_per_instance,
            // Long enough for one attempt and its commit; after a crash, what the dead
            // process had in flight waits this long before another replica takes it.
            lease: config.delivery_timeout + Duration::from_secs(15),
            poll: config.dispatch_poll,
            in_flight: Mutex::new(InFlight::default()),
        }))
    }

    /// Runs until `shutdown`; then waits for the deliveries in flight to finish and record.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match self.dispatch_once(&mut tasks, &shutdown).await {
                Ok(_) => {}
                Err(e) => {
                    error!(error = %e, "claiming due events failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            tokio::select! {
                _ = self.wakeup.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.cancelled() => {}
            }
            // Reap every finished delivery: a finished task keeps its whole allocation (sized
            // for the delivery's future) until it is joined, and the writer's wake-ups run this
            // loop far more often than one join per turn would free them (a 60,000-event drain
            // grew the service by ~140 MB before).
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One step of the dispatcher, for callers that drive it themselves (tests that run with
    /// the workers off, so that what they assert does not depend on timing): claims what is due
    /// now, delivers it, and returns once every attempt is recorded. How many were attempted.
    pub async fn deliver_due(self: &Arc<Self>) -> anyhow::Result<usize> {
        let mut tasks = JoinSet::new();
        let stop = CancellationToken::new();
        let started = self.dispatch_once(&mut tasks, &stop).await?;
        while tasks.join_next().await.is_some() {}
        Ok(started)
    }

    /// Claims what is due and can start now, and starts it. Returns how many started.
    pub async fn dispatch_once(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<usize> {
        let (free, in_flight, room, mut cursors) = {
            let mut f = self
                .in_flight
                .lock()
                .map_err(|_| anyhow::anyhow!("in-flight lock poisoned"))?;
            f.finished_during_claim.clear();
            let room: HashMap<InstanceId, i64> = f
                .per_instance
                .iter()
                .map(|(id, n)| {
                    (
                        id.clone(),
                        i64::try_from(self.per_instance.saturating_sub(*n)).unwrap_or(0),
                    )
                })
                .collect();
            (
                self.concurrency.saturating_sub(f.seqs.len()),
                f.seqs.iter().copied().collect::<Vec<i64>>(),
                room,
                std::mem::take(&mut f.cursors),
            )
        };
        let put_back = |cursors: ClaimCursors| {
            if let Ok(mut f) = self.in_flight.lock() {
                f.cursors = cursors;
            }
        };
        if free == 0 {
            put_back(cursors);
            return Ok(0);
        }
        let now = crate::now_ms();
        let lease_until = now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let due = self
            .store
            .claim_due(
                now,
                i64::try_from(free).unwrap_or(i64::MAX),
                i64::try_from(self.per_instance).unwrap_or(i64::MAX),
                lease_until,
                &room,
                &in_flight,
                &mut cursors,
            )
            .await;
        put_back(cursors);
        let due = due?;
        let mut started = 0;
        for ev in due {
            {
                let mut f = self
                    .in_flight
                    .lock()
                    .map_err(|_| anyhow::anyhow!("in-flight lock poisoned"))?;
                if f.seqs.contains(&ev.seq)
                    || f.finished_during_claim.contains(&ev.seq)
                    || f.seqs.len() >= self.concurrency
                {
                    continue;
                }
                let n = f.per_instance.entry(ev.instance_id.clone()).or_default();
                if *n >= self.per_instance {
                    continue;
                }
                *n += 1;
                f.seqs.insert(ev.seq);
            }
            started += 1;
            let this = Arc::clone(self);
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                let seq = ev.seq;
                let instance = ev.instance_id.clone();
                let slot_freed = this.deliver(ev, &shutdown).await;
                if let Ok(mut f) = this.in_flight.lock() {
                    f.seqs.remove(&seq);
                    f.finished_during_claim.insert(seq);
                    if !slot_freed {
                        f.release_slot(&instance);
                    }
                }
            });
        }
        Ok(started)
    }

    /// The instance's request for an event ended while nothing else waits on the database: its
    /// slot goes to the next conversation now instead of after the outcome's commit (the
    /// dispatcher is woken to fill it). The event stays in flight (`seqs`) until its outcome
    /// is committed, so it is not claimed again and its conversation's next event is not a
    /// head before then: order holds, and the instance never has more than
    /// `METABRIDGE_DELIVERY_PER_INSTANCE` requests open.
    fn free_slot_early(&self, instance: &InstanceId) {
        if let Ok(mut f) = self.in_flight.lock() {
            f.release_slot(instance);
        }
        self.wakeup.notify_one();
    }

    async fn signing_secret(&self, ev: &DueEvent) -> Option<Arc<String>> {
        if let Some(s) = self.secrets.get(&ev.signing_secret_enc).await {
            return Some(s);
        }
        let secret = Arc::new(self.vault.decrypt(&ev.signing_secret_enc).ok()?);
        self.secrets
            .insert(ev.signing_secret_enc.clone(), Arc::clone(&secret))
            .await;
        Some(secret)
    }

    /// The known profile of an Instagram / Messenger event's contact (JSON object text).
    async fn profile_of(&self, ev: &DueEvent) -> Option<Arc<str>> {
        if !matches!(ev.channel_kind.as_deref(), Some("instagram" | "messenger")) {
            return None;
        }
        let channel = crate::ids::ChannelId::try_from(ev.channel_id.clone()?).ok()?;
        let contact: serde_json::Value = serde_json::from_str(ev.contact.as_deref()?).ok()?;
        let id = contact.get("id")?.as_str()?;
        self.profiles.get(&channel, id).await
    }

    /// Delivers one event and records its outcome. Whether the instance's slot was already
    /// freed when the request ended ([`Self::free_slot_early`]).
    async fn deliver(&self, ev: DueEvent, shutdown: &CancellationToken) -> bool {
        let attempt = ev.attempts + 1;
        let started = Instant::now();
        let profile = self.profile_of(&ev).await;
        let (status, error) = match (
            crate::events::render_envelope_with(&ev.stored(), profile.as_deref()),
            self.signing_secret(&ev).await,
        ) {
            // Stored while private callbacks were allowed: IP literals never reach the resolver,
            // and local names are refused by the same rule as when a URL is stored.
            _ if !self.allow_private && literal_private_host(&ev.callback_url) => {
                (None, Some(PRIVATE_ADDRESS.to_string()))
            }
            (Err(_), _) => (None, Some("event content missing".to_string())),
            (_, None) => (
                None,
                Some("instance signing secret cannot be decrypted".to_string()),
            ),
            (Ok(body), Some(secret)) => {
                // Signed over the very bytes POSTed below (`body_sha256`).
                let token = match &self.bridge_key {
                    Some(key) => {
                        jwt::mint_callback_token_eddsa(key, &ev.instance_id, &ev.id, &body)
                    }
                    None => jwt::mint_callback_token(&secret, &ev.instance_id, &ev.id, &body),
                };
                let resp = self
                    .client
                    .post(&ev.callback_url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .header("x-metabridge-event-id", ev.id.as_str())
                    .header("x-metabridge-event-type", &ev.event_type)
                    .header("x-metabridge-attempt", attempt.to_string())
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) => {
                        let code = r.status().as_u16();
                        // Drain (bounded by the client timeout) so the connection is reused.
                        let _ = r.bytes().await;
                        (
                            Some(code),
                            (!(200..300).contains(&code)).then(|| format!("HTTP {code}")),
                        )
                    }
                    Err(e) => (None, Some(transport_error(&e))),
                }
            }
        };
        let elapsed = started.elapsed();
        // Each slot would otherwise spend as long waiting for its outcome's commit as in the
        // request: while no webhook or send is arriving (a backlog draining after an outage),
        // the slot is freed now. While they arrive it is not: their acknowledgements need the
        // commit cycles, and Meta waits on those (issue 14; docs/benchmark.md has both).
        let slot_freed = self.writer.quiet_for(QUIET_BEFORE_EARLY_RELEASE_MS);
        if slot_freed {
            self.free_slot_early(&ev.instance_id);
        }
        self.metrics
            .delivery_request_seconds
            .observe(elapsed.as_secs_f64());
        let now = crate::now_ms();
        let kind = match classify(status) {
            "delivered" => OutcomeKind::Delivered,
            verdict => {
                let next_at = now
                    + i64::try_from(backoff(self.backoff, attempt).as_millis())
                        .unwrap_or(i64::MAX / 2);
                if next_at > ev.deadline_at {
                    OutcomeKind::Dead
                } else if verdict == "gone" {
                    OutcomeKind::Gone { next_at }
                } else {
                    OutcomeKind::Retry { next_at }
                }
            }
        };
        let label = match &kind {
            OutcomeKind::Delivered => "delivered",
            OutcomeKind::Retry { .. } => "retry",
            OutcomeKind::Dead => "dead",
            OutcomeKind::Gone { .. } => "gone",
        };
        self.metrics.attempt(label);
        match &kind {
            OutcomeKind::Delivered => {
                self.metrics
                    .delivery_lag_seconds
                    .observe((now - ev.received_at).max(0) as f64 / 1000.0);
            }
            OutcomeKind::Dead => {
                self.metrics.dead_letters_total.inc();
                warn!(event_id = %ev.id, instance_id = %ev.instance_id, attempts = attempt, "event dead-lettered after the retry horizon");
            }
            OutcomeKind::Gone { .. } => {
                warn!(instance_id = %ev.instance_id, "receiver answered 410 Gone: delivery to this instance is paused until resumed");
            }
            OutcomeKind::Retry { .. } => {
                debug!(event_id = %ev.id, attempt, status = ?status, "delivery failed; will retry");
            }
        }
        let outcome = DeliveryOutcome {
            seq: ev.seq,
            event_id: ev.id.clone(),
            instance_id: ev.instance_id.clone(),
            attempt,
            at: now,
            status: status.map(i64::from),
            latency_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            error,
            kind,
        };
        // While this waits for the database, the event stays in flight here, so it is not
        // claimed and sent again meanwhile.
        let recorded =
            crate::store::writer::until_committed(shutdown, "a delivery outcome", || {
                self.writer.record_outcomes(vec![outcome.clone()])
            })
            .await;
        if recorded.is_err() {
            // Stopped before the database came back: the event stays pending and is delivered
            // again after the restart (same event id, which receivers deduplicate on).
            error!(event_id = %ev.id, "could not record a delivery outcome before shutdown");
        }
        slot_freed
    }
}

/// How long no webhook or send must have arrived before a delivery frees its instance's slot
/// when its request ends rather than when its outcome is committed.
const QUIET_BEFORE_EARLY_RELEASE_MS: i64 = 1000;

/// The recorded error of a callback refused by the SSRF guard.
const PRIVATE_ADDRESS: &str = "callback host resolves to a private address";

/// The resolver's refusal: every address of the callback host is private.
#[derive(Debug, thiserror::Error)]
#[error("{PRIVATE_ADDRESS}")]
struct PrivateAddress;

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a callback URL's host is a private address literal or a local name (the same rule
/// as when a URL is stored, [`crate::instances::is_private_host`]).
fn literal_private_host(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .as_ref()
        .and_then(url::Url::host)
        .is_some_and(|h| crate::instances::is_private_host(&h))
}

/// The delivery client's resolver: resolves with tokio (the system resolver) and, unless
/// private callbacks are allowed, drops every private address it gets (see
/// [`crate::instances::is_private`]). A callback URL is checked when it is stored, but its
/// name can later resolve anywhere (DNS rebinding); checking the addresses actually
/// connected to closes that. A host with only private addresses fails the attempt with
/// [`PRIVATE_ADDRESS`]; the event is retried and dead-lettered as usual.
struct CallbackResolver {
    allow_private: bool,
    /// Fixed answers (tests), checked like resolved ones.
    overrides: HashMap<String, std::net::IpAddr>,
}

impl reqwest::dns::Resolve for CallbackResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = normalise_host(name.as_str());
        let fixed = self.overrides.get(&host).copied();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let resolved: Vec<std::net::SocketAddr> = match fixed {
                Some(ip) => vec![std::net::SocketAddr::new(ip, 0)],
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let found = !resolved.is_empty();
            let usable: Vec<std::net::SocketAddr> = resolved
                .into_iter()
                .filter(|a| allow_private || !crate::instances::is_private(a.ip()))
                .collect();
            if usable.is_empty() && found {
                return Err(Box::new(PrivateAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A short, content-free description of a transport failure.
fn transport_error(e: &reqwest::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<PrivateAddress>() {
            return PRIVATE_ADDRESS.to_string();
        }
        cause = c.source();
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "response body error".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let base = Duration::from_secs(5);
        for attempt in 1..=5 {
            let d = backoff(base, attempt).as_secs_f64();
            let nominal = 5.0 * 2f64.powi(i32::try_from(attempt - 1).expect("small"));
            assert!(
                d >= nominal * 0.79 && d <= nominal * 1.21,
                "attempt {attempt}: {d}"
            );
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF.mul_f64(1.21));
    }

    fn resolver(allow_private: bool) -> CallbackResolver {
        CallbackResolver {
            allow_private,
            overrides: [
                ("rebind.test".to_string(), "127.0.0.1".parse().expect("ip")),
                (
                    "meta.test".to_string(),
                    "169.254.169.254".parse().expect("ip"),
                ),
                (
                    "public.test".to_string(),
                    "93.184.215.14".parse().expect("ip"),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    async fn resolve(
        r: &CallbackResolver,
        host: &str,
    ) -> Result<Vec<std::net::SocketAddr>, String> {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = host.parse().map_err(|_| "name".to_string())?;
        r.resolve(name)
            .await
            .map(Iterator::collect)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn resolver_drops_private_addresses_unless_allowed() {
        let guarded = resolver(false);
        for host in ["rebind.test", "META.test.", "localhost"] {
            assert_eq!(
                resolve(&guarded, host).await,
                Err(PRIVATE_ADDRESS.to_string()),
                "{host}"
            );
        }
        assert_eq!(
            resolve(&guarded, "public.test").await,
            Ok(vec!["93.184.215.14:0".parse().expect("addr")])
        );
        let open = resolver(true);
        assert_eq!(
            resolve(&open, "rebind.test").await,
            Ok(vec!["127.0.0.1:0".parse().expect("addr")])
        );
    }

    #[test]
    fn literal_private_hosts_are_recognised() {
        assert!(literal_private_host("https://127.0.0.1:8443/x"));
        assert!(literal_private_host("https://[::ffff:10.0.0.1]/x"));
        assert!(literal_private_host("http://2130706433/"));
        assert!(!literal_private_host("https://93.184.215.14/x"));
        assert!(literal_private_host("https://localhost./x"));
        assert!(!literal_private_host("https://dsk.example.com/x"));
        assert!(!literal_private_host("not a url"));
    }

    #[test]
    fn receiver_status_classification() {
        assert_eq!(classify(Some(200)), "delivered");
        assert_eq!(classify(Some(204)), "delivered");
        assert_eq!(classify(Some(410)), "gone");
        assert_eq!(classify(Some(500)), "retry");
        assert_eq!(classify(Some(404)), "retry");
        assert_eq!(classify(Some(301)), "retry");
        assert_eq!(classify(None), "retry");
    }
}
