//! What the console changes on an instance: settings (name, callback URL, event types),
//! pausing and resuming delivery, rotating its secret, its verification keys, replaying its
//! dead letters, and deleting it after a confirmation. Each goes through the function the
//! admin API uses, audited as done by the console.

use std::sync::Arc;

use minijinja::context;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};

use crate::http::AppState;
use crate::http::admin::{register_key, remove_instance, retire_key};
use crate::http::api::{op_error, replay_dead_letters};
use crate::instances;

use super::instances::{chosen_types, instance_or_missing, secret_page};
use super::render::{page, redirect};
use super::session::{ACTOR, form, signed_in};
use super::{refused, unavailable};

fn back(id: &str) -> String {
    format!("/console/instances/{id}")
}

/// `POST /console/instances/:id/settings`: name, callback URL and event types.
#[handler]
pub async fn settings(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let types = chosen_types(&fields);
    let update = instances::InstanceUpdate {
        name: fields.get("name"),
        callback_url: fields.get("callback_url"),
        event_types: Some(types.as_deref()),
        resume_delivery: false,
    };
    match instances::update_instance(
        &state.store,
        &row.id,
        update,
        state.config.allow_private_callbacks,
        ACTOR,
    )
    .await
    {
        Ok(_) => redirect(&format!("{}?done=saved", back(&id))),
        Err(e) => refused(state, &session, &op_error(e), &back(&id)),
    }
}

/// `POST /console/instances/:id/delivery`: `action=pause` or `action=resume`.
#[handler]
pub async fn delivery(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let done = match fields.get("action") {
        Some("pause") => instances::pause_delivery(&state.store, &row.id, ACTOR)
            .await
            .map(|_| "paused"),
        Some("resume") => {
            let update = instances::InstanceUpdate {
                name: None,
                callback_url: None,
                event_types: None,
                resume_delivery: true,
            };
            let r = instances::update_instance(
                &state.store,
                &row.id,
                update,
                state.config.allow_private_callbacks,
                ACTOR,
            )
            .await
            .map(|_| "resumed");
            state.writer_wakeup();
            r
        }
        _ => return redirect(&format!("{}?err=invalid", back(&id))),
    };
    match done {
        Ok(done) => redirect(&format!("{}?done={done}", back(&id))),
        Err(e) => refused(state, &session, &op_error(e), &back(&id)),
    }
}

/// `POST /console/instances/:id/rotate-secret`: a new secret, shown once; the old one keeps
/// verifying the instance's tokens for the grace period chosen.
#[handler]
pub async fn rotate_secret(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let grace = fields
        .get("grace_seconds")
        .and_then(|g| g.parse::<u64>().ok())
        .unwrap_or(instances::DEFAULT_SECRET_GRACE_SECS);
    match instances::rotate_instance_secret(&state.store, &state.vault, &row.id, grace, ACTOR).await
    {
        Ok(secret) => {
            state.forget_instance_keys(&row.id).await;
            secret_page(
                state,
                &session,
                &row,
                &secret,
                "Secret rotated",
                "This is the instance's new signing secret: callbacks are signed with it from now on. Store it now: it is never shown again. The old secret keeps verifying the instance's own tokens for the grace period you chose.",
            )
        }
        Err(e) => refused(state, &session, &op_error(e), &back(&id)),
    }
}

/// `POST /console/instances/:id/keys`: registers a public key.
#[handler]
pub async fn add_key(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match register_key(
        state,
        &row.id,
        fields.get("kid").unwrap_or(""),
        fields.get("alg").unwrap_or(""),
        fields.get("public_key").unwrap_or(""),
        ACTOR,
    )
    .await
    {
        Ok(_) => redirect(&format!("{}?done=key_added#keys", back(&id))),
        Err(e) => refused(state, &session, &e, &back(&id)),
    }
}

/// `POST /console/instances/:id/keys/retire`: retires the key named by `kid`.
#[handler]
pub async fn retire_key_form(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    match retire_key(state, &id, fields.get("kid").unwrap_or(""), ACTOR).await {
        Ok(()) => redirect(&format!("{}?done=key_retired#keys", back(&id))),
        Err(e) => refused(state, &session, &e, &back(&id)),
    }
}

/// `POST /console/instances/:id/replay-dead`: every dead letter of the instance goes back in
/// the queue.
#[handler]
pub async fn replay_dead(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    // Back where the button was (the instance, or its dead letters), as a console path only.
    let to = fields
        .get("back")
        .filter(|b| b.starts_with("/console/") && !b.starts_with("//"))
        .map_or_else(|| back(&id), str::to_string);
    let sep = if to.contains('?') { '&' } else { '?' };
    match replay_dead_letters(state, Some(&row.id), ACTOR).await {
        Ok(0) => redirect(&format!("{to}{sep}done=none_replayed")),
        Ok(_) => redirect(&format!("{to}{sep}done=replayed_all")),
        Err(e) => refused(state, &session, &e, &back(&id)),
    }
}

/// `GET /console/instances/:id/delete`: what deleting means, and the confirmation.
#[handler]
pub async fn delete_confirm(
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
    let channels = match state.store.list_channels(Some(&row.id)).await {
        Ok(c) => c.len(),
        Err(e) => return unavailable(state, &session, e),
    };
    page(
        state,
        &session,
        req,
        "confirm.html",
        "instances",
        context! {
            heading => format!("Delete the instance {}?", row.name),
            explain => format!(
                "Its {channels} channel(s) are disconnected and their tokens deleted, and its events, dead letters, messages and keys are deleted. Meta's webhooks for its channels are no longer relayed. This cannot be undone."
            ),
            action => format!("/console/instances/{id}/delete"),
            confirm_label => "Type the instance's name to confirm",
            confirm_value => row.name,
            button => "Delete the instance",
            cancel_url => back(&id),
        },
    )
}

/// `POST /console/instances/:id/delete`: deletes it when the name typed matches.
#[handler]
pub async fn delete(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, fields) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let row = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if fields.get("confirm") != Some(row.name.trim()) {
        return redirect(&format!("/console/instances/{id}/delete?err=invalid"));
    }
    match remove_instance(state, &row.id, ACTOR).await {
        Ok(()) => redirect("/console/instances?done=deleted"),
        Err(e) => refused(state, &session, &e, &back(&id)),
    }
}
