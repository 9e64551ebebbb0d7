//! metabridge: a bridge between Meta's messaging channels (WhatsApp Cloud API, Instagram
//! Messaging, Messenger, Lead Ads) and the instances of the DSK platform.
//!
//! # Layout
//! Lowest layer first; a module imports only modules above it in this list (`tests/it/layers.rs`
//! checks it, and that no import cycle exists).
//! - [`config`], [`ids`], [`metrics`], [`shutdown`]: leaves: the typed configuration, the
//!   prefixed id types (`InstanceId`, `ChannelId`, `EventId`, `MessageId`), the Prometheus
//!   registry, the shutdown signal. They know nothing of the product.
//! - [`crypto`]: webhook signatures (HMAC), the Fernet token vault, JWTs in both directions, the
//!   one constant-time compare, the TLS provider.
//! - [`meta`]: Meta as Meta defines it: the Graph API client, Meta's error classification,
//!   business-scoped user ids, logins.
//! - [`channels`]: domain: a channel's kind, its connection and its send state.
//! - [`messages`]: domain: sends: the request model, its validation and rendering to Graph
//!   bodies, the message life cycle; [`messages::submit`] (a use case above the store) accepts
//!   a send for the API and the CLI.
//! - [`events`]: domain: turning a verified Meta webhook into events with stable idempotency and
//!   conversation keys; the event envelope and its documented schema.
//! - [`connect`]: domain: connect sessions, the OAuth state, which webhook fields the granted
//!   permissions allow; [`connect::flow`] (a use case above the store) runs Meta's connect steps.
//! - [`store`]: the database (SQLite by default, PostgreSQL for replicas) behind one interface,
//!   one file per concern (events and delivery claims, messages, channel state, connect, …),
//!   and its group-commit [`store::writer`].
//! - [`templates`]: use case: each WhatsApp channel's message templates kept in step with
//!   Meta, and the check of a template send against them.
//! - [`leads`]: use case: a Page's Lead Ads forms, the backfill of leads that never came by
//!   webhook, and the gap check that runs one by itself.
//! - [`contacts`]: use case: Instagram and Messenger contact profiles read from Meta's User
//!   Profile API in the background, cached in memory and stored with a TTL.
//! - [`handover`]: use case: who controls each Instagram / Messenger conversation (Meta's
//!   handover protocol), the pass / take / request calls, and the send check.
//! - [`doctor`]: use case: a channel checked against Meta (token, subscriptions, the app's
//!   webhook, the number's state, templates, Instagram linkage): `metabridge doctor` and the
//!   admin API's diagnosis.
//! - [`media`]: use case: the inbound media cache — files of customers' messages downloaded in
//!   the background, kept for a retention and served by the media API.
//! - [`instances`]: use case: instances and channels as operators manage them (admin API, CLI).
//! - [`workers`]: delivery to instances, per-channel senders, retention, SQLite checkpoints, gauges.
//! - [`http`]: the poem application: Meta webhooks, admin API, `/v1` API, connect pages, health
//!   and metrics.
//! - [`app`]: wiring: build the state, bind, run until a shutdown signal.
//! - [`sim`]: a Meta simulator (Graph API, OAuth dialogs, signed webhook emitter) and a fake DSK
//!   receiver: a test double used by the tests, the demo and the benchmarks, never by the product.
//! - [`cli`]: the command line (`serve`, `demo`, operator commands).

pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod connect;
pub mod contacts;
pub mod crypto;
pub mod doctor;
pub mod events;
pub mod handover;
pub mod http;
pub mod ids;
pub mod instances;
pub mod leads;
pub mod media;
pub mod messages;
pub mod meta;
pub mod metrics;
pub mod shutdown;
pub mod sim;
pub mod store;
pub mod templates;
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
