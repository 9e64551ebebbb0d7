//! The connect pages a person sees (server-rendered, no front-end build), Meta's app callbacks
//! (deauthorize, data deletion, and the deletion status page), and the privacy page.
//!
//! Every page carries a strict Content-Security-Policy (scripts only from this origin and, on
//! the WhatsApp page, Meta's SDK), `frame-ancestors 'none'` / `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` (the link's secret is in the URL) and `no-store`. The only
//! cookie is the browser binding of a session (HttpOnly, SameSite=Lax, path `/connect`),
//! removed when the session ends (P16).

mod callbacks;
mod forms;
mod link;
mod pick;
mod pin;
mod render;
mod session;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::{Environment, Value as Ctx, context};
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::AppState;
use crate::connect;

use callbacks::{callback, embedded};
use link::{landing, start};
use pick::{pick_page, pick_submit};
use pin::{pin_page, pin_submit};
use verify::{verify_get, verify_request, verify_submit};

pub(crate) use render::secure_headers;
use render::{html, message_page, not_found_page};
use session::{ended_page, return_with, unavailable};

const SERVICE_NAME: &str = "metabridge";

/// Adds the connect pages, the deletion status page of Meta's app callbacks and the privacy
/// page to `route`.
pub fn routes(route: poem::Route) -> poem::Route {
    route
        // The connect pages and Meta's app callbacks read their bodies with a limit.
        .at("/connect/callback", poem::get(callback))
        .at("/connect/assets/:name", poem::get(asset))
        .at(
            "/connect/session/:id/pick",
            poem::get(pick_page).post(pick_submit),
        )
        .at(
            "/connect/session/:id/verify",
            poem::get(verify_get).post(verify_submit),
        )
        .at(
            "/connect/session/:id/verify/request",
            poem::post(verify_request),
        )
        .at(
            "/connect/session/:id/pin",
            poem::get(pin_page).post(pin_submit),
        )
        .at("/connect/session/:id/result", poem::get(result_page))
        .at("/connect/:link", poem::get(landing))
        .at("/connect/:link/start", poem::post(start))
        .at("/connect/:link/embedded", poem::post(embedded))
        .at("/privacy", poem::get(privacy))
        .at("/meta/deletion-status", poem::get(deletion_status))
}

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
            ("base.html", include_str!("../../../templates/en/base.html")),
            (
                "landing.html",
                include_str!("../../../templates/en/landing.html"),
            ),
            (
                "message.html",
                include_str!("../../../templates/en/message.html"),
            ),
            ("pick.html", include_str!("../../../templates/en/pick.html")),
            ("pin.html", include_str!("../../../templates/en/pin.html")),
            (
                "verify.html",
                include_str!("../../../templates/en/verify.html"),
            ),
            (
                "deletion.html",
                include_str!("../../../templates/en/deletion.html"),
            ),
            (
                "privacy.html",
                include_str!("../../../templates/en/privacy.html"),
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
            include_str!("../../../assets/connect.css"),
        ),
        "embedded.js" => (
            "application/javascript; charset=utf-8",
            include_str!("../../../assets/embedded.js"),
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
    use super::session::cookie_value;
    use super::verify::code_language;
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
