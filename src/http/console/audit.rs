//! The audit log (P17), newest first, filtered by instance, action and actor, paged.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;
use poem::web::Data;
use poem::{Request, Response, handler};

use crate::http::AppState;

use super::render::{Query, page, url_with};
use super::session::signed_in;
use super::unavailable;

const PER_PAGE: i64 = 100;

/// `GET /console/audit`.
#[handler]
pub async fn list(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = Query::of(req);
    let instance = q.get("instance");
    let action = q.get("action");
    let actor = q.get("actor");
    let before = q.get("cursor").and_then(|c| c.parse::<i64>().ok());
    let read = async {
        Ok::<_, crate::store::StoreError>((
            state
                .store
                .list_audit(instance, action, before, PER_PAGE)
                .await?,
            state.store.list_instances().await?,
        ))
    };
    let (rows, instances) = match read.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &session, e),
    };
    let next_cursor = (rows.len() as i64 == PER_PAGE)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    let names: HashMap<&str, &str> = instances
        .iter()
        .map(|i| (i.id.as_str(), i.name.as_str()))
        .collect();
    // The actor filter applies to the page read (the log is read by instance and action).
    let items: Vec<_> = rows
        .iter()
        .filter(|r| actor.is_none_or(|a| r.actor == a))
        .map(|r| {
            context! {
                at => r.at, actor => r.actor, action => r.action, target => r.target,
                instance_id => r.instance_id,
                instance_name => r.instance_id.as_deref().and_then(|i| names.get(i).copied()),
                detail => r.detail,
            }
        })
        .collect();
    let filters = [("instance", instance), ("action", action), ("actor", actor)];
    let mut next = filters.to_vec();
    next.push(("cursor", next_cursor.as_deref()));
    let instance_options: Vec<_> = instances
        .iter()
        .map(|i| context! { id => i.id.as_str(), name => i.name.clone() })
        .collect();
    page(
        state,
        &session,
        req,
        "audit.html",
        "audit",
        context! {
            items, instance_options,
            f => context! { instance, action, actor },
            next_url => next_cursor.as_ref().map(|_| url_with("/console/audit", &next)),
            first_url => before.map(|_| url_with("/console/audit", &filters)),
        },
    )
}
