//! Prometheus metrics. Names are stable (they leave the process); labels never carry a
//! token, an id chosen by a customer, or message content.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];

pub struct Metrics {
    registry: Registry,
    pub webhooks_received: Counter,
    pub webhooks_rejected: Family<Labels, Counter>,
    pub webhooks_malformed: Counter,
    pub events_enqueued: Counter,
    pub events_duplicate: Counter,
    pub events_unroutable: Counter,
    pub events_filtered: Counter,
    pub events_stale: Counter,
    pub ingest_batch_requests: Histogram,
    pub commits_retried: Counter,
    pub group_commit_seconds: Family<Labels, Histogram>,
    pub delivery_attempts: Family<Labels, Counter>,
    pub delivery_request_seconds: Histogram,
    pub delivery_lag_seconds: Histogram,
    pub dead_letters_total: Counter,
    pub outbox_pending: Gauge,
    pub outbox_oldest_pending_age_seconds: Gauge<f64, AtomicU64>,
    pub dead_letters: Gauge,
    pub unroutable_events: Gauge,
    pub sends: Family<Labels, Counter>,
    pub graph_send_seconds: Histogram,
    pub messages_accepted: Counter,
    pub send_waits: Family<Labels, Counter>,
    pub unknown_instances: Family<Labels, Counter>,
    pub media_downloads: Family<Labels, Counter>,
    pub profile_requests_dropped: Counter,
}

impl Metrics {
    /// Counts one send attempt by outcome.
    pub fn sends_total(&self, outcome: &'static str) {
        self.sends.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Records how long one step (`begin`, `write`, `commit`) of a group commit took.
    pub fn group_commit_step(&self, step: &'static str, took: std::time::Duration) {
        self.group_commit_seconds
            .get_or_create(&[("step", step)])
            .observe(took.as_secs_f64());
    }

    /// Counts one `/v1` token refused because its instance does not exist, by what answered.
    pub fn unknown_instance_refused(&self, answered_by: &'static str) {
        self.unknown_instances
            .get_or_create(&[("answered_by", answered_by)])
            .inc();
    }

    /// Counts one media cache download by outcome.
    pub fn media_download(&self, outcome: &'static str) {
        self.media_downloads
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }

    /// Counts one `POST /v1/messages?wait=` by how its wait ended.
    pub fn send_wait_ended(&self, ended: &'static str) {
        self.send_waits.get_or_create(&[("ended", ended)]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("metabridge");
        let m = Self {
            webhooks_received: Counter::default(),
            webhooks_rejected: Family::default(),
            webhooks_malformed: Counter::default(),
            events_enqueued: Counter::default(),
            events_duplicate: Counter::default(),
            events_unroutable: Counter::default(),
            events_filtered: Counter::default(),
            events_stale: Counter::default(),
            ingest_batch_requests: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            commits_retried: Counter::default(),
            group_commit_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_125, 2.0, 14))
            }),
            delivery_attempts: Family::default(),
            delivery_request_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            delivery_lag_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 24)),
            dead_letters_total: Counter::default(),
            outbox_pending: Gauge::default(),
            outbox_oldest_pending_age_seconds: Gauge::default(),
            dead_letters: Gauge::default(),
            unroutable_events: Gauge::default(),
            sends: Family::default(),
            graph_send_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            messages_accepted: Counter::default(),
            send_waits: Family::default(),
            unknown_instances: Family::default(),
            media_downloads: Family::default(),
            profile_requests_dropped: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "contact_profile_requests_dropped",
            "Instagram / Messenger contact profile reads not queued because the queue was full \
             (the contact's next message asks again)",
            m.profile_requests_dropped.clone(),
        );
        registry.register(
            "media_downloads",
            "Inbound media downloads of the media cache, by outcome: stored, retry, or the reason \
             a file was not kept (too_large, type_mismatch, digest_mismatch, source_expired, …)",
            m.media_downloads.clone(),
        );
        registry.register(
            "sends",
            "Graph API send attempts, by outcome (accepted, retry, failed, unconfirmed, held)",
            m.sends.clone(),
        );
        registry.register(
            "graph_send_seconds",
            "Duration of Graph API send calls",
            m.graph_send_seconds.clone(),
        );
        registry.register(
            "messages_accepted",
            "Outbound messages queued through POST /v1/messages",
            m.messages_accepted.clone(),
        );
        registry.register(
            "unknown_instance_tokens",
            "/v1 tokens refused because their instance does not exist, by what answered: database \
             (one primary-key read) or cache (an id the database did not know a moment ago)",
            m.unknown_instances.clone(),
        );
        registry.register(
            "send_waits",
            "Sends that waited for Meta's answer (`wait=`), by how the wait ended: notified (the \
             commit that settled the message woke it, on any replica), polled (found settled by the \
             safety re-read), time_up, gone (the message was deleted)",
            m.send_waits.clone(),
        );
        registry.register(
            "webhooks_received",
            "Signed webhook POSTs accepted",
            m.webhooks_received.clone(),
        );
        registry.register(
            "webhooks_rejected",
            "Webhook POSTs refused, by reason",
            m.webhooks_rejected.clone(),
        );
        registry.register(
            "webhooks_malformed",
            "Signed webhook bodies that could not be parsed (answered 200)",
            m.webhooks_malformed.clone(),
        );
        registry.register(
            "events_enqueued",
            "Events appended to an instance outbox",
            m.events_enqueued.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events dropped because their idempotency key was already recorded",
            m.events_duplicate.clone(),
        );
        registry.register(
            "events_unroutable",
            "Events for a channel no instance owns (kept, not delivered)",
            m.events_unroutable.clone(),
        );
        registry.register(
            "events_filtered",
            "Events no owning instance subscribes to",
            m.events_filtered.clone(),
        );
        registry.register(
            "events_stale",
            "Webhook items older than the idempotency retention (minus a margin): acknowledged, not delivered",
            m.events_stale.clone(),
        );
        registry.register(
            "ingest_batch_requests",
            "Webhook requests sharing one group commit",
            m.ingest_batch_requests.clone(),
        );
        registry.register(
            "group_commit_seconds",
            "Time of each step of one group commit: begin (taking the write lock), write (the statements), commit (COMMIT and its fsync)",
            m.group_commit_seconds.clone(),
        );
        registry.register(
            "commits_retried",
            "Group commits tried again after a transient database failure (deadlock, busy, broken connection)",
            m.commits_retried.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts to instances, by outcome",
            m.delivery_attempts.clone(),
        );
        registry.register(
            "delivery_request_seconds",
            "Duration of one POST to an instance callback",
            m.delivery_request_seconds.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Time from webhook receipt to successful delivery",
            m.delivery_lag_seconds.clone(),
        );
        registry.register(
            "dead_letters_created",
            "Events dead-lettered after the retry horizon",
            m.dead_letters_total.clone(),
        );
        registry.register(
            "outbox_depth",
            "Events waiting for delivery",
            m.outbox_pending.clone(),
        );
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest event waiting for delivery",
            m.outbox_oldest_pending_age_seconds.clone(),
        );
        registry.register(
            "dead_letters",
            "Dead-lettered events currently stored",
            m.dead_letters.clone(),
        );
        registry.register(
            "unroutable_events",
            "Unroutable events currently stored",
            m.unroutable_events.clone(),
        );
        Self { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn reject(&self, reason: &'static str) {
        self.webhooks_rejected
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    pub fn attempt(&self, outcome: &'static str) {
        self.delivery_attempts
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }
}
