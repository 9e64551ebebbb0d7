//! Graph API client for the Meta channels (WhatsApp Cloud API, Instagram, Messenger).
//!
//! * [`parse_error`] / [`GraphError`]: Meta's error envelope (`{"error":{...}}`), parsed leniently.
//! * [`classify`] / [`ErrorClass`]: what to do about an error code (re-exported from
//!   [`super::errors`], the one table of Meta's codes).
//! * [`regain_after`]: how long Meta asks us to back off (`X-Business-Use-Case-Usage`,
//!   `X-App-Usage`, `Retry-After`; §10).
//! * [`GraphClient`]: sends, media metadata / download / upload and `debug_token`.
//!
//! Secrets: the access token is passed per call and travels only in the `Authorization: Bearer`
//! header (the header is marked sensitive, so reqwest never prints it). It is never put in a URL —
//! except `input_token` of [`GraphClient::debug_token`], which Meta only accepts as a query
//! parameter — and never appears in any `Display`/`Debug` output of this module: transport error
//! texts are built from reqwest's error *kind* and the root cause without the URL, and any
//! occurrence of the tokens of the call is redacted on top. Response bodies are never copied into
//! reasons either (only Meta's own `message`/`details` of an error envelope are kept).

use std::fmt;
use std::time::Duration;

mod attachments;
mod handover;
pub use handover::HandoverCall;
mod profile;
pub use profile::{INSTAGRAM_PROFILE_FIELDS, MESSENGER_PROFILE_FIELDS};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use url::Url;

/// Largest API response body read into memory (sends, metadata, errors). Media downloads are
/// streamed and not subject to it.
const MAX_API_BODY: usize = 1024 * 1024;
/// Largest error body read from a failed media download.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest Meta-supplied text (message, title, details) kept in a [`GraphError`].
const MAX_TEXT: usize = 1024;
/// Longest transport-error description.
const MAX_REASON: usize = 300;
/// Longest path segment accepted by [`safe_segment`].
const MAX_SEGMENT: usize = 512;
/// Upload time budget on top of the client timeout: one second per this many bytes.
const UPLOAD_BYTES_PER_SEC: u64 = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Error envelope
// ---------------------------------------------------------------------------------------------

/// A parsed Meta error envelope. Decide on `code` (+ `subcode`), never on the texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub code: i64,
    /// `error_subcode` (or `subcode`, as in `debug_token`); meaningful for Messenger/Instagram.
    pub subcode: Option<i64>,
    /// Meta's `message`, for logs.
    pub message: String,
    /// `error_user_title` (or `title`, as in webhook `errors[]`).
    pub title: Option<String>,
    /// `error_data.details` (WhatsApp's useful human text), else `error_user_msg`.
    pub details: Option<String>,
    /// Always log this: Meta support asks for it.
    pub fbtrace_id: Option<String>,
    /// HTTP status of the response that carried the envelope (0 when it came from a webhook).
    pub http_status: u16,
}

impl GraphError {
    /// Builds an error from the object inside `{"error": ...}` (also the shape of webhook
    /// `statuses[].errors[]` / `value.errors[]` entries). `None` without a usable `code`.
    pub fn from_error_object(obj: &Value, http_status: u16) -> Option<GraphError> {
        let obj = obj.as_object()?;
        let code = obj.get("code").and_then(lenient_i64)?;
        let subcode = obj
            .get("error_subcode")
            .or_else(|| obj.get("subcode"))
            .and_then(lenient_i64);
        let text = |key: &str| obj.get(key).and_then(lenient_string).map(truncate_text);
        let details = obj
            .get("error_data")
            .and_then(error_data_details)
            .map(truncate_text)
            .or_else(|| text("error_user_msg"));
        Some(GraphError {
            code,
            subcode,
            message: text("message").unwrap_or_default(),
            title: text("error_user_title").or_else(|| text("title")),
            details,
            fbtrace_id: text("fbtrace_id"),
            http_status,
        })
    }

    /// [`classify`] applied to this error.
    pub fn class(&self) -> ErrorClass {
        classify(self.code, self.subcode)
    }

    /// A readable reason from the error table (refined by the subcode where a row names one).
    pub fn reason(&self) -> &'static str {
        super::errors::reason(self.code, self.subcode)
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph error {}", self.code)?;
        if let Some(sub) = self.subcode {
            write!(f, "/{sub}")?;
        }
        if self.http_status != 0 {
            write!(f, " (HTTP {})", self.http_status)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(details) = &self.details {
            write!(f, " — {details}")?;
        }
        if let Some(trace) = &self.fbtrace_id {
            write!(f, " [fbtrace_id {trace}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

/// Parses Meta's error envelope `{"error":{"code":...}}` from a response body. Lenient: codes may
/// be numbers or strings, every field but `code` may be missing. `None` when the body is not such
/// an envelope (HTML from a proxy, empty body, OAuth-style `{"error":"..."}` strings, ...).
///
/// `api.instagram.com` (the Instagram Login code exchange) answers a flat
/// `{"error_type":"OAuthException","code":400,"error_message":"..."}` instead; that shape is
/// accepted too (`error_type` becomes the title).
pub fn parse_error(status: u16, body: &[u8]) -> Option<GraphError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        return GraphError::from_error_object(error, status);
    }
    let obj = value.as_object()?;
    let message = obj.get("error_message").and_then(lenient_string)?;
    let code = obj.get("code").and_then(lenient_i64)?;
    Some(GraphError {
        code,
        subcode: None,
        message: truncate_text(message),
        title: obj
            .get("error_type")
            .and_then(lenient_string)
            .map(truncate_text),
        details: None,
        fbtrace_id: None,
        http_status: status,
    })
}

/// `error_data` is an object in current responses, but older Graph errors carry it as a
/// JSON-encoded string.
fn error_data_details(v: &Value) -> Option<String> {
    match v {
        Value::Object(map) => map.get("details").and_then(lenient_string),
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()?
            .get("details")
            .and_then(lenient_string),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Classification: one table, in `super::errors`
// ---------------------------------------------------------------------------------------------

pub use super::errors::{ErrorClass, classify};

// ---------------------------------------------------------------------------------------------
// Rate limit headers
// ---------------------------------------------------------------------------------------------

/// How long Meta asks us to wait before calling again: the largest of every
/// `estimated_time_to_regain_access` (minutes) found in `X-Business-Use-Case-Usage` and
/// `X-App-Usage`, and `Retry-After` (delta seconds). `None` when no header asks for a wait
/// (zero values count as no wait). Malformed headers are ignored.
pub fn regain_after(headers: &HeaderMap) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    let mut consider = |d: Duration| {
        if !d.is_zero() && best.is_none_or(|b| d > b) {
            best = Some(d);
        }
    };
    for name in ["x-business-use-case-usage", "x-app-usage"] {
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(json) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let mut minutes = Vec::new();
            collect_regain_minutes(&json, &mut minutes, 0);
            for m in minutes {
                consider(Duration::from_secs(m.saturating_mul(60)));
            }
        }
    }
    for value in headers.get_all(RETRY_AFTER) {
        // Only the delta-seconds form; an HTTP-date is ignored.
        if let Some(secs) = value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            consider(Duration::from_secs(secs));
        }
    }
    best
}

fn collect_regain_minutes(v: &Value, out: &mut Vec<u64>, depth: usize) {
    if depth > 8 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (key, val) in map {
                if key == "estimated_time_to_regain_access" {
                    if let Some(m) = lenient_u64(val) {
                        out.push(m);
                    }
                } else {
                    collect_regain_minutes(val, out, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_regain_minutes(item, out, depth + 1);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Path segments
// ---------------------------------------------------------------------------------------------

/// Returns `s` if it is safe as one URL path segment (an id): non-empty, not `.`, at most 512
/// bytes, no `..`, and none of `/ \ ? # %`, whitespace or control characters. Anything else is
/// refused before a request is made (path traversal guard).
pub fn safe_segment(s: &str) -> Option<&str> {
    let bad_char =
        |c: char| matches!(c, '/' | '\\' | '?' | '#' | '%') || c.is_whitespace() || c.is_control();
    if s.is_empty()
        || s == "."
        || s.len() > MAX_SEGMENT
        || s.contains("..")
        || s.chars().any(bad_char)
    {
        None
    } else {
        Some(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// The result of a send (message, reaction, read receipt, sender action).
///
/// Sends have no idempotency key, so the split between `NotSent` and `Ambiguous` is what decides
/// whether a retry can duplicate a message:
///
/// * `NotSent` only when non-delivery is proven: the id was refused locally, the request could
///   not be built, or reqwest reports a *connect* error (DNS failure, TCP refused/unreachable,
///   TLS handshake failure, connect timeout — the connect timeout is kept shorter than the total
///   timeout so that it fires first), i.e. no request bytes left this process; or an HTTP **4xx**
///   without a Meta error envelope (a proxy/edge refusing the request — a 4xx says the request
///   was not processed, and Meta itself always answers 4xx with an envelope).
/// * `Ambiguous` whenever the request may have reached Meta: total timeout after connecting,
///   connection reset/closed while waiting, redirect/body/decode errors, a 2xx whose body is not
///   a recognisable send result (or could not be read), any 1xx/3xx, and **every 5xx without a
///   Meta envelope — including a bare 503**: a 502/503/504 from Meta's edge or a proxy can be
///   produced after the request was forwarded upstream (upstream timeout, reset), so it proves
///   nothing about delivery.
/// * `Rejected` whenever the body is a Meta error envelope, whatever the HTTP status (a 5xx
///   carrying one, e.g. code 2, is Meta answering).
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Meta accepted the request. WhatsApp `{messages:[{id,message_status}],contacts:[{wa_id}]}`;
    /// Instagram/Messenger `{recipient_id, message_id}` (`recipient_id` goes to
    /// `recipient_wa_id`); sender actions and read receipts `{success:true}` or `{recipient_id}`
    /// without a message id.
    Accepted {
        message_id: Option<String>,
        /// WhatsApp `contacts[0].wa_id`, or the Instagram/Messenger `recipient_id` (PSID/IGSID).
        recipient_wa_id: Option<String>,
        message_status: Option<String>,
    },
    /// Meta answered with an error envelope.
    Rejected {
        error: GraphError,
        class: ErrorClass,
        /// From the rate-limit headers ([`regain_after`]).
        retry_after: Option<Duration>,
    },
    /// Provably not sent: safe to retry without risking a duplicate.
    NotSent { reason: String },
    /// The request may have reached Meta: a retry may duplicate the message.
    Ambiguous { reason: String },
}

/// WhatsApp media metadata (`GET /{media-id}`); `url` is valid for about 5 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: String,
    /// Hex SHA-256 of the file (per Meta; compare leniently).
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
    pub id: String,
}

/// `GET /debug_token` result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenInfo {
    pub is_valid: bool,
    /// Unix seconds; `Some(0)` means the token never expires.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    /// `data.error.code` when Meta reports why the token is invalid (e.g. 190).
    pub error_code: Option<i64>,
    pub app_id: Option<String>,
    /// `granular_scopes`: which objects (WABAs, pages, ...) each scope covers.
    pub granular_scopes: Vec<GranularScope>,
}

/// One entry of `granular_scopes` in a `debug_token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GranularScope {
    pub scope: String,
    pub target_ids: Vec<String>,
}

/// Error of the non-send calls. Its `Display`/`Debug` never contain a token or a response body
/// (only the fields of a Meta error envelope).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphCallError {
    /// Meta answered with an error envelope.
    #[error("{error} ({class})")]
    Graph {
        /// Boxed to keep `Result<_, GraphCallError>` small.
        error: Box<GraphError>,
        class: ErrorClass,
    },
    /// An HTTP error status without a Meta error envelope (e.g. 401/403/404 on an expired media
    /// URL: fetch the metadata again).
    #[error("HTTP status {status} without a Graph error body")]
    Status { status: u16 },
    /// Network failure: DNS, connect, TLS, timeout, reset.
    #[error("transport error: {0}")]
    Transport(String),
    /// A success response whose body is not what was expected.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// Refused before any request: an unsafe id, a bad URL or MIME type.
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl GraphCallError {
    /// Whether a *read* (metadata, download, debug_token) may be retried. Uploads create a new
    /// media id each time, so retrying one is harmless too.
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphCallError::Graph { class, .. } => class.is_retryable(),
            GraphCallError::Status { status } => *status >= 500 || *status == 429,
            GraphCallError::Transport(_) => true,
            GraphCallError::Decode(_) | GraphCallError::Invalid(_) => false,
        }
    }

    /// Meta refused the access token the call carried (190, 102, 0: expired, revoked, never
    /// issued). On a token-health call that condemns the token; on any other call it only says
    /// the token should be checked.
    pub fn is_token_refused(&self) -> bool {
        matches!(
            self,
            GraphCallError::Graph {
                class: ErrorClass::TokenSuspect,
                ..
            }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Graph API client. Cheap to clone (the connection pools are shared).
#[derive(Debug, Clone)]
pub struct GraphClient {
    /// API calls: total timeout, no redirects (a redirected POST would turn into a GET).
    api: reqwest::Client,
    /// Media downloads: no total timeout (large files stream), an idle-read timeout instead;
    /// follows redirects (reqwest drops `Authorization` on a cross-origin hop).
    media: reqwest::Client,
    /// Instagram / Messenger attachment downloads: like `media`, never a token, and redirects
    /// only to Meta's CDN hosts ([`attachments::is_meta_cdn`]).
    cdn: reqwest::Client,
    base: Url,
    version: String,
    timeout: Duration,
}

impl GraphClient {
    /// A client for `base_url` (`https://graph.facebook.com`, or `http://127.0.0.1:1234` for a
    /// fake) and `version` (`v25.0`; empty → no version segment). `timeout` bounds each API call;
    /// connecting is bounded by half of it (at most 10 s).
    ///
    /// # Panics
    /// On an invalid `base_url`/`version`, or when no rustls crypto provider is installed (the
    /// binary installs ring at start). Use [`GraphClient::try_new`] to get an error instead.
    pub fn new(base_url: &str, version: &str, timeout: Duration) -> Self {
        match Self::try_new(base_url, version, timeout) {
            Ok(client) => client,
            Err(e) => panic!("GraphClient configuration: {e}"),
        }
    }

    /// Like [`GraphClient::new`], with an error for an invalid base URL or version.
    pub fn try_new(
        base_url: &str,
        version: &str,
        timeout: Duration,
    ) -> Result<Self, GraphCallError> {
        let mut base = Url::parse(base_url.trim())
            .map_err(|e| GraphCallError::Invalid(format!("base URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.cannot_be_a_base()
            || base.host_str().is_none()
        {
            return Err(GraphCallError::Invalid(
                "base URL must be an absolute http(s) URL".into(),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
            return Err(GraphCallError::Invalid(
                "base URL must not have credentials, a query or a fragment".into(),
            ));
        }
        base.set_password(None).ok();
        let version = version.trim().trim_matches('/');
        if !version.is_empty() && safe_segment(version).is_none() {
            return Err(GraphCallError::Invalid(
                "version is not a plain path segment".into(),
            ));
        }
        let connect_timeout = (timeout / 2).min(Duration::from_secs(10));
        let user_agent = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));
        let api = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphCallError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        let media = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(connect_timeout)
            .read_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| GraphCallError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        let cdn = attachments::cdn_client(&base, user_agent, connect_timeout, timeout)?;
        Ok(GraphClient {
            api,
            media,
            cdn,
            base,
            version: version.to_owned(),
            timeout,
        })
    }

    /// The timeout of one API call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `{base}/{version}/{segments...}`; every segment must pass [`safe_segment`].
    fn endpoint(&self, segments: &[&str]) -> Result<Url, GraphCallError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| GraphCallError::Invalid("base URL cannot take a path".into()))?;
            path.pop_if_empty();
            if !self.version.is_empty() {
                path.push(&self.version);
            }
            for seg in segments {
                let seg = safe_segment(seg)
                    .ok_or_else(|| GraphCallError::Invalid("unsafe id in URL path".into()))?;
                path.push(seg);
            }
        }
        Ok(url)
    }

    /// `POST {base}/{version}/{sender_id}/messages` with a JSON body: WhatsApp (sender = phone
    /// number id), Instagram/Messenger (sender = IG account / page id, or `me`). See
    /// [`SendOutcome`] for how failures are split between `NotSent` and `Ambiguous`.
    pub async fn send_message(&self, token: &str, sender_id: &str, body: &Value) -> SendOutcome {
        let url = match self.endpoint(&[sender_id, "messages"]) {
            Ok(url) => url,
            Err(e) => {
                return SendOutcome::NotSent {
                    reason: format!("refused before sending: {e}"),
                };
            }
        };
        let sent = self
            .api
            .post(url)
            .bearer_auth(token)
            .json(body)
            .timeout(self.timeout)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let reason = describe_transport(&e, &[token]);
                return if e.is_builder() || e.is_connect() {
                    SendOutcome::NotSent { reason }
                } else {
                    SendOutcome::Ambiguous { reason }
                };
            }
        };
        let status = response.status();
        let retry_after = regain_after(response.headers());
        let body = read_limited(response, MAX_API_BODY).await;
        let outcome = send_outcome(status, retry_after, body, token);
        if let SendOutcome::Rejected { error, class, .. } = &outcome {
            tracing::debug!(
                code = error.code,
                subcode = error.subcode,
                fbtrace_id = error.fbtrace_id.as_deref(),
                class = class.as_str(),
                "Graph send rejected"
            );
        }
        outcome
    }

    /// `GET {base}/{version}/{media_id}` (`?phone_number_id=` checks ownership).
    pub async fn media_info(
        &self,
        token: &str,
        media_id: &str,
        phone_number_id: Option<&str>,
    ) -> Result<MediaInfo, GraphCallError> {
        let mut url = self.endpoint(&[media_id])?;
        if let Some(pnid) = phone_number_id {
            let pnid = safe_segment(pnid)
                .ok_or_else(|| GraphCallError::Invalid("unsafe phone_number_id".into()))?;
            url.query_pairs_mut().append_pair("phone_number_id", pnid);
        }
        let request = self.api.get(url).bearer_auth(token);
        let json = self.call_json(request, &[token]).await?;
        media_info_from(&json, media_id)
    }

    /// `GET url` (from [`MediaInfo::url`]) with the bearer header, following redirects, and
    /// returns the response unread so the caller can stream it (`chunk()` / `bytes_stream()`).
    /// The body has no total timeout, only an idle-read timeout (the client timeout).
    ///
    /// The token is only sent to `https` URLs, or to the origin of the base URL (a local fake
    /// Graph server); anything else is refused. reqwest drops the header on a cross-origin
    /// redirect. A non-2xx answer is [`GraphCallError::Graph`] or [`GraphCallError::Status`]
    /// (401/403/404: the URL expired, fetch the metadata again).
    pub async fn download(
        &self,
        token: &str,
        url: &str,
    ) -> Result<reqwest::Response, GraphCallError> {
        let url = Url::parse(url)
            .map_err(|_| GraphCallError::Invalid("media URL does not parse".into()))?;
        let same_origin = url.origin() == self.base.origin();
        if !(url.scheme() == "https" || same_origin) || !url.username().is_empty() {
            return Err(GraphCallError::Invalid(
                "media URL must be https (or on the configured Graph origin)".into(),
            ));
        }
        let response = self
            .media
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| GraphCallError::Transport(describe_transport(&e, &[token])))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = read_limited(response, MAX_ERROR_BODY).await;
        Err(error_from_status(status, body.ok().as_deref()))
    }

    /// `POST {base}/{version}/{phone_number_id}/media` (multipart: `messaging_product=whatsapp`,
    /// `type=<mime>`, `file` with filename and MIME type) → the new media id. `body` may be
    /// `bytes::Bytes`, a `Vec<u8>` or a streaming `reqwest::Body` of exactly `len` bytes. The
    /// time budget is the client timeout plus one second per 64 KiB, plus `arriving` for a
    /// body still arriving from a client (the time that client is given for it; zero for a
    /// body at hand).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_media(
        &self,
        token: &str,
        phone_number_id: &str,
        mime: &str,
        filename: &str,
        body: impl Into<reqwest::Body>,
        len: u64,
        arriving: Duration,
    ) -> Result<String, GraphCallError> {
        let url = self.endpoint(&[phone_number_id, "media"])?;
        let mime = mime.trim();
        let part = reqwest::multipart::Part::stream_with_length(body, len)
            .file_name(clean_filename(filename))
            .mime_str(mime)
            .map_err(|_| GraphCallError::Invalid("invalid MIME type".into()))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_owned())
            .part("file", part);
        let budget = self.timeout + arriving + Duration::from_secs(len / UPLOAD_BYTES_PER_SEC);
        let request = self
            .api
            .post(url)
            .bearer_auth(token)
            .multipart(form)
            .timeout(budget);
        let json = self.call_json(request, &[token]).await?;
        json.get("id")
            .and_then(lenient_string)
            .ok_or_else(|| GraphCallError::Decode("upload response has no media id".into()))
    }

    /// `GET {base}/{version}/debug_token?input_token=...`, authenticated with `app_token`
    /// (`app_id|app_secret` or a system-user token).
    ///
    /// This is the one call that puts a token in the URL: Meta accepts `input_token` only as a
    /// query parameter. The URL is never logged or put into an error by this module.
    pub async fn debug_token(
        &self,
        app_token: &str,
        input_token: &str,
    ) -> Result<TokenInfo, GraphCallError> {
        let mut url = self.endpoint(&["debug_token"])?;
        url.query_pairs_mut()
            .append_pair("input_token", input_token);
        let request = self.api.get(url).bearer_auth(app_token);
        let json = self.call_json(request, &[app_token, input_token]).await?;
        token_info_from(&json)
    }

    /// Sends an API request and returns its JSON body, or the error.
    async fn call_json(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Value, GraphCallError> {
        call_json(request, secrets).await
    }
}

/// Sends an API request and returns its JSON body, or the error (a Meta envelope, whatever
/// the HTTP status, becomes [`GraphCallError::Graph`]). `secrets` are redacted from
/// transport error texts.
pub(crate) async fn call_json(
    request: reqwest::RequestBuilder,
    secrets: &[&str],
) -> Result<Value, GraphCallError> {
    let response = request
        .send()
        .await
        .map_err(|e| GraphCallError::Transport(describe_transport(&e, secrets)))?;
    let status = response.status();
    let body = match read_limited(response, MAX_API_BODY).await {
        Ok(body) => body,
        Err(e) if status.is_success() => {
            return Err(match e {
                BodyError::TooLarge => GraphCallError::Decode("response body too large".into()),
                BodyError::Failed(msg) => GraphCallError::Transport(scrub(msg, secrets)),
            });
        }
        Err(_) => return Err(error_from_status(status, None)),
    };
    if !status.is_success() {
        return Err(error_from_status(status, Some(&body)));
    }
    let json: Value = serde_json::from_slice(&body).map_err(|_| {
        GraphCallError::Decode(format!(
            "HTTP {} body is not JSON ({} bytes)",
            status.as_u16(),
            body.len()
        ))
    })?;
    if let Some(error) = json
        .get("error")
        .and_then(|e| GraphError::from_error_object(e, status.as_u16()))
    {
        let class = error.class();
        return Err(GraphCallError::Graph {
            error: Box::new(error),
            class,
        });
    }
    Ok(json)
}

/// The error for a non-2xx answer (or a 2xx carrying an envelope).
fn error_from_status(status: StatusCode, body: Option<&[u8]>) -> GraphCallError {
    match body.and_then(|b| parse_error(status.as_u16(), b)) {
        Some(error) => {
            let class = error.class();
            GraphCallError::Graph {
                error: Box::new(error),
                class,
            }
        }
        None => GraphCallError::Status {
            status: status.as_u16(),
        },
    }
}

/// Decides a send's outcome from what came back (see [`SendOutcome`]).
fn send_outcome(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Result<Vec<u8>, BodyError>,
    token: &str,
) -> SendOutcome {
    let code = status.as_u16();
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let why = match e {
                BodyError::TooLarge => "body too large".to_owned(),
                BodyError::Failed(msg) => scrub(msg, &[token]),
            };
            let reason = format!("HTTP {code}, response body unreadable: {why}");
            return if status.is_client_error() {
                SendOutcome::NotSent { reason }
            } else {
                SendOutcome::Ambiguous { reason }
            };
        }
    };
    if let Some(error) = parse_error(code, &body) {
        let class = error.class();
        return SendOutcome::Rejected {
            error,
            class,
            retry_after,
        };
    }
    if status.is_success() {
        return serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|json| accepted_from(&json))
            .unwrap_or_else(|| SendOutcome::Ambiguous {
                reason: format!(
                    "HTTP {code} with an unrecognised body ({} bytes)",
                    body.len()
                ),
            });
    }
    if status.is_client_error() {
        SendOutcome::NotSent {
            reason: format!("HTTP {code} without a Graph error body (refused before Meta)"),
        }
    } else {
        SendOutcome::Ambiguous {
            reason: format!("HTTP {code} without a Graph error body"),
        }
    }
}

/// The `Accepted` variant for a 2xx send body, `None` when it is no recognisable success.
fn accepted_from(json: &Value) -> Option<SendOutcome> {
    let obj = json.as_object()?;
    // WhatsApp: {"messages":[{"id","message_status"}],"contacts":[{"input","wa_id"}]}
    if let Some(messages) = obj.get("messages").and_then(Value::as_array) {
        let first = messages.first()?;
        let message_id = first.get("id").and_then(lenient_string)?;
        let recipient = obj
            .get("contacts")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .and_then(|c| c.get("wa_id"))
            .and_then(lenient_string);
        return Some(SendOutcome::Accepted {
            message_id: Some(message_id),
            recipient_wa_id: recipient,
            message_status: first.get("message_status").and_then(lenient_string),
        });
    }
    // Instagram / Messenger: {"recipient_id","message_id"}; sender actions: {"recipient_id"}.
    let message_id = obj.get("message_id").and_then(lenient_string);
    let recipient_id = obj.get("recipient_id").and_then(lenient_string);
    if message_id.is_some() || recipient_id.is_some() {
        return Some(SendOutcome::Accepted {
            message_id,
            recipient_wa_id: recipient_id,
            message_status: None,
        });
    }
    // Read receipts / typing indicator: {"success": true}.
    if obj
        .get("success")
        .is_some_and(|s| s == &Value::Bool(true) || s == "true")
    {
        return Some(SendOutcome::Accepted {
            message_id: None,
            recipient_wa_id: None,
            message_status: None,
        });
    }
    None
}

fn media_info_from(json: &Value, requested_id: &str) -> Result<MediaInfo, GraphCallError> {
    let url = json
        .get("url")
        .and_then(lenient_string)
        .ok_or_else(|| GraphCallError::Decode("media metadata has no url".into()))?;
    Ok(MediaInfo {
        url,
        mime_type: json
            .get("mime_type")
            .and_then(lenient_string)
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        sha256: json.get("sha256").and_then(lenient_string),
        file_size: json.get("file_size").and_then(lenient_u64),
        id: json
            .get("id")
            .and_then(lenient_string)
            .unwrap_or_else(|| requested_id.to_owned()),
    })
}

fn token_info_from(json: &Value) -> Result<TokenInfo, GraphCallError> {
    let data = json
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| GraphCallError::Decode("debug_token response has no data".into()))?;
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|items| items.iter().filter_map(lenient_string).collect())
            .unwrap_or_default()
    };
    let granular_scopes = granular_scopes(data);
    Ok(TokenInfo {
        is_valid: data
            .get("is_valid")
            .is_some_and(|v| v == &Value::Bool(true) || v == "true"),
        expires_at: data.get("expires_at").and_then(lenient_i64),
        scopes: strings(data.get("scopes")),
        error_code: data
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(lenient_i64),
        app_id: data.get("app_id").and_then(lenient_string),
        granular_scopes,
    })
}

/// `data.granular_scopes` of a `debug_token` answer (ids as strings or numbers; entries
/// without a scope are skipped; `target_ids` may be missing).
pub(crate) fn granular_scopes(data: &Value) -> Vec<GranularScope> {
    data.get("granular_scopes")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|g| {
                    Some(GranularScope {
                        scope: g.get("scope").and_then(lenient_string)?,
                        target_ids: g
                            .get("target_ids")
                            .and_then(Value::as_array)
                            .map(|ids| ids.iter().filter_map(lenient_string).collect())
                            .unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum BodyError {
    TooLarge,
    Failed(String),
}

/// Reads at most `limit` bytes of a response body.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(BodyError::Failed(describe_transport(&e, &[]))),
        }
    }
}

/// A description of a reqwest error without its URL: the kind, then the root cause (OS / TLS /
/// DNS text). The given secrets are redacted on top.
fn describe_transport(e: &reqwest::Error, secrets: &[&str]) -> String {
    let kind = if e.is_builder() {
        "request could not be built"
    } else if e.is_connect() && e.is_timeout() {
        "connect timed out"
    } else if e.is_connect() {
        "connect failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_redirect() {
        "redirect failed"
    } else if e.is_body() {
        "body transfer failed"
    } else if e.is_decode() {
        "response decoding failed"
    } else {
        "request failed"
    };
    let mut root = None;
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if !err.is::<reqwest::Error>() {
            root = Some(err.to_string());
        }
        source = err.source();
    }
    let text = match root {
        Some(root) if !root.is_empty() => format!("{kind}: {root}"),
        _ => kind.to_owned(),
    };
    scrub(truncate(text, MAX_REASON), secrets)
}

/// Replaces every occurrence of a (non-trivial) secret by `[redacted]`.
pub(crate) fn scrub(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets {
        if secret.len() >= 4 && text.contains(secret) {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn truncate_text(text: String) -> String {
    truncate(text, MAX_TEXT)
}

/// A multipart filename without path separators, quotes or control characters.
fn clean_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | '"') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}

pub(crate) fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_u64(v: &Value) -> Option<u64> {
    lenient_i64(v).and_then(|n| u64::try_from(n).ok())
}

pub(crate) fn lenient_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests;
