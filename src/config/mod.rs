//! One typed configuration, read from environment variables (or `--flags`) and validated
//! once at start-up, before anything binds or connects. A wrong value is reported with the
//! name of the variable that holds it. Secrets live in [`Secret`], whose `Debug` never shows
//! the value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod args;
mod dev_secrets;
mod load;
pub use load::stale_item_age;
#[cfg(test)]
mod tests;

pub use args::{ServeArgs, StoreArgs};
use dev_secrets::*;

/// A secret string: compared and used, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call sites are the few places that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A configuration error: names the variable and says what is wrong with it (never its value).
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn cfg_err(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub backend: Backend,
    pub app_secrets: Vec<Secret>,
    /// Oldest `issued_at` accepted in Meta's app callbacks.
    pub signed_request_max_age: Duration,
    pub verify_token: Secret,
    pub admin_token: Secret,
    /// Bearer token `/metrics` requires, when set (`METABRIDGE_METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
    pub public_url: String,
    pub fernet_keys: Vec<Secret>,
    pub dev: bool,
    pub max_body_bytes: usize,
    /// Slow-client limits of the HTTP server.
    pub http_timeouts: HttpTimeouts,
    pub json_logs: bool,
    pub idempotency_retention: Duration,
    /// Webhook items that occurred longer ago than this are acknowledged and not delivered:
    /// the idempotency log may no longer hold their keys, so a late retry of one could not be
    /// recognised as a duplicate (issue 17). The retention minus a margin (one day, or half the
    /// retention when that is shorter). `None`: every item is delivered (the in-process test
    /// configuration, whose fixtures are dated 2025).
    pub stale_item_age: Option<Duration>,
    pub content_retention: Duration,
    pub delivery_horizon: Duration,
    pub delivery_backoff: Duration,
    pub delivery_timeout: Duration,
    pub delivery_concurrency: usize,
    pub delivery_per_instance: usize,
    /// PostgreSQL: delivery outcomes between two `VACUUM`s of `events` run by this replica
    /// (0 = never; autovacuum alone). See `workers::maintenance::run_vacuum`.
    pub pg_vacuum_every: u64,
    pub jwt_audience: String,
    pub jwt_max_lifetime: Duration,
    pub sqlite_synchronous_full: bool,
    /// SQLite `PRAGMA secure_delete` (P05: purged content zeroed in the file).
    pub sqlite_secure_delete: bool,
    pub allow_private_callbacks: bool,
    /// Fixed answers of the delivery client's resolver (host → address), checked like any
    /// other answer. Tests only (a public-looking name that resolves to a private address);
    /// empty in production, where every name goes to the system resolver.
    pub callback_dns_overrides: Vec<(String, std::net::IpAddr)>,
    pub run_workers: bool,
    /// Retention worker period (tests shorten it).
    pub retention_interval: Duration,
    /// Longest time the dispatcher sleeps when nothing told it about new work.
    pub dispatch_poll: Duration,
    pub graph: GraphConfig,
    pub sending: SendConfig,
    pub token_cache_ttl: Duration,
    /// How long a contact profile read from Meta is used before it is read again.
    pub contact_profile_ttl: Duration,
    /// The inbound media cache.
    pub media: MediaConfig,
    /// The bridge's Ed25519 callback-signing key (PEM), when configured.
    pub jwt_signing_key: Option<Secret>,
    pub connect: ConnectConfig,
    pub lifecycle: LifecycleConfig,
    /// Per-instance `/v1` and admin request limits.
    pub api_limit: Limit,
    pub admin_limit: Limit,
    /// Media uploads in flight on this replica.
    pub uploads: UploadLimits,
    /// The operator console (`/console`).
    pub console: ConsoleConfig,
}

/// The operator console (`/console`, issue 18) and the throughput history behind its charts.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleConfig {
    /// `METABRIDGE_CONSOLE`: serve the console (off: `/console` is not found).
    pub enabled: bool,
    /// A session unused for this long is signed out (`METABRIDGE_CONSOLE_IDLE_MINUTES`).
    pub idle_timeout: Duration,
    /// How often each replica adds its counts to the throughput history (always sampled,
    /// also with the console off: the table is small and bounded).
    pub history_every: Duration,
}

/// What is wrong with a list of Fernet keys (the first encrypts, all decrypt), naming the key
/// by its 1-based position and never by its value; `None` when every key is usable.
pub fn fernet_keys_problem(keys: &[Secret]) -> Option<String> {
    if keys.is_empty() {
        return Some("holds no key".to_string());
    }
    keys.iter()
        .position(|k| fernet::Fernet::new(k.expose().trim()).is_none())
        .map(|i| {
            format!(
                "key {} is not a valid Fernet key (url-safe base64 of 32 bytes, as `metabridge keys generate` prints)",
                i + 1
            )
        })
}

/// A request rate and a burst; a zero rate turns the limit off (`http::ratelimit` applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_second: u32,
    pub burst: u32,
}

/// Media uploads in flight at once on one replica (`http::ratelimit::UploadSlots` applies
/// them): per instance and in all. Each costs a few body chunks of memory (the body is
/// streamed), a connection to Meta and, for a body sent without `Content-Length`, up to its
/// media type's limit of temporary disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    pub per_instance: usize,
    pub total: usize,
}

/// How long the HTTP server waits for slow or silent clients.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// A request's headers must arrive within this (also the keep-alive idle limit).
    pub header: Duration,
    /// A request's body must arrive within this after its headers.
    pub body: Duration,
    /// A connection without any traffic for this long is closed.
    pub idle: Duration,
}

/// How Instagram accounts are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstagramFlow {
    InstagramLogin,
    FacebookLogin,
}

/// The channel-connect pages and the OAuth calls behind them.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// `None`: connect sessions cannot be created (`409 connect_not_configured`).
    pub app_id: Option<String>,
    pub embedded_signup_config_id: Option<String>,
    /// Embedded Signup offers WhatsApp Business app numbers (coexistence).
    pub business_app_onboarding: bool,
    pub login_config_id: Option<String>,
    pub dialog_url: String,
    pub sdk_url: String,
    pub instagram_app_id: Option<String>,
    pub instagram_app_secret: Option<Secret>,
    pub instagram_flow: InstagramFlow,
    pub instagram_dialog_url: String,
    pub instagram_api_url: String,
    pub instagram_graph_url: String,
    pub session_ttl: Duration,
    pub privacy_url: String,
}

/// The token-health and subscription-check worker.
#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    pub token_check_every: Duration,
    pub subscription_check_every: Duration,
    /// How often each WhatsApp channel's message templates are read again from Meta (they are
    /// also read on connect, on Meta's template webhooks and for an unknown template).
    pub template_sync_every: Duration,
    pub refresh_before: Duration,
    pub warn_before: Duration,
    /// How often the worker wakes up to look for due work (tests shorten it).
    pub tick: Duration,
    /// First retry delay of a failed lead fetch; doubles up to one hour.
    pub lead_backoff: Duration,
    /// How long ended connect sessions (ids, outcome; no secrets) are kept.
    pub session_retention: Duration,
    /// A Page with leads before and none for this long has its leads read from Meta (the
    /// missing ones relayed); `None` = never.
    pub lead_gap: Option<Duration>,
}

/// Where and how the Graph API is called.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub base_url: String,
    pub version: String,
    pub timeout: Duration,
}

/// What happens to an ambiguous send no status echo confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbiguousPolicy {
    Retry,
    Fail,
}

/// The [`AmbiguousPolicy`] of each channel kind (`METABRIDGE_AMBIGUOUS_SEND_POLICY`).
///
/// Defaults: WhatsApp `retry` (every WhatsApp send carries the bridge's id in
/// `biz_opaque_callback_data` and Meta's status webhook echoes it, so an echo settles the send
/// and only an unechoed one is sent again); Instagram and Messenger `fail`: the Send API takes
/// no idempotency key and a send has no status echo tying it to the bridge's id, so a resend
/// after a timeout may deliver the message twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousPolicies {
    pub whatsapp: AmbiguousPolicy,
    pub instagram: AmbiguousPolicy,
    pub messenger: AmbiguousPolicy,
}

impl Default for AmbiguousPolicies {
    fn default() -> Self {
        AmbiguousPolicies {
            whatsapp: AmbiguousPolicy::Retry,
            instagram: AmbiguousPolicy::Fail,
            messenger: AmbiguousPolicy::Fail,
        }
    }
}

impl AmbiguousPolicies {
    /// The policy of a channel kind (`whatsapp`, `instagram`, `messenger`); `fail` for
    /// anything else.
    pub fn for_kind(&self, kind: &str) -> AmbiguousPolicy {
        match kind {
            "whatsapp" => self.whatsapp,
            "instagram" => self.instagram,
            "messenger" => self.messenger,
            _ => AmbiguousPolicy::Fail,
        }
    }

    /// Parses `whatsapp=retry,instagram=fail,…` (later items win; kinds not named keep their
    /// default). A bare `fail` sets every kind, a bare `retry` WhatsApp only.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        const WHAT: &str =
            "must be `retry`, `fail` or comma-separated `whatsapp|instagram|messenger=retry|fail`";
        let mut out = AmbiguousPolicies::default();
        let mut any = false;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            any = true;
            let policy = |v: &str| match v.trim() {
                "retry" => Ok(AmbiguousPolicy::Retry),
                "fail" => Ok(AmbiguousPolicy::Fail),
                _ => Err(WHAT),
            };
            match item.split_once('=') {
                None => match policy(item)? {
                    AmbiguousPolicy::Retry => out.whatsapp = AmbiguousPolicy::Retry,
                    AmbiguousPolicy::Fail => {
                        out = AmbiguousPolicies {
                            whatsapp: AmbiguousPolicy::Fail,
                            instagram: AmbiguousPolicy::Fail,
                            messenger: AmbiguousPolicy::Fail,
                        }
                    }
                },
                Some((kind, value)) => {
                    let value = policy(value)?;
                    match kind.trim() {
                        "whatsapp" => out.whatsapp = value,
                        "instagram" => out.instagram = value,
                        "messenger" => out.messenger = value,
                        _ => return Err(WHAT),
                    }
                }
            }
        }
        if any { Ok(out) } else { Err(WHAT) }
    }
}

/// The senders' settings.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub whatsapp_rate: u32,
    pub messenger_rate: u32,
    pub reconcile_window: Duration,
    pub ambiguous_policy: AmbiguousPolicies,
    pub max_attempts: u32,
    pub backoff: Duration,
    /// How often an idle channel sender looks for work another replica queued.
    pub idle_poll: Duration,
    /// First pause of a channel's sends after Meta restricted it ([`MAX_SEND_PAUSE`] at most).
    pub pause: Duration,
}

/// Longest pause of a channel's sends: a restricted account is tried again at least daily.
pub const MAX_SEND_PAUSE: Duration = Duration::from_secs(86_400);

/// Highest per-channel send rate accepted (Meta's upgraded WhatsApp throughput).
pub const MAX_CHANNEL_RATE: u32 = 1000;

const DAY: u64 = 86_400;

/// The inbound media cache (`METABRIDGE_MEDIA_*`, issue 16 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Whether media of new messages is kept. Off, files kept earlier are still served and
    /// deleted at their expiry.
    pub enabled: bool,
    /// `<dir>/<instance>/<channel>/<media id>`.
    pub dir: std::path::PathBuf,
    /// How long a kept file is served before it is deleted.
    pub retention: Duration,
    /// Downloads running at once on this replica.
    pub concurrency: usize,
}
