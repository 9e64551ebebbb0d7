//! One typed configuration, read from environment variables (or `--flags`) and validated
//! once at start-up, before anything binds or connects. A wrong value is reported with the
//! name of the variable that holds it. Secrets live in [`Secret`], whose `Debug` never shows
//! the value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

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

/// Options shared by the server and the operator commands (they work on the same database).
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Database: `sqlite://path` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/metabridge.db",
        // A PostgreSQL URL carries its password: `--help` must not print it (issue 17).
        hide_env_values = true
    )]
    pub database_url: String,
    /// Comma-separated Fernet keys (url-safe base64, 32 bytes); the first encrypts, all decrypt.
    #[arg(long, env = "METABRIDGE_FERNET_KEYS", hide_env_values = true)]
    pub fernet_keys: Option<String>,
    /// Development mode: generate missing secrets into `<data dir>/dev-secrets.json`, allow
    /// plain-HTTP and loopback callback URLs. Never in production.
    #[arg(long, env = "METABRIDGE_DEV", default_value_t = false)]
    pub dev: bool,
    /// Where dev-mode secrets are kept.
    #[arg(long, env = "METABRIDGE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Options of `metabridge serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "METABRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Meta app secret(s), comma-separated: a webhook signed with any of them is accepted.
    #[arg(long, env = "META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<String>,
    /// The verify token typed into Meta's App Dashboard for the webhook handshake.
    #[arg(long, env = "META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<String>,
    /// Oldest `issued_at` (seconds ago) accepted in a deauthorize or data-deletion
    /// `signed_request`; an older one is refused (a replayed or leaked request).
    #[arg(
        long,
        env = "METABRIDGE_SIGNED_REQUEST_MAX_AGE_SECS",
        default_value_t = 86_400
    )]
    pub signed_request_max_age_secs: u64,
    /// Bearer token for the admin API.
    #[arg(long, env = "METABRIDGE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Public base URL of this service (used in links it hands out).
    #[arg(long, env = "METABRIDGE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest webhook body accepted, in bytes (larger → 413).
    #[arg(long, env = "METABRIDGE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers, in milliseconds (slow
    /// senders get 408 and are disconnected). HTTP/1.1 starts this clock whenever a
    /// connection waits for its next request, so it also closes idle keep-alive connections.
    #[arg(long, env = "METABRIDGE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// How long a client may take to send a request's body once its headers arrived, in
    /// milliseconds (longer → 408 `request_timeout`, connection closed).
    #[arg(long, env = "METABRIDGE_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// A connection with no traffic at all for this long is closed, in milliseconds (requests
    /// in flight finish first).
    #[arg(long, env = "METABRIDGE_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Log format: `text` or `json`.
    #[arg(long, env = "METABRIDGE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Days the idempotency log (keys and times only) and delivery metadata are kept.
    #[arg(
        long,
        env = "METABRIDGE_IDEMPOTENCY_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub idempotency_retention_days: u32,
    /// Days the content of dead-lettered and unroutable events is kept for replay.
    #[arg(long, env = "METABRIDGE_CONTENT_RETENTION_DAYS", default_value_t = 7)]
    pub content_retention_days: u32,
    /// How long a failing event is retried before it is dead-lettered, in hours.
    #[arg(long, env = "METABRIDGE_DELIVERY_HORIZON_HOURS", default_value_t = 96)]
    pub delivery_horizon_hours: u32,
    /// First retry delay in milliseconds; doubles each attempt (with jitter) up to one hour.
    #[arg(long, env = "METABRIDGE_DELIVERY_BACKOFF_MS", default_value_t = 5_000)]
    pub delivery_backoff_ms: u64,
    /// Timeout of one POST to an instance's callback URL, in milliseconds.
    #[arg(long, env = "METABRIDGE_DELIVERY_TIMEOUT_MS", default_value_t = 10_000)]
    pub delivery_timeout_ms: u64,
    /// Deliveries in flight at once, all instances together.
    #[arg(long, env = "METABRIDGE_DELIVERY_CONCURRENCY", default_value_t = 64)]
    pub delivery_concurrency: usize,
    /// Deliveries in flight at once to one instance (a slow instance never takes every slot).
    #[arg(long, env = "METABRIDGE_DELIVERY_PER_INSTANCE", default_value_t = 16)]
    pub delivery_per_instance: usize,
    /// Audience (`aud`) required in the JWTs instances send to the `/v1` API.
    #[arg(long, env = "METABRIDGE_JWT_AUDIENCE", default_value = "metabridge")]
    pub jwt_audience: String,
    /// Longest lifetime (exp − iat) accepted for an instance's JWT, in seconds.
    #[arg(long, env = "METABRIDGE_JWT_MAX_LIFETIME_SECS", default_value_t = 3600)]
    pub jwt_max_lifetime_secs: u64,
    /// SQLite `synchronous` setting: `full` (fsync before every acknowledged commit) or `normal`.
    #[arg(long, env = "METABRIDGE_SQLITE_SYNCHRONOUS", default_value = "full")]
    pub sqlite_synchronous: String,
    /// Allow callback URLs on loopback/private addresses and plain HTTP (on in dev mode).
    #[arg(
        long,
        env = "METABRIDGE_ALLOW_PRIVATE_CALLBACKS",
        default_value_t = false
    )]
    pub allow_private_callbacks: bool,
    /// Base URL of Meta's Graph API (the simulator's URL in tests and the demo).
    #[arg(
        long,
        env = "META_GRAPH_URL",
        default_value = "https://graph.facebook.com"
    )]
    pub meta_graph_url: String,
    /// Graph API version used in every call.
    /// Default: the current version per Meta's Graph API changelog
    /// (<https://developers.facebook.com/docs/graph-api/changelog/versions/>, read 2026-12-02:
    /// v27.0, introduced November 4, 2026).
    #[arg(long, env = "META_GRAPH_VERSION", default_value = "v27.0")]
    pub meta_graph_version: String,
    /// Timeout of one Graph API call, in milliseconds.
    #[arg(long, env = "METABRIDGE_GRAPH_TIMEOUT_MS", default_value_t = 15_000)]
    pub graph_timeout_ms: u64,
    /// Default send rate of a WhatsApp number (messages/s); a channel may set its own (≤ 1000).
    #[arg(long, env = "METABRIDGE_WHATSAPP_RATE", default_value_t = 80)]
    pub whatsapp_rate: u32,
    /// Default send rate of an Instagram account or Facebook page (messages/s).
    #[arg(long, env = "METABRIDGE_MESSENGER_RATE", default_value_t = 250)]
    pub messenger_rate: u32,
    /// How long an ambiguous send (timeout after the request left) waits for Meta's status
    /// echo before the ambiguity policy applies, in seconds.
    #[arg(long, env = "METABRIDGE_SEND_RECONCILE_SECS", default_value_t = 120)]
    pub send_reconcile_secs: u64,
    /// What to do with an ambiguous send that no status echo confirmed, per channel kind:
    /// `retry` (send again) or `fail` (`unknown_outcome`), as `kind=policy` pairs separated by
    /// commas. A bare `fail` applies to every kind; a bare `retry` to WhatsApp only (Instagram
    /// and Messenger have no idempotency key nor status echo: a resend there must be asked for
    /// by name and may deliver the message twice).
    #[arg(
        long,
        env = "METABRIDGE_AMBIGUOUS_SEND_POLICY",
        default_value = "whatsapp=retry,instagram=fail,messenger=fail"
    )]
    pub ambiguous_send_policy: String,
    /// Graph calls of one send before it fails: retryable errors, and resends of unconfirmed
    /// sends under the `retry` policy (then `unknown_outcome`).
    #[arg(long, env = "METABRIDGE_SEND_MAX_ATTEMPTS", default_value_t = 8)]
    pub send_max_attempts: u32,
    /// First send retry delay in milliseconds; doubles each attempt (with jitter), up to 5 min.
    #[arg(long, env = "METABRIDGE_SEND_BACKOFF_MS", default_value_t = 1_000)]
    pub send_backoff_ms: u64,
    /// First pause of a channel's sends after Meta restricts the account or number (131048 spam
    /// rate limit, 368, 131031, …), in seconds; each further pause in a row doubles it, up to a
    /// day. Meta's own regain time wins when longer. Inbound relay is never paused.
    #[arg(long, env = "METABRIDGE_SEND_PAUSE_SECS", default_value_t = 900)]
    pub send_pause_secs: u64,
    /// Seconds a decrypted channel token stays in memory.
    #[arg(long, env = "METABRIDGE_TOKEN_CACHE_SECS", default_value_t = 60)]
    pub token_cache_secs: u64,
    /// PEM file of the bridge's Ed25519 key: when set, callbacks are signed EdDSA with it and
    /// its public half is served at `/.well-known/jwks.json` (else HS256 per instance).
    #[arg(long, env = "METABRIDGE_JWT_SIGNING_KEY_FILE")]
    pub jwt_signing_key_file: Option<PathBuf>,
    /// Run the delivery worker in this process (turn off for API-only replicas).
    #[arg(long, env = "METABRIDGE_WORKERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub workers: bool,
    /// Requests per second each instance may make to `/v1` (0 = no limit); over it: 429.
    #[arg(long, env = "METABRIDGE_API_RATE", default_value_t = 1000)]
    pub api_rate: u32,
    /// Burst of `/v1` requests an instance may make above its rate.
    #[arg(long, env = "METABRIDGE_API_BURST", default_value_t = 2000)]
    pub api_burst: u32,
    /// Requests per second the admin token may make to `/admin/v1` (0 = no limit).
    #[arg(long, env = "METABRIDGE_ADMIN_RATE", default_value_t = 100)]
    pub admin_rate: u32,
    /// Burst of admin requests above that rate.
    #[arg(long, env = "METABRIDGE_ADMIN_BURST", default_value_t = 200)]
    pub admin_burst: u32,
    /// Meta app id (the connect pages' Facebook Login and Embedded Signup; `debug_token`).
    #[arg(long, env = "META_APP_ID")]
    pub meta_app_id: Option<String>,
    /// Configuration id of the WhatsApp Embedded Signup login configuration.
    #[arg(long, env = "META_EMBEDDED_SIGNUP_CONFIG_ID")]
    pub meta_embedded_signup_config_id: Option<String>,
    /// Offer WhatsApp Business app numbers in Embedded Signup ("coexistence": the number keeps
    /// working in the app; `featureType: whatsapp_business_app_onboarding`). Needs the app's
    /// `history`, `smb_app_state_sync` and `smb_message_echoes` webhook fields.
    #[arg(
        long,
        env = "META_ES_BUSINESS_APP_ONBOARDING",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub meta_es_business_app_onboarding: bool,
    /// Configuration id of a Facebook Login for Business configuration for Messenger and
    /// Instagram (when unset the dialog asks for the permission scopes instead).
    #[arg(long, env = "META_LOGIN_CONFIG_ID")]
    pub meta_login_config_id: Option<String>,
    /// Base URL of Meta's OAuth dialog (`{base}/{version}/dialog/oauth`).
    #[arg(
        long,
        env = "META_DIALOG_URL",
        default_value = "https://www.facebook.com"
    )]
    pub meta_dialog_url: String,
    /// URL of Meta's JavaScript SDK, loaded by the WhatsApp connect page.
    #[arg(
        long,
        env = "META_SDK_URL",
        default_value = "https://connect.facebook.net/en_US/sdk.js"
    )]
    pub meta_sdk_url: String,
    /// Instagram Login app id and secret (default: the Meta app's).
    #[arg(long, env = "INSTAGRAM_APP_ID")]
    pub instagram_app_id: Option<String>,
    #[arg(long, env = "INSTAGRAM_APP_SECRET", hide_env_values = true)]
    pub instagram_app_secret: Option<String>,
    /// How Instagram accounts connect: `instagram_login` (Instagram API with Instagram Login)
    /// or `facebook_login` (an account linked to a Facebook Page).
    #[arg(
        long,
        env = "METABRIDGE_INSTAGRAM_FLOW",
        default_value = "instagram_login"
    )]
    pub instagram_flow: String,
    /// Base URL of Instagram's authorization dialog (`{base}/oauth/authorize`).
    #[arg(
        long,
        env = "INSTAGRAM_DIALOG_URL",
        default_value = "https://www.instagram.com"
    )]
    pub instagram_dialog_url: String,
    /// Base URL of Instagram's token endpoint (`{base}/oauth/access_token`).
    #[arg(
        long,
        env = "INSTAGRAM_API_URL",
        default_value = "https://api.instagram.com"
    )]
    pub instagram_api_url: String,
    /// Base URL of the Instagram Graph API (Instagram Login tokens).
    #[arg(
        long,
        env = "INSTAGRAM_GRAPH_URL",
        default_value = "https://graph.instagram.com"
    )]
    pub instagram_graph_url: String,
    /// Lifetime of a connect link, in seconds.
    #[arg(long, env = "METABRIDGE_CONNECT_TTL_SECS", default_value_t = 1800)]
    pub connect_ttl_secs: u64,
    /// The privacy policy the connect pages link to (default: the bridge's own `/privacy`).
    #[arg(long, env = "METABRIDGE_PRIVACY_URL")]
    pub privacy_url: Option<String>,
    /// How often each channel's token is checked with `debug_token`, in seconds.
    #[arg(long, env = "METABRIDGE_TOKEN_CHECK_SECS", default_value_t = 21_600)]
    pub token_check_secs: u64,
    /// How often each channel's webhook subscription is checked (and restored), in seconds.
    #[arg(
        long,
        env = "METABRIDGE_SUBSCRIPTION_CHECK_SECS",
        default_value_t = 86_400
    )]
    pub subscription_check_secs: u64,
    /// Refreshable tokens are refreshed when fewer than this many days are left.
    #[arg(long, env = "METABRIDGE_TOKEN_REFRESH_DAYS", default_value_t = 10)]
    pub token_refresh_days: u64,
    /// `channel.token_expiring` is sent this many days before an expiry that cannot be
    /// refreshed automatically.
    #[arg(
        long,
        env = "METABRIDGE_TOKEN_EXPIRY_WARNING_DAYS",
        default_value_t = 7
    )]
    pub token_expiry_warning_days: u64,
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
    pub public_url: String,
    pub fernet_keys: Vec<Secret>,
    pub dev: bool,
    pub max_body_bytes: usize,
    /// Slow-client limits of the HTTP server.
    pub http_timeouts: HttpTimeouts,
    pub json_logs: bool,
    pub idempotency_retention: Duration,
    pub content_retention: Duration,
    pub delivery_horizon: Duration,
    pub delivery_backoff: Duration,
    pub delivery_timeout: Duration,
    pub delivery_concurrency: usize,
    pub delivery_per_instance: usize,
    pub jwt_audience: String,
    pub jwt_max_lifetime: Duration,
    pub sqlite_synchronous_full: bool,
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
    /// The bridge's Ed25519 callback-signing key (PEM), when configured.
    pub jwt_signing_key: Option<Secret>,
    pub connect: ConnectConfig,
    pub lifecycle: LifecycleConfig,
    /// Per-instance `/v1` and admin request limits.
    pub api_limit: Limit,
    pub admin_limit: Limit,
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
    pub refresh_before: Duration,
    pub warn_before: Duration,
    /// How often the worker wakes up to look for due work (tests shorten it).
    pub tick: Duration,
    /// First retry delay of a failed lead fetch; doubles up to one hour.
    pub lead_backoff: Duration,
    /// How long ended connect sessions (ids, outcome; no secrets) are kept.
    pub session_retention: Duration,
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

/// Secrets that dev mode generates when they are missing, kept in a file so the server and
/// the operator commands agree on them.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct DevSecrets {
    meta_app_secret: Option<String>,
    meta_verify_token: Option<String>,
    admin_token: Option<String>,
    fernet_keys: Option<String>,
}

fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn dev_secrets_path(data_dir: &Path) -> PathBuf {
    data_dir.join("dev-secrets.json")
}

fn load_dev_secrets(data_dir: &Path) -> DevSecrets {
    std::fs::read(dev_secrets_path(data_dir))
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default()
}

fn save_dev_secrets(data_dir: &Path, secrets: &DevSecrets) -> Result<PathBuf, ConfigError> {
    let path = dev_secrets_path(data_dir);
    std::fs::create_dir_all(data_dir).map_err(|e| {
        cfg_err(
            "METABRIDGE_DATA_DIR",
            format!("cannot create directory: {e}"),
        )
    })?;
    let body = serde_json::to_vec_pretty(secrets).unwrap_or_default();
    std::fs::write(&path, body).map_err(|e| {
        cfg_err(
            "METABRIDGE_DATA_DIR",
            format!("cannot write dev secrets: {e}"),
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(path)
}

/// Resolves a secret: the given value, else (dev mode) the stored or a new generated one,
/// else a start-up error naming the variable.
fn resolve_secret(
    given: Option<&str>,
    variable: &'static str,
    dev: bool,
    stored: &mut Option<String>,
    generate: impl FnOnce() -> String,
    generated: &mut bool,
) -> Result<String, ConfigError> {
    if let Some(v) = given.map(str::trim).filter(|v| !v.is_empty()) {
        return Ok(v.to_string());
    }
    if !dev {
        return Err(cfg_err(
            variable,
            "is required (set it, or run with METABRIDGE_DEV=true for local use)",
        ));
    }
    if let Some(v) = stored.as_ref() {
        return Ok(v.clone());
    }
    let v = generate();
    *stored = Some(v.clone());
    *generated = true;
    Ok(v)
}

fn split_list(value: &str) -> Vec<Secret> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

impl StoreArgs {
    /// The database URL and the Fernet keys, for operator commands (dev secrets included).
    pub fn resolve(&self) -> Result<(String, Backend, Vec<Secret>), ConfigError> {
        let backend = Backend::from_url(&self.database_url)
            .ok_or_else(|| cfg_err("DATABASE_URL", "must start with sqlite:// or postgres://"))?;
        let mut dev = load_dev_secrets(&self.data_dir);
        let mut generated = false;
        let keys = resolve_secret(
            self.fernet_keys.as_deref(),
            "METABRIDGE_FERNET_KEYS",
            self.dev,
            &mut dev.fernet_keys,
            fernet::Fernet::generate_key,
            &mut generated,
        )?;
        if generated {
            let path = save_dev_secrets(&self.data_dir, &dev)?;
            eprintln!("dev mode: generated a Fernet key into {}", path.display());
        }
        let keys = split_list(&keys);
        if let Some(problem) = fernet_keys_problem(&keys) {
            return Err(cfg_err("METABRIDGE_FERNET_KEYS", problem));
        }
        Ok((self.database_url.clone(), backend, keys))
    }
}

impl Config {
    /// Validates the server's options. In dev mode, missing secrets are generated and stored
    /// in `<data dir>/dev-secrets.json` (the path is printed, never the values).
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let dev = args.store.dev;
        let (database_url, backend, fernet_keys) = args.store.resolve()?;
        let mut stored = load_dev_secrets(&args.store.data_dir);
        let mut generated = false;
        let app_secret = resolve_secret(
            args.meta_app_secret.as_deref(),
            "META_APP_SECRET",
            dev,
            &mut stored.meta_app_secret,
            || random_token(16),
            &mut generated,
        )?;
        let verify_token = resolve_secret(
            args.meta_verify_token.as_deref(),
            "META_VERIFY_TOKEN",
            dev,
            &mut stored.meta_verify_token,
            || random_token(12),
            &mut generated,
        )?;
        let admin_token = resolve_secret(
            args.admin_token.as_deref(),
            "METABRIDGE_ADMIN_TOKEN",
            dev,
            &mut stored.admin_token,
            || random_token(24),
            &mut generated,
        )?;
        if generated {
            let path = save_dev_secrets(&args.store.data_dir, &stored)?;
            eprintln!(
                "dev mode: generated missing secrets into {} (META_APP_SECRET, META_VERIFY_TOKEN, METABRIDGE_ADMIN_TOKEN)",
                path.display()
            );
        }
        let app_secrets = split_list(&app_secret);
        if app_secrets.is_empty() {
            return Err(cfg_err("META_APP_SECRET", "holds no secret"));
        }
        if admin_token.len() < 16 {
            return Err(cfg_err(
                "METABRIDGE_ADMIN_TOKEN",
                "must be at least 16 characters long",
            ));
        }
        let listen: SocketAddr = args.listen.parse().map_err(|_| {
            cfg_err(
                "METABRIDGE_LISTEN",
                "must be an address like 127.0.0.1:8080",
            )
        })?;
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let parsed = url::Url::parse(&public_url)
            .map_err(|_| cfg_err("METABRIDGE_PUBLIC_URL", "must be an absolute URL"))?;
        if parsed.scheme() != "https" && !dev && args.public_url.is_some() {
            return Err(cfg_err(
                "METABRIDGE_PUBLIC_URL",
                "must use https outside dev mode",
            ));
        }
        if args.max_body_bytes < 1024 {
            return Err(cfg_err(
                "METABRIDGE_MAX_BODY_BYTES",
                "must be at least 1024",
            ));
        }
        for (var, ms) in [
            ("METABRIDGE_HEADER_TIMEOUT_MS", args.header_timeout_ms),
            ("METABRIDGE_BODY_TIMEOUT_MS", args.body_timeout_ms),
            ("METABRIDGE_IDLE_TIMEOUT_MS", args.idle_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                return Err(cfg_err(var, "must be between 100 and 3600000"));
            }
        }
        let json_logs = match args.log_format.as_str() {
            "json" => true,
            "text" => false,
            _ => return Err(cfg_err("METABRIDGE_LOG_FORMAT", "must be `text` or `json`")),
        };
        let sqlite_synchronous_full = match args.sqlite_synchronous.to_ascii_lowercase().as_str() {
            "full" => true,
            "normal" => false,
            _ => {
                return Err(cfg_err(
                    "METABRIDGE_SQLITE_SYNCHRONOUS",
                    "must be `full` or `normal`",
                ));
            }
        };
        if args.idempotency_retention_days == 0 {
            return Err(cfg_err(
                "METABRIDGE_IDEMPOTENCY_RETENTION_DAYS",
                "must be at least 1",
            ));
        }
        if args.delivery_horizon_hours == 0 {
            return Err(cfg_err(
                "METABRIDGE_DELIVERY_HORIZON_HOURS",
                "must be at least 1",
            ));
        }
        if args.delivery_concurrency == 0 || args.delivery_per_instance == 0 {
            return Err(cfg_err(
                "METABRIDGE_DELIVERY_CONCURRENCY",
                "delivery concurrency values must be at least 1",
            ));
        }
        if args.delivery_timeout_ms < 100 {
            return Err(cfg_err(
                "METABRIDGE_DELIVERY_TIMEOUT_MS",
                "must be at least 100",
            ));
        }
        let graph_url = url::Url::parse(&args.meta_graph_url)
            .map_err(|_| cfg_err("META_GRAPH_URL", "must be an absolute URL"))?;
        if graph_url.scheme() != "https" && !dev {
            return Err(cfg_err("META_GRAPH_URL", "must use https outside dev mode"));
        }
        let ambiguous_policy = AmbiguousPolicies::parse(&args.ambiguous_send_policy)
            .map_err(|what| cfg_err("METABRIDGE_AMBIGUOUS_SEND_POLICY", what))?;
        for (var, rate) in [
            ("METABRIDGE_WHATSAPP_RATE", args.whatsapp_rate),
            ("METABRIDGE_MESSENGER_RATE", args.messenger_rate),
        ] {
            if rate == 0 || rate > MAX_CHANNEL_RATE {
                return Err(cfg_err(var, "must be between 1 and 1000"));
            }
        }
        if args.graph_timeout_ms < 100 {
            return Err(cfg_err(
                "METABRIDGE_GRAPH_TIMEOUT_MS",
                "must be at least 100",
            ));
        }
        let mut urls = Vec::new();
        for (var, value) in [
            ("META_DIALOG_URL", &args.meta_dialog_url),
            ("META_SDK_URL", &args.meta_sdk_url),
            ("INSTAGRAM_DIALOG_URL", &args.instagram_dialog_url),
            ("INSTAGRAM_API_URL", &args.instagram_api_url),
            ("INSTAGRAM_GRAPH_URL", &args.instagram_graph_url),
        ] {
            let u = url::Url::parse(value).map_err(|_| cfg_err(var, "must be an absolute URL"))?;
            if u.scheme() != "https" && !dev {
                return Err(cfg_err(var, "must use https outside dev mode"));
            }
            urls.push(value.trim_end_matches('/').to_string());
        }
        let instagram_flow = match args.instagram_flow.as_str() {
            "instagram_login" => InstagramFlow::InstagramLogin,
            "facebook_login" => InstagramFlow::FacebookLogin,
            _ => {
                return Err(cfg_err(
                    "METABRIDGE_INSTAGRAM_FLOW",
                    "must be `instagram_login` or `facebook_login`",
                ));
            }
        };
        let app_id = args
            .meta_app_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(id) = app_id
            && !id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(cfg_err("META_APP_ID", "must be Meta's numeric app id"));
        }
        if !(60..=7 * 86_400).contains(&args.connect_ttl_secs) {
            return Err(cfg_err(
                "METABRIDGE_CONNECT_TTL_SECS",
                "must be between 60 and 604800",
            ));
        }
        if args.token_check_secs < 60 || args.subscription_check_secs < 60 {
            return Err(cfg_err(
                "METABRIDGE_TOKEN_CHECK_SECS",
                "token and subscription check periods must be at least 60 seconds",
            ));
        }
        let privacy_url = match &args.privacy_url {
            Some(u) => {
                url::Url::parse(u)
                    .map_err(|_| cfg_err("METABRIDGE_PRIVACY_URL", "must be an absolute URL"))?;
                u.clone()
            }
            None => format!("{}/privacy", public_url.trim_end_matches('/')),
        };
        let connect = ConnectConfig {
            app_id: app_id.map(str::to_string),
            embedded_signup_config_id: args.meta_embedded_signup_config_id.clone(),
            business_app_onboarding: args.meta_es_business_app_onboarding,
            login_config_id: args.meta_login_config_id.clone(),
            dialog_url: urls[0].clone(),
            sdk_url: urls[1].clone(),
            instagram_app_id: args.instagram_app_id.clone(),
            instagram_app_secret: args.instagram_app_secret.clone().map(Secret::new),
            instagram_flow,
            instagram_dialog_url: urls[2].clone(),
            instagram_api_url: urls[3].clone(),
            instagram_graph_url: urls[4].clone(),
            session_ttl: Duration::from_secs(args.connect_ttl_secs),
            privacy_url,
        };
        let lifecycle = LifecycleConfig {
            token_check_every: Duration::from_secs(args.token_check_secs),
            subscription_check_every: Duration::from_secs(args.subscription_check_secs),
            refresh_before: Duration::from_secs(args.token_refresh_days * DAY),
            warn_before: Duration::from_secs(args.token_expiry_warning_days * DAY),
            tick: Duration::from_secs(30),
            lead_backoff: Duration::from_secs(5),
            session_retention: Duration::from_secs(
                u64::from(args.idempotency_retention_days) * DAY,
            ),
        };
        let jwt_signing_key = match &args.jwt_signing_key_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    cfg_err(
                        "METABRIDGE_JWT_SIGNING_KEY_FILE",
                        format!("cannot read the key file: {}", e.kind()),
                    )
                })?;
                // Parsed (and refused naming the variable) where the key is loaded, in `app`.
                Some(Secret::new(pem))
            }
        };
        Ok(Config {
            listen,
            database_url,
            backend,
            app_secrets,
            signed_request_max_age: Duration::from_secs(args.signed_request_max_age_secs.max(60)),
            verify_token: Secret::new(verify_token),
            admin_token: Secret::new(admin_token),
            public_url: public_url.trim_end_matches('/').to_string(),
            fernet_keys,
            dev,
            max_body_bytes: args.max_body_bytes,
            http_timeouts: HttpTimeouts {
                header: Duration::from_millis(args.header_timeout_ms),
                body: Duration::from_millis(args.body_timeout_ms),
                idle: Duration::from_millis(args.idle_timeout_ms),
            },
            json_logs,
            idempotency_retention: Duration::from_secs(
                u64::from(args.idempotency_retention_days) * DAY,
            ),
            content_retention: Duration::from_secs(u64::from(args.content_retention_days) * DAY),
            delivery_horizon: Duration::from_secs(u64::from(args.delivery_horizon_hours) * 3600),
            delivery_backoff: Duration::from_millis(args.delivery_backoff_ms.max(10)),
            delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
            delivery_concurrency: args.delivery_concurrency,
            delivery_per_instance: args.delivery_per_instance,
            jwt_audience: args.jwt_audience.clone(),
            jwt_max_lifetime: Duration::from_secs(args.jwt_max_lifetime_secs.max(1)),
            sqlite_synchronous_full,
            allow_private_callbacks: args.allow_private_callbacks || dev,
            callback_dns_overrides: Vec::new(),
            run_workers: args.workers,
            retention_interval: Duration::from_secs(60),
            dispatch_poll: Duration::from_millis(500),
            graph: GraphConfig {
                base_url: args.meta_graph_url.trim_end_matches('/').to_string(),
                version: args.meta_graph_version.clone(),
                timeout: Duration::from_millis(args.graph_timeout_ms),
            },
            sending: SendConfig {
                whatsapp_rate: args.whatsapp_rate,
                messenger_rate: args.messenger_rate,
                reconcile_window: Duration::from_secs(args.send_reconcile_secs.max(1)),
                ambiguous_policy,
                max_attempts: args.send_max_attempts.max(1),
                backoff: Duration::from_millis(args.send_backoff_ms.max(10)),
                idle_poll: Duration::from_secs(1),
                pause: Duration::from_secs(args.send_pause_secs.clamp(1, 86_400)),
            },
            token_cache_ttl: Duration::from_secs(args.token_cache_secs.clamp(1, 3600)),
            jwt_signing_key,
            connect,
            lifecycle,
            api_limit: Limit {
                per_second: args.api_rate,
                burst: args.api_burst,
            },
            admin_limit: Limit {
                per_second: args.admin_rate,
                burst: args.admin_burst,
            },
        })
    }

    /// A configuration for tests and the embedded demo: everything explicit, nothing read
    /// from the environment.
    pub fn for_tests(database_url: &str, app_secret: &str, fernet_key: &str) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("static address"),
            database_url: database_url.to_string(),
            backend: Backend::from_url(database_url).expect("test database url"),
            app_secrets: vec![Secret::new(app_secret)],
            signed_request_max_age: Duration::from_secs(86_400),
            verify_token: Secret::new("test-verify-token"),
            admin_token: Secret::new("test-admin-token-0123456789"),
            // Filled in with the bound address by `Application::build`.
            public_url: String::new(),
            fernet_keys: vec![Secret::new(fernet_key)],
            dev: true,
            max_body_bytes: 4 * 1024 * 1024,
            http_timeouts: HttpTimeouts {
                header: Duration::from_secs(10),
                body: Duration::from_secs(30),
                idle: Duration::from_secs(60),
            },
            json_logs: false,
            idempotency_retention: Duration::from_secs(30 * DAY),
            content_retention: Duration::from_secs(7 * DAY),
            delivery_horizon: Duration::from_secs(96 * 3600),
            delivery_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_millis(2_000),
            delivery_concurrency: 64,
            delivery_per_instance: 16,
            jwt_audience: "metabridge".to_string(),
            jwt_max_lifetime: Duration::from_secs(3600),
            sqlite_synchronous_full: true,
            allow_private_callbacks: true,
            callback_dns_overrides: Vec::new(),
            run_workers: true,
            retention_interval: Duration::from_secs(3600),
            dispatch_poll: Duration::from_millis(200),
            graph: GraphConfig {
                base_url: "http://127.0.0.1:9".to_string(),
                version: "v27.0".to_string(),
                timeout: Duration::from_millis(2_000),
            },
            sending: SendConfig {
                whatsapp_rate: 80,
                messenger_rate: 250,
                reconcile_window: Duration::from_secs(3),
                ambiguous_policy: AmbiguousPolicies::default(),
                max_attempts: 5,
                backoff: Duration::from_millis(100),
                idle_poll: Duration::from_millis(200),
                pause: Duration::from_secs(900),
            },
            token_cache_ttl: Duration::from_secs(60),
            jwt_signing_key: None,
            connect: ConnectConfig {
                app_id: None,
                embedded_signup_config_id: None,
                business_app_onboarding: true,
                login_config_id: None,
                dialog_url: "http://127.0.0.1:9".to_string(),
                sdk_url: "http://127.0.0.1:9/sdk.js".to_string(),
                instagram_app_id: None,
                instagram_app_secret: None,
                instagram_flow: InstagramFlow::InstagramLogin,
                instagram_dialog_url: "http://127.0.0.1:9".to_string(),
                instagram_api_url: "http://127.0.0.1:9".to_string(),
                instagram_graph_url: "http://127.0.0.1:9".to_string(),
                session_ttl: Duration::from_secs(1800),
                privacy_url: String::new(),
            },
            lifecycle: LifecycleConfig {
                token_check_every: Duration::from_secs(6 * 3600),
                subscription_check_every: Duration::from_secs(DAY),
                refresh_before: Duration::from_secs(10 * DAY),
                warn_before: Duration::from_secs(7 * DAY),
                tick: Duration::from_millis(200),
                lead_backoff: Duration::from_millis(100),
                session_retention: Duration::from_secs(30 * DAY),
            },
            // Off in tests (benchmarks and fuzzers hit the API hard); a test turns them on.
            api_limit: Limit {
                per_second: 0,
                burst: 0,
            },
            admin_limit: Limit {
                per_second: 0,
                burst: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> ServeArgs {
        let mut all = vec!["metabridge"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parse").serve
    }

    #[test]
    fn missing_secret_outside_dev_names_the_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = fernet::Fernet::generate_key();
        let args = parse(&[
            // `=`: a generated key may start with `-` (url-safe base64).
            &format!("--fernet-keys={key}"),
            "--data-dir",
            dir.path().to_str().expect("utf8"),
            "--meta-verify-token",
            "x",
            "--admin-token",
            "0123456789abcdef0123",
        ]);
        let err = Config::from_args(&args).expect_err("must fail");
        assert_eq!(err.variable, "META_APP_SECRET");
    }

    #[test]
    fn bad_fernet_key_is_a_config_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = parse(&[
            "--fernet-keys",
            "not-a-key",
            "--data-dir",
            dir.path().to_str().expect("utf8"),
        ]);
        let err = Config::from_args(&args).expect_err("must fail");
        assert_eq!(err.variable, "METABRIDGE_FERNET_KEYS");
        assert!(
            !err.to_string().contains("not-a-key"),
            "value must not be echoed"
        );
    }

    #[test]
    fn dev_mode_generates_and_reuses_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf8");
        let args = parse(&["--dev", "--data-dir", d]);
        let a = Config::from_args(&args).expect("dev config");
        let b = Config::from_args(&args).expect("dev config again");
        assert_eq!(a.admin_token, b.admin_token);
        assert_eq!(a.fernet_keys, b.fernet_keys);
        assert!(format!("{a:?}").contains("Secret(***)"));
        assert!(!format!("{a:?}").contains(a.admin_token.expose()));
    }

    /// The ambiguous-send policy is per channel kind; by default WhatsApp retries (Meta echoes
    /// the bridge's id in statuses) and Instagram/Messenger fail (no idempotency there).
    #[test]
    fn ambiguous_send_policy_per_kind() {
        use AmbiguousPolicy::{Fail, Retry};
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf8");
        let policies = |extra: &[&str]| {
            let mut a = vec!["--dev", "--data-dir", d];
            a.extend_from_slice(extra);
            Config::from_args(&parse(&a)).map(|c| {
                let p = c.sending.ambiguous_policy;
                (
                    p.for_kind("whatsapp"),
                    p.for_kind("instagram"),
                    p.for_kind("messenger"),
                )
            })
        };
        assert_eq!(policies(&[]).expect("default"), (Retry, Fail, Fail));
        let set = |v: &str| policies(&["--ambiguous-send-policy", v]);
        assert_eq!(set("retry").expect("bare retry"), (Retry, Fail, Fail));
        assert_eq!(set("fail").expect("bare fail"), (Fail, Fail, Fail));
        assert_eq!(
            set("whatsapp=fail, messenger=retry").expect("pairs"),
            (Fail, Fail, Retry)
        );
        assert_eq!(
            set("fail,instagram=retry").expect("mixed"),
            (Fail, Retry, Fail)
        );
        for bad in [
            "",
            "sometimes",
            "telegram=retry",
            "whatsapp=maybe",
            "whatsapp",
        ] {
            let err = set(bad).expect_err(bad);
            assert_eq!(err.variable, "METABRIDGE_AMBIGUOUS_SEND_POLICY");
        }
        assert_eq!(AmbiguousPolicies::default().for_kind("other"), Fail);
    }

    #[test]
    fn rotated_app_secrets_are_all_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf8");
        let args = parse(&["--dev", "--data-dir", d, "--meta-app-secret", "old, new"]);
        let c = Config::from_args(&args).expect("config");
        assert_eq!(c.app_secrets, vec![Secret::new("old"), Secret::new("new")]);
    }
}
