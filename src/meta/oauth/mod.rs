//! The server-side calls of the channel-connect flows and of the token lifecycle
//! (meta-platform.md §11): the Facebook Login / Embedded Signup code exchange, long-lived user
//! tokens, `debug_token`, the user's Pages, a WABA's phone numbers, app subscriptions, phone
//! registration, the Lead Ads lead fetch, and the Instagram Login token calls; plus the
//! `signed_request` of the deauthorize and data-deletion callbacks (§12.1).
//!
//! Secrets: tokens travel in the `Authorization` header where Meta allows it; the few calls
//! that Meta only accepts with a secret in the query (`oauth/access_token`, `debug_token`'s
//! `input_token`, the Instagram token endpoints) never put their URL in an error or a log line:
//! transport errors are described without the URL and every secret of the call is redacted from
//! every text an error carries (including Meta's own messages). [`AppCredentials`] and
//! [`AccessToken`] redact their secrets in `Debug`.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use url::Url;

use super::graph::{
    GranularScope, GraphCallError, call_json, lenient_i64, lenient_string, safe_segment, scrub,
};

mod diagnostics;
mod instagram;
mod leads;
mod registration;
mod subscriptions;
mod templates;

pub use diagnostics::{
    AppSubscription, HealthEntity, HealthError, LinkedInstagram, MessagingHealth,
    PHONE_STATUS_FIELDS, PhoneStatus,
};
pub use leads::{FormLead, FormLeads, LEAD_AD_FIELDS, LEAD_FIELDS, LeadForm};
pub use templates::{CreatedTemplate, MetaTemplate, TEMPLATE_FIELDS};

/// Most `paging.next` pages followed by a list call.
const MAX_PAGES: usize = 20;

/// Base URLs and Graph version of the hosts the onboarding calls go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthEndpoints {
    /// `https://graph.facebook.com` (or a simulator).
    pub graph_url: String,
    /// `v25.0`; empty = no version segment.
    pub graph_version: String,
    /// `https://api.instagram.com` (Instagram Login code exchange).
    pub ig_api_url: String,
    /// `https://graph.instagram.com` (Instagram Login tokens and API).
    pub ig_graph_url: String,
}

impl OAuthEndpoints {
    /// Meta's production hosts with `version`.
    pub fn meta(version: &str) -> Self {
        Self {
            graph_url: "https://graph.facebook.com".into(),
            graph_version: version.into(),
            ig_api_url: "https://api.instagram.com".into(),
            ig_graph_url: "https://graph.instagram.com".into(),
        }
    }

    /// Everything on one simulator (`metabridge sim graph`): Graph at `/`, Instagram hosts
    /// under `/ig-api` and `/ig-graph`.
    pub fn simulator(base: &str, version: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            graph_url: base.to_owned(),
            graph_version: version.into(),
            ig_api_url: format!("{base}/ig-api"),
            ig_graph_url: format!("{base}/ig-graph"),
        }
    }
}

/// A Meta app's id and secret. `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AppCredentials {
    pub app_id: String,
    pub app_secret: String,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("app_secret", &"[redacted]")
            .finish()
    }
}

/// An access token and its lifetime. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub access_token: String,
    /// Seconds from now; `None` when Meta did not say (non-expiring business tokens).
    pub expires_in: Option<i64>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The short-lived token of the Instagram Login code exchange. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IgShortToken {
    pub access_token: String,
    /// The Instagram professional account id (`user_id`), when Meta returned it.
    pub user_id: Option<String>,
}

impl fmt::Debug for IgShortToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IgShortToken")
            .field("access_token", &"[redacted]")
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// `GET /debug_token` (`data`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DebugToken {
    pub is_valid: bool,
    /// The app the token was issued to.
    pub app_id: Option<String>,
    /// The app-scoped user id of whoever the token belongs to.
    pub user_id: Option<String>,
    /// `USER`, `PAGE`, `SYSTEM_USER`, ...
    pub token_type: Option<String>,
    /// Unix seconds; `Some(0)` = never expires.
    pub expires_at: Option<i64>,
    pub data_access_expires_at: Option<i64>,
    pub scopes: Vec<String>,
    pub granular_scopes: Vec<GranularScope>,
    /// `data.error.code` / `subcode` when the token is invalid (190 / 463 = expired).
    pub error_code: Option<i64>,
    pub error_subcode: Option<i64>,
}

/// An Instagram professional account linked to a Page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgAccount {
    pub id: String,
    pub username: Option<String>,
}

/// A Page of `me/accounts`, with its Page token. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub access_token: String,
    pub tasks: Vec<String>,
    pub instagram: Option<IgAccount>,
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("access_token", &"[redacted]")
            .field("tasks", &self.tasks)
            .field("instagram", &self.instagram)
            .finish()
    }
}

/// A phone number of a WABA (`GET /{waba}/phone_numbers`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneNumber {
    pub id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    /// `APPROVED`, `PENDING_REVIEW`, `DECLINED`, `AVAILABLE_WITHOUT_REVIEW`, ...
    pub name_status: Option<String>,
    pub code_verification_status: Option<String>,
    pub platform_type: Option<String>,
    pub quality_rating: Option<String>,
    /// In use with the WhatsApp Business app too ("Onboard WhatsApp Business app users", check
    /// onboarding status: `is_on_biz_app` and `platform_type`).
    pub is_on_biz_app: bool,
}

/// One app subscribed to an object (`GET /{id}/subscribed_apps`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribedApp {
    pub app_id: Option<String>,
    /// Empty for WABAs (they subscribe to everything the app's webhook has).
    pub subscribed_fields: Vec<String>,
}

/// `GET graph.instagram.com/me?fields=user_id,username,name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgProfile {
    /// The professional account id: `entry.id` of the webhooks (route on this, not `id`).
    pub user_id: String,
    pub username: Option<String>,
    pub name: Option<String>,
}

/// The onboarding / token-lifecycle client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    graph: Url,
    version: String,
    ig_api: Url,
    ig_graph: Url,
    fb_app: AppCredentials,
    ig_app: AppCredentials,
    timeout: Duration,
}

fn base_url(raw: &str, what: &str) -> Result<Url, GraphCallError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| GraphCallError::Invalid(format!("{what} URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.cannot_be_a_base()
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(GraphCallError::Invalid(format!(
            "{what} URL must be an absolute http(s) URL without credentials, query or fragment"
        )));
    }
    Ok(url)
}

impl OAuthClient {
    /// `ig_app` is the Instagram Login app (`None` = the same as `fb_app`). `timeout` bounds
    /// every call (connecting: half of it, at most 10 s).
    pub fn new(
        endpoints: OAuthEndpoints,
        fb_app: AppCredentials,
        ig_app: Option<AppCredentials>,
        timeout: Duration,
    ) -> Result<Self, GraphCallError> {
        let graph = base_url(&endpoints.graph_url, "Graph")?;
        let ig_api = base_url(&endpoints.ig_api_url, "Instagram API")?;
        let ig_graph = base_url(&endpoints.ig_graph_url, "Instagram Graph")?;
        let version = endpoints.graph_version.trim().trim_matches('/').to_owned();
        if !version.is_empty() && safe_segment(&version).is_none() {
            return Err(GraphCallError::Invalid(
                "version is not a plain path segment".into(),
            ));
        }
        let user_agent = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout((timeout / 2).min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphCallError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        let ig_app = ig_app.unwrap_or_else(|| fb_app.clone());
        Ok(Self {
            http,
            graph,
            version,
            ig_api,
            ig_graph,
            fb_app,
            ig_app,
            timeout,
        })
    }

    /// The Facebook app id (for the dialogs and the SDK).
    pub fn app_id(&self) -> &str {
        &self.fb_app.app_id
    }

    /// The Instagram Login app id.
    pub fn ig_app_id(&self) -> &str {
        &self.ig_app.app_id
    }

    /// The timeout of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `{base}[/{version}]/{segments...}`; every segment must pass [`safe_segment`].
    fn url(&self, base: &Url, versioned: bool, segments: &[&str]) -> Result<Url, GraphCallError> {
        let mut url = base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| GraphCallError::Invalid("base URL cannot take a path".into()))?;
            path.pop_if_empty();
            if versioned && !self.version.is_empty() {
                path.push(&self.version);
            }
            for seg in segments {
                let seg = safe_segment(seg.trim())
                    .ok_or_else(|| GraphCallError::Invalid("unsafe id in URL path".into()))?;
                path.push(seg);
            }
        }
        Ok(url)
    }

    fn graph_url(&self, segments: &[&str]) -> Result<Url, GraphCallError> {
        self.url(&self.graph, true, segments)
    }

    fn fb_app_token(&self) -> String {
        format!("{}|{}", self.fb_app.app_id, self.fb_app.app_secret)
    }

    /// Sends, and redacts `secrets` from whatever the error carries.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Value, GraphCallError> {
        call_json(request, secrets)
            .await
            .map_err(|e| redact(e, secrets))
    }

    async fn get_bearer(
        &self,
        url: Url,
        token: &str,
        extra_secrets: &[&str],
    ) -> Result<Value, GraphCallError> {
        let mut secrets = vec![token];
        secrets.extend_from_slice(extra_secrets);
        self.call(self.http.get(url).bearer_auth(token), &secrets)
            .await
    }

    /// Follows `paging.next` (only on the origin of `first`, at most [`MAX_PAGES`] pages) and
    /// collects every `data[]` item.
    async fn get_all(&self, first: Url, token: &str) -> Result<Vec<Value>, GraphCallError> {
        self.get_pages(first, token, MAX_PAGES).await
    }

    /// [`OAuthClient::get_all`] with its own page cap.
    async fn get_pages(
        &self,
        first: Url,
        token: &str,
        max_pages: usize,
    ) -> Result<Vec<Value>, GraphCallError> {
        let origin = first.origin();
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let json = self.get_bearer(url, token, &[]).await?;
            let data = json
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| GraphCallError::Decode("list response has no data array".into()))?;
            items.extend(data.iter().cloned());
            if pages >= max_pages {
                break;
            }
            next = json
                .get("paging")
                .and_then(|p| p.get("next"))
                .and_then(Value::as_str)
                .and_then(|n| Url::parse(n).ok())
                .filter(|n| n.origin() == origin && n.username().is_empty());
        }
        Ok(items)
    }

    // -----------------------------------------------------------------------------------
    // Facebook / WhatsApp

    /// `GET /{v}/oauth/access_token?client_id&client_secret&code[&redirect_uri]`: the code of
    /// the Facebook Login dialog (with its `redirect_uri`) or of Embedded Signup (without).
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: Option<&str>,
    ) -> Result<AccessToken, GraphCallError> {
        let code = code.trim();
        if code.is_empty() {
            return Err(GraphCallError::Invalid("empty authorization code".into()));
        }
        let mut url = self.graph_url(&["oauth", "access_token"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.fb_app.app_id)
                .append_pair("client_secret", &self.fb_app.app_secret)
                .append_pair("code", code);
            if let Some(uri) = redirect_uri {
                q.append_pair("redirect_uri", uri);
            }
        }
        let json = self
            .call(self.http.get(url), &[&self.fb_app.app_secret, code])
            .await?;
        access_token_from(&json)
    }

    /// `grant_type=fb_exchange_token`: a short-lived user token → a long-lived one (~60 days).
    pub async fn long_lived_user_token(&self, short: &str) -> Result<AccessToken, GraphCallError> {
        let mut url = self.graph_url(&["oauth", "access_token"])?;
        url.query_pairs_mut()
            .append_pair("grant_type", "fb_exchange_token")
            .append_pair("client_id", &self.fb_app.app_id)
            .append_pair("client_secret", &self.fb_app.app_secret)
            .append_pair("fb_exchange_token", short);
        let json = self
            .call(self.http.get(url), &[&self.fb_app.app_secret, short])
            .await?;
        access_token_from(&json)
    }

    /// `GET /{v}/debug_token?input_token=` with the app token `app_id|app_secret`.
    pub async fn debug_token(&self, input_token: &str) -> Result<DebugToken, GraphCallError> {
        let mut url = self.graph_url(&["debug_token"])?;
        url.query_pairs_mut()
            .append_pair("input_token", input_token);
        let app_token = self.fb_app_token();
        let json = self
            .get_bearer(url, &app_token, &[input_token, &self.fb_app.app_secret])
            .await?;
        debug_token_from(&json)
    }

    /// `GET /{v}/me?fields=id`: the app-scoped user id of whoever the token belongs to (Graph API
    /// "User" reference, https://developers.facebook.com/docs/graph-api/reference/user/, read
    /// 2026-12-02). Embedded Signup stores this id (not `debug_token`'s, which names the
    /// business integration system user of a business token) so that the deauthorize and
    /// data-deletion callbacks, which carry the person's app-scoped id, find the channel.
    pub async fn me_id(&self, user_token: &str) -> Result<String, GraphCallError> {
        let mut url = self.graph_url(&["me"])?;
        url.query_pairs_mut().append_pair("fields", "id");
        let json = self.get_bearer(url, user_token, &[]).await?;
        json.get("id")
            .and_then(lenient_string)
            .ok_or_else(|| GraphCallError::Decode("me has no id".into()))
    }

    /// `GET /{v}/me/accounts`: the Pages the user granted, each with its Page token and linked
    /// Instagram account (follows `paging.next`, at most 20 pages).
    pub async fn pages(&self, user_token: &str) -> Result<Vec<Page>, GraphCallError> {
        let mut url = self.graph_url(&["me", "accounts"])?;
        url.query_pairs_mut().append_pair(
            "fields",
            "id,name,access_token,tasks,instagram_business_account{id,username}",
        );
        let items = self.get_all(url, user_token).await?;
        Ok(items.iter().filter_map(page_from).collect())
    }

    /// `GET /{v}/{waba}/phone_numbers`.
    pub async fn phone_numbers(
        &self,
        token: &str,
        waba_id: &str,
    ) -> Result<Vec<PhoneNumber>, GraphCallError> {
        let mut url = self.graph_url(&[waba_id, "phone_numbers"])?;
        url.query_pairs_mut().append_pair(
            "fields",
            "id,display_phone_number,verified_name,name_status,code_verification_status,platform_type,quality_rating,is_on_biz_app",
        );
        let items = self.get_all(url, token).await?;
        Ok(items.iter().filter_map(phone_from).collect())
    }
}

/// Redacts `secrets` from every text of an error (Meta may echo what it was sent).
fn redact(e: GraphCallError, secrets: &[&str]) -> GraphCallError {
    match e {
        GraphCallError::Graph { mut error, class } => {
            error.message = scrub(std::mem::take(&mut error.message), secrets);
            error.title = error.title.map(|t| scrub(t, secrets));
            error.details = error.details.map(|d| scrub(d, secrets));
            GraphCallError::Graph { error, class }
        }
        GraphCallError::Transport(t) => GraphCallError::Transport(scrub(t, secrets)),
        GraphCallError::Decode(t) => GraphCallError::Decode(scrub(t, secrets)),
        GraphCallError::Invalid(t) => GraphCallError::Invalid(scrub(t, secrets)),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------
// Response shapes

fn is_true(v: Option<&Value>) -> bool {
    v.is_some_and(|v| v == &Value::Bool(true) || v == "true")
}

fn success(json: &Value) -> Result<(), GraphCallError> {
    if is_true(json.get("success")) {
        Ok(())
    } else {
        Err(GraphCallError::Decode(
            "response does not say success".into(),
        ))
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(lenient_string).collect(),
        // `subscribed_fields` / `scopes` sometimes come comma-separated.
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn opt_string(json: &Value, key: &str) -> Option<String> {
    json.get(key).and_then(lenient_string)
}

fn access_token_from(json: &Value) -> Result<AccessToken, GraphCallError> {
    let json = unwrap_data(json);
    let access_token = opt_string(json, "access_token")
        .ok_or_else(|| GraphCallError::Decode("response has no access_token".into()))?;
    Ok(AccessToken {
        access_token,
        expires_in: json.get("expires_in").and_then(lenient_i64),
    })
}

/// `{"data":[{...}]}` → the first item; anything else unchanged.
fn unwrap_data(json: &Value) -> &Value {
    match json.get("data") {
        Some(Value::Array(items)) if json.get("access_token").is_none() => {
            items.first().unwrap_or(json)
        }
        _ => json,
    }
}

fn ig_short_token_from(json: &Value) -> Result<IgShortToken, GraphCallError> {
    let json = unwrap_data(json);
    let access_token = opt_string(json, "access_token")
        .ok_or_else(|| GraphCallError::Decode("response has no access_token".into()))?;
    Ok(IgShortToken {
        access_token,
        user_id: opt_string(json, "user_id"),
    })
}

fn debug_token_from(json: &Value) -> Result<DebugToken, GraphCallError> {
    let data = json
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| GraphCallError::Decode("debug_token response has no data".into()))?;
    let granular_scopes = super::graph::granular_scopes(data);
    let error = data.get("error");
    Ok(DebugToken {
        is_valid: is_true(data.get("is_valid")),
        app_id: opt_string(data, "app_id"),
        user_id: opt_string(data, "user_id"),
        token_type: opt_string(data, "type"),
        expires_at: data.get("expires_at").and_then(lenient_i64),
        data_access_expires_at: data.get("data_access_expires_at").and_then(lenient_i64),
        scopes: strings(data.get("scopes")),
        granular_scopes,
        error_code: error.and_then(|e| e.get("code")).and_then(lenient_i64),
        error_subcode: error
            .and_then(|e| e.get("subcode").or_else(|| e.get("error_subcode")))
            .and_then(lenient_i64),
    })
}

fn page_from(v: &Value) -> Option<Page> {
    let id = opt_string(v, "id")?;
    let instagram = v.get("instagram_business_account").and_then(|ig| {
        Some(IgAccount {
            id: opt_string(ig, "id")?,
            username: opt_string(ig, "username"),
        })
    });
    Some(Page {
        name: opt_string(v, "name").unwrap_or_default(),
        access_token: opt_string(v, "access_token").unwrap_or_default(),
        tasks: strings(v.get("tasks")),
        instagram,
        id,
    })
}

fn phone_from(v: &Value) -> Option<PhoneNumber> {
    Some(PhoneNumber {
        id: opt_string(v, "id")?,
        display_phone_number: opt_string(v, "display_phone_number").unwrap_or_default(),
        verified_name: opt_string(v, "verified_name").unwrap_or_default(),
        name_status: opt_string(v, "name_status"),
        code_verification_status: opt_string(v, "code_verification_status"),
        platform_type: opt_string(v, "platform_type"),
        quality_rating: opt_string(v, "quality_rating"),
        is_on_biz_app: is_true(v.get("is_on_biz_app")),
    })
}

/// WABAs answer `data[].whatsapp_business_api_data{id,link,name}`, Pages and Instagram
/// `data[]{id,name,subscribed_fields}`.
fn subscribed_apps_from(json: &Value) -> Result<Vec<SubscribedApp>, GraphCallError> {
    let data = json
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphCallError::Decode("subscribed_apps has no data array".into()))?;
    Ok(data
        .iter()
        .map(|item| {
            let wa = item.get("whatsapp_business_api_data");
            SubscribedApp {
                app_id: wa
                    .and_then(|w| opt_string(w, "id"))
                    .or_else(|| opt_string(item, "id"))
                    .or_else(|| opt_string(item, "app_id")),
                subscribed_fields: strings(
                    item.get("subscribed_fields")
                        .or_else(|| wa.and_then(|w| w.get("subscribed_fields"))),
                ),
            }
        })
        .collect())
}

fn ig_profile_from(json: &Value) -> Result<IgProfile, GraphCallError> {
    let json = unwrap_data(json);
    Ok(IgProfile {
        user_id: opt_string(json, "user_id")
            .ok_or_else(|| GraphCallError::Decode("me has no user_id".into()))?,
        username: opt_string(json, "username"),
        name: opt_string(json, "name"),
    })
}

// ---------------------------------------------------------------------------------------
// signed_request (§12.1)

/// Why a `signed_request` was refused. `Display` never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    /// Not `<base64url>.<base64url JSON object>`.
    #[error("signed_request is malformed")]
    Malformed,
    /// `algorithm` is missing or not HMAC-SHA256.
    #[error("signed_request algorithm is not HMAC-SHA256")]
    BadAlgorithm,
    /// The signature does not match the app secret.
    #[error("signed_request signature does not match")]
    BadSignature,
    /// `issued_at` is older than the allowed age (or missing when an age limit is set).
    #[error("signed_request is too old")]
    Expired,
}

type HmacSha256 = Hmac<Sha256>;

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    if s.is_empty() {
        return None;
    }
    URL_SAFE_NO_PAD.decode(s).ok()
}

fn mac_of(app_secret: &str, data: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(data);
    mac
}

/// Verifies a `signed_request` (deauthorize / data-deletion callbacks) and returns its payload:
/// split on the first `.`, base64url-decode both parts (padding optional), require
/// `algorithm` = `HMAC-SHA256` (any case), compare the HMAC-SHA256 of the *encoded* payload
/// segment under `app_secret` in constant time, and, with `max_age_secs`, require
/// `issued_at >= now_secs - max_age_secs`.
pub fn verify_signed_request(
    signed_request: &str,
    app_secret: &str,
    max_age_secs: Option<i64>,
    now_secs: i64,
) -> Result<Value, SignedRequestError> {
    let (sig, payload_seg) = signed_request
        .trim()
        .split_once('.')
        .ok_or(SignedRequestError::Malformed)?;
    let signature = b64url_decode(sig).ok_or(SignedRequestError::Malformed)?;
    let payload_bytes = b64url_decode(payload_seg).ok_or(SignedRequestError::Malformed)?;
    let payload: Value =
        serde_json::from_slice(&payload_bytes).map_err(|_| SignedRequestError::Malformed)?;
    if !payload.is_object() {
        return Err(SignedRequestError::Malformed);
    }
    let algorithm_ok = payload
        .get("algorithm")
        .and_then(Value::as_str)
        .is_some_and(|a| a.eq_ignore_ascii_case("HMAC-SHA256"));
    if !algorithm_ok {
        return Err(SignedRequestError::BadAlgorithm);
    }
    if app_secret.is_empty() {
        return Err(SignedRequestError::BadSignature);
    }
    // Signed over the segment as sent; Meta sends it unpadded, so a padded segment is also
    // checked without its padding.
    let seg = payload_seg.trim();
    let matches = |s: &str| {
        mac_of(app_secret, s.as_bytes())
            .verify_slice(&signature)
            .is_ok()
    };
    if !(matches(seg) || (seg.ends_with('=') && matches(seg.trim_end_matches('=')))) {
        return Err(SignedRequestError::BadSignature);
    }
    if let Some(max_age) = max_age_secs {
        let issued_at = payload
            .get("issued_at")
            .and_then(lenient_i64)
            .ok_or(SignedRequestError::Expired)?;
        if issued_at < now_secs.saturating_sub(max_age) {
            return Err(SignedRequestError::Expired);
        }
    }
    Ok(payload)
}

/// Builds a `signed_request` for `payload` (the inverse of [`verify_signed_request`], for the
/// simulator and tests): unpadded base64url of the HMAC-SHA256 over the unpadded base64url of
/// the payload JSON.
pub fn sign_request(payload: &Value, app_secret: &str) -> String {
    let payload_seg = URL_SAFE_NO_PAD.encode(payload.to_string());
    let sig = mac_of(app_secret, payload_seg.as_bytes())
        .finalize()
        .into_bytes();
    format!("{}.{payload_seg}", URL_SAFE_NO_PAD.encode(sig))
}

#[cfg(test)]
mod tests;
