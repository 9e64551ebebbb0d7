//! metabridge: a bridge between Meta's messaging channels (WhatsApp Cloud API, Instagram
//! Messaging, Messenger, Lead Ads) and the instances of the DSK platform.
//!
//! # Layout
//! - [`config`]: one typed configuration, read from the environment and validated once.
//! - [`crypto`]: webhook signatures (HMAC), the Fernet token vault, JWTs in both directions.
//! - [`events`]: pure domain code: turning a verified Meta webhook into events with stable
//!   idempotency keys and conversation keys; the event envelope sent to instances.
//! - [`store`]: the database (SQLite by default, PostgreSQL for replicas) behind one interface.
//! - [`ingest`]: the group-commit writer: every webhook's events, idempotency keys and outbox
//!   rows land in one shared transaction before Meta gets its 200.
//! - [`outbound`]: sends: the request model, its validation and rendering to Graph bodies,
//!   the message life cycle.
//! - [`meta`]: the Graph API client and Meta's error classification.
//! - [`workers`]: delivery to instances, per-channel senders, retention, SQLite checkpoints, gauges.
//! - [`http`]: the poem application: Meta webhooks, admin API, `/v1` API, health and metrics.
//! - [`sim`]: a Meta simulator (signed webhook emitter) and a fake DSK receiver.
//! - [`app`]: wiring: build the state, bind, run until a shutdown signal.

pub mod app;
pub mod cli;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod events;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod meta;
pub mod metrics;
pub mod outbound;
pub mod shutdown;
pub mod sim;
pub mod store;
pub mod tenants;
pub mod workers;

/// Milliseconds since the Unix epoch, the one time unit stored and compared in SQL.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 rendering of a unix-milliseconds timestamp (UTC, millisecond precision).
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
