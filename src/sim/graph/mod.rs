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

mod control;
mod debug_token;
mod listener;
mod media;
pub(super) mod replies;
pub(super) mod routing;
pub(super) mod send;
mod status;
mod validate;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use rand::Rng;
use serde_json::Value;

use super::onboarding::now_secs;
use super::onboarding::tokens::{IgTokenShape, Onboard};
use crate::shutdown::CancellationToken;

pub use super::onboarding::templates::SimTemplate;
use listener::ResettableAcceptor;
use routing::GraphEndpoint;
use validate::recipient_key;

/// Largest JSON body accepted on `/messages` and `/_sim/*`.
pub(super) const JSON_LIMIT: usize = 4 * 1024 * 1024;
/// Largest multipart upload accepted.
const UPLOAD_LIMIT: usize = 100 * 1024 * 1024;
/// Uploads up to this size are kept and served back by the download URL; a larger one is only
/// counted and hashed as it arrives (its metadata is served, its download is a 404), so that
/// tests uploading many 100 MB files do not hold them in memory.
const KEEP_UPLOAD_BYTES: usize = 16 * 1024 * 1024;
/// A status webhook is retried this many times after a failed first attempt.
const WEBHOOK_RETRIES: u32 = 3;
/// First retry delay; doubled for every further retry.
const WEBHOOK_BACKOFF: Duration = Duration::from_millis(200);
/// WhatsApp account used in status webhooks of a channel registered without a WABA id (and the
/// account `metabridge sim graph` puts its WhatsApp channels in).
pub const DEFAULT_WABA_ID: &str = "102000000000001";
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
    /// The file, unless it was an upload over [`KEEP_UPLOAD_BYTES`].
    bytes: Option<Vec<u8>>,
    size: usize,
    /// Hex SHA-256 of the file.
    sha256: String,
}

impl MediaItem {
    fn new(mime: String, bytes: Vec<u8>) -> Self {
        Self {
            mime,
            size: bytes.len(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            bytes: Some(bytes),
        }
    }
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
    pub(in crate::sim) ig_users: HashSet<String>,
    media: HashMap<String, MediaItem>,
    /// Instagram / Messenger attachment files on the simulated CDN ([`GraphSim::add_cdn_file`]).
    cdn: HashMap<String, (String, Vec<u8>)>,
    /// How many times each CDN asset was asked for (answered or not).
    cdn_fetches: HashMap<String, u32>,
    uploaded: Vec<(String, String, usize)>,
    webhooks: Vec<StatusWebhook>,
    /// Accounts, minted tokens, codes, subscriptions and leads of the connect flows.
    pub(super) onboard: Onboard,
    /// Message templates per WhatsApp Business Account id.
    pub(in crate::sim) templates: HashMap<String, Vec<SimTemplate>>,
    /// People who wrote to a business (IGSID / PSID), with the profile fields Meta would
    /// answer ([`GraphSim::add_contact_profile`]).
    pub(in crate::sim) profiles: HashMap<String, Value>,
    /// Apps of the Pages besides the simulated app and Meta's inboxes, that control can be
    /// passed to ([`GraphSim::add_handover_app`]).
    pub(in crate::sim) handover_apps: HashSet<String>,
    /// Who controls each conversation, by (Page or Instagram account id, IGSID / PSID): the
    /// app id; absent = idle (the handover edges).
    pub(in crate::sim) thread_owners: HashMap<(String, String), String>,
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
    pub(super) webhook_override: Mutex<Option<String>>,
    /// The app's webhook configuration set by a test (`None`: the default).
    pub(super) app_subscriptions:
        Mutex<Option<Vec<crate::sim::onboarding::diagnostics::SimAppSubscription>>>,
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

/// The `asset_id` of a simulated CDN address.
fn cdn_asset(url: &str) -> &str {
    url.split("asset_id=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap_or("")
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
            MediaItem::new(mime.to_string(), bytes),
        );
    }

    /// Removes a media id, as Meta does after its expiry (`GET /{media_id}` then answers code 100).
    pub fn remove_media(&self, media_id: &str) {
        lock(&self.state.inner).media.remove(media_id);
    }

    /// Puts a file on the simulated CDN, as Meta does with an Instagram / Messenger attachment,
    /// and returns its signed address (`{base}/_cdn/ig_messaging_cdn/?asset_id=…&signature=…`),
    /// served with `mime` and no token. Put it in a webhook's `attachments[].payload.url`.
    pub fn add_cdn_file(&self, mime: &str, bytes: Vec<u8>) -> String {
        let asset = format!("{}", rand::random::<u64>() >> 8);
        lock(&self.state.inner)
            .cdn
            .insert(asset.clone(), (mime.to_string(), bytes));
        format!(
            "{}/_cdn/ig_messaging_cdn/?asset_id={asset}&signature=AbSim{asset}",
            self.state.base_url
        )
    }

    /// Expires a CDN address made by [`GraphSim::add_cdn_file`]: it then answers 404.
    pub fn expire_cdn_file(&self, url: &str) {
        lock(&self.state.inner).cdn.remove(cdn_asset(url));
    }

    /// How many times the CDN address `url` was fetched.
    pub fn cdn_fetches(&self, url: &str) -> u32 {
        lock(&self.state.inner)
            .cdn_fetches
            .get(cdn_asset(url))
            .copied()
            .unwrap_or(0)
    }

    /// Media uploaded through `POST /{version}/{phone_number_id}/media`: (id, mime, length).
    pub fn uploaded(&self) -> Vec<(String, String, usize)> {
        lock(&self.state.inner).uploaded.clone()
    }

    /// Hex SHA-256 of a media file (uploaded or added), as `GET /{media_id}` reports it.
    pub fn media_sha256(&self, media_id: &str) -> Option<String> {
        lock(&self.state.inner)
            .media
            .get(media_id)
            .map(|m| m.sha256.clone())
    }

    /// Registers a person who wrote to a business (an IGSID or a PSID) with the profile fields
    /// Meta's User Profile API answers for them (`name`, `username`, `profile_pic`,
    /// `follower_count`, `is_user_follow_business`, `is_business_follow_user` for Instagram;
    /// `first_name`, `last_name`, `profile_pic` for Messenger). Only registered people have a
    /// readable profile (Meta's consent rule: the person wrote first).
    pub fn add_contact_profile(&self, user_id: &str, profile: Value) {
        lock(&self.state.inner)
            .profiles
            .insert(user_id.to_string(), profile);
    }

    /// Registers another Meta app of the simulated Pages (a live-chat tool, a bot) that thread
    /// control may be passed to. The simulated app ([`APP_ID`]), the Page inbox
    /// (`263902037430900`) and the Instagram inbox (`1217981644879628`) are always known.
    pub fn add_handover_app(&self, app_id: &str) {
        lock(&self.state.inner)
            .handover_apps
            .insert(app_id.to_string());
    }

    /// The app that controls the conversation of `account` (Page or Instagram account id) with
    /// `user`, as the handover edges left it; `None` while it is idle.
    pub fn thread_owner(&self, account: &str, user: &str) -> Option<String> {
        lock(&self.state.inner)
            .thread_owners
            .get(&(account.to_string(), user.to_string()))
            .cloned()
    }

    /// Replaces the message templates of WhatsApp Business Account `waba` (what
    /// `GET /{waba}/message_templates` lists).
    pub fn set_templates(&self, waba: &str, templates: Vec<SimTemplate>) {
        lock(&self.state.inner)
            .templates
            .insert(waba.to_string(), templates);
    }

    /// The templates of `waba` now (created and deleted through the API included).
    pub fn templates(&self, waba: &str) -> Vec<SimTemplate> {
        lock(&self.state.inner)
            .templates
            .get(waba)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes the status (and quality, when given) of a template of `waba` by name and
    /// language, as Meta's review would; `false` when there is no such template.
    pub fn set_template_status(
        &self,
        waba: &str,
        name: &str,
        language: &str,
        status: &str,
        quality: Option<&str>,
    ) -> bool {
        let mut inner = lock(&self.state.inner);
        let Some(t) = inner.templates.get_mut(waba).and_then(|l| {
            l.iter_mut()
                .find(|t| t.name == name && t.language == language)
        }) else {
            return false;
        };
        t.status = status.to_string();
        if let Some(q) = quality {
            t.quality = q.to_string();
        }
        true
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
        app_subscriptions: Mutex::new(None),
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

#[cfg(test)]
mod tests;
