//! The group-commit writer. Every webhook request hands its events to one writer task; the
//! writer takes everything that queued while the previous commit was running and records it
//! in ONE transaction (one fsync), then answers each request. Delivery outcomes go through the
//! same writer, so SQLite has a single writer and PostgreSQL few commits. A request is
//! answered only after its commit: Meta gets its 200 only for what is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{error, warn};

use crate::events::parse::ParsedEvent;
use crate::metrics::Metrics;
use crate::shutdown::CancellationToken;
use crate::store::{
    self, ChannelChange, ClaimedSend, DeliveryOutcome, Enqueued, IngestCounts, MessageSignal,
    NewMessage, Store,
};

/// Most events taken into one transaction (more wait for the next commit).
const MAX_EVENTS_PER_COMMIT: usize = 4000;
/// Tries of one group commit that fails for a transient reason ([`store::StoreError::is_transient`]).
const COMMIT_TRIES: u64 = 3;
/// Queue length in requests; when full, requests wait (back-pressure).
const QUEUE: usize = 8192;

enum WriteOp {
    Ingest {
        events: Vec<ParsedEvent>,
        received_at: i64,
        reply: oneshot::Sender<Result<IngestCounts, WriteError>>,
    },
    Outcomes {
        outcomes: Vec<DeliveryOutcome>,
        reply: oneshot::Sender<Result<(), WriteError>>,
    },
    Enqueue {
        messages: Vec<NewMessage>,
        reply: oneshot::Sender<Result<Vec<Enqueued>, WriteError>>,
    },
    Signals {
        signals: Vec<MessageSignal>,
        channels: Vec<ChannelChange>,
        reply: oneshot::Sender<Result<(), WriteError>>,
    },
    ClaimSends {
        claim: SendClaim,
        reply: oneshot::Sender<Result<Vec<ClaimedSend>, WriteError>>,
    },
    SendLease {
        lease: SendLease,
        reply: oneshot::Sender<Result<bool, WriteError>>,
    },
}

/// A channel sender's claim of due messages ([`store::claim_sends`]).
#[derive(Debug, Clone)]
pub struct SendClaim {
    pub channel_id: crate::ids::ChannelId,
    pub now: i64,
    pub limit: i64,
    pub lease_until: i64,
}

/// A channel sender taking or keeping its channel's send lease ([`store::acquire_send_lease`]).
#[derive(Debug, Clone)]
pub struct SendLease {
    pub channel_id: crate::ids::ChannelId,
    pub owner: String,
    pub now: i64,
    pub lease_ms: i64,
}

impl WriteOp {
    fn weight(&self) -> usize {
        match self {
            Self::Ingest { events, .. } => events.len().max(1),
            Self::Outcomes { outcomes, .. } => outcomes.len().max(1),
            Self::Enqueue { messages, .. } => messages.len().max(1),
            Self::Signals {
                signals, channels, ..
            } => (signals.len() + channels.len()).max(1),
            Self::ClaimSends { .. } | Self::SendLease { .. } => 1,
        }
    }
}

/// The write could not be committed; nothing of it is stored.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the database did not commit the write")]
pub struct WriteError;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteOp>,
    /// Notified after a commit that stored a new Lead Ads lead (its Graph fetch starts then).
    lead_wakeup: Arc<Notify>,
    /// Notified after a commit that recorded media to keep (their download starts then).
    media_wakeup: Arc<Notify>,
    /// When (unix ms) a request someone waits on — a webhook or a send — last came to this
    /// writer: deliveries yield commit cycles to those while they arrive ([`Self::quiet_for`]).
    last_foreground: Arc<AtomicI64>,
    /// How many delivery outcomes this writer has committed since it started (each rewrote
    /// an event's row: on PostgreSQL, dead row versions for `VACUUM`).
    outcomes_committed: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer task. It ends when every `Writer` clone is dropped or `stop` is
    /// cancelled (once the server and workers are stopped), after committing what was queued.
    /// Fails when the writer's thread or runtime cannot be started.
    pub fn spawn(
        store: Store,
        metrics: Arc<Metrics>,
        delivery_wakeup: Arc<Notify>,
        horizon_ms: i64,
        app_id: Option<String>,
        media_retention_ms: Option<i64>,
        stop: CancellationToken,
    ) -> std::io::Result<(Self, tokio::task::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let lead_wakeup = Arc::new(Notify::new());
        let media_wakeup = Arc::new(Notify::new());
        let wakeups = Wakeups {
            delivery: delivery_wakeup,
            leads: Arc::clone(&lead_wakeup),
            media: Arc::clone(&media_wakeup),
        };
        // The writer is the one serial step of every webhook: it runs on a thread of its own
        // (a current-thread runtime), so that each of its awaits (a statement, the commit)
        // resumes at once instead of queueing behind the HTTP tasks on the shared workers.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let outcomes_committed = Arc::new(AtomicU64::new(0));
        let settings = Settings {
            horizon_ms,
            app_id,
            media_retention_ms,
            outcomes_committed: Arc::clone(&outcomes_committed),
        };
        let task = run(store, metrics, wakeups, settings, rx, stop);
        std::thread::Builder::new()
            .name("metabridge-writer".into())
            .spawn(move || {
                runtime.block_on(task);
                let _ = done_tx.send(());
            })?;
        let handle = tokio::spawn(async move {
            let _ = done_rx.await;
        });
        Ok((
            Self {
                tx,
                lead_wakeup,
                media_wakeup,
                last_foreground: Arc::new(AtomicI64::new(0)),
                outcomes_committed,
            },
            handle,
        ))
    }

    /// Notified once a commit recorded media files to keep: the media worker starts their
    /// downloads right away.
    pub fn media_wakeup(&self) -> Arc<Notify> {
        Arc::clone(&self.media_wakeup)
    }

    /// Notified once a commit stored a new `lead.received` event: the lead worker
    /// (`workers::lifecycle`) fetches the lead's field data right away instead of at its next
    /// tick.
    pub fn lead_wakeup(&self) -> Arc<Notify> {
        Arc::clone(&self.lead_wakeup)
    }

    /// Whether no webhook and no send came to this writer in the last `window_ms`: nobody
    /// waits on a commit but the delivery worker, which may then take more of the commit cycles
    /// (issue 14: a backlog drains faster while nothing arrives; while webhooks arrive, their
    /// acknowledgements keep the cycles).
    pub fn quiet_for(&self, window_ms: i64) -> bool {
        crate::now_ms().saturating_sub(self.last_foreground.load(Ordering::Relaxed)) >= window_ms
    }

    /// Delivery outcomes committed by this writer since it started.
    pub fn outcomes_committed(&self) -> u64 {
        self.outcomes_committed.load(Ordering::Relaxed)
    }

    fn foreground(&self) {
        self.last_foreground
            .store(crate::now_ms(), Ordering::Relaxed);
    }

    /// Records the events of one webhook request; returns once they are committed.
    pub async fn ingest(
        &self,
        events: Vec<ParsedEvent>,
        received_at: i64,
    ) -> Result<IngestCounts, WriteError> {
        self.foreground();
        self.request(|reply| WriteOp::Ingest {
            events,
            received_at,
            reply,
        })
        .await
    }

    /// Records delivery outcomes; returns once they are committed.
    pub async fn record_outcomes(&self, outcomes: Vec<DeliveryOutcome>) -> Result<(), WriteError> {
        self.request(|reply| WriteOp::Outcomes { outcomes, reply })
            .await
    }

    /// Queues one operation for the next group commit and waits for its answer.
    async fn request<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, WriteError>>) -> WriteOp,
    ) -> Result<T, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(op(reply)).await.map_err(|_| WriteError)?;
        rx.await.map_err(|_| WriteError)?
    }
}

/// Runs `write` until it commits, waiting 100 ms doubling to 2 s between tries, or until `stop`
/// is cancelled (then the last error). For facts that must not be dropped while the database is
/// briefly away: an instance accepted an event, Meta accepted a send. Dropping such an outcome
/// would make the event go out again (a delivery storm while SQLite can read but not write) or
/// leave the send ambiguous (and resent when Meta's status echo was lost meanwhile).
pub async fn until_committed<T, F, Fut>(
    stop: &CancellationToken,
    what: &str,
    mut write: F,
) -> Result<T, WriteError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, WriteError>>,
{
    let mut wait = std::time::Duration::from_millis(100);
    let mut failures = 0u32;
    loop {
        match write().await {
            Ok(v) => {
                if failures > 0 {
                    tracing::info!(failures, "{what} recorded once the database was back");
                }
                return Ok(v);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    warn!("{what} could not be recorded; retrying until the database is back");
                }
                tokio::select! {
                    _ = stop.cancelled() => return Err(e),
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
        }
    }
}

impl Writer {
    /// Queues outbound messages (idempotency keys checked); returns once committed.
    pub async fn enqueue(&self, messages: Vec<NewMessage>) -> Result<Vec<Enqueued>, WriteError> {
        self.foreground();
        self.request(|reply| WriteOp::Enqueue { messages, reply })
            .await
    }

    /// Records what happened to messages (and channel status changes); returns once committed.
    pub async fn signals(
        &self,
        signals: Vec<MessageSignal>,
        channels: Vec<ChannelChange>,
    ) -> Result<(), WriteError> {
        self.request(|reply| WriteOp::Signals {
            signals,
            channels,
            reply,
        })
        .await
    }

    /// Claims a channel's due messages for sending in the next group commit (after the
    /// signals of that commit, which may have settled a recipient's previous message). On
    /// SQLite a claim in a transaction of its own waited for the database's one write lock
    /// behind the group commits, sleeping in SQLite's busy handler (up to 100 ms a try) while
    /// sends' results kept the writer busy: 50 channels at 80/s each got ~50/s (issue 14).
    pub async fn claim_sends(&self, claim: SendClaim) -> Result<Vec<ClaimedSend>, WriteError> {
        self.request(|reply| WriteOp::ClaimSends { claim, reply })
            .await
    }

    /// Takes or keeps a channel's send lease in the next group commit; whether this owner holds
    /// it. Like a claim, a lease renewed in a transaction of its own on SQLite slept in the busy
    /// handler behind the group commits (once ~200 ms with 50 channels sending), and the
    /// channel's sends waited for it every 5 s (issue 14).
    pub async fn acquire_send_lease(&self, lease: SendLease) -> Result<bool, WriteError> {
        self.request(|reply| WriteOp::SendLease { lease, reply })
            .await
    }
}

/// What every ingest commit needs to know.
struct Settings {
    horizon_ms: i64,
    app_id: Option<String>,
    /// The media cache's retention, when it is on.
    media_retention_ms: Option<i64>,
    /// Delivery outcomes committed so far ([`Writer::outcomes_committed`]).
    outcomes_committed: Arc<AtomicU64>,
}

/// Who is told about a commit.
struct Wakeups {
    delivery: Arc<Notify>,
    leads: Arc<Notify>,
    /// Notified once a commit recorded media files to download.
    media: Arc<Notify>,
}

async fn run(
    store: Store,
    metrics: Arc<Metrics>,
    wakeups: Wakeups,
    settings: Settings,
    mut rx: mpsc::Receiver<WriteOp>,
    stop: CancellationToken,
) {
    let mut batch: Vec<WriteOp> = Vec::new();
    loop {
        let op = tokio::select! {
            biased;
            op = rx.recv() => op,
            _ = stop.cancelled() => {
                // Nothing new can arrive: commit what is queued, then stop.
                rx.close();
                rx.recv().await
            }
        };
        let Some(op) = op else { break };
        let mut weight = op.weight();
        batch.push(op);
        while weight < MAX_EVENTS_PER_COMMIT {
            match rx.try_recv() {
                Ok(op) => {
                    weight += op.weight();
                    batch.push(op);
                }
                Err(_) => break,
            }
        }
        commit(&store, &metrics, &wakeups, &settings, &mut batch).await;
    }
}

async fn commit(
    store: &Store,
    metrics: &Metrics,
    wakeups: &Wakeups,
    settings: &Settings,
    batch: &mut Vec<WriteOp>,
) {
    let horizon_ms = settings.horizon_ms;
    let mut requests: Vec<&[ParsedEvent]> = Vec::new();
    let mut outcomes: Vec<DeliveryOutcome> = Vec::new();
    let mut messages: Vec<NewMessage> = Vec::new();
    let mut enqueue_sizes: Vec<usize> = Vec::new();
    let mut signals: Vec<MessageSignal> = Vec::new();
    let mut channel_changes: Vec<ChannelChange> = Vec::new();
    let mut claims: Vec<SendClaim> = Vec::new();
    let mut leases: Vec<SendLease> = Vec::new();
    let mut received_at = 0;
    for op in batch.iter_mut() {
        match op {
            WriteOp::Ingest {
                events,
                received_at: r,
                ..
            } => {
                requests.push(events.as_slice());
                received_at = received_at.max(*r);
            }
            WriteOp::Outcomes { outcomes: o, .. } => outcomes.append(o),
            WriteOp::Enqueue { messages: m, .. } => {
                enqueue_sizes.push(m.len());
                messages.append(m);
            }
            WriteOp::Signals {
                signals: sg,
                channels: ch,
                ..
            } => {
                signals.append(sg);
                channel_changes.append(ch);
            }
            WriteOp::ClaimSends { claim, .. } => claims.push(claim.clone()),
            WriteOp::SendLease { lease, .. } => leases.push(lease.clone()),
        }
    }
    let has_leads = requests
        .iter()
        .flat_map(|r| r.iter())
        .any(|e| e.event_type() == crate::events::parse::types::LEAD_RECEIVED);
    let now = crate::now_ms();
    let write_once = || async {
        let started = std::time::Instant::now();
        let mut tx = store.begin_group_commit().await?;
        let began = std::time::Instant::now();
        metrics.group_commit_step("begin", began - started);
        let store::Ingested {
            counts,
            mut settled,
            media_queued,
        } = if requests.is_empty() {
            store::Ingested::default()
        } else {
            store::ingest_events(
                &mut tx,
                store.backend,
                &requests,
                received_at,
                horizon_ms,
                settings.app_id.as_deref(),
                settings.media_retention_ms,
            )
            .await?
        };
        if !outcomes.is_empty() {
            store::apply_outcomes(&mut tx, store.backend, &outcomes).await?;
        }
        let enqueued = if messages.is_empty() {
            Vec::new()
        } else {
            store::enqueue_messages(&mut tx, store.backend, &messages).await?
        };
        if !signals.is_empty() {
            settled.extend(
                store::apply_message_signals(&mut tx, store.backend, &signals, now, horizon_ms)
                    .await?,
            );
        }
        if !channel_changes.is_empty() {
            store::apply_channel_changes(&mut tx, store.backend, &channel_changes, now, horizon_ms)
                .await?;
        }
        let mut held = Vec::with_capacity(leases.len());
        for l in &leases {
            held.push(
                store::acquire_send_lease(&mut tx, &l.channel_id, &l.owner, l.now, l.lease_ms)
                    .await?,
            );
        }
        let mut claimed = Vec::with_capacity(claims.len());
        for c in &claims {
            claimed.push(
                store::claim_sends(
                    &mut tx,
                    store.backend,
                    &c.channel_id,
                    c.now,
                    c.limit,
                    c.lease_until,
                )
                .await?,
            );
        }
        let written = std::time::Instant::now();
        metrics.group_commit_step("write", written - began);
        // Whoever waits for a message this commit settled is woken by it, on every replica.
        store.commit_settled(tx, &settled).await?;
        metrics.group_commit_step("commit", written.elapsed());
        Ok::<_, store::StoreError>((counts, enqueued, media_queued, claimed, held))
    };
    // A transaction that failed for a reason that is not its own (a deadlock victim, a busy
    // database, a broken connection) rolled back whole; it is tried again at once, a few
    // times, before the requests are answered 503 (a webhook) or told to try later.
    let mut tries = 0;
    let result = loop {
        tries += 1;
        match write_once().await {
            Err(e) if e.is_transient() && tries < COMMIT_TRIES => {
                metrics.commits_retried.inc();
                warn!(error = %e, code = e.code().as_deref().unwrap_or("-"), tries, "group commit failed for a transient reason; trying it again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
            }
            other => break other,
        }
    };
    match result {
        Ok((counts, enqueued, media_queued, claimed, held)) => {
            settings
                .outcomes_committed
                .fetch_add(outcomes.len() as u64, Ordering::Relaxed);
            let outbound_events = !signals.is_empty() || !channel_changes.is_empty();
            let mut enqueued = enqueued.into_iter();
            let mut enqueue_sizes = enqueue_sizes.into_iter();
            if !requests.is_empty() {
                metrics.ingest_batch_requests.observe(requests.len() as f64);
            }
            // Counted before anyone is answered: a client that reads the metrics right after
            // its answer sees its own request in them.
            let mut total = IngestCounts::default();
            for c in &counts {
                total += *c;
            }
            metrics.events_enqueued.inc_by(total.enqueued as u64);
            metrics.events_duplicate.inc_by(total.duplicates as u64);
            metrics.events_unroutable.inc_by(total.unroutable as u64);
            metrics.events_filtered.inc_by(total.filtered as u64);
            let mut counts = counts.into_iter();
            let mut claimed = claimed.into_iter();
            let mut held = held.into_iter();
            for op in batch.drain(..) {
                match op {
                    WriteOp::Ingest { reply, .. } => {
                        let c = counts.next().unwrap_or_default();
                        let _ = reply.send(Ok(c));
                    }
                    WriteOp::Outcomes { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                    WriteOp::Enqueue { reply, .. } => {
                        let n = enqueue_sizes.next().unwrap_or(0);
                        let _ = reply.send(Ok(enqueued.by_ref().take(n).collect()));
                    }
                    WriteOp::Signals { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                    WriteOp::ClaimSends { reply, .. } => {
                        let _ = reply.send(Ok(claimed.next().unwrap_or_default()));
                    }
                    WriteOp::SendLease { reply, .. } => {
                        let _ = reply.send(Ok(held.next().unwrap_or(false)));
                    }
                }
            }
            if total.unroutable > 0 {
                warn!(
                    count = total.unroutable,
                    "events for channels no instance owns were recorded as unroutable"
                );
            }
            if total.enqueued > 0 || !outcomes.is_empty() || outbound_events {
                wakeups.delivery.notify_one();
            }
            // A new lead waits in `enriching` for its Graph fetch: start it now (the worker's
            // tick is only the safety net). A duplicate lead wakes the worker for nothing.
            if total.enqueued > 0 && has_leads {
                wakeups.leads.notify_one();
            }
            if media_queued > 0 {
                wakeups.media.notify_one();
            }
        }
        Err(e) => {
            error!(error = %e, code = e.code().as_deref().unwrap_or("-"), tries, requests = requests.len(), outcomes = outcomes.len(), messages = messages.len(), signals = signals.len(), "group commit failed; nothing of it was stored");
            for op in batch.drain(..) {
                match op {
                    WriteOp::Ingest { reply, .. } => {
                        let _ = reply.send(Err(WriteError));
                    }
                    WriteOp::Outcomes { reply, .. } => {
                        let _ = reply.send(Err(WriteError));
                    }
                    WriteOp::Enqueue { reply, .. } => {
                        let _ = reply.send(Err(WriteError));
                    }
                    WriteOp::Signals { reply, .. } => {
                        let _ = reply.send(Err(WriteError));
                    }
                    WriteOp::ClaimSends { reply, .. } => {
                        let _ = reply.send(Err(WriteError));
                    }
                    WriteOp::SendLease { reply, .. } => {
                        let _ = reply.send(Err(WriteError));
                    }
                }
            }
        }
    }
}
