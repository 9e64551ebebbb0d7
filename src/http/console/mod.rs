//! The operator console (`/console`, issue 18): server-rendered pages for the people who run
//! the bridge — throughput and the instances that need attention, instances, channels,
//! events with every delivery attempt and replay, messages, and the audit log.
//!
//! Same template engine (minijinja, auto-escaping) and the same strict Content-Security-Policy
//! and security headers as the connect pages: nothing is loaded from elsewhere, no inline
//! script or style; a small script of this origin shows times in the viewer's zone and
//! refreshes live lists. Every page needs a session (sign-in with the admin token,
//! [`session`]); every form carries the session's CSRF token. Every change goes through the
//! functions the admin API uses, and the audit log names the console (`console`) as its
//! author (P17). `METABRIDGE_CONSOLE=false` turns it off (`/console` is then not found).

mod audit;
mod channels;
mod charts;
mod events;
mod instance_actions;
mod instances;
mod messages;
mod overview;
mod render;
mod session;

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use super::AppState;

pub use render::Console;

use render::notice_page;
use session::{Session, signed_in};

/// Adds the console's pages to `route`.
pub fn routes(route: poem::Route) -> poem::Route {
    route
        .at("/console", poem::get(overview::overview))
        .at("/console/", poem::get(overview::overview))
        .at("/console/assets/:name", poem::get(asset))
        .at(
            "/console/sign-in",
            poem::get(session::sign_in_get).post(session::sign_in_post),
        )
        .at("/console/sign-out", poem::post(session::sign_out))
        .at(
            "/console/instances",
            poem::get(instances::list).post(instances::create),
        )
        .at("/console/instances/new", poem::get(instances::new_form))
        .at("/console/instances/:id", poem::get(instances::detail))
        .at(
            "/console/instances/:id/settings",
            poem::post(instance_actions::settings),
        )
        .at(
            "/console/instances/:id/delivery",
            poem::post(instance_actions::delivery),
        )
        .at(
            "/console/instances/:id/rotate-secret",
            poem::post(instance_actions::rotate_secret),
        )
        .at(
            "/console/instances/:id/keys",
            poem::post(instance_actions::add_key),
        )
        .at(
            "/console/instances/:id/keys/retire",
            poem::post(instance_actions::retire_key_form),
        )
        .at(
            "/console/instances/:id/delete",
            poem::get(instance_actions::delete_confirm).post(instance_actions::delete),
        )
        .at(
            "/console/instances/:id/replay-dead",
            poem::post(instance_actions::replay_dead),
        )
        .at("/console/instances/:id/channels", poem::get(channels::list))
        .at(
            "/console/instances/:id/connect-link",
            poem::post(channels::connect_link),
        )
        .at(
            "/console/channels/:id/diagnosis",
            poem::get(channels::diagnosis),
        )
        .at(
            "/console/channels/:id/disconnect",
            poem::get(channels::disconnect_confirm).post(channels::disconnect),
        )
        .at("/console/events", poem::get(events::list))
        .at("/console/events/:id", poem::get(events::detail))
        .at("/console/events/:id/replay", poem::post(events::replay))
        .at("/console/messages", poem::get(messages::list))
        .at("/console/messages/:id", poem::get(messages::detail))
        .at("/console/audit", poem::get(audit::list))
        .at("/console/*rest", poem::get(not_found).post(not_found))
}

/// `GET /console/assets/:name` — the console's stylesheet and script.
#[handler]
pub fn asset(Path(name): Path<String>) -> Response {
    let (ctype, body) = match name.as_str() {
        "console.css" => (
            "text/css; charset=utf-8",
            include_str!("../../../assets/console.css"),
        ),
        "console.js" => (
            "application/javascript; charset=utf-8",
            include_str!("../../../assets/console.js"),
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

/// Any other console path: the sign-in page without a session, not found with one.
#[handler]
async fn not_found(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    match signed_in(state, req).await {
        Ok(s) => missing(state, &s),
        Err(r) => r,
    }
}

/// The page for something that does not exist (or no longer does).
fn missing(state: &AppState, session: &Session) -> Response {
    notice_page(
        state,
        Some(session),
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here. It may have been deleted.",
        Some("/console"),
    )
}

/// The page for a database that failed.
fn unavailable(state: &AppState, session: &Session, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a console page could not read the database");
    notice_page(
        state,
        Some(session),
        StatusCode::SERVICE_UNAVAILABLE,
        "The database did not answer",
        "The page could not be read. Try again in a moment.",
        Some("/console"),
    )
}

/// The page for an operation the admin API would answer with an error: its message.
fn refused(
    state: &AppState,
    session: &Session,
    e: &super::errors::ApiError,
    back: &str,
) -> Response {
    use super::errors::ApiError as E;
    let (status, body) = match e {
        E::BadRequest(b) => (StatusCode::BAD_REQUEST, &b.0),
        E::Unauthorized(b) => (StatusCode::UNAUTHORIZED, &b.0),
        E::NotFound(b) => (StatusCode::NOT_FOUND, &b.0),
        E::Conflict(b) => (StatusCode::CONFLICT, &b.0),
        E::Unprocessable(b) => (StatusCode::UNPROCESSABLE_ENTITY, &b.0),
        E::TooLarge(b) => (StatusCode::PAYLOAD_TOO_LARGE, &b.0),
        E::TooManyRequests(b, _) => (StatusCode::TOO_MANY_REQUESTS, &b.0),
        E::Internal(b) => (StatusCode::INTERNAL_SERVER_ERROR, &b.0),
        E::BadGateway(b) => (StatusCode::BAD_GATEWAY, &b.0),
        E::Unavailable(b) => (StatusCode::SERVICE_UNAVAILABLE, &b.0),
    };
    let message = match &body.field {
        Some(f) => format!("{f}: {}", body.message),
        None => body.message.clone(),
    };
    notice_page(
        state,
        Some(session),
        status,
        "That was not done",
        &message,
        Some(back),
    )
}
