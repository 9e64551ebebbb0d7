//! Per-channel senders: drain each channel's send queue to the Graph API under its limits.
//!
//! One task per active channel. Before each claim it holds the channel's send lease (a row
//! lease in the database), so across replicas one process at a time sends for a channel and
//! the channel's rate limit holds. Each task:
//! - paces send starts at the channel's rate (default 80/s for a WhatsApp number), never
//!   faster; a throttling answer (130429, 4, …) pauses the channel for Meta's regain time;
//! - sends to one recipient in order, one message at a time (the claim takes only the oldest
//!   open message per recipient), and keeps a per-recipient token bucket (Meta's pair limit,
//!   about one message per 6 s with bursts); a 131056 answer backs that recipient off 4^n s;
//! - classifies every answer (see [`decide`]): retry with backoff, fail with Meta's code,
//!   hold the queue when the token is dead or the account paused (the channel's status
//!   changes and the instance gets `channel.updated`), or — when the request may have
//!   reached Meta (timeout, reset) — mark the message `unconfirmed` and wait for Meta's status
//!   echo (`biz_opaque_callback_data` carries the bridge's message id) before applying the
//!   ambiguity policy.
//!
//! Every decision is recorded through the group-commit writer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{AmbiguousPolicy, SendConfig};
use crate::ids::{ChannelId, MessageId};
use crate::messages::lifecycle::{ErrorInfo, Signal};
use crate::meta::graph::{ErrorClass, GraphClient, SendOutcome};
use crate::meta::login::InstagramLogin;
use crate::metrics::Metrics;
use crate::shutdown::CancellationToken;
use crate::store::cache::ChannelCache;
use crate::store::writer::{SendClaim, SendLease, Writer};
use crate::store::{ChannelChange, ChannelRow, ClaimedSend, MessageSignal, SendChange, Store};

mod decide;
mod pacing;

pub use decide::decide;
use decide::unknown_outcome;
use pacing::ChannelState;

/// A channel's send lease, in milliseconds (renewed at every claim while work remains).
const CHANNEL_LEASE_MS: i64 = 10_000;
/// A send starts only while at least this much of the channel's lease is left.
const LEASE_SAFETY_MS: i64 = 2_000;
/// Sends in flight at once for one channel.
const MAX_IN_FLIGHT: usize = 256;
/// The window the rate limit holds over. A little over a second, so that jitter between the
/// bridge and Meta (scheduling, connection setup, the network) does not show more than `rate`
/// calls in any second on Meta's side. 20 ms costs 2 % of the rate; 5 ms proved too little on
/// a loaded machine (`cluster::twenty_sigkills…`: 11 arrivals within 999 ms at rate 10).
const RATE_WINDOW: Duration = Duration::from_millis(1020);
/// After Meta refused a channel's token, its sender waits this long (while the token check
/// runs) before the next send.
const TOKEN_CHECK_GRACE: Duration = Duration::from_secs(5);

/// Wakes one channel's running sender; `woken` remembers a wake that came after its last
/// claim, so a run that is ending is followed by another.
#[derive(Default)]
struct ChannelWaker {
    notify: Notify,
    woken: std::sync::atomic::AtomicBool,
}

/// The senders of this process.
#[derive(Clone)]
pub struct Senders {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    writer: Writer,
    /// Channel rows and decrypted tokens, shared with the API.
    cache: ChannelCache,
    /// graph.facebook.com (META_GRAPH_URL): WhatsApp, Messenger, Instagram through a Page.
    graph: GraphClient,
    /// graph.instagram.com (INSTAGRAM_GRAPH_URL): Instagram Login channels.
    ig_graph: GraphClient,
    cfg: SendConfig,
    metrics: Arc<Metrics>,
    owner: String,
    wakers: Mutex<HashMap<ChannelId, Arc<ChannelWaker>>>,
    /// Rung when Meta's answer asks for the channel's token to be checked (`debug_token`); the
    /// lifecycle worker of this process waits on it.
    token_check: Arc<Notify>,
    stop: CancellationToken,
    run_workers: bool,
}

impl Senders {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        writer: Writer,
        cache: ChannelCache,
        graph: GraphClient,
        ig_graph: GraphClient,
        cfg: SendConfig,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
        run_workers: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                writer,
                cache,
                graph,
                ig_graph,
                cfg,
                metrics,
                owner: format!("replica-{}", uuid::Uuid::new_v4().simple()),
                wakers: Mutex::new(HashMap::new()),
                token_check: Arc::new(Notify::new()),
                stop,
                run_workers,
            }),
        }
    }

    /// Notified when a send's answer asks for a token check (190, permission errors).
    pub fn token_check_wakeup(&self) -> Arc<Notify> {
        self.inner.token_check.clone()
    }

    /// The channel rows and tokens the senders use (shared with the API and the lifecycle).
    pub fn cache(&self) -> &ChannelCache {
        &self.inner.cache
    }

    /// The Graph host and sender id of a channel's sends. An Instagram channel's token decides
    /// the host (meta::login): an Instagram Login channel sends as `POST /{ig-id}/messages` on
    /// graph.instagram.com; one connected through its Facebook Page sends as the Page,
    /// `POST /me/messages` with the Page token on graph.facebook.com (Meta's documented request
    /// URI; `me` is the Page). Everything else sends from its own id on graph.facebook.com.
    fn send_route<'a>(
        &'a self,
        channel: &'a ChannelRow,
        token: &str,
    ) -> (&'a GraphClient, &'a str) {
        let inner = &self.inner;
        if channel.kind != crate::channels::ChannelKind::Instagram {
            return (&inner.graph, channel.external_id.as_str());
        }
        match InstagramLogin::of_channel(channel.login.as_deref(), token) {
            InstagramLogin::Instagram => (&inner.ig_graph, channel.external_id.as_str()),
            InstagramLogin::Facebook => (&inner.graph, "me"),
        }
    }

    /// Starts the manager: one sender task per active channel, refreshed every few seconds.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.manage().await })
    }

    /// Tells the channel's sender that a message was queued.
    pub fn wake(&self, channel_id: &ChannelId) {
        if !self.inner.run_workers {
            return;
        }
        let waker = self
            .inner
            .wakers
            .lock()
            .ok()
            .and_then(|w| w.get(channel_id).cloned());
        match waker {
            Some(w) => {
                w.woken.store(true, std::sync::atomic::Ordering::SeqCst);
                w.notify.notify_one();
            }
            None => self.start_channel(channel_id),
        }
    }

    fn start_channel(&self, channel_id: &ChannelId) {
        let waker = Arc::new(ChannelWaker::default());
        {
            let Ok(mut w) = self.inner.wakers.lock() else {
                return;
            };
            if w.contains_key(channel_id) {
                return;
            }
            w.insert(channel_id.clone(), Arc::clone(&waker));
        }
        let me = self.clone();
        let id = channel_id.clone();
        tokio::spawn(async move {
            let last_start = me.run_channel(&id, Arc::clone(&waker)).await;
            // The next holder (another replica, or this one again) starts only once the last
            // `rate` window of this run has passed, so a handover never puts more than `rate`
            // sends in one window. The lease is given up before this run's entry goes, so a
            // new run of this process cannot overlap it.
            let quiet_ms = last_start
                .map(|t| (t + RATE_WINDOW).saturating_duration_since(Instant::now()))
                .and_then(|d| i64::try_from(d.as_millis()).ok())
                .unwrap_or(0);
            let quiet_until = if quiet_ms > 0 {
                crate::now_ms() + quiet_ms
            } else {
                0
            };
            let _ = me
                .inner
                .store
                .release_send_lease(&id, &me.inner.owner, quiet_until)
                .await;
            if let Ok(mut w) = me.inner.wakers.lock() {
                w.remove(&id);
            }
            // Work queued after this run's last claim: start again (it waits for the lease).
            if waker.woken.load(std::sync::atomic::Ordering::SeqCst)
                && !me.inner.stop.is_cancelled()
            {
                me.start_channel(&id);
            }
        });
    }

    async fn manage(&self) {
        loop {
            match self.inner.store.channels_with_sends().await {
                Ok(channels) => {
                    for c in channels {
                        self.start_channel(&c);
                    }
                }
                Err(e) => warn!(error = %e, "sender: cannot list channels"),
            }
            tokio::select! {
                _ = self.inner.stop.cancelled() => break,
                _ = tokio::time::sleep(self.inner.cfg.idle_poll * 5) => {}
            }
        }
        // Channel tasks finish their in-flight sends (recorded through the writer) and end.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline
            && self
                .inner
                .wakers
                .lock()
                .map(|w| !w.is_empty())
                .unwrap_or(false)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn rate_of(&self, c: &ChannelRow) -> u32 {
        c.rate_limit
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| *r > 0)
            .unwrap_or(if c.kind == crate::channels::ChannelKind::Whatsapp {
                self.inner.cfg.whatsapp_rate
            } else {
                self.inner.cfg.messenger_rate
            })
            .min(crate::config::MAX_CHANNEL_RATE)
    }

    /// Sends for the channel while it has work and this replica holds its lease. Returns when
    /// the last send started, if any.
    async fn run_channel(
        &self,
        channel_id: &ChannelId,
        waker: Arc<ChannelWaker>,
    ) -> Option<Instant> {
        let wake = &waker.notify;
        let inner = &self.inner;
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let state = Arc::new(Mutex::new(ChannelState::default()));
        // Send starts are spaced 1/rate apart; after a short stall (a claim, a commit) the
        // schedule catches up, and `recent` (the starts of the last `rate` sends) makes sure no
        // window of RATE_WINDOW ever holds more than `rate` of them. After idling the schedule
        // restarts from now (no burst of saved-up credit).
        let mut pacer_next = Instant::now();
        let mut recent: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
        let mut was_idle = true;
        let mut last_reconcile: Option<Instant> = None;
        let mut lease_until = 0i64;
        let mut idle_rounds = 0u32;
        loop {
            if inner.stop.is_cancelled() {
                break;
            }
            let now = crate::now_ms();
            let channel = match inner.store.get_channel(channel_id, None).await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "sender: cannot read channel");
                    self.pause(wake, inner.cfg.idle_poll).await;
                    continue;
                }
            };
            if channel.status == crate::channels::Connection::Disconnected {
                // A send accepted while the channel was being disconnected (the two commits
                // raced): it can never go out; fail it like the disconnect did the others.
                self.fail_orphans(channel_id).await;
                break;
            }
            if channel.status != crate::channels::Connection::Active
                || channel.send_state != crate::channels::SendState::Sending
            {
                // Held: queued sends wait until the number is registered, the pause ends or a
                // new token is stored (each wakes the sender). Inbound relay is not affected.
                break;
            }
            if lease_until - now < CHANNEL_LEASE_MS / 2 {
                let lease = SendLease {
                    channel_id: channel_id.clone(),
                    owner: inner.owner.clone(),
                    now,
                    lease_ms: CHANNEL_LEASE_MS,
                };
                match inner.writer.acquire_send_lease(lease).await {
                    Ok(true) => lease_until = now + CHANNEL_LEASE_MS,
                    Ok(false) => {
                        lease_until = 0;
                        self.pause(wake, Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(e) => {
                        warn!(error = %e, "sender: cannot take the channel lease");
                        self.pause(wake, inner.cfg.idle_poll).await;
                        continue;
                    }
                }
            }
            if last_reconcile.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                self.reconcile(&channel, now).await;
                last_reconcile = Some(Instant::now());
            }
            let paused_until = state.lock().map(|s| s.paused_until).unwrap_or(None);
            if let Some(until) = paused_until
                && until > Instant::now()
            {
                tokio::select! {
                    _ = inner.stop.cancelled() => break,
                    _ = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
            let rate = self.rate_of(&channel);
            let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
            // Up to a second of work per claim (few write transactions per channel); never
            // more than free send slots.
            let free = in_flight.available_permits();
            if free == 0 {
                let _ = in_flight.acquire().await;
                continue;
            }
            let batch = rate.clamp(1, 500) as usize;
            let limit = batch.min(free) as i64;
            let claim_lease =
                now + i64::try_from(inner.graph.timeout().as_millis()).unwrap_or(60_000) + 30_000;
            // A wake from here on means work this claim may not see.
            waker
                .woken
                .store(false, std::sync::atomic::Ordering::SeqCst);
            let claim = SendClaim {
                channel_id: channel_id.clone(),
                now,
                limit,
                lease_until: claim_lease,
            };
            let claimed = match inner.writer.claim_sends(claim).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "sender: claim failed");
                    self.pause(wake, inner.cfg.idle_poll).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                was_idle = true;
                idle_rounds += 1;
                let next_due = inner.store.next_send_due(channel_id).await.ok().flatten();
                let mut wait = inner.cfg.idle_poll;
                if let Some(due) = next_due {
                    let ms = u64::try_from((due - crate::now_ms()).max(1)).unwrap_or(1);
                    wait = wait.min(Duration::from_millis(ms));
                } else if idle_rounds > 30 && in_flight.available_permits() == MAX_IN_FLIGHT {
                    // Nothing queued for a long while: end; the manager or a wake restarts it.
                    break;
                }
                self.pause(wake, wait).await;
                continue;
            }
            idle_rounds = 0;
            let token = match self.inner.cache.token_for(&channel).await {
                Ok(t) => t,
                Err(e) => {
                    warn!(channel = %channel_id, reason = %e, "sender: channel token unusable; sends held");
                    let signals = claimed
                        .iter()
                        .map(|m| MessageSignal {
                            message_id: m.id.clone(),
                            signal: Signal::Hold,
                        })
                        .collect();
                    let change = ChannelChange {
                        channel_id: channel_id.clone(),
                        change: SendChange::TokenInvalid {
                            reason: e.to_string(),
                            // A key problem is fixed by configuration: keep the ciphertext.
                            delete_token: false,
                        },
                    };
                    let _ = inner.writer.signals(signals, vec![change]).await;
                    self.inner.cache.forget_channel(channel_id).await;
                    break;
                }
            };
            // Set once this process cannot be sure it still holds the lease (it stalled): the
            // rest of the claim goes back to the queue instead of out to Meta.
            let mut lease_short = false;
            for msg in claimed {
                let now = crate::now_ms();
                if lease_short {
                    self.requeue(&msg.id, now).await;
                    continue;
                }
                let defer = state
                    .lock()
                    .ok()
                    .and_then(|mut s| s.pair_wait(&msg.recipient, now));
                if let Some(next_at) = defer {
                    self.requeue(&msg.id, next_at).await;
                    continue;
                }
                // Pace send starts: never faster than the channel's rate.
                let t = Instant::now();
                if was_idle || pacer_next + Duration::from_secs(1) < t {
                    pacer_next = t;
                    was_idle = false;
                }
                if pacer_next > t {
                    tokio::time::sleep_until(pacer_next).await;
                }
                pacer_next += interval;
                let cap = rate as usize;
                while recent.len() > cap {
                    recent.pop_front();
                }
                if recent.len() == cap
                    && let Some(oldest) = recent.front().copied()
                {
                    let free_at = oldest + RATE_WINDOW;
                    if free_at > Instant::now() {
                        tokio::time::sleep_until(free_at).await;
                    }
                    recent.pop_front();
                }
                // A holder that stalled past its lease (another replica may have taken the
                // channel) must not send: only with a safe margin left does this start go out.
                if crate::now_ms() + LEASE_SAFETY_MS > lease_until {
                    warn!(channel = %channel_id, "sender: send lease about to lapse mid-claim; requeueing the rest");
                    lease_short = true;
                    self.requeue(&msg.id, crate::now_ms()).await;
                    continue;
                }
                recent.push_back(Instant::now());
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                    break;
                };
                let me = self.clone();
                let channel = channel.clone();
                let token = Arc::clone(&token);
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    me.send_one(&channel, &token, msg, &state).await;
                    drop(permit);
                });
            }
        }
        // Let in-flight sends finish recording before the lease is released.
        let _ = in_flight.acquire_many(MAX_IN_FLIGHT as u32).await;
        recent.back().copied()
    }

    /// Puts a claimed message back in the queue, due at `next_at`, without an attempt.
    async fn requeue(&self, message_id: &MessageId, next_at: i64) {
        let _ = self
            .inner
            .writer
            .signals(
                vec![MessageSignal {
                    message_id: message_id.clone(),
                    signal: Signal::Defer { next_at },
                }],
                vec![],
            )
            .await;
    }

    async fn fail_orphans(&self, channel_id: &ChannelId) {
        let ids = match self.inner.store.open_message_ids(channel_id).await {
            Ok(ids) if !ids.is_empty() => ids,
            _ => return,
        };
        let n = ids.len();
        let signals = ids
            .into_iter()
            .map(|id| MessageSignal {
                message_id: id,
                signal: Signal::Fail {
                    error: ErrorInfo::channel_disconnected(),
                },
            })
            .collect();
        if self.inner.writer.signals(signals, vec![]).await.is_ok() {
            info!(channel = %channel_id, count = n, "messages of a disconnected channel failed");
        }
    }

    async fn pause(&self, wake: &Notify, d: Duration) {
        tokio::select! {
            _ = self.inner.stop.cancelled() => {}
            _ = wake.notified() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }

    /// Sends whose sender died become unconfirmed; unconfirmed sends whose window passed
    /// without an echo get the ambiguity policy.
    async fn reconcile(&self, channel: &ChannelRow, now: i64) {
        let inner = &self.inner;
        let window = i64::try_from(inner.cfg.reconcile_window.as_millis()).unwrap_or(120_000);
        match inner
            .store
            .recover_stale_sends(&channel.id, now, now + window)
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                warn!(channel = %channel.id, count = n, "sends interrupted mid-call are now unconfirmed")
            }
            Err(e) => warn!(error = %e, "sender: cannot recover stale sends"),
        }
        let due = match inner.store.due_unconfirmed(&channel.id, now, 500).await {
            Ok(d) => d,
            Err(_) => return,
        };
        if due.is_empty() {
            return;
        }
        let mut signals = Vec::with_capacity(due.len());
        for (id, _ty, expects_id, attempts) in due {
            let resend = inner.cfg.ambiguous_policy.for_kind(channel.kind.as_str())
                == AmbiguousPolicy::Retry
                || expects_id == 0;
            let signal = if resend && attempts >= i64::from(inner.cfg.max_attempts) {
                // Meta kept dropping the calls: stop within the configured attempts.
                let mut error = unknown_outcome();
                error.reason = format!("Gave up after {attempts} attempts. {}", error.reason);
                Signal::Fail { error }
            } else if resend {
                Signal::Retry {
                    next_at: now,
                    error: Some(ErrorInfo::bridge(
                        "unconfirmed_resent",
                        "No status from Meta confirmed the earlier attempt; sent again.",
                    )),
                }
            } else {
                Signal::Fail {
                    error: unknown_outcome(),
                }
            };
            signals.push(MessageSignal {
                message_id: id,
                signal,
            });
        }
        let n = signals.len();
        if inner.writer.signals(signals, vec![]).await.is_ok() {
            info!(channel = %channel.id, count = n, "unconfirmed sends reached the end of their reconciliation window");
        }
    }

    async fn send_one(
        &self,
        channel: &ChannelRow,
        token: &str,
        msg: ClaimedSend,
        state: &Mutex<ChannelState>,
    ) {
        let inner = &self.inner;
        let body: Option<serde_json::Value> = msg
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let started = Instant::now();
        let (signal, change) = match body {
            None => (
                Signal::Fail {
                    error: ErrorInfo::bridge(
                        "content_missing",
                        "The message content is no longer stored.",
                    ),
                },
                None,
            ),
            Some(body) => {
                let (graph, sender_id) = self.send_route(channel, token);
                let outcome = graph.send_message(token, sender_id, &body).await;
                let now = crate::now_ms();
                if let SendOutcome::Rejected {
                    class, retry_after, ..
                } = &outcome
                    && let Ok(mut s) = state.lock()
                {
                    {
                        match class {
                            ErrorClass::RetryPair => {
                                s.pair_backoff(&msg.recipient, now, msg.attempts);
                            }
                            ErrorClass::Retry => {
                                let d = retry_after.unwrap_or(Duration::from_secs(1));
                                s.paused_until =
                                    Some(Instant::now() + d.min(Duration::from_secs(300)));
                            }
                            // Give the token check (woken below) time to decide before the
                            // channel's next send meets the same refusal.
                            ErrorClass::TokenSuspect => {
                                s.paused_until = Some(Instant::now() + TOKEN_CHECK_GRACE);
                            }
                            _ => {}
                        }
                    }
                }
                decide(&outcome, channel, &msg, &inner.cfg, now)
            }
        };
        inner
            .metrics
            .graph_send_seconds
            .observe(started.elapsed().as_secs_f64());
        let label = match &signal {
            Signal::Accepted { .. } => "accepted",
            Signal::Retry { .. } => "retry",
            Signal::Fail { .. } => "failed",
            Signal::Unconfirmed { .. } => "unconfirmed",
            Signal::Hold => "held",
            _ => "other",
        };
        inner.metrics.sends_total(label);
        if let Signal::Fail { error } = &signal {
            debug!(message = %msg.id, code = %error.kind, "send failed");
        }
        let changes: Vec<ChannelChange> = change.into_iter().collect();
        let check_token = changes
            .iter()
            .any(|c| matches!(c.change, SendChange::CheckToken));
        let changed_channel = changes.iter().any(|c| {
            matches!(
                c.change,
                SendChange::Pause { .. } | SendChange::TokenInvalid { .. }
            )
        });
        if changed_channel {
            warn!(channel = %channel.id, "Meta's answer paused the channel's sends; inbound relay goes on");
        }
        let id = msg.id.clone();
        let signals = vec![MessageSignal {
            message_id: msg.id,
            signal,
        }];
        // Meta's answer is a fact: keep trying to record it while the database is away rather
        // than leave the message to look interrupted mid-call (and be resent if Meta's status
        // echo was lost meanwhile).
        match crate::store::writer::until_committed(&inner.stop, "a send outcome", || {
            inner.writer.signals(signals.clone(), changes.clone())
        })
        .await
        {
            Ok(_) => {
                if changed_channel {
                    self.inner.cache.forget_channel(&channel.id).await;
                }
                if check_token {
                    inner.token_check.notify_one();
                }
            }
            Err(_) => {
                // Stopped before the database came back: the claim's lease expires and the
                // message becomes unconfirmed (never silently resent).
                warn!(message = %id, "the outcome of a send could not be recorded before shutdown");
            }
        }
    }
}
