//! The command-line and environment options (clap): what an operator sets.

use std::path::PathBuf;

use clap::Args;

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
    /// Bearer token that `/metrics` requires (unset: `/metrics` is open; bind the service
    /// privately or set this when it is reachable from outside).
    #[arg(long, env = "METABRIDGE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
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
    /// PostgreSQL: `VACUUM` the events table after this many delivery outcomes committed by
    /// this replica (0: leave it to autovacuum alone).
    #[arg(long, env = "METABRIDGE_PG_VACUUM_EVERY", default_value_t = 10_000)]
    pub pg_vacuum_every: u64,
    /// Audience (`aud`) required in the JWTs instances send to the `/v1` API.
    #[arg(long, env = "METABRIDGE_JWT_AUDIENCE", default_value = "metabridge")]
    pub jwt_audience: String,
    /// Longest lifetime (exp − iat) accepted for an instance's JWT, in seconds.
    #[arg(long, env = "METABRIDGE_JWT_MAX_LIFETIME_SECS", default_value_t = 3600)]
    pub jwt_max_lifetime_secs: u64,
    /// SQLite `synchronous` setting: `full` (fsync before every acknowledged commit) or `normal`.
    #[arg(long, env = "METABRIDGE_SQLITE_SYNCHRONOUS", default_value = "full")]
    pub sqlite_synchronous: String,
    /// SQLite `secure_delete`: `on` (purged content is overwritten with zeros in the file) or
    /// `off` (purged rows' bytes may stay in free pages until reused; only for a database on
    /// an encrypted disk whose copies are controlled).
    #[arg(long, env = "METABRIDGE_SQLITE_SECURE_DELETE", default_value = "on")]
    pub sqlite_secure_delete: String,
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
    /// How long an Instagram / Messenger contact profile read from Meta is used before the
    /// contact's next message reads it again, in seconds (Meta's picture URLs expire after a
    /// few days). At least 60.
    #[arg(
        long,
        env = "METABRIDGE_CONTACT_PROFILE_TTL_SECS",
        default_value_t = 86_400
    )]
    pub contact_profile_ttl_secs: u64,
    /// Keep a copy of the media of customers' messages (WhatsApp media, Instagram / Messenger
    /// attachments) for `METABRIDGE_MEDIA_RETENTION_HOURS`: `on` or `off`. Default: `on` with
    /// the embedded SQLite database, `off` with PostgreSQL (several replicas need
    /// `METABRIDGE_MEDIA_DIR` on a volume they all share).
    #[arg(long, env = "METABRIDGE_MEDIA_CACHE")]
    pub media_cache: Option<String>,
    /// Where kept media files are written (`<dir>/<instance>/<channel>/<media id>`).
    /// Default: `media` under the data directory.
    #[arg(long, env = "METABRIDGE_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,
    /// How long a kept media file is served before it is deleted, in hours (1 to 720; Meta's
    /// WhatsApp media ids in webhooks expire after 7 days).
    #[arg(long, env = "METABRIDGE_MEDIA_RETENTION_HOURS", default_value_t = 168)]
    pub media_retention_hours: u64,
    /// Media downloads running at once on this replica (1 to 32).
    #[arg(long, env = "METABRIDGE_MEDIA_CONCURRENCY", default_value_t = 4)]
    pub media_concurrency: usize,
    /// PEM file of the bridge's Ed25519 key: when set, callbacks are signed EdDSA with it and
    /// its public half is served at `/.well-known/jwks.json` (else HS256 per instance).
    #[arg(long, env = "METABRIDGE_JWT_SIGNING_KEY_FILE")]
    pub jwt_signing_key_file: Option<PathBuf>,
    /// Serve the operator console at `/console` (sign-in with the admin token).
    #[arg(long, env = "METABRIDGE_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
    /// A console session unused for this many minutes is signed out (1–1440).
    #[arg(long, env = "METABRIDGE_CONSOLE_IDLE_MINUTES", default_value_t = 30)]
    pub console_idle_minutes: u64,
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
    /// Media uploads (`POST /v1/channels/{id}/media`) one instance may have in flight at
    /// once on this replica; over it: 429 before the body is read.
    #[arg(long, env = "METABRIDGE_UPLOADS_PER_INSTANCE", default_value_t = 2)]
    pub uploads_per_instance: usize,
    /// Media uploads in flight at once on this replica, all instances together; over it:
    /// 429 before the body is read.
    #[arg(long, env = "METABRIDGE_UPLOADS_MAX", default_value_t = 8)]
    pub uploads_max: usize,
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
    /// How often each WhatsApp channel's message templates are read again from Meta, in
    /// seconds (also read on connect, on Meta's template webhooks, and once for an unknown
    /// template before a send is refused).
    #[arg(long, env = "METABRIDGE_TEMPLATE_SYNC_SECS", default_value_t = 3_600)]
    pub template_sync_secs: u64,
    /// A Page that has received leads and has had none for this many minutes has its leads
    /// since then read from Meta, and the ones its webhooks missed relayed (0 = never).
    #[arg(long, env = "METABRIDGE_LEAD_GAP_MINUTES", default_value_t = 360)]
    pub lead_gap_minutes: u64,
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
