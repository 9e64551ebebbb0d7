//! Rendering of the connect pages: the Content-Security-Policy and security headers, HTML
//! responses, message and not-found pages.

use minijinja::context;
use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};

use crate::http::AppState;

pub(super) fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// The Content-Security-Policy of the pages (`sdk`: the WhatsApp page loads Meta's SDK).
pub(super) fn csp(state: &AppState, sdk: bool) -> String {
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

pub(crate) fn secure_headers(mut resp: Response, csp_value: &str) -> Response {
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

pub(super) fn html(
    state: &AppState,
    status: StatusCode,
    body: Result<String, String>,
    sdk: bool,
) -> Response {
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
pub(super) fn message_page(
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

pub(super) fn not_found_page(state: &AppState) -> Response {
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
