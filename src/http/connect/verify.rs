//! `/connect/session/:id/verify`: verifying a WhatsApp number by a code sent by SMS or voice.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};

use crate::http::AppState;
use crate::store::ConnectSessionRow;

use super::callbacks::after_step;
use super::forms::{allow_return_form_target, bound_form, bound_session, csrf_token};
use super::render::{html, message_page};
use super::session::fail;

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

/// Meta's `language` of a verification code (`en_US`, `pt_BR`) from the session's locale.
pub(super) fn code_language(locale: Option<&str>) -> String {
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
    let (s, fields) = match bound_form(state, &id, req, body).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let fields: HashMap<String, String> = fields.into_iter().collect();
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
    let (s, fields) = match bound_form(state, &id, req, body).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let fields: HashMap<String, String> = fields.into_iter().collect();
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
