//! `/connect/session/:id/pick`: choosing which of several shared assets to connect.

use std::sync::Arc;

use minijinja::context;
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde_json::json;

use crate::connect;
use crate::http::AppState;

use super::callbacks::after_step;
use super::forms::{bound_form, bound_session, csrf_token};
use super::render::{csp, html, message_page, origin_of};
use super::session::fail;

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
    let (s, fields) = match bound_form(state, &id, req, body).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let chosen: Vec<String> = fields
        .into_iter()
        .filter(|(k, _)| k == "asset")
        .map(|(_, v)| v)
        .take(100)
        .collect();
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
