//! A fake Meta Graph API: the side the bridge *sends* to. It serves the WhatsApp Cloud API
//! send endpoint (messages, templates, read receipts), the Instagram/Messenger Send API, media
//! metadata, download and upload, and `debug_token`, answering with the shapes of
//! `tests/fixtures/meta/` and Meta's error envelopes (meta-platform.md §6–§9), and after an
//! accepted WhatsApp send it POSTs signed `sent`/`delivered`/`read` (or `failed`) status
//! webhooks to the bridge, the way Meta does: late, possibly out of order, retried on failure.
//!
//! Tests and the CLI drive it in process through [`GraphSim`], other tools over HTTP under
//! `/_sim/` (faults, closed windows, channels, the request log). Faults cover the cases the
//! bridge must classify: throttling, pair rate, transient 5xx with and without an envelope,
//! dead tokens, closed windows, permanent codes, and the two ambiguous ones: a send Meta
//! accepted but answered too late ([`Fault::Timeout`]) and a connection dropped without any
//! answer ([`Fault::DropConnection`], done by a listener whose connections the handler can
//! reset, since poem has no way to abort a response from a handler).
//!
//! The channel-connect flows (Facebook Login and Embedded Signup dialogs, a JS SDK stand-in,
//! Instagram Login, code exchanges, `me/accounts`, subscriptions, phone registration, Lead Ads
//! leads, minted tokens and their expiry) live in [`super::onboarding`], served by the same
//! listener under path prefixes.
//!
//! It keeps everything in memory, is meant for tests and demos only, and never prints
//! message content: `print` writes one line per request (method, path, status, returned id).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use poem::http::uri::Scheme;
use poem::http::{Method, StatusCode};
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::{LocalAddr, Multipart, RemoteAddr};
use poem::{Endpoint, FromRequest, Request, RequestBody, Response};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::onboarding::tokens::{IgTokenShape, Onboard};
use super::onboarding::{self, now_secs};
use super::payloads::meta_bytes;
use crate::crypto::signature;
use crate::shutdown::CancellationToken;

/// Largest JSON body accepted on `/messages` and `/_sim/*`.
pub(super) const JSON_LIMIT: usize = 4 * 1024 * 1024;
/// Largest multipart upload accepted.
const UPLOAD_LIMIT: usize = 100 * 1024 * 1024;
/// A status webhook is retried this many times after a failed first attempt.
const WEBHOOK_RETRIES: u32 = 3;
/// First retry delay; doubled for every further retry.
const WEBHOOK_BACKOFF: Duration = Duration::from_millis(200);
/// WhatsApp account used in status webhooks of a channel registered without a WABA id.
const DEFAULT_WABA_ID: &str = "102000000000001";
/// The simulated Meta app id (the only `client_id` the dialogs and token exchanges accept).
pub const APP_ID: &str = "236400000000001";

/// Points every Meta host of the connect flows at a running simulator (`metabridge sim graph`,
/// the demo, tests), with the simulator's app and an Embedded Signup configuration.
pub fn point_connect_at(connect: &mut crate::config::ConnectConfig, sim_url: &str) {
    let sim = sim_url.trim_end_matches('/');
    connect.app_id = Some(APP_ID.to_string());
    connect.embedded_signup_config_id = Some("990000000000777".to_string());
    connect.dialog_url = format!("{sim}/dialog-fb");
    connect.sdk_url = format!("{sim}/sdk.js");
    connect.instagram_dialog_url = format!("{sim}/dialog-ig");
    connect.instagram_api_url = format!("{sim}/ig-api");
    connect.instagram_graph_url = format!("{sim}/ig-graph");
}

/// How the simulator behaves; [`Default`] emits no webhooks.
#[derive(Clone)]
pub struct GraphSimOptions {
    /// The bridge's `/webhooks/meta`; `None` = emit no status webhooks.
    pub webhook_url: Option<String>,
    /// Meta app secret that signs the status webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// Delays, counted from the arrival of an accepted WhatsApp send, of its `sent`,
    /// `delivered` and `read` webhooks; `None` disables that status. A `failed` status (closed
    /// window) goes out after the `sent` delay, or the smallest enabled one if `sent` is
    /// disabled, and not at all when all three are `None`.
    pub status_delays: [Option<Duration>; 3],
    /// Emit the enabled statuses in reverse order (`read` first): the sorted delays are handed
    /// out to `read`, `delivered`, `sent` in that order. Meta does not guarantee ordering.
    pub reorder_statuses: bool,
    /// One line per request and per status webhook on stdout (never content).
    pub print: bool,
    /// Lifetime of an Embedded Signup code (Meta: 30 s); also [`GraphSim::set_es_code_ttl`].
    pub es_code_ttl: Duration,
    /// Shape of the Instagram Login code-exchange answer (flat, `data[]`, or alternating).
    pub ig_token_shape: IgTokenShape,
    /// Let `refresh_access_token` refresh Instagram tokens younger than 24 h (Meta refuses).
    pub allow_young_ig_refresh: bool,
}

impl Default for GraphSimOptions {
    fn default() -> Self {
        Self {
            webhook_url: None,
            app_secret: String::new(),
            status_delays: [
                Some(Duration::from_millis(50)),
                Some(Duration::from_millis(150)),
                Some(Duration::from_millis(300)),
            ],
            reorder_statuses: false,
            print: false,
            es_code_ttl: Duration::from_secs(30),
            ig_token_shape: IgTokenShape::Alternate,
            allow_young_ig_refresh: false,
        }
    }
}

impl std::fmt::Debug for GraphSimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSimOptions")
            .field("webhook_url", &self.webhook_url)
            .field("app_secret", &"***")
            .field("status_delays", &self.status_delays)
            .field("reorder_statuses", &self.reorder_statuses)
            .field("print", &self.print)
            .field("es_code_ttl", &self.es_code_ttl)
            .field("ig_token_shape", &self.ig_token_shape)
            .field("allow_young_ig_refresh", &self.allow_young_ig_refresh)
            .finish()
    }
}

/// One request the simulator received (control requests under `/_sim/` are not recorded).
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The sending account the path names (`me` resolved through the token), if any.
    pub sender_id: Option<String>,
    /// The bearer token was valid for what was asked.
    pub authorization_ok: bool,
    /// The JSON body; `Null` when the body was empty, not JSON or multipart.
    pub body: Value,
    /// HTTP status answered; `0` when the connection was dropped without an answer.
    pub answered: u16,
    /// When the request arrived.
    pub at: Instant,
    /// Id handed out: `wamid.…` / `m_…` for sends, the media id for uploads.
    pub message_id: Option<String>,
    /// An accepted message send (not a read receipt or sender action); listed by
    /// [`GraphSim::sends`]. Includes sends answered late by [`Fault::Timeout`].
    pub accepted_send: bool,
    /// Name of the injected fault that shaped the answer (`throttle`, `timeout`, …).
    pub fault: Option<&'static str>,
}

/// A status webhook the simulator POSTed (after its last attempt).
#[derive(Debug, Clone)]
pub struct StatusWebhook {
    pub wamid: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// Status of the last attempt; `None` if it got no HTTP answer.
    pub answered: Option<u16>,
    pub at: Instant,
}

/// An injected failure for the next `times` message-send requests (read receipts and
/// sender actions neither trigger nor consume faults). Queued FIFO: only the first fault in
/// the queue applies, and it leaves the queue once used `times` times. Faults apply after the
/// sender and token checks and before the body is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 400 with code 130429 (WhatsApp) or 4 (Instagram/Messenger), fixture envelopes.
    Throttle { times: u32 },
    /// 400 with code 131056.
    PairRate { times: u32 },
    /// 500 with a Meta envelope, code 2 (transient).
    ServerError { times: u32 },
    /// 502 with an HTML body, no envelope.
    BareServerError { times: u32 },
    /// Processed normally (recorded as accepted, statuses emitted: Meta got it), but the
    /// answer is held for `delay`, so a client with a shorter timeout gives up first.
    Timeout { times: u32, delay: Duration },
    /// Nothing is accepted; the connection is reset (TCP RST) without an HTTP answer.
    DropConnection { times: u32 },
    /// 401 with code 190, subcode 463.
    TokenInvalid { times: u32 },
    /// 400 with code 131047 (WhatsApp) or 10 with the window subcode (Instagram 2534022,
    /// Messenger 2018278).
    Window { times: u32 },
    /// 400 with that code.
    Permanent { times: u32, code: u32 },
}

impl Fault {
    /// Stable name, also the `fault` value of `POST /_sim/faults`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Throttle { .. } => "throttle",
            Self::PairRate { .. } => "pair_rate",
            Self::ServerError { .. } => "server_error",
            Self::BareServerError { .. } => "bare_server_error",
            Self::Timeout { .. } => "timeout",
            Self::DropConnection { .. } => "drop_connection",
            Self::TokenInvalid { .. } => "token_invalid",
            Self::Window { .. } => "window",
            Self::Permanent { .. } => "permanent",
        }
    }

    fn times_mut(&mut self) -> &mut u32 {
        match self {
            Self::Throttle { times }
            | Self::PairRate { times }
            | Self::ServerError { times }
            | Self::BareServerError { times }
            | Self::Timeout { times, .. }
            | Self::DropConnection { times }
            | Self::TokenInvalid { times }
            | Self::Window { times }
            | Self::Permanent { times, .. } => times,
        }
    }

    /// Parses `{"fault":"timeout","times":2,"delay_ms":5000}` / `{"fault":"permanent",
    /// "code":132001}` (`times` defaults to 1).
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let times = match v.get("times") {
            None | Some(Value::Null) => 1,
            Some(t) => t
                .as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or("times must be a non-negative integer")?,
        };
        let name = v
            .get("fault")
            .and_then(Value::as_str)
            .ok_or("fault (a name) is required")?;
        Ok(match name {
            "throttle" => Self::Throttle { times },
            "pair_rate" => Self::PairRate { times },
            "server_error" => Self::ServerError { times },
            "bare_server_error" => Self::BareServerError { times },
            "timeout" => Self::Timeout {
                times,
                delay: Duration::from_millis(
                    v.get("delay_ms")
                        .and_then(Value::as_u64)
                        .ok_or("timeout needs delay_ms")?,
                ),
            },
            "drop_connection" => Self::DropConnection { times },
            "token_invalid" => Self::TokenInvalid { times },
            "window" => Self::Window { times },
            "permanent" => Self::Permanent {
                times,
                code: v
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or("permanent needs code")?,
            },
            other => return Err(format!("unknown fault {other}")),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    WhatsApp,
    Instagram,
    Messenger,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "whatsapp" | "wa" => Some(Self::WhatsApp),
            "instagram" | "ig" => Some(Self::Instagram),
            "messenger" | "facebook" | "page" => Some(Self::Messenger),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Channel {
    pub(super) kind: Kind,
    pub(super) external_id: String,
    pub(super) waba_id: Option<String>,
    pub(super) token: String,
}

struct MediaItem {
    mime: String,
    bytes: Vec<u8>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) channels: HashMap<String, Channel>,
    pub(super) revoked: HashSet<String>,
    requests: Vec<GraphRequest>,
    faults: VecDeque<Fault>,
    closed: HashSet<String>,
    /// Instagram-scoped ids of Instagram users ([`GraphSim::add_instagram_user`]): a Page-token
    /// send to one goes to the Page's linked Instagram account.
    ig_users: HashSet<String>,
    media: HashMap<String, MediaItem>,
    uploaded: Vec<(String, String, usize)>,
    webhooks: Vec<StatusWebhook>,
    /// Accounts, minted tokens, codes, subscriptions and leads of the connect flows.
    pub(super) onboard: Onboard,
}

impl Inner {
    pub(super) fn token_state(&self, token: &str) -> TokenState {
        if let Some(minted) = self.onboard.tokens.get(token) {
            return if self.revoked.contains(token) || minted.is_expired(now_secs()) {
                TokenState::Revoked
            } else {
                TokenState::Valid
            };
        }
        if !self.channels.values().any(|c| c.token == token) {
            TokenState::Unknown
        } else if self.revoked.contains(token) || self.onboard.channel_expired(token, now_secs()) {
            TokenState::Revoked
        } else {
            TokenState::Valid
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenState {
    Valid,
    Revoked,
    Unknown,
}

type Connections = Mutex<HashMap<SocketAddr, Arc<AtomicBool>>>;

pub(super) struct State {
    pub(super) inner: Mutex<Inner>,
    /// Set after start (the bridge's address is known only once it is bound).
    webhook_override: Mutex<Option<String>>,
    pub(super) secret_override: Mutex<Option<String>>,
    connections: Arc<Connections>,
    pub(super) opts: GraphSimOptions,
    pub(super) base_url: String,
    seq: AtomicU64,
    nonce: u32,
    started: Instant,
    pub(super) client: reqwest::Client,
    stop: CancellationToken,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running simulator. Dropping it (or [`GraphSim::stop`]) stops the server and every
/// pending status webhook.
pub struct GraphSim {
    addr: SocketAddr,
    pub(super) state: Arc<State>,
}

impl GraphSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The app secret status webhooks are signed with from now on.
    pub fn set_app_secret(&self, secret: &str) {
        *lock(&self.state.secret_override) = Some(secret.to_string());
    }

    /// Where status webhooks go from now on (the bridge's `/webhooks/meta`).
    pub fn set_webhook_url(&self, url: &str) {
        *lock(&self.state.webhook_override) = Some(url.to_string());
    }

    /// `http://127.0.0.1:PORT`; the bridge appends `/{version}/...`.
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Registers a sending account: `kind` is `whatsapp`, `instagram` or `messenger`,
    /// `external_id` the id in the send path (phone number id, IG account or Page id) and
    /// `token` the one bearer token accepted for it. Registering an id again replaces it.
    /// An unknown `kind` is ignored with a warning.
    pub fn add_channel(&self, kind: &str, external_id: &str, waba_id: Option<&str>, token: &str) {
        if let Err(e) = self.state.add_channel(kind, external_id, waba_id, token) {
            tracing::warn!("graph sim: {e}");
        }
    }

    /// Declares `igsid` an Instagram user: a send through a Page (`/me/messages` with a Page
    /// token whose Page has a linked Instagram account) to this recipient is an Instagram send
    /// from that account, as Meta routes it; to anyone else it is a Messenger send.
    pub fn add_instagram_user(&self, igsid: &str) {
        lock(&self.state.inner).ig_users.insert(igsid.to_string());
    }

    /// Later calls with `token` get 401 code 190 subcode 463; `debug_token` says invalid.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.state.inner).revoked.insert(token.to_string());
    }

    /// Every request received, in the order they were answered (`/_sim/` excluded).
    pub fn requests(&self) -> Vec<GraphRequest> {
        lock(&self.state.inner).requests.clone()
    }

    /// Arrival times of accepted sends per sender id (cheap: no bodies copied).
    pub fn send_times(&self) -> HashMap<String, Vec<Instant>> {
        let inner = lock(&self.state.inner);
        let mut m: HashMap<String, Vec<Instant>> = HashMap::new();
        for r in inner.requests.iter().filter(|r| r.accepted_send) {
            if let Some(s) = &r.sender_id {
                m.entry(s.clone()).or_default().push(r.at);
            }
        }
        m
    }

    /// Accepted message sends only (no read receipts, sender actions or rejected sends).
    pub fn sends(&self) -> Vec<GraphRequest> {
        lock(&self.state.inner)
            .requests
            .iter()
            .filter(|r| r.accepted_send)
            .cloned()
            .collect()
    }

    /// Status webhooks POSTed so far (one entry per status, after its last attempt).
    pub fn webhooks(&self) -> Vec<StatusWebhook> {
        lock(&self.state.inner).webhooks.clone()
    }

    /// Queues `fault` for the next message sends (see [`Fault`]).
    pub fn push_fault(&self, fault: Fault) {
        self.state.push_fault(fault);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.state.inner).faults.clear();
    }

    /// Closes the customer-service window for `recipient` (phone number in any format, BSUID,
    /// IGSID or PSID). WhatsApp: free-form sends are accepted, then fail with a `failed`
    /// status (131047) instead of sent/delivered/read; templates are unaffected.
    /// Instagram/Messenger: messages are refused with 400 code 10 (subcode 2534022 /
    /// 2018278); sender actions still pass.
    pub fn close_window(&self, recipient: &str) {
        lock(&self.state.inner)
            .closed
            .insert(recipient_key(recipient));
    }

    /// Reopens a window closed with [`GraphSim::close_window`].
    pub fn open_window(&self, recipient: &str) {
        lock(&self.state.inner)
            .closed
            .remove(&recipient_key(recipient));
    }

    /// Makes `media_id` available to `GET /{version}/{media_id}` and its download URL.
    pub fn add_media(&self, media_id: &str, mime: &str, bytes: Vec<u8>) {
        lock(&self.state.inner).media.insert(
            media_id.to_string(),
            MediaItem {
                mime: mime.to_string(),
                bytes,
            },
        );
    }

    /// Media uploaded through `POST /{version}/{phone_number_id}/media`: (id, mime, length).
    pub fn uploaded(&self) -> Vec<(String, String, usize)> {
        lock(&self.state.inner).uploaded.clone()
    }

    /// Stops the server and pending status webhooks (same as dropping the handle).
    pub fn stop(self) {}
}

impl Drop for GraphSim {
    fn drop(&mut self) {
        self.state.stop.cancel();
    }
}

/// Starts the simulator on `listen` (port 0 for a free port).
pub async fn start(listen: SocketAddr, opts: GraphSimOptions) -> anyhow::Result<GraphSim> {
    crate::crypto::install_tls_provider();
    let inner = TcpListener::bind(listen).into_acceptor().await?;
    let addr = inner
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("graph simulator has no address"))?;
    let connections: Arc<Connections> = Arc::default();
    let acceptor = ResettableAcceptor {
        inner,
        connections: Arc::clone(&connections),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let state = Arc::new(State {
        inner: Mutex::default(),
        webhook_override: Mutex::new(None),
        secret_override: Mutex::new(None),
        connections,
        opts,
        base_url: format!("http://{addr}"),
        seq: AtomicU64::new(1),
        nonce: rand::rng().random(),
        started: Instant::now(),
        client,
        stop: CancellationToken::new(),
    });
    let endpoint = GraphEndpoint {
        state: Arc::clone(&state),
    };
    let stop = state.stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async move { stop.cancelled().await },
                Some(Duration::from_millis(200)),
            )
            .await;
    });
    Ok(GraphSim { addr, state })
}

// ---------------------------------------------------------------------------------------
// Replies

/// An answer before it becomes a poem response.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) body: Vec<u8>,
    /// Extra headers (`Location`, `Cache-Control`).
    pub(super) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(super) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            content_type: "application/json; charset=UTF-8".into(),
            body: meta_bytes(body),
            headers: Vec::new(),
        }
    }

    pub(super) fn html(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
            headers: vec![("cache-control", "no-store".into())],
        }
    }

    fn into_response(self, version: Option<&str>) -> Response {
        let mut b = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .content_type(&self.content_type);
        if let Some(v) = version {
            b = b.header("facebook-api-version", v);
        }
        for (name, value) in self.headers {
            b = b.header(name, value);
        }
        b.body(self.body)
    }
}

fn fbtrace_id() -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(11)
        .map(char::from)
        .collect()
}

/// Meta's error envelope (§9.1). `details` becomes `error_data.details` on WhatsApp.
pub(super) fn graph_error(
    status: u16,
    code: u32,
    subcode: Option<u32>,
    message: &str,
    details: Option<&str>,
    kind: Option<Kind>,
) -> Reply {
    let mut error = json!({
        "message": message,
        "type": if code == 100 && subcode == Some(33) { "GraphMethodException" } else { "OAuthException" },
        "code": code,
    });
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    if let (Some(d), Some(Kind::WhatsApp)) = (details, kind) {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": d});
    }
    error["fbtrace_id"] = json!(fbtrace_id());
    Reply::json(status, &json!({ "error": error }))
}

pub(super) fn err_token(state: TokenState) -> Reply {
    match state {
        TokenState::Revoked => graph_error(
            401,
            190,
            Some(463),
            "Error validating access token: Session has expired on Monday, 17-Nov-25 04:00:00 PST. The current time is Monday, 17-Nov-25 05:12:09 PST.",
            None,
            None,
        ),
        _ => graph_error(
            401,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            None,
            None,
        ),
    }
}

/// Which Meta host a request came to: graph.facebook.com (the simulator's root) or
/// graph.instagram.com (under `/ig-graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Host {
    Facebook,
    Instagram,
}

/// A token that belongs to the other host: an Instagram User token (Instagram Login) on
/// graph.facebook.com, or a Facebook/Page/system-user token on graph.instagram.com. Meta does
/// not document a dedicated error for this; what integrators report (e.g.
/// TiagoGrosso/instagram-graph-api-lib#462: an Instagram Login token on graph.facebook.com) is
/// the generic invalid-token error of "Handling Errors — Graph API"
/// (<https://developers.facebook.com/docs/graph-api/guides/error-handling>, read 2026-12-02):
/// HTTP 400, `OAuthException` code 190 without a subcode, "Invalid OAuth access token - Cannot
/// parse access token". Corpus: tests/fixtures/meta/conformance/instagram_login.*.json.
pub(super) fn err_wrong_host() -> Reply {
    graph_error(
        400,
        190,
        None,
        "Invalid OAuth access token - Cannot parse access token",
        None,
        None,
    )
}

/// The error when `token` cannot be used on `host`, `None` when it can (or is unknown: the
/// usual token checks answer that).
pub(super) fn host_refuses(inner: &Inner, token: &str, host: Host) -> Option<Reply> {
    let instagram_user = super::onboarding::instagram::is_instagram_user_token(inner, token);
    let refused = match host {
        Host::Facebook => instagram_user,
        Host::Instagram => !instagram_user,
    };
    refused.then(err_wrong_host)
}

pub(super) fn err_unknown_object(method: &str, id: &str) -> Reply {
    let message = format!(
        "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    );
    graph_error(400, 100, Some(33), &message, None, None)
}

/// 400 code 100 naming the bad parameter.
fn err_param(what: &str, kind: Kind) -> Reply {
    graph_error(
        400,
        100,
        None,
        &format!("(#100) {what}"),
        Some(what),
        Some(kind),
    )
}

/// The envelope Meta sends for `code` (fixture wording where there is a fixture).
pub(super) fn coded_error(status: u16, code: u32, kind: Kind) -> Reply {
    let (subcode, message, details): (Option<u32>, String, Option<&str>) = match code {
        2 => (
            None,
            "Service temporarily unavailable, try again later.".into(),
            None,
        ),
        4 => (None, "(#4) Application request limit reached".into(), None),
        10 => match kind {
            Kind::Messenger => (
                Some(2018278),
                "(#10) This message is sent outside of allowed window.".into(),
                None,
            ),
            _ => (
                Some(2534022),
                "(#10) Message sent outside the allowed messaging window".into(),
                None,
            ),
        },
        100 => (
            None,
            "(#100) Invalid parameter".into(),
            Some("Invalid parameter"),
        ),
        190 => return err_token(TokenState::Revoked),
        // Messenger/Instagram permission error about one recipient (Messenger Platform error
        // codes page; subcode as reported by integrators and issue 12).
        200 => (
            (kind != Kind::WhatsApp).then_some(2018028),
            "(#200) This person isn't receiving messages from you right now.".into(),
            None,
        ),
        // Messenger Send API error codes: "Temporary send message failure".
        1200 => (
            None,
            "(#1200) Temporary send message failure. Please try again later.".into(),
            None,
        ),
        // WhatsApp error codes: "Spam rate limit hit".
        131048 => (
            None,
            "(#131048) Spam rate limit hit".into(),
            Some(
                "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam.",
            ),
        ),
        368 => (
            None,
            "(#368) Temporarily blocked for policies violations".into(),
            None,
        ),
        130429 => (
            None,
            "(#130429) Rate limit hit".into(),
            Some("Throughput limit for this business phone number reached."),
        ),
        131000 => (
            None,
            "(#131000) Something went wrong".into(),
            Some("Something went wrong."),
        ),
        131026 => (
            None,
            "(#131026) Message undeliverable".into(),
            Some("Message Undeliverable."),
        ),
        131047 => (
            None,
            "(#131047) Re-engagement message".into(),
            Some("Message not sent: the customer last wrote more than 24 hours ago."),
        ),
        131056 => (
            None,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit".into(),
            Some(
                "Too many messages from this business number to the same recipient in a short time.",
            ),
        ),
        132001 => (
            None,
            "(#132001) Template name does not exist in the translation".into(),
            Some("template name does not exist in the translation"),
        ),
        c => (
            None,
            format!("(#{c}) Simulated error"),
            Some("Simulated error from the Graph API simulator."),
        ),
    };
    graph_error(status, code, subcode, &message, details, Some(kind))
}

// ---------------------------------------------------------------------------------------
// Request handling

/// What handling one Graph request produced, recorded before answering.
pub(super) struct Handled {
    pub(super) reply: Reply,
    pub(super) sender_id: Option<String>,
    pub(super) authorization_ok: bool,
    pub(super) body: Value,
    pub(super) message_id: Option<String>,
    pub(super) accepted_send: bool,
    pub(super) fault: Option<&'static str>,
    pub(super) delay: Option<Duration>,
    pub(super) drop_connection: bool,
}

impl Handled {
    pub(super) fn new(reply: Reply) -> Self {
        Self {
            reply,
            sender_id: None,
            authorization_ok: false,
            body: Value::Null,
            message_id: None,
            accepted_send: false,
            fault: None,
            delay: None,
            drop_connection: false,
        }
    }
}

struct GraphEndpoint {
    state: Arc<State>,
}

impl Endpoint for GraphEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let at = Instant::now();
        let path = req.uri().path().to_string();
        if path.starts_with("/_sim/") {
            return Ok(control(&self.state, req).await.into_response(None));
        }
        let method = req.method().to_string();
        let peer = req.remote_addr().as_socket_addr().copied();
        let version = path
            .split('/')
            .find(|s| !s.is_empty())
            .filter(|s| is_version(s))
            .map(str::to_string);
        let (req, body) = req.split();
        let h = route(&self.state, &req, body, at).await;
        let answered = if h.drop_connection { 0 } else { h.reply.status };
        if self.state.opts.print {
            println!(
                "graph: {method} {path} -> {}{}{}",
                if answered == 0 {
                    "connection dropped".to_string()
                } else {
                    answered.to_string()
                },
                h.fault.map(|f| format!(" (fault {f})")).unwrap_or_default(),
                h.message_id
                    .as_deref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default(),
            );
        }
        lock(&self.state.inner).requests.push(GraphRequest {
            method,
            path,
            sender_id: h.sender_id,
            authorization_ok: h.authorization_ok,
            body: h.body,
            answered,
            at,
            message_id: h.message_id,
            accepted_send: h.accepted_send,
            fault: h.fault,
        });
        if h.drop_connection {
            if let Some(flag) = peer.and_then(|p| lock(&self.state.connections).get(&p).cloned()) {
                flag.store(true, Ordering::SeqCst);
            }
            // The connection is reset as soon as hyper tries to write this.
            return Ok(Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .finish());
        }
        if let Some(delay) = h.delay {
            tokio::time::sleep(delay).await;
        }
        Ok(h.reply.into_response(version.as_deref()))
    }
}

pub(super) fn is_version(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|rest| {
        let mut parts = rest.split('.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next();
        !major.is_empty()
            && major.chars().all(|c| c.is_ascii_digit())
            && minor.is_none_or(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
            && parts.next().is_none()
    })
}

pub(super) fn query_param(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `Authorization: Bearer …` (or `OAuth …`), else the `access_token` query parameter.
fn bearer(req: &Request) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let (scheme, token) = v.split_once(' ')?;
        return (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
            .then(|| token.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    query_param(req, "access_token").filter(|t| !t.is_empty())
}

async fn route(state: &Arc<State>, req: &Request, body: RequestBody, at: Instant) -> Handled {
    let path = req.uri().path().to_string();
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let token = bearer(req);
    let method = req.method();
    if segs.first() == Some(&"_media") {
        return match segs.as_slice() {
            [_, id] if method == Method::GET => download(state, id, token.as_deref()),
            _ => unknown_path(&path),
        };
    }
    if segs
        .first()
        .is_some_and(|s| onboarding::HOST_PREFIXES.contains(s))
    {
        return onboarding::route_hosts(state, req, &segs, token.as_deref(), body, at).await;
    }
    // Like Meta, an unversioned path is served too (the bridge may be configured without one).
    if segs.first().is_some_and(|s| is_version(s)) {
        segs.remove(0);
    }
    match segs.as_slice() {
        ["debug_token"] if method == Method::GET => debug_token(state, req, token.as_deref()),
        [object, "messages"] if method == Method::POST => {
            messages(state, Host::Facebook, object, token.as_deref(), body, at).await
        }
        [object, "media"] if method == Method::POST => {
            upload(state, req, object, token.as_deref(), body).await
        }
        ["oauth", "access_token"] if method == Method::GET => {
            onboarding::oauth::oauth_access_token(state, req)
        }
        ["me"] if method == Method::GET => onboarding::oauth::me(state, req, token.as_deref()),
        ["me", "accounts"] if method == Method::GET => {
            onboarding::assets::me_accounts(state, req, token.as_deref())
        }
        [waba, "phone_numbers"] if method == Method::GET => {
            onboarding::assets::phone_numbers(state, waba, token.as_deref())
        }
        [object, "subscribed_apps"] => {
            onboarding::assets::subscribed_apps(state, req, object, token.as_deref())
        }
        [phone] if method == Method::POST && onboarding::phones::is_phone(state, phone) => {
            onboarding::phones::set_pin(state, phone, token.as_deref(), body).await
        }
        [phone, "register"] if method == Method::POST => {
            onboarding::phones::register(state, phone, token.as_deref(), body).await
        }
        [phone, "request_code"] if method == Method::POST => {
            onboarding::phones::request_code(state, req, phone, token.as_deref())
        }
        [phone, "verify_code"] if method == Method::POST => {
            onboarding::phones::verify_code(state, req, phone, token.as_deref())
        }
        [phone, "smb_app_data"] if method == Method::POST => {
            onboarding::phones::smb_app_data(state, phone, token.as_deref(), body).await
        }
        [id] if method == Method::GET && onboarding::leads::is_lead(state, id) => {
            onboarding::leads::lead(state, req, id, token.as_deref())
        }
        [id] if method == Method::GET && onboarding::leads::is_lead_form(state, id) => {
            onboarding::leads::lead_form(state, req, id, token.as_deref())
        }
        [id] if method == Method::GET => media_metadata(state, req, id, token.as_deref()),
        _ => unknown_path(&path),
    }
}

pub(super) fn unknown_path(path: &str) -> Handled {
    Handled::new(graph_error(
        400,
        2500,
        None,
        &format!("Unknown path components: {path}"),
        None,
        None,
    ))
}

/// Finds the sender named by the path and checks the token against it.
fn authorize(
    state: &State,
    host: Host,
    object: &str,
    token: Option<&str>,
    recipient: Option<&str>,
    method: &str,
) -> Result<Channel, Box<Handled>> {
    let inner = lock(&state.inner);
    // A token of the other host is not even parsed there: refused before the object.
    if let Some(reply) = token.and_then(|t| host_refuses(&inner, t, host)) {
        let mut h = Handled::new(reply);
        h.sender_id = Some(object.to_string());
        return Err(Box::new(h));
    }
    // graph.instagram.com serves only Instagram accounts.
    let on_host = |c: &Channel| match host {
        Host::Instagram => c.kind == Kind::Instagram,
        Host::Facebook => true,
    };
    let channel = if object == "me" {
        token.and_then(|t| {
            // `me` is the account the token belongs to. A Page token also reaches the Page's
            // linked Instagram account (Messenger API support for Instagram): Meta tells the
            // two apart by the recipient, an Instagram-scoped id or a Page-scoped one.
            let mut owned: Vec<&Channel> = inner
                .channels
                .values()
                .filter(|c| {
                    c.kind != Kind::WhatsApp
                        && on_host(c)
                        && (c.token == t || inner.onboard.covers(t, &c.external_id))
                })
                .collect();
            owned.sort_by(|a, b| a.external_id.cmp(&b.external_id));
            let to_instagram = recipient.is_some_and(|r| inner.ig_users.contains(r));
            let pick = |kind: Kind| owned.iter().find(|c| c.kind == kind).copied();
            let chosen = if owned.len() > 1 {
                if to_instagram {
                    pick(Kind::Instagram)
                } else {
                    pick(Kind::Messenger)
                }
                .or_else(|| owned.first().copied())
            } else {
                owned.first().copied()
            };
            chosen
                .cloned()
                .or_else(|| inner.onboard.me_channel(t, &inner.channels))
        })
    } else {
        inner.channels.get(object).filter(|c| on_host(c)).cloned()
    };
    let token_state = token.map_or(TokenState::Unknown, |t| inner.token_state(t));
    let Some(channel) = channel else {
        let reply = if token_state == TokenState::Valid {
            err_unknown_object(method, object)
        } else {
            err_token(token_state)
        };
        let mut h = Handled::new(reply);
        h.sender_id = Some(object.to_string());
        return Err(Box::new(h));
    };
    // The channel's own token, or a token the connect flows minted for this asset.
    let token_fits =
        token.is_some_and(|t| t == channel.token || inner.onboard.covers(t, &channel.external_id));
    if !token_fits || token_state != TokenState::Valid {
        let reply = err_token(if token_fits {
            token_state
        } else {
            TokenState::Unknown
        });
        let mut h = Handled::new(reply);
        h.sender_id = Some(channel.external_id.clone());
        return Err(Box::new(h));
    }
    Ok(channel)
}

fn fault_reply(fault: &Fault, kind: Kind) -> Reply {
    match fault {
        Fault::Throttle { .. } if kind == Kind::WhatsApp => coded_error(400, 130429, kind),
        Fault::Throttle { .. } => coded_error(400, 4, kind),
        Fault::PairRate { .. } => coded_error(400, 131056, kind),
        Fault::ServerError { .. } => coded_error(500, 2, kind),
        Fault::BareServerError { .. } => Reply::html(
            502,
            "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>502 Bad Gateway</h1><p>Sorry, something went wrong.</p></body></html>",
        ),
        Fault::TokenInvalid { .. } => err_token(TokenState::Revoked),
        Fault::Window { .. } if kind == Kind::WhatsApp => coded_error(400, 131047, kind),
        Fault::Window { .. } => coded_error(400, 10, kind),
        Fault::Permanent { code, .. } => coded_error(400, *code, kind),
        // Not answered here.
        Fault::Timeout { .. } | Fault::DropConnection { .. } => coded_error(500, 2, kind),
    }
}

pub(super) async fn messages(
    state: &Arc<State>,
    host: Host,
    object: &str,
    token: Option<&str>,
    body: RequestBody,
    at: Instant,
) -> Handled {
    let json = read_json(body).await;
    let recipient = json
        .get("recipient")
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str);
    let channel = match authorize(state, host, object, token, recipient, "post") {
        Ok(c) => c,
        Err(mut h) => {
            h.body = json;
            return *h;
        }
    };
    let mut h = match channel.kind {
        Kind::WhatsApp => whatsapp_message(state, &channel, &json, at),
        Kind::Instagram | Kind::Messenger => meta_message(state, &channel, &json),
    };
    h.sender_id = Some(channel.external_id.clone());
    h.authorization_ok = true;
    h.body = json;
    h
}

pub(super) async fn read_json(body: RequestBody) -> Value {
    let mut body = body;
    let Ok(body) = body.take() else {
        return Value::Null;
    };
    match body.into_bytes_limit(JSON_LIMIT).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Takes one use of the first queued fault.
fn take_fault(state: &State) -> Option<Fault> {
    let mut inner = lock(&state.inner);
    loop {
        let front = inner.faults.front_mut()?;
        let times = front.times_mut();
        if *times == 0 {
            inner.faults.pop_front();
            continue;
        }
        *times -= 1;
        let fault = front.clone();
        if *front.times_mut() == 0 {
            inner.faults.pop_front();
        }
        return Some(fault);
    }
}

type FaultEffect = (Option<Duration>, Option<&'static str>);

/// Applies a queued fault to a send: `Ok` (delay, fault name) to go on processing, `Err` with
/// the answer.
fn apply_fault(state: &State, kind: Kind) -> Result<FaultEffect, Box<Handled>> {
    let Some(fault) = take_fault(state) else {
        return Ok((None, None));
    };
    match fault {
        Fault::Timeout { delay, .. } => Ok((Some(delay), Some(fault.name()))),
        Fault::DropConnection { .. } => {
            let mut h = Handled::new(Reply::html(500, ""));
            h.drop_connection = true;
            h.fault = Some(fault.name());
            Err(Box::new(h))
        }
        f => {
            let mut h = Handled::new(fault_reply(&f, kind));
            h.fault = Some(f.name());
            Err(Box::new(h))
        }
    }
}

/// A phone number in any format → its digits; anything else (BSUID, IGSID) unchanged.
fn recipient_key(s: &str) -> String {
    let s = s.trim();
    let phone_like = s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        s.chars().filter(char::is_ascii_digit).collect()
    } else {
        s.to_string()
    }
}

fn nonempty_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

enum WaRecipient {
    /// `to` with a phone number: (input, wa_id).
    Phone(String, String),
    /// `to` with a group id.
    Group(String),
    /// `recipient` with a BSUID.
    User(String),
}

impl WaRecipient {
    fn key(&self) -> String {
        match self {
            Self::Phone(_, wa_id) => wa_id.clone(),
            Self::Group(id) | Self::User(id) => id.clone(),
        }
    }
}

struct WaSend {
    recipient: WaRecipient,
    template: bool,
    biz_opaque: Option<String>,
}

enum WaRequest {
    Receipt,
    Send(WaSend),
}

const WA_TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "template",
];

/// Validates a WhatsApp `/messages` body the way the Cloud API does; `Err` names the bad
/// parameter.
fn validate_whatsapp(body: &Value) -> Result<WaRequest, String> {
    let Some(obj) = body.as_object() else {
        return Err("The parameter messaging_product is required.".into());
    };
    match obj.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => {}
        Some(_) => return Err("Param messaging_product must be 'whatsapp'.".into()),
        None => return Err("The parameter messaging_product is required.".into()),
    }
    if let Some(status) = obj.get("status") {
        if status.as_str() != Some("read") {
            return Err("Param status must be 'read'.".into());
        }
        if nonempty_str(obj.get("message_id")).is_none() {
            return Err("The parameter message_id is required.".into());
        }
        if let Some(t) = obj.get("typing_indicator")
            && t.get("type").and_then(Value::as_str) != Some("text")
        {
            return Err("Param typing_indicator['type'] must be 'text'.".into());
        }
        return Ok(WaRequest::Receipt);
    }
    let group = match obj.get("recipient_type").map(|v| v.as_str()) {
        None | Some(Some("individual")) => false,
        Some(Some("group")) => true,
        Some(_) => return Err("Param recipient_type must be one of {individual, group}.".into()),
    };
    let recipient = match (
        nonempty_str(obj.get("to")),
        nonempty_str(obj.get("recipient")),
    ) {
        (Some(to), _) if group => WaRecipient::Group(to.to_string()),
        (Some(to), _) => {
            let key = recipient_key(to);
            if !key.chars().all(|c| c.is_ascii_digit()) {
                return Err("Param to must be a valid phone number.".into());
            }
            WaRecipient::Phone(to.to_string(), key)
        }
        (None, Some(r)) => WaRecipient::User(r.to_string()),
        (None, None) => return Err("The parameter to is required.".into()),
    };
    let Some(kind) = nonempty_str(obj.get("type")) else {
        return Err("The parameter type is required.".into());
    };
    if !WA_TYPES.contains(&kind) {
        return Err(format!(
            "Param type must be one of {{{}}}.",
            WA_TYPES.join(", ")
        ));
    }
    let Some(content) = obj.get(kind).filter(|v| !v.is_null()) else {
        return Err(format!("The parameter {kind} is required."));
    };
    validate_wa_content(kind, content)?;
    let biz_opaque = match obj.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 512 => Some(s.clone()),
        Some(_) => {
            return Err(
                "Param biz_opaque_callback_data must be a string of at most 512 characters.".into(),
            );
        }
    };
    Ok(WaRequest::Send(WaSend {
        recipient,
        template: kind == "template",
        biz_opaque,
    }))
}

fn validate_wa_content(kind: &str, c: &Value) -> Result<(), String> {
    let has = |key: &str| nonempty_str(c.get(key)).is_some();
    match kind {
        "text" => {
            let Some(body) = c
                .get("body")
                .and_then(Value::as_str)
                .filter(|b| !b.is_empty())
            else {
                return Err("Param text['body'] is required.".into());
            };
            if body.chars().count() > 4096 {
                return Err("Param text['body'] must be at most 4096 characters long.".into());
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => match (has("id"), has("link")) {
            (true, true) => {
                return Err(format!(
                    "Param {kind} must contain only one of {kind}['id'] or {kind}['link']."
                ));
            }
            (false, false) => {
                return Err(format!("Param {kind}['id'] or {kind}['link'] is required."));
            }
            _ => {}
        },
        "location" => {
            for key in ["latitude", "longitude"] {
                let ok = c.get(key).is_some_and(|v| {
                    v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
                });
                if !ok {
                    return Err(format!("Param location['{key}'] is required."));
                }
            }
        }
        "contacts" => {
            let Some(list) = c.as_array().filter(|l| !l.is_empty()) else {
                return Err("Param contacts must be a non-empty array.".into());
            };
            for (i, x) in list.iter().enumerate() {
                if nonempty_str(x.pointer("/name/formatted_name")).is_none() {
                    return Err(format!(
                        "Param contacts[{i}]['name']['formatted_name'] is required."
                    ));
                }
                // Meta, "Contacts messages" (read 2026-12-02): besides formatted_name, at
                // least one of first_name, last_name, middle_name, suffix, prefix.
                let parts = ["first_name", "last_name", "middle_name", "suffix", "prefix"];
                if !parts
                    .iter()
                    .any(|k| nonempty_str(x.get("name").and_then(|n| n.get(*k))).is_some())
                {
                    return Err(format!(
                        "Param contacts[{i}]['name'] must contain at least one of first_name, last_name, middle_name, suffix or prefix."
                    ));
                }
            }
        }
        "reaction" => {
            if !has("message_id") {
                return Err("Param reaction['message_id'] is required.".into());
            }
            if !c.get("emoji").is_some_and(Value::is_string) {
                return Err("Param reaction['emoji'] is required.".into());
            }
        }
        "interactive" => {
            if !has("type") {
                return Err("Param interactive['type'] is required.".into());
            }
            if !c.get("action").is_some_and(Value::is_object) {
                return Err("Param interactive['action'] is required.".into());
            }
        }
        "template" => {
            if !has("name") {
                return Err("Param template['name'] is required.".into());
            }
            if nonempty_str(c.pointer("/language/code")).is_none() {
                return Err("Param template['language']['code'] is required.".into());
            }
            validate_template_action_buttons(c)?;
        }
        _ => {}
    }
    Ok(())
}

/// Buttons of sub-type flow / catalog / mpm take one `{"type": "action", "action": {…}}`
/// parameter (Meta: "Sending a Flow", "Catalog templates", "Multi-product message templates";
/// read 2026-12-02); an mpm action needs `thumbnail_product_retailer_id` and `sections`.
fn validate_template_action_buttons(template: &Value) -> Result<(), String> {
    let components = template
        .get("components")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, comp) in components.iter().enumerate() {
        let sub_type = comp
            .get("sub_type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let is_button = comp
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("button"));
        let Some(sub) =
            sub_type.filter(|s| is_button && matches!(s.as_str(), "flow" | "catalog" | "mpm"))
        else {
            continue;
        };
        let at = format!("template['components'][{i}]['parameters'][0]");
        let param = comp
            .get("parameters")
            .and_then(Value::as_array)
            .and_then(|p| p.first());
        let action = param
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("action"))
            .and_then(|p| p.get("action"))
            .filter(|a| a.is_object());
        let Some(action) = action else {
            return Err(format!("Param {at}['action'] is required."));
        };
        if sub == "mpm" {
            if nonempty_str(action.get("thumbnail_product_retailer_id")).is_none() {
                return Err(format!(
                    "Param {at}['action']['thumbnail_product_retailer_id'] is required."
                ));
            }
            if action
                .get("sections")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                return Err(format!("Param {at}['action']['sections'] is required."));
            }
        }
    }
    Ok(())
}

fn whatsapp_message(state: &Arc<State>, channel: &Channel, json: &Value, at: Instant) -> Handled {
    let is_receipt = json.get("status").is_some();
    let (delay, fault) = if is_receipt {
        (None, None)
    } else {
        match apply_fault(state, Kind::WhatsApp) {
            Ok(d) => d,
            Err(h) => return *h,
        }
    };
    let mut h = match validate_whatsapp(json) {
        Err(what) => Handled::new(err_param(&what, Kind::WhatsApp)),
        Ok(WaRequest::Receipt) => Handled::new(Reply::json(200, &json!({"success": true}))),
        Ok(WaRequest::Send(send)) => {
            let wamid = state.new_wamid(&send.recipient.key());
            let contact = match &send.recipient {
                WaRecipient::Phone(input, wa_id) => json!({"input": input, "wa_id": wa_id}),
                WaRecipient::Group(id) => json!({"input": id, "wa_id": id}),
                WaRecipient::User(id) => json!({"input": id, "user_id": id}),
            };
            let mut message = json!({ "id": wamid });
            if send.template {
                message["message_status"] = json!("accepted");
            }
            let closed =
                !send.template && lock(&state.inner).closed.contains(&send.recipient.key());
            schedule_statuses(state, channel, &send, &wamid, at, closed);
            let mut h = Handled::new(Reply::json(
                200,
                &json!({
                    "messaging_product": "whatsapp",
                    "contacts": [contact],
                    "messages": [message],
                }),
            ));
            h.message_id = Some(wamid);
            h.accepted_send = true;
            h
        }
    };
    h.delay = delay;
    h.fault = fault;
    h
}

enum MetaRequest {
    /// A sender action: (recipient, the message reacted to for `react` / `unreact`).
    Action(String, Option<String>),
    Send(String),
}

fn validate_meta(body: &Value, kind: Kind) -> Result<MetaRequest, String> {
    let Some(obj) = body.as_object() else {
        return Err("The parameter recipient is required".into());
    };
    let recipient = obj.get("recipient");
    let Some(rid) = nonempty_str(recipient.and_then(|r| r.get("id")))
        .or_else(|| nonempty_str(recipient.and_then(|r| r.get("comment_id"))))
        .or_else(|| nonempty_str(recipient.and_then(|r| r.get("post_id"))))
    else {
        return Err("The parameter recipient is required".into());
    };
    let rid = rid.to_string();
    if let Some(action) = obj.get("sender_action") {
        if obj.contains_key("message") {
            return Err("Param sender_action cannot be sent with message".into());
        }
        let mut reacted = None;
        match action.as_str() {
            Some("typing_on" | "typing_off" | "mark_seen") => {}
            Some("react" | "unreact") => {
                reacted = nonempty_str(obj.get("payload").and_then(|p| p.get("message_id")))
                    .map(str::to_owned);
                if nonempty_str(obj.get("payload").and_then(|p| p.get("message_id"))).is_none() {
                    return Err("Param payload[message_id] is required".into());
                }
                let reaction = nonempty_str(obj.get("payload").and_then(|p| p.get("reaction")));
                if action.as_str() == Some("react") {
                    let Some(reaction) = reaction else {
                        return Err("Param payload[reaction] is required".into());
                    };
                    // Instagram documents one reaction type, `love` (the heart); Messenger
                    // takes any emoji. See tests/fixtures/meta/conformance/
                    // instagram.messages.reaction.json.
                    if kind == Kind::Instagram && reaction != "love" {
                        return Err("Param payload[reaction] must be one of {love}".into());
                    }
                }
            }
            _ => {
                return Err(
                    "Param sender_action must be one of {typing_on, typing_off, mark_seen, react, unreact}"
                        .into(),
                );
            }
        }
        return Ok(MetaRequest::Action(rid, reacted));
    }
    match obj.get("messaging_type").map(Value::as_str) {
        // Send API Reference (Messenger Platform, read 2026-12-02,
        // https://developers.facebook.com/docs/messenger-platform/reference/send-api):
        // `messaging_type` is required for a message; Instagram's pages send without it.
        None if kind == Kind::Messenger => {
            return Err("The parameter messaging_type is required".into());
        }
        None | Some(Some("RESPONSE" | "UPDATE")) => {}
        Some(Some("MESSAGE_TAG")) => {
            if nonempty_str(obj.get("tag")).is_none() {
                return Err("Param tag is required when messaging_type is MESSAGE_TAG".into());
            }
        }
        Some(_) => {
            return Err(
                "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}".into(),
            );
        }
    }
    let Some(message) = obj.get("message").and_then(Value::as_object) else {
        return Err("The parameter message is required".into());
    };
    if let Some(text) = message.get("text") {
        let Some(text) = text.as_str().filter(|t| !t.is_empty()) else {
            return Err("Param message[text] must be a non-empty UTF-8 encoded string".into());
        };
        match kind {
            Kind::Instagram if text.len() > 1000 => {
                return Err(
                    "Length of param message[text] must be less than or equal to 1000".into(),
                );
            }
            Kind::Messenger if text.chars().count() > 2000 => {
                return Err(
                    "Length of param message[text] must be less than or equal to 2000".into(),
                );
            }
            _ => {}
        }
    } else if let Some(att) = message.get("attachment") {
        let t = att.get("type").and_then(Value::as_str);
        match t {
            Some("image" | "video" | "audio" | "file") => {
                let p = att.get("payload");
                if nonempty_str(p.and_then(|p| p.get("url"))).is_none()
                    && nonempty_str(p.and_then(|p| p.get("attachment_id"))).is_none()
                {
                    return Err(
                        "Param message[attachment][payload] must have url or attachment_id".into(),
                    );
                }
            }
            Some("template" | "like_heart" | "MEDIA_SHARE") => {}
            _ => return Err("Param message[attachment][type] is invalid".into()),
        }
    } else if message
        .get("attachments")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err("Param message must contain text or attachment".into());
    }
    Ok(MetaRequest::Send(rid))
}

fn meta_message(state: &Arc<State>, channel: &Channel, json: &Value) -> Handled {
    let is_action = json.get("sender_action").is_some();
    let (delay, fault) = if is_action {
        (None, None)
    } else {
        match apply_fault(state, channel.kind) {
            Ok(d) => d,
            Err(h) => return *h,
        }
    };
    let mut h = match validate_meta(json, channel.kind) {
        Err(what) => Handled::new(err_param(&what, channel.kind)),
        // Sender Actions (Messenger Platform, read 2026-12-02,
        // https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/sender-actions):
        // a reaction answers the recipient's id and the message id; typing and seen answer the
        // recipient's id only (Send API reference).
        Ok(MetaRequest::Action(rid, Some(mid))) => Handled::new(Reply::json(
            200,
            &json!({"recipient_id": rid, "message_id": mid}),
        )),
        Ok(MetaRequest::Action(rid, None)) => {
            Handled::new(Reply::json(200, &json!({"recipient_id": rid})))
        }
        Ok(MetaRequest::Send(rid)) => {
            if lock(&state.inner).closed.contains(&recipient_key(&rid)) {
                Handled::new(coded_error(400, 10, channel.kind))
            } else {
                let mid = state.new_mid(&rid);
                let mut h = Handled::new(Reply::json(
                    200,
                    &json!({"recipient_id": rid, "message_id": mid}),
                ));
                h.message_id = Some(mid);
                h.accepted_send = true;
                h
            }
        }
    };
    h.delay = delay;
    h.fault = fault;
    h
}

fn media_metadata(state: &Arc<State>, req: &Request, id: &str, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let token_state = token.map_or(TokenState::Unknown, |t| inner.token_state(t));
    if token_state != TokenState::Valid {
        return Handled::new(err_token(token_state));
    }
    let mut h = if let Some(pnid) = query_param(req, "phone_number_id")
        && !inner
            .channels
            .get(&pnid)
            .is_some_and(|c| c.kind == Kind::WhatsApp)
    {
        Handled::new(err_param(
            "Param phone_number_id is not a valid phone number id.",
            Kind::WhatsApp,
        ))
    } else if let Some(m) = inner.media.get(id) {
        let hash = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 12]>());
        let ext = chrono::Utc::now().timestamp() + 300;
        Handled::new(Reply::json(
            200,
            &json!({
                "messaging_product": "whatsapp",
                "url": format!("{}/_media/{id}?ext={ext}&hash=AT{hash}", state.base_url),
                "mime_type": m.mime,
                "sha256": hex::encode(Sha256::digest(&m.bytes)),
                "file_size": m.bytes.len(),
                "id": id,
            }),
        ))
    } else {
        Handled::new(err_unknown_object("get", id))
    };
    h.authorization_ok = true;
    h
}

fn download(state: &Arc<State>, id: &str, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let token_state = token.map_or(TokenState::Unknown, |t| inner.token_state(t));
    if token_state != TokenState::Valid {
        return Handled::new(Reply::html(
            401,
            "<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, this content isn't available right now</body></html>",
        ));
    }
    let mut h = match inner.media.get(id) {
        Some(m) => Handled::new(Reply {
            status: 200,
            content_type: m.mime.clone(),
            body: m.bytes.clone(),
            headers: Vec::new(),
        }),
        None => Handled::new(Reply::html(
            404,
            "<!DOCTYPE html><html><body>Not Found</body></html>",
        )),
    };
    h.authorization_ok = true;
    h
}

async fn upload(
    state: &Arc<State>,
    req: &Request,
    object: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let channel = match authorize(state, Host::Facebook, object, token, None, "post") {
        Ok(c) if c.kind == Kind::WhatsApp => c,
        Ok(c) => {
            let mut h = Handled::new(err_unknown_object("post", object));
            h.sender_id = Some(c.external_id);
            return h;
        }
        Err(h) => return *h,
    };
    let mut h = match read_upload(req, body).await {
        Err(what) => Handled::new(err_param(&what, Kind::WhatsApp)),
        Ok((mime, bytes)) => {
            let id = state.new_media_id();
            let len = bytes.len();
            let mut inner = lock(&state.inner);
            inner.uploaded.push((id.clone(), mime.clone(), len));
            inner.media.insert(id.clone(), MediaItem { mime, bytes });
            let mut h = Handled::new(Reply::json(200, &json!({ "id": id })));
            h.message_id = Some(id);
            h
        }
    };
    h.sender_id = Some(channel.external_id);
    h.authorization_ok = true;
    h
}

/// Reads `messaging_product`, `type` and `file` from a multipart upload.
async fn read_upload(req: &Request, body: RequestBody) -> Result<(String, Vec<u8>), String> {
    let mut body = body;
    let mut form = Multipart::from_request(req, &mut body)
        .await
        .map_err(|_| "The parameter messaging_product is required.".to_string())?;
    let (mut product, mut mime, mut file) = (None, None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err("Param file could not be read.".into()),
        };
        match field.name() {
            Some("messaging_product") => product = field.text().await.ok(),
            Some("type") => mime = field.text().await.ok(),
            Some("file") => {
                let part_type = field.content_type().map(str::to_string);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| "Param file could not be read.".to_string())?;
                if bytes.len() > UPLOAD_LIMIT {
                    return Err("Param file is too large.".into());
                }
                file = Some((part_type, bytes));
            }
            _ => {}
        }
    }
    match product.as_deref() {
        Some("whatsapp") => {}
        Some(_) => return Err("Param messaging_product must be 'whatsapp'.".into()),
        None => return Err("The parameter messaging_product is required.".into()),
    }
    let Some((part_type, bytes)) = file else {
        return Err("The parameter file is required.".into());
    };
    let Some(mime) = mime.filter(|m| !m.is_empty()).or(part_type) else {
        return Err("The parameter type is required.".into());
    };
    Ok((mime, bytes))
}

fn debug_token(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    // Debug-Token reference (Graph API, read 2026-12-02,
    // https://developers.facebook.com/docs/graph-api/reference/debug_token): the caller is the
    // app's access token (`{app-id}|{app-secret}`) or an app developer's user token; anything
    // else is an invalid token (code 190, Handling Errors).
    let caller_ok = match token.map(|t| t.split_once('|')) {
        None => false,
        Some(Some((app, secret))) => {
            app == APP_ID && onboarding::helpers::secret_ok(state, Some(secret))
        }
        Some(None) => token.is_some_and(|t| lock(&state.inner).token_state(t) == TokenState::Valid),
    };
    if !caller_ok {
        return Handled::new(err_token(TokenState::Unknown));
    }
    let Some(input) = query_param(req, "input_token").filter(|t| !t.is_empty()) else {
        let mut h = Handled::new(graph_error(
            400,
            100,
            None,
            "(#100) The parameter input_token is required",
            None,
            None,
        ));
        h.authorization_ok = true;
        return h;
    };
    let inner = lock(&state.inner);
    if let Some(minted) = inner.onboard.tokens.get(&input) {
        let data = onboarding::tokens::debug_data(&inner, minted);
        let mut h = Handled::new(Reply::json(200, &json!({ "data": data })));
        h.authorization_ok = true;
        return h;
    }
    let token_state = inner.token_state(&input);
    let mut scopes: Vec<&str> = Vec::new();
    let mut granular: Vec<(&str, Vec<String>)> = Vec::new();
    let mut grant = |scope: &'static str, target: &str, scopes: &mut Vec<&'static str>| {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
        match granular.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, ids)) if !ids.iter().any(|i| i == target) => ids.push(target.to_string()),
            Some(_) => {}
            None => granular.push((scope, vec![target.to_string()])),
        }
    };
    let mut channels: Vec<&Channel> = inner
        .channels
        .values()
        .filter(|c| c.token == input)
        .collect();
    channels.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    for c in channels {
        match c.kind {
            Kind::WhatsApp => {
                let target = c.waba_id.as_deref().unwrap_or(&c.external_id);
                grant("whatsapp_business_management", target, &mut scopes);
                grant("whatsapp_business_messaging", target, &mut scopes);
            }
            Kind::Messenger => {
                grant("pages_messaging", &c.external_id, &mut scopes);
                grant("pages_manage_metadata", &c.external_id, &mut scopes);
            }
            Kind::Instagram => {
                grant("instagram_basic", &c.external_id, &mut scopes);
                grant("instagram_manage_messages", &c.external_id, &mut scopes);
            }
        }
    }
    let mut data = json!({
        "app_id": APP_ID,
        "type": "SYSTEM_USER",
        "application": "Metabridge Graph Simulator",
        "data_access_expires_at": 0,
        "expires_at": 0,
        "is_valid": token_state == TokenState::Valid,
        "issued_at": 1_763_380_800,
        "user_id": "122100000000000001",
    });
    match token_state {
        TokenState::Valid => {
            scopes.push("public_profile");
            data["scopes"] = json!(scopes);
            data["granular_scopes"] = Value::Array(
                granular
                    .into_iter()
                    .map(|(scope, ids)| json!({"scope": scope, "target_ids": ids}))
                    .collect(),
            );
        }
        TokenState::Revoked => {
            data["scopes"] = json!([]);
            data["error"] = json!({
                "code": 190,
                "subcode": 463,
                "message": "Error validating access token: Session has expired.",
            });
        }
        TokenState::Unknown => {
            data = json!({
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": false,
                "scopes": [],
            });
        }
    }
    let mut h = Handled::new(Reply::json(200, &json!({ "data": data })));
    h.authorization_ok = true;
    h
}

// ---------------------------------------------------------------------------------------
// Status webhooks

impl State {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn new_wamid(&self, recipient: &str) -> String {
        let raw = format!("{recipient}SIM{:08X}{:010}", self.nonce, self.next_seq());
        format!("wamid.{}", STANDARD.encode(raw))
    }

    fn new_mid(&self, recipient: &str) -> String {
        let raw = format!("{recipient}:SIM{:08X}:{:010}", self.nonce, self.next_seq());
        format!("m_{}", URL_SAFE_NO_PAD.encode(raw))
    }

    fn new_media_id(&self) -> String {
        (1_490_000_000_000_000u64 + self.next_seq()).to_string()
    }

    fn push_fault(&self, fault: Fault) {
        lock(&self.inner).faults.push_back(fault);
    }

    fn add_channel(
        &self,
        kind: &str,
        external_id: &str,
        waba_id: Option<&str>,
        token: &str,
    ) -> Result<(), String> {
        let kind = Kind::parse(kind).ok_or_else(|| format!("unknown channel kind {kind}"))?;
        lock(&self.inner).channels.insert(
            external_id.to_string(),
            Channel {
                kind,
                external_id: external_id.to_string(),
                waba_id: waba_id.map(str::to_string),
                token: token.to_string(),
            },
        );
        Ok(())
    }
}

/// The (delay, status) plan for one accepted WhatsApp send.
fn status_plan(opts: &GraphSimOptions, failed: bool) -> Vec<(Duration, &'static str)> {
    let [sent, delivered, read] = opts.status_delays;
    if failed {
        let delay = sent.or_else(|| opts.status_delays.iter().flatten().min().copied());
        return delay.map(|d| vec![(d, "failed")]).unwrap_or_default();
    }
    let mut plan: Vec<(Duration, &'static str)> =
        [(sent, "sent"), (delivered, "delivered"), (read, "read")]
            .into_iter()
            .filter_map(|(d, s)| d.map(|d| (d, s)))
            .collect();
    if opts.reorder_statuses {
        plan.reverse();
        let mut delays: Vec<Duration> = plan.iter().map(|(d, _)| *d).collect();
        delays.sort();
        for (slot, delay) in plan.iter_mut().zip(delays) {
            slot.0 = delay;
        }
    }
    plan.sort_by_key(|(d, _)| *d);
    plan
}

fn display_number(phone_number_id: &str) -> String {
    let digits: String = phone_number_id
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let tail = &digits[digits.len().saturating_sub(7)..];
    format!("1555{tail:0>7}")
}

fn status_body(channel: &Channel, send: &WaSend, wamid: &str, status: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut item = json!({
        "id": wamid,
        "status": status,
        "timestamp": now.to_string(),
    });
    let contact = match &send.recipient {
        WaRecipient::Phone(_, wa_id) => {
            item["recipient_id"] = json!(wa_id);
            Some(json!({"profile": {"name": "Sim User"}, "wa_id": wa_id}))
        }
        WaRecipient::Group(id) => {
            item["recipient_id"] = json!(id);
            item["recipient_type"] = json!("group");
            None
        }
        WaRecipient::User(id) => {
            item["recipient_user_id"] = json!(id);
            Some(json!({"profile": {"name": "Sim User"}, "user_id": id}))
        }
    };
    if let Some(b) = &send.biz_opaque {
        item["biz_opaque_callback_data"] = json!(b);
    }
    if status == "failed" {
        item["errors"] = json!([{
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message not sent: the customer last wrote more than 24 hours ago."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
        }]);
    } else {
        let (category, pricing_type) = if send.template {
            ("utility", "regular")
        } else {
            ("service", "free_customer_service")
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&channel.external_id, send.recipient.key()).hash(&mut hasher);
        let mut conversation = json!({
            "id": format!("{:016x}{:016x}", hasher.finish(), hasher.finish().rotate_left(17)),
            "origin": {"type": category},
        });
        if status == "sent" {
            conversation["expiration_timestamp"] = json!((now + 86_400).to_string());
        }
        item["conversation"] = conversation;
        item["pricing"] = json!({
            "billable": send.template,
            "pricing_model": "PMP",
            "type": pricing_type,
            "category": category,
        });
    }
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_number(&channel.external_id),
            "phone_number_id": channel.external_id,
        },
    });
    if let (Some(c), false) = (contact, status == "failed") {
        value["contacts"] = json!([c]);
    }
    value["statuses"] = json!([item]);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": channel.waba_id.as_deref().unwrap_or(DEFAULT_WABA_ID),
            "changes": [{"value": value, "field": "messages"}]
        }]
    })
}

fn schedule_statuses(
    state: &Arc<State>,
    channel: &Channel,
    send: &WaSend,
    wamid: &str,
    at: Instant,
    failed: bool,
) {
    let Some(url) = lock(&state.webhook_override)
        .clone()
        .or_else(|| state.opts.webhook_url.clone())
    else {
        return;
    };
    let plan = status_plan(&state.opts, failed);
    if plan.is_empty() {
        return;
    }
    let bodies: Vec<(Instant, &'static str, Value)> = plan
        .into_iter()
        .filter_map(|(delay, status)| {
            Some((
                at.checked_add(delay)?,
                status,
                status_body(channel, send, wamid, status),
            ))
        })
        .collect();
    let state = Arc::clone(state);
    let wamid = wamid.to_string();
    tokio::spawn(async move {
        for (due, status, mut body) in bodies {
            tokio::select! {
                _ = state.stop.cancelled() => return,
                _ = tokio::time::sleep_until(due.into()) => {}
            }
            // The timestamp is when the status happened, not when the send was made.
            let now = chrono::Utc::now().timestamp().to_string();
            if let Some(item) = body.pointer_mut("/entry/0/changes/0/value/statuses/0") {
                item["timestamp"] = json!(now);
            }
            post_webhook(&state, &url, &body, &wamid, status).await;
        }
    });
}

/// POSTs one signed status webhook, retrying up to [`WEBHOOK_RETRIES`] times on anything
/// but 200 (Meta's success criterion).
async fn post_webhook(state: &State, url: &str, body: &Value, wamid: &str, status: &str) {
    let bytes = meta_bytes(body);
    let secret = lock(&state.secret_override)
        .clone()
        .unwrap_or_else(|| state.opts.app_secret.clone());
    let sig = signature::sign(&secret, &bytes);
    let mut attempts = 0;
    let mut answered = None;
    for attempt in 0..=WEBHOOK_RETRIES {
        if attempt > 0 {
            let backoff = WEBHOOK_BACKOFF * 2u32.pow(attempt - 1);
            tokio::select! {
                _ = state.stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
        }
        attempts += 1;
        let res = state
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &sig)
            .body(bytes.clone())
            .send()
            .await;
        answered = res.ok().map(|r| r.status().as_u16());
        if answered == Some(200) {
            break;
        }
    }
    if state.opts.print {
        println!(
            "graph: status {status} {wamid} -> {} after {attempts} attempt(s)",
            answered.map_or("no answer".to_string(), |a| a.to_string())
        );
    }
    lock(&state.inner).webhooks.push(StatusWebhook {
        wamid: wamid.to_string(),
        status: status.to_string(),
        attempts,
        answered,
        at: Instant::now(),
    });
}

// ---------------------------------------------------------------------------------------
// Control API under /_sim/

async fn control(state: &Arc<State>, req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let (_, body) = req.split();
    let ok = || Reply::json(200, &json!({"ok": true}));
    let bad = |msg: &str| Reply::json(400, &json!({"error": msg}));
    if method == Method::GET {
        return match path.as_str() {
            "/_sim/requests" => {
                let inner = lock(&state.inner);
                let list: Vec<Value> = inner
                    .requests
                    .iter()
                    .map(|r| request_json(r, state.started))
                    .collect();
                Reply::json(200, &Value::Array(list))
            }
            "/_sim/webhooks" => {
                let inner = lock(&state.inner);
                let list: Vec<Value> = inner
                    .webhooks
                    .iter()
                    .map(|w| {
                        json!({
                            "wamid": w.wamid, "status": w.status, "attempts": w.attempts,
                            "answered": w.answered,
                            "at_ms": w.at.saturating_duration_since(state.started).as_millis() as u64,
                        })
                    })
                    .collect();
                Reply::json(200, &Value::Array(list))
            }
            p => onboarding::control::control_get(state, p)
                .unwrap_or_else(|| Reply::json(404, &json!({"error": "unknown simulator path"}))),
        };
    }
    if method != Method::POST {
        return Reply::json(405, &json!({"error": "method not allowed"}));
    }
    let json = read_json(body).await;
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
    match path.as_str() {
        "/_sim/faults" => match Fault::from_json(&json) {
            Ok(f) => {
                state.push_fault(f);
                ok()
            }
            Err(e) => bad(&e),
        },
        "/_sim/faults/clear" => {
            lock(&state.inner).faults.clear();
            ok()
        }
        "/_sim/window/close" | "/_sim/window/open" => {
            let Some(r) = field("recipient") else {
                return bad("recipient is required");
            };
            let mut inner = lock(&state.inner);
            if path.ends_with("close") {
                inner.closed.insert(recipient_key(&r));
            } else {
                inner.closed.remove(&recipient_key(&r));
            }
            ok()
        }
        "/_sim/channels" => {
            let (Some(kind), Some(id), Some(token)) =
                (field("kind"), field("external_id"), field("token"))
            else {
                return bad("kind, external_id and token are required");
            };
            match state.add_channel(&kind, &id, field("waba_id").as_deref(), &token) {
                Ok(()) => ok(),
                Err(e) => bad(&e),
            }
        }
        "/_sim/tokens/revoke" => {
            let Some(t) = field("token") else {
                return bad("token is required");
            };
            lock(&state.inner).revoked.insert(t);
            ok()
        }
        "/_sim/media" => {
            let (Some(id), Some(mime), Some(data)) =
                (field("media_id"), field("mime"), field("data_base64"))
            else {
                return bad("media_id, mime and data_base64 are required");
            };
            let Ok(bytes) = STANDARD.decode(data) else {
                return bad("data_base64 is not base64");
            };
            lock(&state.inner)
                .media
                .insert(id, MediaItem { mime, bytes });
            ok()
        }
        p => onboarding::control::control_post(state, p, &json)
            .unwrap_or_else(|| Reply::json(404, &json!({"error": "unknown simulator path"}))),
    }
}

fn request_json(r: &GraphRequest, started: Instant) -> Value {
    json!({
        "method": r.method,
        "path": r.path,
        "sender_id": r.sender_id,
        "authorization_ok": r.authorization_ok,
        "body": r.body,
        "answered": r.answered,
        "at_ms": r.at.saturating_duration_since(started).as_millis() as u64,
        "message_id": r.message_id,
        "accepted_send": r.accepted_send,
        "fault": r.fault,
    })
}

// ---------------------------------------------------------------------------------------
// A listener whose connections a handler can reset (Fault::DropConnection)

/// Wraps the TCP acceptor so each connection carries a kill flag, found by peer address.
struct ResettableAcceptor {
    inner: TcpAcceptor,
    connections: Arc<Connections>,
}

impl Acceptor for ResettableAcceptor {
    type Io = ResettableStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let kill = Arc::new(AtomicBool::new(false));
        let peer = remote.as_socket_addr().copied();
        if let Some(p) = peer {
            lock(&self.connections).insert(p, Arc::clone(&kill));
        }
        let stream = ResettableStream {
            io,
            kill,
            peer,
            connections: Arc::clone(&self.connections),
        };
        Ok((stream, local, remote, scheme))
    }
}

/// A TCP stream that, once its flag is set, fails every read and write and closes with
/// `SO_LINGER 0`, so the client sees a reset instead of an answer.
struct ResettableStream {
    io: TcpStream,
    kill: Arc<AtomicBool>,
    peer: Option<SocketAddr>,
    connections: Arc<Connections>,
}

impl ResettableStream {
    fn killed(&self) -> bool {
        let killed = self.kill.load(Ordering::SeqCst);
        if killed {
            let _ = self.io.set_zero_linger();
        }
        killed
    }
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "simulated dropped connection",
    )
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if let Some(p) = self.peer {
            let mut conns = lock(&self.connections);
            if conns.get(&p).is_some_and(|k| Arc::ptr_eq(k, &self.kill)) {
                conns.remove(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests;
