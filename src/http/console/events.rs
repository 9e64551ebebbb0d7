//! Events: the log filtered by instance, channel, type, state and time (newest first, paged),
//! one event with its envelope (while its content is stored) and every delivery attempt, and
//! replaying a dead letter.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use crate::events::parse::types;
use crate::http::AppState;
use crate::http::api::replay_one;
use crate::ids::{EventId, InstanceId};
use crate::store::{EventFilter, EventMeta};

use super::render::{Query, page, redirect, url_with};
use super::session::{ACTOR, form, signed_in};
use super::{missing, refused, unavailable};

const PER_PAGE: i64 = 50;
const STATES: [&str; 4] = ["pending", "delivered", "dead", "unroutable"];

/// A time typed in a filter (`YYYY-MM-DDTHH:MM`, the viewer's local time) as unix ms; `tz`
/// is the viewer's offset in minutes as the console's script sends it (UTC − local, as
/// JavaScript's `getTimezoneOffset`); without it the time is UTC.
pub(super) fn parse_local_time(value: Option<&str>, tz: Option<&str>) -> Option<i64> {
    let v = value?;
    let t = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let offset_min = tz
        .and_then(|z| z.parse::<i64>().ok())
        .filter(|z| z.abs() <= 24 * 60)
        .unwrap_or(0);
    Some(t.and_utc().timestamp_millis() + offset_min * 60_000)
}

/// An event as the list shows it.
#[derive(Serialize)]
struct Row {
    id: String,
    event_type: String,
    state: String,
    instance_id: Option<String>,
    instance_name: Option<String>,
    channel_id: Option<String>,
    channel_kind: Option<String>,
    received_at: i64,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
}

fn row(e: EventMeta, names: &HashMap<String, String>) -> Row {
    Row {
        instance_name: e.instance_id.as_ref().and_then(|i| names.get(i).cloned()),
        id: e.id,
        event_type: e.event_type,
        state: e.state,
        instance_id: e.instance_id,
        channel_id: e.channel_id,
        channel_kind: e.channel_kind,
        received_at: e.received_at,
        attempts: e.attempts,
        last_status: e.last_status,
        last_error: e.last_error,
    }
}

/// `GET /console/events`.
#[handler]
pub async fn list(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = Query::of(req);
    let instances = match state.store.list_instances().await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &session, e),
    };
    let names: HashMap<String, String> = instances
        .iter()
        .map(|i| (i.id.as_str().to_string(), i.name.clone()))
        .collect();
    let instance = q.get("instance");
    let instance_id = instance.and_then(|i| InstanceId::parse(i).ok());
    let state_filter = q.get("state").filter(|s| STATES.contains(s));
    let event_type = q.get("type");
    let channel = q.get("channel");
    let from = parse_local_time(q.get("from"), q.get("tz"));
    let to = parse_local_time(q.get("to"), q.get("tz"));
    let before_seq = q.get("cursor").and_then(|c| c.parse::<i64>().ok());
    // A filter that names no instance of ours matches nothing.
    let rows = if instance.is_some() && instance_id.is_none() {
        Vec::new()
    } else {
        let filter = EventFilter {
            instance_id: instance_id.as_ref(),
            state: state_filter,
            event_type,
            channel_id: channel,
            received_from: from,
            received_to: to,
            before_seq,
            limit: PER_PAGE,
        };
        match state.store.list_events(&filter).await {
            Ok(r) => r,
            Err(e) => return unavailable(state, &session, e),
        }
    };
    let next_cursor = (rows.len() as i64 == PER_PAGE)
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let filters: Vec<(&str, Option<&str>)> = vec![
        ("instance", instance),
        ("channel", channel),
        ("type", event_type),
        ("state", state_filter),
        ("from", q.get("from")),
        ("to", q.get("to")),
        ("tz", q.get("tz")),
    ];
    let mut next = filters.clone();
    next.push(("cursor", next_cursor.as_deref()));
    let items: Vec<Row> = rows.into_iter().map(|e| row(e, &names)).collect();
    let instance_options: Vec<_> = instances
        .iter()
        .map(|i| context! { id => i.id.as_str(), name => i.name.clone() })
        .collect();
    let type_options: Vec<&str> = types::ALL
        .iter()
        .chain(types::BRIDGE.iter())
        .copied()
        .collect();
    let replay_instance = (state_filter == Some("dead"))
        .then_some(instance_id.as_ref())
        .flatten();
    page(
        state,
        &session,
        req,
        "events.html",
        "events",
        context! {
            items,
            f => context! {
                instance, channel, event_type, state => state_filter,
                from => q.get("from"), to => q.get("to"),
            },
            instance_name => instance.and_then(|i| names.get(i).cloned()),
            instance_options, type_options, states => STATES,
            next_url => next_cursor.as_ref().map(|_| url_with("/console/events", &next)),
            first_url => before_seq.map(|_| url_with("/console/events", &filters)),
            replay_dead_action => replay_instance.map(|i| format!("/console/instances/{i}/replay-dead")),
            here => req.uri().path_and_query().map(|p| p.as_str().to_string()),
        },
    )
}

/// `GET /console/events/:id`.
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
    let Ok(event_id) = EventId::parse(&id) else {
        return missing(state, &session);
    };
    let read = async {
        let Some(ev) = state.store.get_event(&event_id, None).await? else {
            return Ok(None);
        };
        let attempts = state.store.list_attempts(&event_id, None).await?;
        let content = if ev.has_content != 0 {
            state.store.event_content(&event_id).await?
        } else {
            None
        };
        let instance = match ev.instance_id.as_deref().map(InstanceId::parse) {
            Some(Ok(i)) => state.store.get_instance(&i).await?,
            _ => None,
        };
        Ok::<_, crate::store::StoreError>(Some((ev, attempts, content, instance)))
    };
    let (ev, attempts, content, instance) = match read.await {
        Ok(Some(r)) => r,
        Ok(None) => return missing(state, &session),
        Err(e) => return unavailable(state, &session, e),
    };
    // The envelope exactly as the instance receives it, while the content is stored.
    let envelope = content.as_ref().and_then(|c| {
        let stored = crate::events::StoredEvent {
            id: &ev.id,
            event_type: &ev.event_type,
            instance_id: ev.instance_id.as_deref().unwrap_or(""),
            channel_id: ev.channel_id.as_deref(),
            channel_kind: ev.channel_kind.as_deref(),
            channel_external_id: &ev.channel_external_id,
            conversation_id: &ev.conversation_id,
            occurred_at: ev.occurred_at,
            received_at: ev.received_at,
            contact: c.contact.as_deref(),
            data: c.data.as_deref(),
            raw: c.raw.as_deref(),
        };
        let bytes = crate::events::render_envelope(&stored).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        serde_json::to_string_pretty(&v).ok()
    });
    let attempts: Vec<_> = attempts
        .into_iter()
        .map(|a| {
            context! {
                attempt => a.attempt, at => a.attempted_at, status => a.status_code,
                latency_ms => a.latency_ms, error => a.error, next_at => a.next_attempt_at,
            }
        })
        .collect();
    page(
        state,
        &session,
        req,
        "event.html",
        "events",
        context! {
            ev => context! {
                id => ev.id, event_type => ev.event_type, state => ev.state,
                instance_id => ev.instance_id, channel_id => ev.channel_id,
                channel_kind => ev.channel_kind, channel_external_id => ev.channel_external_id,
                conversation_id => ev.conversation_id, occurred_at => ev.occurred_at,
                received_at => ev.received_at, attempts => ev.attempts,
                next_attempt_at => (ev.state == "pending").then_some(ev.next_attempt_at),
                delivered_at => ev.delivered_at, dead_at => ev.dead_at,
                last_status => ev.last_status, last_error => ev.last_error,
                has_content => ev.has_content != 0,
            },
            instance_name => instance.map(|i| i.name),
            replayable => ev.state == "dead" && ev.has_content != 0,
            envelope, attempts,
        },
    )
}

/// `POST /console/events/:id/replay`.
#[handler]
pub async fn replay(
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
    let back = format!("/console/events/{id}");
    match replay_one(state, &id, None).await {
        Ok(_) => {
            let _ = state.store.audit(ACTOR, "event.replayed", &id, None).await;
            redirect(&format!("{back}?done=replayed"))
        }
        Err(e) => refused(state, &session, &e, &back),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_times_are_the_viewers_local_time() {
        // 2025-11-24 17:00 in UTC+1 (offset −60) is 16:00 UTC.
        assert_eq!(
            parse_local_time(Some("2025-11-24T17:00"), Some("-60")),
            Some(1_764_000_000_000)
        );
        assert_eq!(
            parse_local_time(Some("2025-11-24T16:00:00"), None),
            Some(1_764_000_000_000)
        );
        assert_eq!(parse_local_time(Some("yesterday"), None), None);
        assert_eq!(
            parse_local_time(Some("2025-11-24T16:00"), Some("99999")),
            Some(1_764_000_000_000),
            "an impossible offset is ignored"
        );
    }
}
