//! Outbound messages: an instance's, filtered by channel and status (newest first, paged),
//! and one message with its status history and Meta's error — the view the instance API
//! gives, rendered.

use std::sync::Arc;

use minijinja::context;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use crate::http::AppState;
use crate::http::messages::MessageView;
use crate::ids::{ChannelId, InstanceId, MessageId};

use super::render::{Query, page, url_with};
use super::session::signed_in;
use super::{missing, unavailable};

const PER_PAGE: i64 = 50;
const STATES: [&str; 7] = [
    "queued",
    "sending",
    "unconfirmed",
    "sent",
    "delivered",
    "read",
    "failed",
];

/// `GET /console/messages`.
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
    let instance_id = q.get("instance").and_then(|i| InstanceId::parse(i).ok());
    let channel = q.get("channel");
    let channel_id = channel.and_then(|c| ChannelId::parse(c).ok());
    let status = q.get("status").filter(|s| STATES.contains(s));
    let before = q.get("cursor").and_then(|c| c.parse::<i64>().ok());
    let (rows, channels) = match &instance_id {
        // A channel filter that is not a channel id matches nothing.
        Some(i) if channel.is_none() || channel_id.is_some() => {
            let read = async {
                Ok::<_, crate::store::StoreError>((
                    state
                        .store
                        .list_messages(i, channel_id.as_ref(), status, before, PER_PAGE)
                        .await?,
                    state.store.list_channels(Some(i)).await?,
                ))
            };
            match read.await {
                Ok(r) => r,
                Err(e) => return unavailable(state, &session, e),
            }
        }
        _ => (Vec::new(), Vec::new()),
    };
    let next_cursor = (rows.len() as i64 == PER_PAGE)
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let filters = [
        ("instance", instance_id.as_ref().map(InstanceId::as_str)),
        ("channel", channel),
        ("status", status),
    ];
    let mut next = filters.to_vec();
    next.push(("cursor", next_cursor.as_deref()));
    let items: Vec<MessageView> = rows.into_iter().map(MessageView::from).collect();
    let items: Vec<_> = items
        .into_iter()
        .map(|m| {
            context! {
                id => m.id, channel_id => m.channel_id, to => m.to, message_type => m.message_type,
                status => m.status.as_str(), created_at => m.created_at, attempts => m.attempts,
                error => m.error.map(|e| format!("{}: {}", e.code, e.reason)),
                client_reference => m.client_reference,
            }
        })
        .collect();
    let instance_options: Vec<_> = instances
        .iter()
        .map(|i| context! { id => i.id.as_str(), name => i.name.clone() })
        .collect();
    let channel_options: Vec<_> = channels
        .iter()
        .map(|c| {
            context! {
                id => c.id.as_str(),
                label => format!("{} {}", c.kind.as_str(), c.name.clone().unwrap_or_else(|| c.external_id.clone())),
            }
        })
        .collect();
    page(
        state,
        &session,
        req,
        "messages.html",
        "messages",
        context! {
            items, instance_options, channel_options, states => STATES,
            f => context! { instance => instance_id.as_ref().map(InstanceId::as_str), channel, status },
            chosen => instance_id.is_some(),
            next_url => next_cursor.as_ref().map(|_| url_with("/console/messages", &next)),
            first_url => before.map(|_| url_with("/console/messages", &filters)),
        },
    )
}

/// `GET /console/messages/:id`.
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
    let Ok(message_id) = MessageId::parse(&id) else {
        return missing(state, &session);
    };
    let row = match state.store.get_message(&message_id, None).await {
        Ok(Some(r)) => r,
        Ok(None) => return missing(state, &session),
        Err(e) => return unavailable(state, &session, e),
    };
    let instance_id = row.instance_id.as_str().to_string();
    let m = MessageView::from(row);
    let statuses: Vec<_> = m
        .statuses
        .iter()
        .map(|s| context! { status => s.status, at => s.at, error_code => s.error_code })
        .collect();
    page(
        state,
        &session,
        req,
        "message.html",
        "messages",
        context! {
            m => context! {
                id => m.id, instance_id, channel_id => m.channel_id, to => m.to,
                message_type => m.message_type, status => m.status.as_str(),
                meta_message_id => m.meta_message_id, recipient_wa_id => m.recipient_wa_id,
                client_reference => m.client_reference, attempts => m.attempts,
                created_at => m.created_at, updated_at => m.updated_at,
                next_attempt_at => m.next_attempt_at, sent_at => m.sent_at,
                delivered_at => m.delivered_at, read_at => m.read_at, failed_at => m.failed_at,
                error => m.error.map(|e| context! {
                    code => e.code, meta_code => e.meta_code, meta_subcode => e.meta_subcode,
                    reason => e.reason,
                }),
            },
            statuses,
        },
    )
}
