//! Signing in to the console: the admin token exchanged for a session cookie (HttpOnly,
//! SameSite=Strict, Secure when the public URL is https, path `/console`), idle expiry, the
//! CSRF token of every form, sign-out, and the rate limit of failed sign-ins (the admin API's
//! per-address budget: both guess the same token).
//!
//! A session is a row keyed by the SHA-256 of the cookie's random value and bound to the
//! admin token it signed in with (a hash of the token salted with the session): once the
//! bridge runs with another admin token, every older session is refused.

use std::sync::Arc;

use minijinja::context;
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use crate::connect::{random_secret, sha256_hex};
use crate::crypto::signature::constant_time_eq;
use crate::http::AppState;
use crate::store::ConsoleSessionRow;

use super::render::{Query, html, notice_page, redirect};

/// The session cookie.
pub(super) const COOKIE: &str = "mb_console";
/// The sign-in form's own cookie (its CSRF binding before there is a session).
const LOGIN_COOKIE: &str = "mb_console_login";
/// Who the audit log names for what is done in the console (P17).
pub(super) const ACTOR: &str = "console";
/// A session is marked as used at most this often (one write per page view at most).
const TOUCH_EVERY_MS: i64 = 30_000;
/// Largest form body read.
const FORM_LIMIT: usize = 64 * 1024;

/// A signed-in operator.
pub(super) struct Session {
    /// The token every form of the session carries.
    pub csrf: String,
}

fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn set_cookie(
    state: &AppState,
    resp: &mut Response,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={}", a.max(0)))
        .unwrap_or_default();
    let c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The binding of a session to the admin token: salted with the session, so the database
/// never holds one hash of the token that all rows share.
fn token_binding(state: &AppState, id_hash: &str) -> String {
    sha256_hex(&format!(
        "metabridge-console-session:{id_hash}:{}",
        state.config.admin_token.expose()
    ))
}

fn csrf_of(value: &str) -> String {
    sha256_hex(&format!("metabridge-console-csrf:{value}"))
}

fn login_csrf_of(value: &str) -> String {
    sha256_hex(&format!("metabridge-console-login:{value}"))
}

/// Where a sign-in goes back to: a console path, nothing else.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/console/sign-") =>
        {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

/// To the sign-in page (remembering where a GET wanted to go).
fn to_sign_in(req: &Request) -> Response {
    let next = (req.method() == poem::http::Method::GET)
        .then(|| req.uri().path_and_query().map(|p| p.as_str().to_string()))
        .flatten();
    redirect(&super::render::url_with(
        "/console/sign-in",
        &[("next", next.as_deref())],
    ))
}

/// The session of this request, or the answer for a request without one (to the sign-in
/// page): no cookie, an unknown or idle session, or one made with another admin token.
pub(super) async fn signed_in(state: &AppState, req: &Request) -> Result<Session, Response> {
    let Some(value) = cookie(req, COOKIE) else {
        return Err(to_sign_in(req));
    };
    let id_hash = sha256_hex(&value);
    let row = match state.store.get_console_session(&id_hash).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(to_sign_in(req)),
        Err(e) => {
            tracing::error!(error = %e, "reading a console session failed");
            return Err(notice_page(
                state,
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "The console cannot read its sessions",
                "The database did not answer. Try again in a moment.",
                Some("/console"),
            ));
        }
    };
    let now = crate::now_ms();
    let idle = i64::try_from(state.config.console.idle_timeout.as_millis()).unwrap_or(i64::MAX / 2);
    let bound = constant_time_eq(
        row.token_hash.as_bytes(),
        token_binding(state, &id_hash).as_bytes(),
    );
    if !bound || now - row.seen_at > idle {
        let _ = state.store.delete_console_session(&id_hash).await;
        return Err(to_sign_in(req));
    }
    if now - row.seen_at > TOUCH_EVERY_MS
        && let Err(e) = state.store.touch_console_session(&id_hash, now).await
    {
        tracing::warn!(error = %e, "marking a console session as used failed");
    }
    Ok(Session {
        csrf: csrf_of(&value),
    })
}

/// The fields of a form body (in order, repeated names kept).
async fn read_form(body: Body) -> Option<Query> {
    let raw = body.into_bytes_limit(FORM_LIMIT).await.ok()?;
    Some(Query::parse(std::str::from_utf8(&raw).ok()?))
}

/// A form posted by a signed-in operator, once its CSRF token was checked.
pub(super) async fn form(
    state: &AppState,
    req: &Request,
    body: Body,
) -> Result<(Session, Query), Response> {
    let session = signed_in(state, req).await?;
    let refused = |s: &Session| {
        notice_page(
            state,
            Some(s),
            StatusCode::FORBIDDEN,
            "This form was not accepted",
            "The form did not come from this console session (it may be from an older page). Nothing was changed; go back, reload the page and try again.",
            Some("/console"),
        )
    };
    let Some(fields) = read_form(body).await else {
        return Err(refused(&session));
    };
    let ok = fields
        .get("csrf")
        .is_some_and(|c| constant_time_eq(c.as_bytes(), session.csrf.as_bytes()));
    if !ok {
        return Err(refused(&session));
    }
    Ok((session, fields))
}

fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
    info: Option<&str>,
) -> Response {
    let nonce = random_secret(24);
    let body = state.console.render(
        "sign_in.html",
        context! { csrf => login_csrf_of(&nonce), next, error, info },
    );
    let mut resp = html(status, body);
    set_cookie(
        state,
        &mut resp,
        LOGIN_COOKIE,
        &nonce,
        "/console/sign-in",
        Some(1800),
    );
    resp
}

/// `GET /console/sign-in`.
#[handler]
pub async fn sign_in_get(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let q = Query::of(req);
    let next = safe_next(q.get("next"));
    if cookie(req, COOKIE).is_some() && signed_in(state, req).await.is_ok() {
        return redirect(&next);
    }
    let info = (q.get("done") == Some("signed_out")).then_some("You are signed out.");
    sign_in_page(state, StatusCode::OK, &next, None, info)
}

/// `POST /console/sign-in`: the admin token for a session.
#[handler]
pub async fn sign_in_post(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let state: &AppState = &state;
    let Some(fields) = read_form(body).await else {
        return sign_in_page(
            state,
            StatusCode::BAD_REQUEST,
            "/console",
            Some("The form could not be read."),
            None,
        );
    };
    let next = safe_next(fields.get("next"));
    let form_ok = cookie(req, LOGIN_COOKIE).is_some_and(|n| {
        fields
            .get("csrf")
            .is_some_and(|c| constant_time_eq(c.as_bytes(), login_csrf_of(&n).as_bytes()))
    });
    if !form_ok {
        return sign_in_page(
            state,
            StatusCode::FORBIDDEN,
            &next,
            Some("The sign-in form expired or did not come from this page. Enter the token again."),
            None,
        );
    }
    let addr = req.remote_addr().as_socket_addr().map(|a| a.ip());
    if let Err(wait) = state.limits.check_admin_address(addr) {
        let mut resp = sign_in_page(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some(
                format!("Too many wrong tokens from this address. Try again in {wait} seconds.")
                    .as_str(),
            ),
            None,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let given = fields.get("token").unwrap_or("");
    if !constant_time_eq(
        given.as_bytes(),
        state.config.admin_token.expose().as_bytes(),
    ) {
        state.limits.admin_failed(addr);
        tracing::warn!(client = ?addr, "console sign-in with a wrong admin token");
        return sign_in_page(
            state,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That is not the admin token of this bridge."),
            None,
        );
    }
    let value = random_secret(32);
    let id_hash = sha256_hex(&value);
    let now = crate::now_ms();
    let row = ConsoleSessionRow {
        token_hash: token_binding(state, &id_hash),
        id_hash,
        created_at: now,
        seen_at: now,
    };
    if let Err(e) = state.store.insert_console_session(&row).await {
        tracing::error!(error = %e, "storing a console session failed");
        return sign_in_page(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            Some("The database did not answer. Try again in a moment."),
            None,
        );
    }
    let _ = state
        .store
        .audit(ACTOR, "console.signed_in", "console", None)
        .await;
    let mut resp = redirect(&next);
    set_cookie(state, &mut resp, COOKIE, &value, "/console", None);
    set_cookie(
        state,
        &mut resp,
        LOGIN_COOKIE,
        "",
        "/console/sign-in",
        Some(0),
    );
    resp
}

/// `POST /console/sign-out`.
#[handler]
pub async fn sign_out(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let state: &AppState = &state;
    if let Err(resp) = form(state, req, body).await {
        return resp;
    }
    if let Some(value) = cookie(req, COOKIE) {
        let _ = state
            .store
            .delete_console_session(&sha256_hex(&value))
            .await;
    }
    let _ = state
        .store
        .audit(ACTOR, "console.signed_out", "console", None)
        .await;
    let mut resp = redirect("/console/sign-in?done=signed_out");
    set_cookie(state, &mut resp, COOKIE, "", "/console", Some(0));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_returns_only_to_the_console() {
        assert_eq!(
            safe_next(Some("/console/events?state=dead")),
            "/console/events?state=dead"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/console",
            "/connect/x",
            "/console\\@evil",
            "/console/sign-out",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let req = Request::builder()
            .header(header::COOKIE, "a=1; mb_console=abc; mb_console_login=def")
            .finish();
        assert_eq!(cookie(&req, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&req, LOGIN_COOKIE).as_deref(), Some("def"));
        assert_ne!(csrf_of("abc"), login_csrf_of("abc"));
    }
}
