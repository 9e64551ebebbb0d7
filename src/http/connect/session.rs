//! The session behind a connect link: its browser-binding cookie, lookup by link, the
//! per-kind texts, and the ended, failed and completed outcomes with the return URL.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Request, Response};

use crate::connect::flow::Failure;
use crate::connect::{self, COOKIE, Flow};
use crate::http::AppState;
use crate::store::ConnectSessionRow;

use super::render::{csp, message_page, secure_headers};

/// The return URL with the session's outcome added to its query.
pub(super) fn return_with(
    session: &ConnectSessionRow,
    status: &str,
    error: Option<&str>,
) -> String {
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

pub(super) fn cookie_value(req: &Request) -> Option<String> {
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

pub(super) fn set_cookie(state: &AppState, resp: &mut Response, value: &str, max_age_secs: i64) {
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

pub(super) fn kind_texts(
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

pub(super) async fn session_by_link(
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

pub(super) fn unavailable(state: &AppState) -> Response {
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
pub(super) async fn ended_page(state: &AppState, s: &ConnectSessionRow, now: i64) -> Response {
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
pub(super) async fn fail(state: &AppState, s: &ConnectSessionRow, f: Failure) -> Response {
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
pub(super) async fn complete(
    state: &AppState,
    s: &ConnectSessionRow,
    channel_ids: Vec<crate::ids::ChannelId>,
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
    state.sync_templates_soon(channel_ids.clone());
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
