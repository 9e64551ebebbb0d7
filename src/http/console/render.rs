//! Rendering of the console's pages: the templates, the Content-Security-Policy and security
//! headers (those of the connect pages), redirects, notices and the query string of a page.

use minijinja::{Environment, Value as Ctx, context};
use poem::http::{StatusCode, header};
use poem::{Request, Response};

use crate::http::AppState;

use super::session::Session;

/// The console's policy: everything from this origin only, no inline script or style, forms
/// post only here, never framed.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's templates (compiled into the binary).
pub struct Console {
    env: Environment<'static>,
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! console_templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../../templates/en/console/", $name)))),*]
    };
}

impl Console {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, src) in console_templates!(
            "base.html",
            "sign_in.html",
            "notice.html",
            "overview.html",
            "instances.html",
            "instance.html",
            "instance_new.html",
            "secret.html",
            "confirm.html",
            "events.html",
            "event.html",
            "channels.html",
            "diagnosis.html",
            "messages.html",
            "message.html",
            "audit.html",
        ) {
            // Templates are compiled into the binary; a syntax error is caught by the tests.
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "console template does not compile");
            }
        }
        env.add_filter("ts", time_filter);
        env.add_filter("tsiso", iso_time_filter);
        Self { env }
    }

    /// Renders a page; a failure is logged and becomes `Err`.
    pub fn render(&self, name: &str, ctx: Ctx) -> Result<String, String> {
        let full = context! { lang => "en", service_name => "metabridge", ..ctx };
        self.env
            .get_template(name)
            .and_then(|t| t.render(full))
            .map_err(|e| {
                tracing::error!(template = name, error = %e, "rendering a console page failed");
                "rendering failed".to_string()
            })
    }
}

/// `{{ at | ts }}`: a `<time>` element for a unix-milliseconds time, written in UTC; the
/// console's script shows it in the viewer's time zone. Nothing but the number reaches the
/// markup. No time: a dash.
fn time_filter(v: Ctx) -> Ctx {
    let Some(ms) = i64::try_from(v).ok() else {
        return Ctx::from("—");
    };
    let Some(t) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) else {
        return Ctx::from("—");
    };
    Ctx::from_safe_string(format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.format("%Y-%m-%d %H:%M:%S UTC")
    ))
}

/// `{{ at | tsiso }}`: [`time_filter`] for an RFC 3339 time (as the API views carry them);
/// anything else is shown as text, escaped.
fn iso_time_filter(v: Ctx) -> Ctx {
    let parsed = v
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    match parsed {
        Some(t) => time_filter(Ctx::from(t.timestamp_millis())),
        None if v.is_none() || v.is_undefined() => Ctx::from("—"),
        None => Ctx::from(v.to_string()),
    }
}

/// An HTML response with the console's headers.
pub(super) fn html(status: StatusCode, body: Result<String, String>) -> Response {
    let (status, body) = match body {
        Ok(b) => (status, b),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<!doctype html><html lang=\"en\"><title>Error</title><main><h1>Something went wrong</h1>\
             <p>The page could not be shown. Please try again.</p></main></html>"
                .to_string(),
        ),
    };
    let resp = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    crate::http::connect::secure_headers(resp, CSP)
}

/// A signed-in page: the session's CSRF token, the section of the navigation and the notice
/// the last action left in the query (`done` / `err`) are added to `ctx`.
pub(super) fn page(
    state: &AppState,
    session: &Session,
    req: &Request,
    name: &str,
    section: &str,
    ctx: Ctx,
) -> Response {
    let q = Query::of(req);
    let (notice, notice_tone) = match (q.get("done"), q.get("err")) {
        (_, Some(e)) => (notice_text(e), "error"),
        (Some(d), None) => (notice_text(d), "success"),
        _ => (None, ""),
    };
    let body = state.console.render(
        name,
        context! { csrf => session.csrf.clone(), signed_in => true, section, notice, notice_tone, ..ctx },
    );
    html(StatusCode::OK, body)
}

/// A page that says something (an error, a refusal) with a link onwards.
pub(super) fn notice_page(
    state: &AppState,
    session: Option<&Session>,
    status: StatusCode,
    heading: &str,
    message: &str,
    back: Option<&str>,
) -> Response {
    let body = state.console.render(
        "notice.html",
        context! {
            csrf => session.map(|s| s.csrf.clone()),
            signed_in => session.is_some(),
            heading, message, back,
            tone => if status.is_success() { "success" } else { "error" },
        },
    );
    html(status, body)
}

/// `303 See Other` to a console path.
pub(super) fn redirect(to: &str) -> Response {
    crate::http::connect::secure_headers(
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, to)
            .finish(),
        CSP,
    )
}

/// The text of a notice key an action put in the query (only these keys show anything: a
/// query never puts text of its own on a page).
fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "saved" => "Saved.",
        "paused" => "Delivery is paused. Events wait until it is resumed.",
        "resumed" => "Delivery resumed.",
        "replayed" => "The event is queued for delivery again.",
        "replayed_all" => "The instance's dead letters are queued for delivery again.",
        "none_replayed" => "There was no dead letter with content left to replay.",
        "key_added" => "The key is registered.",
        "key_retired" => "The key is retired: tokens naming it stop working now.",
        "disconnected" => "The channel is disconnected and its token deleted.",
        "deleted" => "The instance and everything of it were deleted.",
        "signed_out" => "You are signed out.",
        "not_replayable" => "Only dead letters whose content is still stored can be replayed.",
        "not_found" => "That no longer exists.",
        "invalid" => "The form had a value that is not allowed.",
        _ => return None,
    })
}

/// The decoded query string of a request.
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn of(req: &Request) -> Self {
        Self::parse(req.uri().query().unwrap_or(""))
    }

    pub(super) fn parse(s: &str) -> Self {
        Self(
            url::form_urlencoded::parse(s.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first non-empty value of `name`, trimmed.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// Every value of `name` (checkbox groups).
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A console URL: `path` with the given query pairs (empty values left out).
pub(super) fn url_with(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            q.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("{path}?{}", q.finish())
    } else {
        path.to_string()
    }
}

/// Paging of a list read in full (instances): the page asked for and the links around it.
pub(super) fn page_slice<T>(rows: Vec<T>, page: usize, per_page: usize) -> (Vec<T>, bool) {
    let start = page.saturating_mul(per_page);
    let more = rows.len() > start.saturating_add(per_page);
    (rows.into_iter().skip(start).take(per_page).collect(), more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_markup_of_numbers_only() {
        let v = time_filter(Ctx::from(1_764_000_000_000i64));
        assert_eq!(
            v.to_string(),
            "<time datetime=\"2025-11-24T16:00:00.000Z\">2025-11-24 16:00:00 UTC</time>"
        );
        assert_eq!(time_filter(Ctx::from(())).to_string(), "—");
        assert_eq!(time_filter(Ctx::from("<b>")).to_string(), "—");
    }

    #[test]
    fn every_console_template_compiles_and_escapes() {
        let c = Console::new();
        for (name, _) in console_templates!(
            "base.html",
            "sign_in.html",
            "notice.html",
            "overview.html",
            "instances.html",
            "instance.html",
            "instance_new.html",
            "secret.html",
            "confirm.html",
            "events.html",
            "event.html",
            "channels.html",
            "diagnosis.html",
            "messages.html",
            "message.html",
            "audit.html",
        ) {
            assert!(c.env.get_template(name).is_ok(), "{name} does not compile");
        }
        let out = c
            .render(
                "notice.html",
                context! {
                    heading => "<script>alert(1)</script>", message => "\"><img src=x onerror=alert(1)>",
                    signed_in => true, csrf => "c", tone => "error", back => "/console",
                },
            )
            .expect("renders");
        assert!(
            !out.contains("<script>alert") && !out.contains("<img src=x"),
            "{out}"
        );
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{out}"
        );
        assert!(
            out.contains("Sign out"),
            "signed-in pages have the sign-out form"
        );
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert!(notice_text("saved").is_some());
        assert!(notice_text("<script>").is_none());
    }

    #[test]
    fn urls_keep_only_given_values() {
        assert_eq!(
            url_with(
                "/console/events",
                &[("state", Some("dead")), ("type", None)]
            ),
            "/console/events?state=dead"
        );
        assert_eq!(
            url_with("/console/events", &[("q", Some("a&b"))]),
            "/console/events?q=a%26b"
        );
        assert_eq!(url_with("/x", &[]), "/x");
    }
}
