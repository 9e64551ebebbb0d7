//! Returns from Meta: the OAuth redirect to `/connect/callback` and the Embedded Signup
//! result relayed by the page to `/connect/:link/embedded`.

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use serde_json::json;

use crate::connect::flow::{EsReport, Failure, Step};
use crate::connect::{self, Flow};
use crate::http::AppState;
use crate::http::errors::codes;
use crate::store::ConnectSessionRow;

use super::render::{csp, message_page, secure_headers};
use super::session::{
    complete, cookie_value, ended_page, fail, return_with, session_by_link, unavailable,
};

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

pub(super) fn invalid_state_page(state: &AppState, why: &str) -> Response {
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

pub(super) async fn after_step(state: &AppState, s: &ConnectSessionRow, step: Step) -> Response {
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
