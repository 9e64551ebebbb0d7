//! What the session forms share: the browser-bound session, CSRF tokens, and the form
//! target allowed to return to the platform.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Request, Response};

use crate::connect;
use crate::http::AppState;
use crate::store::ConnectSessionRow;

use super::callbacks::invalid_state_page;
use super::render::{csp, message_page, not_found_page, origin_of};
use super::session::{cookie_value, ended_page, unavailable};

pub(super) async fn bound_session(
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

pub(super) fn csrf_token(state: &AppState, s: &ConnectSessionRow) -> String {
    state
        .state_signer
        .sign(&s.id, "pick", s.expires_at / 1000)
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A form whose answer redirects to the platform: the browser checks that target against
/// `form-action` too.
pub(super) fn allow_return_form_target(
    state: &AppState,
    s: &ConnectSessionRow,
    resp: &mut Response,
) {
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

/// Whether a form's `csrf` field is the one this page issued for the session.
pub(super) fn csrf_ok(state: &AppState, s: &ConnectSessionRow, given: Option<&str>) -> bool {
    given.is_some_and(|c| {
        crate::crypto::signature::constant_time_eq(c.as_bytes(), csrf_token(state, s).as_bytes())
    })
}

/// A POST to a session page: the session, bound to this browser, and the form's fields (in
/// order, repeated names kept) once its CSRF token was checked.
pub(super) async fn bound_form(
    state: &AppState,
    id: &str,
    req: &Request,
    body: Body,
) -> Result<(ConnectSessionRow, Vec<(String, String)>), Response> {
    let s = bound_session(state, id, req).await?;
    let raw = body
        .into_bytes_limit(64 * 1024)
        .await
        .map_err(|_| invalid_state_page(state, "The form could not be read."))?;
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if csrf_ok(state, &s, csrf) {
        Ok((s, fields))
    } else {
        Err(invalid_state_page(
            state,
            "The form was not issued by this page.",
        ))
    }
}
