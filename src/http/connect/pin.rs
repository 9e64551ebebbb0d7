//! `/connect/session/:id/pin`: the two-step verification PIN of a WhatsApp number.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};

use crate::connect;
use crate::http::AppState;
use crate::store::ConnectSessionRow;

use super::callbacks::after_step;
use super::forms::{bound_form, bound_session, csrf_token};
use super::render::{html, message_page};
use super::session::fail;

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
    let (s, fields) = match bound_form(state, &id, req, body).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let fields: HashMap<String, String> = fields.into_iter().collect();
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
