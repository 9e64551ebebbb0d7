//! Instances: the list, one instance's page (delivery, settings, channels, keys, the danger
//! zone), and creating one (its secret shown once).

use std::sync::Arc;

use minijinja::context;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use crate::events::parse::types;
use crate::http::AppState;
use crate::http::api::op_error;
use crate::ids::InstanceId;
use crate::instances;
use crate::store::InstanceRow;

use super::render::{Query, html, page, page_slice, url_with};
use super::session::{ACTOR, Session, form, signed_in};
use super::{missing, refused, unavailable};

const PER_PAGE: usize = 50;

/// An instance as the list shows it.
#[derive(Serialize)]
struct Listed {
    id: String,
    name: String,
    callback_url: String,
    paused: Option<String>,
    pending: i64,
    retrying: i64,
    dead: i64,
    channels: usize,
    created_at: i64,
}

/// Every event type an instance can subscribe to, with whether `row` does.
pub(super) fn type_choices(subscribed: Option<&[String]>) -> Vec<(String, bool)> {
    types::ALL
        .iter()
        .chain(types::BRIDGE.iter())
        .map(|t| {
            let on = subscribed.is_none_or(|s| s.iter().any(|x| x == t));
            (t.to_string(), on)
        })
        .collect()
}

/// The subscription a settings form asks for: `None` = every type (`types=all`), else the
/// checked ones.
pub(super) fn chosen_types(fields: &Query) -> Option<Vec<String>> {
    if fields.get("types") == Some("some") {
        Some(fields.all("event_type"))
    } else {
        None
    }
}

/// `GET /console/instances`.
#[handler]
pub async fn list(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = Query::of(req);
    let page_no: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let read = async {
        Ok::<_, crate::store::StoreError>((
            state.store.list_instances().await?,
            state.store.instance_backlogs().await?,
            state.store.list_channels(None).await?,
        ))
    };
    let (rows, backlogs, channels) = match read.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &session, e),
    };
    let filter = q.get("q").map(str::to_lowercase);
    let rows: Vec<InstanceRow> = rows
        .into_iter()
        .filter(|r| {
            filter
                .as_deref()
                .is_none_or(|f| r.name.to_lowercase().contains(f) || r.id.as_str().contains(f))
        })
        .collect();
    let total = rows.len();
    let (rows, more) = page_slice(rows, page_no, PER_PAGE);
    let items: Vec<Listed> = rows
        .into_iter()
        .map(|r| {
            let b = backlogs
                .iter()
                .find(|b| b.instance_id == r.id.as_str())
                .cloned()
                .unwrap_or_default();
            Listed {
                channels: channels
                    .iter()
                    .filter(|c| {
                        c.instance_id == r.id
                            && c.status != crate::channels::Connection::Disconnected
                    })
                    .count(),
                id: r.id.into_string(),
                name: r.name,
                callback_url: r.callback_url,
                paused: r.delivery_paused_reason,
                pending: b.pending,
                retrying: b.retrying,
                dead: b.dead,
                created_at: r.created_at,
            }
        })
        .collect();
    let page_link = |n: usize| {
        let n = n.to_string();
        url_with(
            "/console/instances",
            &[("q", q.get("q")), ("page", Some(n.as_str()))],
        )
    };
    page(
        state,
        &session,
        req,
        "instances.html",
        "instances",
        context! {
            items, total, q => q.get("q"),
            next_url => more.then(|| page_link(page_no + 1)),
            prev_url => (page_no > 0).then(|| page_link(page_no - 1)),
            page_no => page_no + 1,
        },
    )
}

/// The instance `id` names, or the answer to give.
pub(super) async fn instance_or_missing(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<InstanceRow, Response> {
    let Ok(id) = InstanceId::parse(id) else {
        return Err(missing(state, session));
    };
    match state.store.get_instance(&id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(missing(state, session)),
        Err(e) => Err(unavailable(state, session, e)),
    }
}

/// `GET /console/instances/:id`.
#[handler]
pub async fn detail(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let read = async {
        Ok::<_, crate::store::StoreError>((
            state.store.instance_backlogs().await?,
            state.store.list_channels(Some(&row.id)).await?,
            state.store.list_instance_keys(&row.id).await?,
            state.store.last_delivery_failure(&row.id).await?,
        ))
    };
    let (backlogs, channels, keys, failure) = match read.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &session, e),
    };
    let backlog = backlogs
        .into_iter()
        .find(|b| b.instance_id == row.id.as_str())
        .unwrap_or_default();
    let subscribed = row.event_type_list();
    let last_failure = failure.map(|(status, error)| context! { status, error });
    let channels: Vec<_> = channels
        .into_iter()
        .map(|c| {
            context! {
                id => c.id.as_str(), kind => c.kind.as_str(), name => c.name,
                external_id => c.external_id, status => crate::channels::summary(c.status, c.send_state),
            }
        })
        .collect();
    let keys: Vec<_> = keys
        .into_iter()
        .map(|k| context! { kid => k.kid, alg => k.alg, public_key => k.public_key, created_at => k.created_at })
        .collect();
    page(
        state,
        &session,
        req,
        "instance.html",
        "instances",
        context! {
            instance => context! {
                id => row.id.as_str(), name => row.name, callback_url => row.callback_url,
                paused => row.delivery_paused_reason, created_at => row.created_at,
                updated_at => row.updated_at, all_types => subscribed.is_none(),
                subscribed => subscribed.clone().unwrap_or_default(),
            },
            types => type_choices(subscribed.as_deref()),
            backlog => context! {
                pending => backlog.pending, retrying => backlog.retrying, dead => backlog.dead,
                oldest_pending_at => backlog.oldest_pending_at,
            },
            last_failure, channels, keys,
            dead_url => url_with("/console/events", &[("instance", Some(row.id.as_str())), ("state", Some("dead"))]),
            events_url => url_with("/console/events", &[("instance", Some(row.id.as_str()))]),
            messages_url => url_with("/console/messages", &[("instance", Some(row.id.as_str()))]),
            audit_url => url_with("/console/audit", &[("instance", Some(row.id.as_str()))]),
        },
    )
}

/// `GET /console/instances/new`.
#[handler]
pub async fn new_form(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    page(
        state,
        &session,
        req,
        "instance_new.html",
        "instances",
        context! { types => type_choices(None) },
    )
}

/// `POST /console/instances`: creates an instance and shows its secret, once.
#[handler]
pub async fn create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let types = chosen_types(&fields);
    let created = instances::create_instance(
        &state.store,
        &state.vault,
        instances::NewInstance {
            name: fields.get("name").unwrap_or(""),
            callback_url: fields.get("callback_url").unwrap_or(""),
            event_types: types.as_deref(),
        },
        state.config.allow_private_callbacks,
        ACTOR,
    )
    .await;
    let (row, secret) = match created {
        Ok(r) => r,
        Err(e) => return refused(state, &session, &op_error(e), "/console/instances/new"),
    };
    secret_page(
        state,
        &session,
        &row,
        &secret,
        "Instance created",
        "This is the instance's signing secret. The bridge signs its callbacks with it and the instance signs its /v1 tokens with it. Store it now: it is never shown again (rotate it if it is lost).",
    )
}

/// The page that shows a signing secret, once (not stored by the browser: `no-store`).
pub(super) fn secret_page(
    state: &AppState,
    session: &Session,
    row: &InstanceRow,
    secret: &str,
    heading: &str,
    explain: &str,
) -> Response {
    let body = state.console.render(
        "secret.html",
        context! {
            csrf => session.csrf.clone(), signed_in => true, section => "instances", heading, explain, secret,
            instance => context! { id => row.id.as_str(), name => row.name.clone() },
        },
    );
    html(StatusCode::OK, body)
}
