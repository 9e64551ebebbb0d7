//! The connect pages a person sees (server-rendered, no front-end build), Meta's app callbacks
//! (deauthorize, data deletion, and the deletion status page), and the privacy page.
//!
//! Every page carries a strict Content-Security-Policy (scripts only from this origin and, on
//! the WhatsApp page, Meta's SDK), `frame-ancestors 'none'` / `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` (the link's secret is in the URL) and `no-store`. The only
//! cookie is the browser binding of a session (HttpOnly, SameSite=Lax, path `/connect`),
//! removed when the session ends (P16).

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::{Environment, Value as Ctx, context};
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::errors::codes;
use crate::channels::ChannelKind;
use crate::connect::flow::{EsReport, Failure, Step};
use crate::connect::{self, COOKIE, Flow, permissions};
use crate::store::ConnectSessionRow;

const SERVICE_NAME: &str = "metabridge";

/// The page templates, per locale (English is the fallback).
pub struct Pages {
    locales: HashMap<&'static str, Environment<'static>>,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    pub fn new() -> Self {
        let mut en = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("../../templates/en/base.html")),
            (
                "landing.html",
                include_str!("../../templates/en/landing.html"),
            ),
            (
                "message.html",
                include_str!("../../templates/en/message.html"),
            ),
            ("pick.html", include_str!("../../templates/en/pick.html")),
            ("pin.html", include_str!("../../templates/en/pin.html")),
            (
                "verify.html",
                include_str!("../../templates/en/verify.html"),
            ),
            (
                "deletion.html",
                include_str!("../../templates/en/deletion.html"),
            ),
            (
                "privacy.html",
                include_str!("../../templates/en/privacy.html"),
            ),
        ] {
            // Templates are compiled into the binary; a syntax error is caught by the tests.
            if let Err(e) = en.add_template(name, src) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        let mut locales = HashMap::new();
        locales.insert("en", en);
        Self { locales }
    }

    fn env(&self, locale: Option<&str>) -> (&'static str, &Environment<'static>) {
        if let Some(l) = locale {
            let l = l.to_ascii_lowercase();
            let base = l.split(['-', '_']).next().unwrap_or("");
            for (k, env) in &self.locales {
                if *k == l || *k == base {
                    return (k, env);
                }
            }
        }
        ("en", &self.locales["en"])
    }

    /// Renders a page; a rendering failure is logged and becomes a plain error page.
    pub fn render(&self, locale: Option<&str>, name: &str, ctx: Ctx) -> Result<String, String> {
        let (lang, env) = self.env(locale);
        let full = context! { lang => lang, service_name => SERVICE_NAME, ..ctx };
        env.get_template(name)
            .and_then(|t| t.render(full))
            .map_err(|e| {
                tracing::error!(template = name, error = %e, "rendering a page failed");
                "rendering failed".to_string()
            })
    }
}

fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// The Content-Security-Policy of the pages (`sdk`: the WhatsApp page loads Meta's SDK).
fn csp(state: &AppState, sdk: bool) -> String {
    let cfg = &state.config.connect;
    let mut forms = vec!["'self'".to_string()];
    for u in [&cfg.dialog_url, &cfg.instagram_dialog_url] {
        if let Some(o) = origin_of(u) {
            forms.push(o);
        }
    }
    let mut script = vec!["'self'".to_string()];
    let mut frames = vec!["'none'".to_string()];
    let mut connect_src = vec!["'self'".to_string()];
    if sdk {
        if let Some(o) = origin_of(&cfg.sdk_url) {
            script.push(o.clone());
            connect_src.push(o);
        }
        frames = vec![
            "https://www.facebook.com".into(),
            "https://web.facebook.com".into(),
            "https://business.facebook.com".into(),
        ];
        if let Some(o) = origin_of(&cfg.dialog_url) {
            frames.push(o.clone());
            connect_src.push(o);
        }
        connect_src.push("https://*.facebook.com".into());
    }
    format!(
        "default-src 'none'; script-src {}; style-src 'self'; img-src 'self' data:; connect-src {}; frame-src {}; \
         form-action {}; frame-ancestors 'none'; base-uri 'none'",
        script.join(" "),
        connect_src.join(" "),
        frames.join(" "),
        forms.join(" ")
    )
}

fn secure_headers(mut resp: Response, csp_value: &str) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(csp_value) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The WhatsApp popup talks to this page through window.opener.
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin-allow-popups"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    resp
}

fn html(state: &AppState, status: StatusCode, body: Result<String, String>, sdk: bool) -> Response {
    let (status, body) = match body {
        Ok(b) => (status, b),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<!doctype html><title>Error</title><p>Something went wrong on our side. Please try again later.</p>"
                .to_string(),
        ),
    };
    let resp = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    secure_headers(resp, &csp(state, sdk))
}

/// A message page (information or error).
#[allow(clippy::too_many_arguments)]
fn message_page(
    state: &AppState,
    status: StatusCode,
    locale: Option<&str>,
    heading: &str,
    message: &str,
    retry: Option<&str>,
    code: Option<&str>,
    back: Option<(String, &str)>,
    problems: &[String],
) -> Response {
    let tone = if status.is_success() {
        "success"
    } else {
        "error"
    };
    let (back_url, back_label) = back.map_or((None, None), |(u, l)| (Some(u), Some(l)));
    let body = state.pages.render(
        locale,
        "message.html",
        context! {
            privacy_url => state.config.connect.privacy_url.clone(),
            heading, message, retry, code, tone, back_url, back_label, problems,
        },
    );
    html(state, status, body, false)
}

fn not_found_page(state: &AppState) -> Response {
    message_page(
        state,
        StatusCode::NOT_FOUND,
        None,
        "This link is not valid",
        "The connection link is unknown. Check that you opened the whole link, or ask your platform for a new one.",
        None,
        None,
        None,
        &[],
    )
}

/// The return URL with the session's outcome added to its query.
fn return_with(session: &ConnectSessionRow, status: &str, error: Option<&str>) -> String {
    match url::Url::parse(&session.return_url) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                q.append_pair("connect_session_id", &session.id);
                q.append_pair("status", status);
                if let Some(e) = error {
                    q.append_pair("error", e);
                }
            }
            u.to_string()
        }
        Err(_) => session.return_url.clone(),
    }
}

fn cookie_value(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn set_cookie(state: &AppState, resp: &mut Response, value: &str, max_age_secs: i64) {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let c = format!(
        "{COOKIE}={value}; Path=/connect; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age_secs.max(0)
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn clear_cookie(state: &AppState, resp: &mut Response) {
    set_cookie(state, resp, "", 0);
}

fn kind_texts(
    kind: &str,
    flow: Flow,
) -> (&'static str, &'static str, &'static str, Vec<&'static str>) {
    match (kind, flow) {
        ("whatsapp", _) => (
            "WhatsApp",
            "a WhatsApp Business phone number",
            "Facebook",
            vec![
                "A Meta window opens. Log in with the Facebook account that manages your business.",
                "Choose or create your WhatsApp Business Account and the phone number to use.",
                "When you finish, the number is connected and you are sent back to your platform.",
            ],
        ),
        ("instagram", Flow::InstagramLogin) => (
            "Instagram",
            "an Instagram professional account",
            "Instagram",
            vec![
                "You are taken to Instagram. Log in with the professional account to connect.",
                "Allow the requested permissions.",
                "You come back here and are sent back to your platform.",
            ],
        ),
        ("instagram", _) => (
            "Instagram",
            "an Instagram professional account linked to a Facebook Page",
            "Facebook",
            vec![
                "You are taken to Facebook. Log in with the account that manages the Page.",
                "Select the Page whose Instagram account should be connected, and allow the permissions.",
                "If several accounts were shared you choose which to connect, then you are sent back to your platform.",
            ],
        ),
        _ => (
            "Messenger",
            "a Facebook Page for Messenger (and its Lead Ads)",
            "Facebook",
            vec![
                "You are taken to Facebook. Log in with the account that manages the Page.",
                "Select the Page to connect and allow the permissions.",
                "If several Pages were shared you choose which to connect, then you are sent back to your platform.",
            ],
        ),
    }
}

fn valid_link(link: &str) -> bool {
    (20..=100).contains(&link.len())
        && link
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn session_by_link(
    state: &AppState,
    link: &str,
) -> Result<Option<ConnectSessionRow>, Response> {
    if !valid_link(link) {
        return Ok(None);
    }
    state
        .store
        .connect_session_by_link(&connect::sha256_hex(link))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a connect session failed");
            unavailable(state)
        })
}

fn unavailable(state: &AppState) -> Response {
    message_page(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "Temporarily unavailable",
        "The service cannot reach its database right now. Please try again in a minute.",
        None,
        None,
        None,
        &[],
    )
}

/// The page for a session that is no longer pending (or has expired).
async fn ended_page(state: &AppState, s: &ConnectSessionRow, now: i64) -> Response {
    let locale = s.locale.as_deref();
    match s.effective_state(now) {
        "completed" => message_page(
            state,
            StatusCode::OK,
            locale,
            "Already connected",
            "This link was already used and the connection is complete.",
            None,
            None,
            Some((return_with(s, "completed", None), "Back to your platform")),
            &[],
        ),
        "failed" => failure_page(
            state,
            s,
            &Failure {
                code: match s.failure_code.as_deref() {
                    Some("cancelled") => "cancelled",
                    Some("permission_denied") => "permission_denied",
                    Some("asset_taken") => "asset_taken",
                    Some("no_assets") => "no_assets",
                    Some("no_phone_number") => "no_phone_number",
                    Some("meta_error") => "meta_error",
                    _ => "connect_failed",
                },
                message: s.failure_reason.clone().unwrap_or_default(),
            },
        ),
        _ => {
            if s.state == "pending" {
                let _ = state.store.expire_connect_sessions(now).await;
            }
            let mut resp = message_page(
                state,
                StatusCode::GONE,
                locale,
                "This link has expired",
                "Connection links are valid for a limited time and this one has run out. Nothing was connected.",
                Some("Go back to your platform and start the connection again to get a new link."),
                Some("expired"),
                Some((
                    return_with(s, "failed", Some("expired")),
                    "Back to your platform",
                )),
                &[],
            );
            clear_cookie(state, &mut resp);
            resp
        }
    }
}

fn failure_page(state: &AppState, s: &ConnectSessionRow, f: &Failure) -> Response {
    let (heading, status) = match f.code {
        "cancelled" => ("Connection cancelled", StatusCode::OK),
        "permission_denied" => ("Permissions were not granted", StatusCode::OK),
        "asset_taken" => ("Already connected elsewhere", StatusCode::CONFLICT),
        "no_assets" => ("Nothing to connect", StatusCode::OK),
        "no_phone_number" => ("No phone number was added", StatusCode::OK),
        "meta_error" => ("Meta's sign-up reported a problem", StatusCode::BAD_GATEWAY),
        "state_invalid" => (
            "This sign-in response is not valid",
            StatusCode::BAD_REQUEST,
        ),
        _ => ("The connection failed", StatusCode::BAD_GATEWAY),
    };
    let mut resp = message_page(
        state,
        status,
        s.locale.as_deref(),
        heading,
        &f.message,
        Some(
            "Nothing was changed in your Meta account by this attempt. To try again, go back to your platform and start the connection again: it gives you a new link.",
        ),
        Some(f.code),
        Some((
            return_with(s, "failed", Some(f.code)),
            "Back to your platform",
        )),
        &[],
    );
    clear_cookie(state, &mut resp);
    resp
}

/// Ends a session as failed and shows what happened.
async fn fail(state: &AppState, s: &ConnectSessionRow, f: Failure) -> Response {
    tracing::info!(session = %s.id, code = f.code, "connect session failed");
    if let Err(e) = state
        .store
        .finish_connect_session(&s.id, "failed", Some((f.code, &f.message)), &[])
        .await
    {
        tracing::error!(session = %s.id, error = %e, "recording a failed connect session failed");
    }
    failure_page(state, s, &f)
}

/// Ends a session as completed and sends the person back (or shows what could not be
/// connected next to what was).
async fn complete(
    state: &AppState,
    s: &ConnectSessionRow,
    channel_ids: Vec<String>,
    problems: Vec<String>,
    notices: Vec<String>,
) -> Response {
    if let Err(e) = state
        .store
        .finish_connect_session(&s.id, "completed", None, &channel_ids)
        .await
    {
        tracing::error!(session = %s.id, error = %e, "recording a completed connect session failed");
    }
    for id in &channel_ids {
        state.forget_channel(id).await;
    }
    state.writer_wakeup();
    tracing::info!(session = %s.id, channels = channel_ids.len(), "connect session completed");
    let back = return_with(s, "completed", None);
    let mut resp = if problems.is_empty() && notices.is_empty() {
        let mut r = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, back.as_str())
            .body(Body::empty());
        r = secure_headers(r, &csp(state, false));
        r
    } else if problems.is_empty() {
        // Connected, but a permission was not granted: say what will not arrive.
        message_page(
            state,
            StatusCode::OK,
            s.locale.as_deref(),
            "Connected, with limits",
            &format!(
                "{} channel(s) were connected. Please read what will not work:",
                channel_ids.len()
            ),
            None,
            Some("missing_permissions"),
            Some((back, "Back to your platform")),
            &notices,
        )
    } else {
        let list: Vec<String> = problems.into_iter().chain(notices).collect();
        message_page(
            state,
            StatusCode::OK,
            s.locale.as_deref(),
            "Partly connected",
            &format!(
                "{} channel(s) were connected. Some could not be:",
                channel_ids.len()
            ),
            Some("You can connect the others later with a new link from your platform."),
            None,
            Some((back, "Back to your platform")),
            &list,
        )
    };
    clear_cookie(state, &mut resp);
    resp
}

/// `GET /connect/:link` — what will be connected, which permissions and why, then start.
#[handler]
pub async fn landing(Path(link): Path<String>, state: Data<&Arc<AppState>>) -> Response {
    let state: &AppState = &state;
    let s = match session_by_link(state, &link).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found_page(state),
        Err(resp) => return resp,
    };
    let now = crate::now_ms();
    if s.effective_state(now) != "pending" {
        return ended_page(state, &s, now).await;
    }
    let flow = Flow::parse(&s.flow).unwrap_or(Flow::FacebookLogin);
    let kind = ChannelKind::parse(&s.kind).unwrap_or(ChannelKind::Messenger);
    let (kind_label, what, provider, steps) = kind_texts(&s.kind, flow);
    let cfg = &state.config.connect;
    let mut origins: Vec<String> = vec!["facebook.com".into()];
    for u in [&cfg.sdk_url, &cfg.dialog_url] {
        if let Some(host) = url::Url::parse(u).ok().and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        }) && !origins.contains(&host)
        {
            origins.push(host);
        }
    }
    let body = state.pages.render(
        s.locale.as_deref(),
        "landing.html",
        context! {
            privacy_url => cfg.privacy_url.clone(),
            kind_label, what, provider, steps,
            permissions => permissions(kind, flow).to_vec(),
            flow => flow.as_str(),
            expires_at => crate::ms_to_rfc3339(s.expires_at),
            expires_at_text => chrono::DateTime::from_timestamp_millis(s.expires_at)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            start_url => format!("/connect/{link}/start"),
            finish_url => format!("/connect/{link}/embedded"),
            app_id => cfg.app_id.clone().unwrap_or_default(),
            config_id => cfg.embedded_signup_config_id.clone().unwrap_or_default(),
            graph_version => state.config.graph.version.clone(),
            sdk_url => cfg.sdk_url.clone(),
            message_origins => origins.join(" "),
            business_app => cfg.business_app_onboarding,
        },
    );
    html(state, StatusCode::OK, body, flow == Flow::EmbeddedSignup)
}

/// Binds the session to this browser (first start wins) with a fresh OAuth nonce. Returns the
/// cookie value and the nonce, or the page to show instead.
async fn begin_attempt(
    state: &AppState,
    s: &ConnectSessionRow,
    req: &Request,
) -> Result<(String, String), Response> {
    let now = crate::now_ms();
    let cookie = cookie_value(req).unwrap_or_else(|| connect::random_secret(24));
    let nonce = connect::random_secret(16);
    match state
        .store
        .start_connect_attempt(
            &s.id,
            &connect::sha256_hex(&cookie),
            &connect::sha256_hex(&nonce),
            now,
        )
        .await
    {
        Ok(true) => Ok((cookie, nonce)),
        Ok(false) => {
            if s.browser_hash.is_some() && s.effective_state(now) == "pending" {
                Err(message_page(
                    state,
                    StatusCode::CONFLICT,
                    s.locale.as_deref(),
                    "This link is in use in another browser",
                    "The connection was started in another browser or device. For your security a link works in one browser only.",
                    Some(
                        "Finish in the browser where you started, or ask your platform for a new link.",
                    ),
                    Some("link_in_use"),
                    None,
                    &[],
                ))
            } else {
                Err(ended_page(state, s, now).await)
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "starting a connect attempt failed");
            Err(unavailable(state))
        }
    }
}

/// `POST /connect/:link/start` — redirect flows: to Meta's dialog with a signed `state`;
/// Embedded Signup (asked for JSON by the page's script): binds the browser.
#[handler]
pub async fn start(
    Path(link): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    let state: &AppState = &state;
    let s = match session_by_link(state, &link).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found_page(state),
        Err(resp) => return resp,
    };
    let (cookie, nonce) = match begin_attempt(state, &s, req).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let max_age = (s.expires_at - crate::now_ms()) / 1000;
    let cfg = &state.config.connect;
    let flow = Flow::parse(&s.flow).unwrap_or(Flow::FacebookLogin);
    let mut resp = if flow == Flow::EmbeddedSignup {
        Response::builder()
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .body(json!({"ok": true}).to_string())
    } else {
        let signed = state.state_signer.sign(&s.id, &nonce, s.expires_at / 1000);
        let kind = ChannelKind::parse(&s.kind).unwrap_or(ChannelKind::Messenger);
        let app_id = cfg.app_id.clone().unwrap_or_default();
        let dialog = if flow == Flow::InstagramLogin {
            let mut u = url::Url::parse(&format!("{}/oauth/authorize", cfg.instagram_dialog_url));
            if let Ok(u) = &mut u {
                u.query_pairs_mut()
                    .append_pair(
                        "client_id",
                        cfg.instagram_app_id.as_deref().unwrap_or(&app_id),
                    )
                    .append_pair("redirect_uri", &state.connector.redirect_uri())
                    .append_pair("response_type", "code")
                    .append_pair("scope", &connect::scope_list(kind, flow))
                    .append_pair("state", &signed);
            }
            u
        } else {
            let mut u = url::Url::parse(&format!(
                "{}/{}/dialog/oauth",
                cfg.dialog_url, state.config.graph.version
            ));
            if let Ok(u) = &mut u {
                let mut q = u.query_pairs_mut();
                q.append_pair("client_id", &app_id)
                    .append_pair("redirect_uri", &state.connector.redirect_uri())
                    .append_pair("response_type", "code")
                    .append_pair("state", &signed);
                match &cfg.login_config_id {
                    Some(c) => q.append_pair("config_id", c),
                    None => q.append_pair("scope", &connect::scope_list(kind, flow)),
                };
            }
            u
        };
        let Ok(dialog) = dialog else {
            return fail(
                state,
                &s,
                Failure::new(
                    "connect_failed",
                    "The Meta dialog address is misconfigured.",
                ),
            )
            .await;
        };
        let r = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, dialog.as_str())
            .body(Body::empty());
        secure_headers(r, &csp(state, false))
    };
    set_cookie(state, &mut resp, &cookie, max_age);
    resp
}

/// Query of Meta's redirect back to `/connect/callback`.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_reason: Option<String>,
}

/// `GET /connect/callback` — Meta's dialog sends the person back here with a code (or an
/// error) and the `state`.
#[handler]
pub async fn callback(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let q: CallbackQuery = match req.params() {
        Ok(q) => q,
        Err(_) => return invalid_state_page(state, "The sign-in response is malformed."),
    };
    let now = crate::now_ms();
    let Some(raw_state) = q.state.as_deref() else {
        return invalid_state_page(state, "The sign-in response has no state parameter.");
    };
    let claims = match state.state_signer.verify(raw_state, now / 1000) {
        Ok(c) => c,
        Err(connect::StateError::Expired) => {
            return invalid_state_page(
                state,
                "The sign-in took too long and the link has expired. Ask your platform for a new link.",
            );
        }
        Err(_) => {
            return invalid_state_page(
                state,
                "The sign-in response was not issued by this service.",
            );
        }
    };
    let s = match state
        .store
        .get_connect_session(&claims.session_id, None)
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            return invalid_state_page(state, "The sign-in response belongs to no known session.");
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a connect session failed");
            return unavailable(state);
        }
    };
    if s.effective_state(now) != "pending" {
        return ended_page(state, &s, now).await;
    }
    let Some(cookie) = cookie_value(req) else {
        return invalid_state_page(
            state,
            "This browser did not start the connection (its session cookie is missing). Start again from the link in the same browser.",
        );
    };
    match state
        .store
        .consume_connect_nonce(
            &s.id,
            &connect::sha256_hex(&claims.nonce),
            &connect::sha256_hex(&cookie),
            now,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return invalid_state_page(
                state,
                "This sign-in response was already used, or was started in another browser.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "using a connect nonce failed");
            return unavailable(state);
        }
    }
    if let Some(err) = q.error.as_deref() {
        let denied = q.error_reason.as_deref() == Some("user_denied") || err == "access_denied";
        let f = if denied {
            Failure::new(
                "cancelled",
                "You cancelled the connection at Meta, so nothing was connected.",
            )
        } else {
            Failure::new(
                "permission_denied",
                "Meta did not grant the permissions the connection needs.",
            )
        };
        return fail(state, &s, f).await;
    }
    let Some(code) = q
        .code
        .as_deref()
        .map(|c| c.trim_end_matches("#_"))
        .filter(|c| !c.is_empty() && c.len() <= 2048)
    else {
        return fail(
            state,
            &s,
            Failure::new(
                "meta_error",
                "Meta sent the person back without an authorization code.",
            ),
        )
        .await;
    };
    match state.connector.oauth_code(&s, code).await {
        Ok(step) => after_step(state, &s, step).await,
        Err(f) => fail(state, &s, f).await,
    }
}

fn invalid_state_page(state: &AppState, why: &str) -> Response {
    message_page(
        state,
        StatusCode::BAD_REQUEST,
        None,
        "This sign-in response is not valid",
        why,
        Some("Nothing was connected. Open the connection link from your platform again."),
        Some("state_invalid"),
        None,
        &[],
    )
}

async fn after_step(state: &AppState, s: &ConnectSessionRow, step: Step) -> Response {
    match step {
        Step::Connected {
            channel_ids,
            problems,
            notices,
        } => complete(state, s, channel_ids, problems, notices).await,
        Step::Pick(_) | Step::Verify(_) | Step::NeedPin { .. } => {
            let page = match step {
                Step::Pick(_) => "pick",
                Step::Verify(_) => "verify",
                _ => "pin",
            };
            let r = Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(
                    header::LOCATION,
                    format!("/connect/session/{}/{page}", s.id),
                )
                .body(Body::empty());
            secure_headers(r, &csp(state, false))
        }
    }
}

/// What the WhatsApp page's script posts after Embedded Signup: the code of the login
/// callback and the session-info message of the popup (Embedded Signup v4 "Implementation",
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/implementation,
/// read 2026-12-02).
#[derive(Debug, Deserialize)]
pub struct EmbeddedBody {
    code: Option<String>,
    /// Older pages sent this instead of an event.
    #[serde(default)]
    cancelled: bool,
    event: Option<String>,
    waba_id: Option<String>,
    phone_number_id: Option<String>,
    current_step: Option<String>,
    /// `CANCEL` / `ERROR` with an error the person saw in the popup.
    error_message: Option<String>,
    error_code: Option<String>,
    session_id: Option<String>,
}

/// A short, printable piece of what the browser relayed from Meta's popup (never trusted).
fn relayed(v: &Option<String>, max: usize) -> Option<String> {
    let v = v.as_deref()?.trim();
    if v.is_empty() {
        return None;
    }
    let clean: String = v.chars().filter(|c| !c.is_control()).take(max).collect();
    (!clean.is_empty()).then_some(clean)
}

/// The failure an Embedded Signup that ended without a connectable number means, or `None`
/// when the flow finished with a number (`FINISH`, `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING`).
fn es_outcome(body: &EmbeddedBody) -> Option<Failure> {
    let step = body
        .current_step
        .as_deref()
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let error_message = relayed(&body.error_message, 300);
    let reference = [
        relayed(&body.error_code, 32).map(|c| format!("error code {c}")),
        relayed(&body.session_id, 64).map(|s| format!("session {s}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let reference = if reference.is_empty() {
        String::new()
    } else {
        format!(" If you contact Meta's support, give them: {reference}.")
    };
    let has_code = body.code.as_deref().is_some_and(|c| !c.is_empty());
    let event = body
        .event
        .as_deref()
        .or(if body.cancelled { Some("CANCEL") } else { None });
    match event {
        // A finished flow with a number; without a code there is nothing to exchange.
        Some("FINISH" | "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING") | None if has_code => None,
        Some("FINISH" | "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING") => Some(Failure::new(
            "meta_error",
            "Meta's sign-up finished but did not hand over an authorization code, so nothing was connected.",
        )),
        Some("FINISH_ONLY_WABA") => Some(Failure::new(
            "no_phone_number",
            "Your WhatsApp Business Account was shared, but no phone number was added to it, so there is nothing to connect yet. Start the connection again and add (or choose) a phone number in Meta's window.",
        )),
        Some("CANCEL") if error_message.is_some() => Some(Failure::new(
            "meta_error",
            format!(
                "Meta's sign-up stopped with this error: “{}” Nothing was connected.{reference}",
                error_message.unwrap_or_default()
            ),
        )),
        Some("ERROR") => Some(Failure::new(
            "meta_error",
            match error_message {
                Some(m) => format!(
                    "Meta's sign-up reported an error: “{m}” Nothing was connected.{reference}"
                ),
                None => format!(
                    "Meta's sign-up reported an error, so nothing was connected.{reference}"
                ),
            },
        )),
        Some("CANCEL") | None => Some(Failure::new(
            "cancelled",
            match step {
                Some(step) => format!(
                    "The sign-up window was closed before it finished (at Meta's step {step}), so nothing was connected."
                ),
                None => {
                    "The sign-up window was closed before it finished, so nothing was connected."
                        .to_string()
                }
            },
        )),
        Some(other) => Some(Failure::new(
            "connect_failed",
            format!(
                "Meta's sign-up finished a kind of onboarding this service does not support ({}), so nothing was connected.",
                other
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .take(64)
                    .collect::<String>()
            ),
        )),
    }
}

fn json_redirect(to: String) -> Response {
    Response::builder()
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(json!({ "redirect": to }).to_string())
}

/// `POST /connect/:link/embedded` — the code (and ids) from Embedded Signup, posted by the
/// browser that started the session. Answers `{redirect}`.
#[handler]
pub async fn embedded(
    Path(link): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    raw: Body,
) -> Response {
    let state: &AppState = &state;
    let error = |status: StatusCode, code: &str, message: &str| {
        Response::builder()
            .status(status)
            .content_type("application/json")
            .body(json!({"code": code, "message": message}).to_string())
    };
    let body: EmbeddedBody = match raw.into_bytes_limit(16 * 1024).await {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(b) => b,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_REQUEST,
                    "The body is not the expected JSON.",
                );
            }
        },
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "The body could not be read.",
            );
        }
    };
    let s = match session_by_link(state, &link).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                codes::CONNECT_SESSION_NOT_FOUND,
                "Unknown connection link.",
            );
        }
        Err(resp) => return resp,
    };
    let result_url = format!("/connect/session/{}/result", s.id);
    let now = crate::now_ms();
    if s.effective_state(now) != "pending" || s.flow != Flow::EmbeddedSignup.as_str() {
        return json_redirect(result_url);
    }
    let bound = cookie_value(req)
        .map(|c| Some(connect::sha256_hex(&c)) == s.browser_hash)
        .unwrap_or(false);
    if !bound {
        return error(
            StatusCode::FORBIDDEN,
            codes::BROWSER_MISMATCH,
            "This browser did not start the connection.",
        );
    }
    if let Some(f) = es_outcome(&body) {
        let _ = fail(state, &s, f).await;
        return json_redirect(result_url);
    }
    let id_ok = |v: &Option<String>| {
        v.as_deref()
            .filter(|id| crate::instances::validate_meta_id("id", id).is_ok())
            .map(str::to_string)
    };
    let report = EsReport {
        waba_id: id_ok(&body.waba_id),
        phone_number_id: id_ok(&body.phone_number_id),
        business_app: body.event.as_deref() == Some("FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"),
    };
    let code = body.code.as_deref().unwrap_or_default();
    if code.len() > 2048 {
        return error(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "The code is too long.",
        );
    }
    match state.connector.embedded_signup(&s, code, &report).await {
        Ok(Step::Pick(_)) => json_redirect(format!("/connect/session/{}/pick", s.id)),
        Ok(Step::Verify(_)) => json_redirect(format!("/connect/session/{}/verify", s.id)),
        Ok(Step::NeedPin { .. }) => json_redirect(format!("/connect/session/{}/pin", s.id)),
        Ok(Step::Connected {
            channel_ids,
            problems,
            notices,
        }) => {
            let has_problems = !problems.is_empty();
            let _ = complete(state, &s, channel_ids, problems, notices).await;
            if has_problems {
                json_redirect(result_url)
            } else {
                json_redirect(return_with(&s, "completed", None))
            }
        }
        Err(f) => {
            let _ = fail(state, &s, f).await;
            json_redirect(result_url)
        }
    }
}

async fn bound_session(
    state: &AppState,
    id: &str,
    req: &Request,
) -> Result<ConnectSessionRow, Response> {
    if !connect::is_session_id(id) {
        return Err(not_found_page(state));
    }
    let s = match state.store.get_connect_session(id, None).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(not_found_page(state)),
        Err(e) => {
            tracing::error!(error = %e, "reading a connect session failed");
            return Err(unavailable(state));
        }
    };
    let now = crate::now_ms();
    if s.effective_state(now) != "pending" {
        return Err(ended_page(state, &s, now).await);
    }
    let bound = cookie_value(req)
        .map(|c| Some(connect::sha256_hex(&c)) == s.browser_hash)
        .unwrap_or(false);
    if !bound {
        return Err(message_page(
            state,
            StatusCode::FORBIDDEN,
            s.locale.as_deref(),
            "This browser did not start the connection",
            "For your security the connection can only be finished in the browser where it was started.",
            Some("Go back to that browser, or ask your platform for a new link."),
            Some("browser_mismatch"),
            None,
            &[],
        ));
    }
    Ok(s)
}

fn csrf_token(state: &AppState, s: &ConnectSessionRow) -> String {
    state
        .state_signer
        .sign(&s.id, "pick", s.expires_at / 1000)
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `GET /connect/session/:id/pick` — several assets were shared: choose.
#[handler]
pub async fn pick_page(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    let state: &AppState = &state;
    let s = match bound_session(state, &id, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let temp: Option<connect::TempData> = s
        .temp_enc
        .as_deref()
        .and_then(|e| state.vault.decrypt(e).ok())
        .and_then(|p| serde_json::from_str(&p).ok());
    let Some(temp) = temp else {
        return message_page(
            state,
            StatusCode::CONFLICT,
            s.locale.as_deref(),
            "Nothing to choose",
            "There is nothing waiting to be chosen in this connection. Start again from the link.",
            None,
            None,
            None,
            &[],
        );
    };
    let (plural, legend) = match s.kind.as_str() {
        "whatsapp" => ("phone numbers", "WhatsApp phone numbers"),
        "instagram" => ("Instagram accounts", "Instagram professional accounts"),
        _ => ("Pages", "Facebook Pages"),
    };
    let candidates: Vec<serde_json::Value> = temp
        .candidates
        .iter()
        .map(|c| json!({"external_id": c.external_id, "label": c.label, "detail": c.detail, "name_pending": c.name_pending}))
        .collect();
    let body = state.pages.render(
        s.locale.as_deref(),
        "pick.html",
        context! {
            privacy_url => state.config.connect.privacy_url.clone(),
            plural, legend, candidates,
            action => format!("/connect/session/{}/pick", s.id),
            csrf => csrf_token(state, &s),
        },
    );
    let mut resp = html(state, StatusCode::OK, body, false);
    // The form's answer redirects to the platform: the browser checks that target against
    // `form-action` too.
    if let Some(origin) = origin_of(&s.return_url) {
        let policy = csp(state, false).replacen(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
            1,
        );
        if let Ok(v) = HeaderValue::from_str(&policy) {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}

/// `POST /connect/session/:id/pick` — the person's choice.
#[handler]
pub async fn pick_submit(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let s = match bound_session(state, &id, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let raw = match body.into_bytes_limit(64 * 1024).await {
        Ok(b) => b,
        Err(_) => return invalid_state_page(state, "The form could not be read."),
    };
    let mut chosen = Vec::new();
    let mut csrf = None;
    for (k, v) in url::form_urlencoded::parse(&raw) {
        match k.as_ref() {
            "asset" if chosen.len() < 100 => chosen.push(v.into_owned()),
            "csrf" => csrf = Some(v.into_owned()),
            _ => {}
        }
    }
    if !csrf_ok(state, &s, csrf.as_deref()) {
        return invalid_state_page(state, "The form was not issued by this page.");
    }
    if chosen.is_empty() {
        return message_page(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            s.locale.as_deref(),
            "Select at least one",
            "Nothing was selected. Go back and select at least one account to connect.",
            None,
            Some("nothing_selected"),
            Some((
                format!("/connect/session/{}/pick", s.id),
                "Back to the list",
            )),
            &[],
        );
    }
    match state.connector.pick(&s, &chosen).await {
        Ok(step) => after_step(state, &s, step).await,
        Err(f) if f.code == "nothing_selected" => message_page(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            s.locale.as_deref(),
            "Select at least one",
            &f.message,
            None,
            Some(f.code),
            Some((
                format!("/connect/session/{}/pick", s.id),
                "Back to the list",
            )),
            &[],
        ),
        Err(f) => fail(state, &s, f).await,
    }
}

/// The verification page of the number waiting in `s` (with a notice or an error).
fn verify_page(
    state: &AppState,
    s: &ConnectSessionRow,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
    sent: bool,
) -> Response {
    let label = match state.connector.unverified_number(s) {
        Ok(c) => c.label,
        Err(f) => {
            return message_page(
                state,
                StatusCode::CONFLICT,
                s.locale.as_deref(),
                "Nothing to verify",
                &f.message,
                None,
                Some(f.code),
                None,
                &[],
            );
        }
    };
    let body = state.pages.render(
        s.locale.as_deref(),
        "verify.html",
        context! {
            privacy_url => state.config.connect.privacy_url.clone(),
            label, notice, error, sent,
            request_action => format!("/connect/session/{}/verify/request", s.id),
            verify_action => format!("/connect/session/{}/verify", s.id),
            csrf => csrf_token(state, s),
        },
    );
    let mut resp = html(state, status, body, false);
    allow_return_form_target(state, s, &mut resp);
    resp
}

/// A form whose answer redirects to the platform: the browser checks that target against
/// `form-action` too.
fn allow_return_form_target(state: &AppState, s: &ConnectSessionRow, resp: &mut Response) {
    if let Some(origin) = origin_of(&s.return_url) {
        let policy = csp(state, false).replacen(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
            1,
        );
        if let Ok(v) = HeaderValue::from_str(&policy) {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

/// The form fields of a POST to a session page, with its CSRF token checked.
/// Whether a form's `csrf` field is the one this page issued for the session.
fn csrf_ok(state: &AppState, s: &ConnectSessionRow, given: Option<&str>) -> bool {
    given.is_some_and(|c| {
        crate::crypto::signature::constant_time_eq(c.as_bytes(), csrf_token(state, s).as_bytes())
    })
}

async fn session_form(
    state: &AppState,
    s: &ConnectSessionRow,
    body: Body,
) -> Result<HashMap<String, String>, Response> {
    let raw = body
        .into_bytes_limit(16 * 1024)
        .await
        .map_err(|_| invalid_state_page(state, "The form could not be read."))?;
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if csrf_ok(state, s, fields.get("csrf").map(String::as_str)) {
        Ok(fields)
    } else {
        Err(invalid_state_page(
            state,
            "The form was not issued by this page.",
        ))
    }
}

/// Meta's `language` of a verification code (`en_US`, `pt_BR`) from the session's locale.
fn code_language(locale: Option<&str>) -> String {
    let l = locale.unwrap_or("en").replace('-', "_");
    let mut parts = l.split('_');
    let lang = parts.next().unwrap_or("en").to_ascii_lowercase();
    let region = parts.next().map(str::to_ascii_uppercase);
    let ok = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
    };
    match region {
        Some(r) if ok(&lang, 2..=3) && ok(&r, 2..=2) => format!("{lang}_{r}"),
        None if ok(&lang, 2..=3) => lang,
        _ => "en_US".to_string(),
    }
}

/// `GET /connect/session/:id/verify` — the chosen WhatsApp number is not verified: ask Meta
/// for a code and enter it ("Registering business phone numbers", steps 2 and 3,
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/,
/// read 2026-12-02).
#[handler]
pub async fn verify_get(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    let state: &AppState = &state;
    match bound_session(state, &id, req).await {
        Ok(s) => verify_page(state, &s, StatusCode::OK, None, None, false),
        Err(resp) => resp,
    }
}

/// `POST /connect/session/:id/verify/request` — Meta sends the code (`SMS` or `VOICE`).
#[handler]
pub async fn verify_request(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let s = match bound_session(state, &id, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let fields = match session_form(state, &s, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let method = match fields.get("code_method").map(String::as_str) {
        Some("VOICE") => "VOICE",
        Some("SMS") | None => "SMS",
        Some(_) => {
            return verify_page(
                state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some("Choose a text message or a voice call."),
                false,
            );
        }
    };
    let language = code_language(s.locale.as_deref());
    match state
        .connector
        .request_verification(&s, method, &language)
        .await
    {
        Ok(c) => {
            let how = if method == "VOICE" {
                "Meta is calling"
            } else {
                "Meta sent a text message to"
            };
            verify_page(
                state,
                &s,
                StatusCode::OK,
                Some(&format!("{how} {} with the code.", c.label)),
                None,
                true,
            )
        }
        Err(f) => verify_page(
            state,
            &s,
            StatusCode::BAD_GATEWAY,
            None,
            Some(&format!(
                "{} You can try again, or choose the other way to receive the code.",
                f.message
            )),
            false,
        ),
    }
}

/// `POST /connect/session/:id/verify` — the code the person received: verify, then connect and
/// register the number.
#[handler]
pub async fn verify_submit(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let s = match bound_session(state, &id, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let fields = match session_form(state, &s, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let code: String = fields
        .get("code")
        .map(|c| c.chars().filter(|c| !matches!(c, ' ' | '-')).collect())
        .unwrap_or_default();
    if code.is_empty() || code.len() > 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return verify_page(
            state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("Enter the code as Meta sent it: digits only."),
            true,
        );
    }
    match state.connector.verify(&s, &code).await {
        Ok(step) => after_step(state, &s, step).await,
        Err(f) if f.code == "wrong_code" => verify_page(
            state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(&f.message),
            true,
        ),
        Err(f) if f.code == "meta_error" && f.message.contains("verifying") => verify_page(
            state,
            &s,
            StatusCode::BAD_GATEWAY,
            None,
            Some(&format!("{} You can try again.", f.message)),
            true,
        ),
        Err(f) => fail(state, &s, f).await,
    }
}

/// The PIN form for the first WhatsApp number waiting for its two-step verification PIN.
fn pin_form(
    state: &AppState,
    s: &ConnectSessionRow,
    status: StatusCode,
    message: &str,
) -> Response {
    let temp: Option<connect::TempData> = s
        .temp_enc
        .as_deref()
        .and_then(|e| state.vault.decrypt(e).ok())
        .and_then(|p| serde_json::from_str(&p).ok());
    let Some(c) = temp.and_then(|t| t.candidates.into_iter().next()) else {
        return message_page(
            state,
            StatusCode::CONFLICT,
            s.locale.as_deref(),
            "Nothing is waiting",
            "No phone number is waiting for a PIN in this connection. Start again from the link.",
            None,
            None,
            None,
            &[],
        );
    };
    let tone = if status.is_success() { "info" } else { "error" };
    let message = if message.is_empty() {
        format!(
            "{} has two-step verification turned on, and Meta did not let the bridge set a new PIN. {}",
            c.label,
            connect::flow::PIN_HELP
        )
    } else {
        message.to_string()
    };
    let body = state.pages.render(
        s.locale.as_deref(),
        "pin.html",
        context! {
            privacy_url => state.config.connect.privacy_url.clone(),
            message, tone,
            label => c.label,
            external_id => c.external_id,
            action => format!("/connect/session/{}/pin", s.id),
            csrf => csrf_token(state, s),
        },
    );
    html(state, status, body, false)
}

/// `GET /connect/session/:id/pin` — a WhatsApp number has two-step verification with a PIN
/// the bridge does not know: the person enters it.
#[handler]
pub async fn pin_page(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    let state: &AppState = &state;
    match bound_session(state, &id, req).await {
        Ok(s) => pin_form(state, &s, StatusCode::OK, ""),
        Err(resp) => resp,
    }
}

/// `POST /connect/session/:id/pin` — the PIN. A wrong PIN shows the form again with Meta's
/// answer; nothing is stored until Meta registers the number.
#[handler]
pub async fn pin_submit(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let s = match bound_session(state, &id, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let fields = match session_form(state, &s, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let phone = fields.get("phone_number_id").cloned();
    let pin = fields.get("pin").map(|p| p.trim().to_string());
    let (Some(phone), Some(pin)) = (phone, pin) else {
        return pin_form(
            state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the 6-digit PIN.",
        );
    };
    match state.connector.submit_pin(&s, &phone, &pin).await {
        Ok(step) => after_step(state, &s, step).await,
        Err(f) if matches!(f.code, "invalid_pin" | "two_step_pin_mismatch") => {
            tracing::info!(session = %s.id, code = f.code, "two-step verification PIN refused");
            pin_form(state, &s, StatusCode::UNPROCESSABLE_ENTITY, &f.message)
        }
        Err(f) => fail(state, &s, f).await,
    }
}

/// `GET /connect/session/:id/result` — where the WhatsApp page lands after a failure.
#[handler]
pub async fn result_page(Path(id): Path<String>, state: Data<&Arc<AppState>>) -> Response {
    let state: &AppState = &state;
    if !connect::is_session_id(&id) {
        return not_found_page(state);
    }
    match state.store.get_connect_session(&id, None).await {
        Ok(Some(s)) => {
            let now = crate::now_ms();
            if s.effective_state(now) == "pending" {
                return message_page(
                    state,
                    StatusCode::OK,
                    s.locale.as_deref(),
                    "Still in progress",
                    "This connection has not finished yet.",
                    None,
                    None,
                    None,
                    &[],
                );
            }
            if s.state == "completed" {
                return message_page(
                    state,
                    StatusCode::OK,
                    s.locale.as_deref(),
                    "Connected",
                    &format!("{} channel(s) were connected.", s.channel_id_list().len()),
                    None,
                    None,
                    Some((return_with(&s, "completed", None), "Back to your platform")),
                    &[],
                );
            }
            ended_page(state, &s, now).await
        }
        Ok(None) => not_found_page(state),
        Err(_) => unavailable(state),
    }
}

/// `GET /connect/assets/:name` — the pages' stylesheet and script.
#[handler]
pub fn asset(Path(name): Path<String>) -> Response {
    let (ctype, body) = match name.as_str() {
        "connect.css" => (
            "text/css; charset=utf-8",
            include_str!("../../assets/connect.css"),
        ),
        "embedded.js" => (
            "application/javascript; charset=utf-8",
            include_str!("../../assets/embedded.js"),
        ),
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body("not found");
        }
    };
    Response::builder()
        .content_type(ctype)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(body)
}

/// `GET /privacy` — how the service handles data (linked from every page).
#[handler]
pub fn privacy(state: Data<&Arc<AppState>>) -> Response {
    let state: &AppState = &state;
    let body = state.pages.render(
        None,
        "privacy.html",
        context! { privacy_url => state.config.connect.privacy_url.clone() },
    );
    html(state, StatusCode::OK, body, false)
}

// ---------------------------------------------------------------------------------------------
// Meta's app callbacks (P15)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    id: Option<String>,
}

/// `GET /meta/deletion-status?id=CODE` — the public status of a deletion request.
#[handler]
pub async fn deletion_status(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let code = req
        .params::<StatusQuery>()
        .ok()
        .and_then(|q| q.id)
        .filter(|c| !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric()));
    let row = match &code {
        Some(c) => match state.store.get_deletion_request(c).await {
            Ok(r) => r,
            Err(_) => return unavailable(state),
        },
        None => None,
    };
    let status = if row.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let body = state.pages.render(
        None,
        "deletion.html",
        context! {
            privacy_url => state.config.connect.privacy_url.clone(),
            found => row.is_some(),
            code => row.as_ref().map(|r| r.code.clone()),
            status => row.as_ref().map(|r| r.status.clone()),
            channels => row.as_ref().map(|r| r.channels),
            created_at => row.as_ref().map(|r| crate::ms_to_rfc3339(r.created_at)),
            completed_at => row.as_ref().and_then(|r| r.completed_at).map(crate::ms_to_rfc3339),
        },
    );
    html(state, status, body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let pages = Pages::new();
        let out = pages
            .render(
                Some("pt-BR"),
                "message.html",
                context! {
                    privacy_url => "https://x/privacy", heading => "<b>h</b>", message => "<script>x</script>",
                    tone => "error", problems => Vec::<String>::new(),
                },
            )
            .expect("renders");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("<script>x"));
        assert!(out.contains("lang=\"en\""));
        let pin = pages
            .render(
                None,
                "pin.html",
                context! {
                    privacy_url => "https://x/privacy", message => "<i>m</i>", tone => "error",
                    label => "<b>Shop</b>", external_id => "1\"2", action => "/a", csrf => "c",
                },
            )
            .expect("pin renders");
        assert!(
            pin.contains("&lt;b&gt;Shop") && !pin.contains("<i>m"),
            "{pin}"
        );
        for name in [
            "landing.html",
            "pick.html",
            "pin.html",
            "verify.html",
            "deletion.html",
            "privacy.html",
        ] {
            pages
                .render(None, name, context! { privacy_url => "https://x/privacy" })
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn verification_code_language_follows_the_locale() {
        assert_eq!(code_language(None), "en");
        assert_eq!(code_language(Some("pt-BR")), "pt_BR");
        assert_eq!(code_language(Some("de")), "de");
        assert_eq!(code_language(Some("x<y")), "en_US");
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let req = Request::builder()
            .header(header::COOKIE, "a=1; mb_connect=abc ; b=2")
            .finish();
        assert_eq!(cookie_value(&req).as_deref(), Some("abc"));
        let none = Request::builder()
            .header(header::COOKIE, "mb_connect=")
            .finish();
        assert_eq!(cookie_value(&none), None);
    }
}
