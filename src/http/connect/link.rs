//! `GET /connect/:link` (what will be connected) and `POST /connect/:link/start` (an attempt
//! begins: the browser is bound and sent to Meta).

use std::sync::Arc;

use minijinja::context;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde_json::json;

use crate::channels::ChannelKind;
use crate::connect::flow::Failure;
use crate::connect::{self, Flow, permissions};
use crate::http::AppState;
use crate::store::ConnectSessionRow;

use super::render::{csp, html, message_page, not_found_page, secure_headers};
use super::session::{
    cookie_value, ended_page, fail, kind_texts, session_by_link, set_cookie, unavailable,
};

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
