//! An instance's channels: kind, connection and send state with their reasons, token expiry,
//! quality and messaging-limit tier, send rate, last inbound and outbound traffic; making a
//! connect link; a channel's diagnosis against Meta ([`crate::doctor`]); disconnecting one
//! (after a confirmation).

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};

use crate::channels::ChannelKind;
use crate::http::AppState;
use crate::http::connect_api::create_connect_session;
use crate::ids::ChannelId;
use crate::instances::DisconnectBy;

use super::instances::instance_or_missing;
use super::render::page;
use super::session::{ACTOR, form, signed_in};
use super::{missing, refused, unavailable};

/// `GET /console/instances/:id/channels`.
#[handler]
pub async fn list(Path(id): Path<String>, state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let instance = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let read = async {
        Ok::<_, crate::store::StoreError>((
            state.store.list_channels(Some(&instance.id)).await?,
            state.store.channel_activity(Some(&instance.id)).await?,
            state.store.instance_return_origins(&instance.id).await?,
        ))
    };
    let (rows, activity, origins) = match read.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &session, e),
    };
    let activity: HashMap<String, crate::store::ChannelActivity> = activity
        .into_iter()
        .map(|a| (a.channel_id.clone(), a))
        .collect();
    let cfg = &state.config;
    let items: Vec<_> = rows
        .into_iter()
        .map(|c| {
            let a = activity.get(c.id.as_str()).cloned().unwrap_or_default();
            let default_rate = match c.kind {
                ChannelKind::Whatsapp => cfg.sending.whatsapp_rate,
                _ => cfg.sending.messenger_rate,
            };
            context! {
                id => c.id.as_str(), kind => c.kind.as_str(), name => c.name,
                external_id => c.external_id, waba_id => c.waba_id,
                connection => c.status.api_name(), status_reason => c.status_reason,
                send_state => c.send_state.as_str(), send_reason => c.send_reason,
                send_paused_until => c.send_paused_until,
                summary => crate::channels::summary(c.status, c.send_state),
                token_expires_at => a.token_expires_at, has_token => c.token_enc.is_some(),
                quality => c.quality_event, tier => c.messaging_limit_tier,
                rate => c.rate_limit, default_rate, login => c.login,
                last_inbound_at => a.last_inbound_at, last_outbound_at => a.last_outbound_at,
                disconnected => c.status == crate::channels::Connection::Disconnected,
            }
        })
        .collect();
    let connect_configured = cfg.connect.app_id.is_some();
    page(
        state,
        &session,
        req,
        "channels.html",
        "instances",
        context! {
            instance => context! { id => instance.id.as_str(), name => instance.name },
            items, connect_configured,
            return_origin => origins.and_then(|o| o.into_iter().next()),
        },
    )
}

/// `POST /console/instances/:id/connect-link`: a one-time connect link, shown on the page.
#[handler]
pub async fn connect_link(
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
    let instance = match instance_or_missing(state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let back = format!("/console/instances/{id}/channels");
    let made = create_connect_session(
        state,
        &instance.id,
        fields.get("kind").unwrap_or(""),
        fields.get("return_url").unwrap_or(""),
        None,
    )
    .await;
    match made {
        Ok((row, url)) => {
            let _ = state
                .store
                .audit(
                    ACTOR,
                    "connect_session.created",
                    instance.id.as_str(),
                    Some(&row.id),
                )
                .await;
            page(
                state,
                &session,
                req,
                "confirm.html",
                "instances",
                context! {
                    heading => "Connect link made",
                    explain => "Send this link to the person who manages the account. It works once, until it expires; the channel appears on this instance when they finish.",
                    link => url, expires_at => row.expires_at, cancel_url => back,
                },
            )
        }
        Err(e) => refused(state, &session, &e, &back),
    }
}

/// `GET /console/channels/:id/diagnosis`: the channel checked against Meta, as
/// `metabridge doctor` prints it (read-only; asks Meta on each load).
#[handler]
pub async fn diagnosis(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    use crate::doctor::Verdict;
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(channel_id) = ChannelId::parse(&id) else {
        return missing(state, &session);
    };
    let row = match state.store.get_channel(&channel_id, None).await {
        Ok(Some(r)) => r,
        Ok(None) => return missing(state, &session),
        Err(e) => return unavailable(state, &session, e),
    };
    let d = match state.doctor.diagnose(&channel_id).await {
        Ok(Some(d)) => d,
        Ok(None) => return missing(state, &session),
        Err(e) => return unavailable(state, &session, format!("{e:#}")),
    };
    let count = |v: Verdict| d.checks.iter().filter(|c| c.verdict == v).count();
    let checks: Vec<_> = d
        .checks
        .iter()
        .map(|c| {
            let tone = match c.verdict {
                Verdict::Pass => "good",
                Verdict::Warn => "warn",
                Verdict::Fail => "bad",
                Verdict::Skip => "",
            };
            context! { check => c.check, verdict => c.verdict.as_str(), tone, summary => &c.summary, fix => &c.fix }
        })
        .collect();
    page(
        state,
        &session,
        req,
        "diagnosis.html",
        "instances",
        context! {
            channel => context! {
                id => row.id.as_str(), kind => row.kind.as_str(), instance_id => row.instance_id.as_str(),
                label => row.name.clone().unwrap_or_else(|| row.external_id.clone()),
            },
            healthy => d.healthy, failed => count(Verdict::Fail), warned => count(Verdict::Warn),
            checked_at => d.checked_at, checks,
        },
    )
}

/// `GET /console/channels/:id/disconnect`: the confirmation.
#[handler]
pub async fn disconnect_confirm(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(channel_id) = ChannelId::parse(&id) else {
        return missing(state, &session);
    };
    let row = match state.store.get_channel(&channel_id, None).await {
        Ok(Some(r)) => r,
        Ok(None) => return missing(state, &session),
        Err(e) => return unavailable(state, &session, e),
    };
    let label = row.name.clone().unwrap_or_else(|| row.external_id.clone());
    page(
        state,
        &session,
        req,
        "confirm.html",
        "instances",
        context! {
            heading => format!("Disconnect the {} channel {label}?", row.kind.as_str()),
            explain => "Its access token is deleted, its webhooks are no longer relayed and its queued sends fail. The instance receives channel.disconnected. To use it again, connect it again.",
            action => format!("/console/channels/{id}/disconnect"),
            button => "Disconnect the channel",
            cancel_url => format!("/console/instances/{}/channels", row.instance_id),
        },
    )
}

/// `POST /console/channels/:id/disconnect`.
#[handler]
pub async fn disconnect(
    Path(id): Path<String>,
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let state: &AppState = &state;
    let (session, _) = match form(state, req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Ok(channel_id) = ChannelId::parse(&id) else {
        return missing(state, &session);
    };
    let row = match state.store.get_channel(&channel_id, None).await {
        Ok(Some(r)) => r,
        Ok(None) => return missing(state, &session),
        Err(e) => return unavailable(state, &session, e),
    };
    let back = format!("/console/instances/{}/channels", row.instance_id);
    match state
        .disconnect_channel(&channel_id, None, DisconnectBy::Operator(ACTOR))
        .await
    {
        Ok(()) => super::render::redirect(&format!("{back}?done=disconnected")),
        Err(e) => refused(state, &session, &e, &back),
    }
}
