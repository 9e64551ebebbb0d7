//! Submitting a send: the rules every new outbound message goes through before it is queued
//! (a use case over the store; the API's `POST /v1/messages` calls it and maps its errors).
//!
//! In order: the channel may send now (connection and send state); the request renders for
//! the channel's kind within Meta's limits; a WhatsApp template fits the channel's synced
//! template (see [`crate::templates`]); a free-form message is inside the contact's
//! messaging window; an Instagram / Messenger conversation another Meta app controls is refused
//! unless the request asks to take control first, and then control is taken before anything is
//! queued (see [`crate::handover`]); then the message is queued through the group-commit writer, once per
//! `Idempotency-Key` (the same key with the same request returns the first message, with
//! another request it is refused).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::channels::{self, ChannelKind, Connection, SendState};
use crate::handover::{Handover, HandoverError, SendCheck as ThreadCheck};
use crate::ids::{InstanceId, MessageId};
use crate::messages::model::content::OutboundMessage;
use crate::messages::model::{self, SendMessageRequest, Violation};
use crate::messages::templates::TemplateRefusal;
use crate::messages::window;
use crate::store::writer::Writer;
use crate::store::{ChannelRow, Enqueued, NewMessage, Store, StoreError};
use crate::templates::{SendCheck, Templates};

/// A send as an instance asked for it.
#[derive(Debug)]
pub struct Submission<'a> {
    pub instance_id: &'a InstanceId,
    /// The instance's channel the message goes out on (already checked to be the caller's).
    pub channel: &'a ChannelRow,
    pub request: &'a SendMessageRequest,
    /// The canonical JSON of `request` (what makes a retry "the same request").
    pub request_json: &'a Value,
    pub idempotency_key: Option<String>,
    pub now: i64,
    /// Checks template sends against the channel's synced templates; `None` skips the check.
    pub templates: Option<&'a Templates>,
    /// Checks (and takes) thread control on Instagram / Messenger; `None` skips the check.
    pub threads: Option<&'a Handover>,
}

/// Why a send was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The channel is disconnected: to the caller it no longer exists.
    #[error("the channel is disconnected")]
    ChannelGone,
    /// The channel is connected but cannot send now (`state` as the API shows it).
    #[error("the channel is {state} and cannot send now")]
    ChannelUnavailable {
        state: &'static str,
        /// When paused sends resume (unix ms).
        resume_at: Option<i64>,
    },
    /// The request breaks one of Meta's rules for this kind of channel.
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(Violation),
    /// A template send that does not fit the channel's template (the rule that failed).
    #[error("{}: {}", .0.field, .0.message)]
    Template(TemplateRefusal),
    /// A free-form message outside the contact's messaging window.
    #[error("the messaging window with this contact is closed")]
    WindowClosed(ChannelKind),
    /// Another Meta app controls the conversation (its id when known; since when, unix ms).
    #[error("another app controls this conversation")]
    ThreadNotOwned {
        owner_app_id: Option<String>,
        since: i64,
    },
    /// The request asked to take control of the conversation first, and that failed: nothing
    /// was queued.
    #[error("taking control of the conversation failed: {0}")]
    TakeFailed(HandoverError),
    /// The `Idempotency-Key` was used with another request.
    #[error("the idempotency key was used with a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer did not commit the message (shutting down, or the database failed).
    #[error("the message could not be queued")]
    NotQueued,
}

/// What happened to a submitted send.
#[derive(Debug)]
pub enum Submitted {
    /// Queued now.
    Created(Box<NewMessage>),
    /// Queued before under the same `Idempotency-Key` and request: that message's id.
    Existing(MessageId),
}

/// Checks and queues one send (see the module docs for the order of the rules).
pub async fn submit(
    store: &Store,
    writer: &Writer,
    s: Submission<'_>,
) -> Result<Submitted, SubmitError> {
    let channel = s.channel;
    if channel.status == Connection::Disconnected {
        return Err(SubmitError::ChannelGone);
    }
    if !channels::can_send(channel.status, channel.send_state) {
        return Err(SubmitError::ChannelUnavailable {
            state: channels::summary(channel.status, channel.send_state),
            resume_at: channel
                .send_paused_until
                .filter(|_| channel.send_state == SendState::Paused),
        });
    }
    let kind = channel.kind;
    let id = MessageId::new();
    let rendered = model::render(kind, s.request, id.as_str()).map_err(SubmitError::Invalid)?;
    if let (Some(templates), OutboundMessage::Template(m)) = (s.templates, &s.request.message)
        && let SendCheck::Refused(r) = templates.check(channel, m).await?
    {
        // A retry of a send queued before the template changed answers the original message.
        if let Some(existing) = existing_for_key(store, &s).await? {
            return Ok(existing);
        }
        return Err(SubmitError::Template(r));
    }
    let recipient = rendered_recipient(kind, &rendered.body, &s.request.to);
    let is_group = rendered.body.get("recipient_type").and_then(Value::as_str) == Some("group");
    if rendered.free_form
        && !s.request.ignore_window.unwrap_or(false)
        && !is_group
        && let Some(allowed) = window::allowed_ms(kind, s.request.tag)
    {
        let last = store.last_inbound(&channel.id, &recipient).await?;
        if !window::is_open(last, allowed, s.now) {
            return Err(SubmitError::WindowClosed(kind));
        }
    }
    if let Some(threads) = s.threads
        && kind != ChannelKind::Whatsapp
        && !is_group
        && let ThreadCheck::NotOwned {
            owner_app_id,
            since,
        } = threads.check_send(channel, &recipient).await?
    {
        // A retry of a send already queued answers that message: control is not taken again.
        if let Some(existing) = existing_for_key(store, &s).await? {
            return Ok(existing);
        }
        if !s.request.take_thread_control.unwrap_or(false) {
            return Err(SubmitError::ThreadNotOwned {
                owner_app_id,
                since,
            });
        }
        threads
            .take(channel, &recipient, None)
            .await
            .map_err(SubmitError::TakeFailed)?;
    }
    let msg = NewMessage {
        id,
        instance_id: s.instance_id.clone(),
        channel_id: channel.id.clone(),
        recipient,
        message_type: rendered.message_type.to_string(),
        body: rendered.body.to_string(),
        expects_message_id: rendered.expects_message_id,
        client_reference: s.request.client_reference.clone(),
        idempotency_key: s.idempotency_key,
        request_hash: request_hash(s.request_json),
        created_at: s.now,
    };
    let outcome = writer
        .enqueue(vec![msg.clone()])
        .await
        .map_err(|_| SubmitError::NotQueued)?;
    match outcome.into_iter().next() {
        Some(Enqueued::Created(_)) => Ok(Submitted::Created(Box::new(msg))),
        Some(Enqueued::Existing {
            id,
            same_request: true,
        }) => Ok(Submitted::Existing(id)),
        Some(Enqueued::Existing {
            same_request: false,
            ..
        }) => Err(SubmitError::KeyReused),
        None => Err(SubmitError::NotQueued),
    }
}

/// The message already queued under the request's `Idempotency-Key` (`KeyReused` when the key
/// came with another request), if any.
async fn existing_for_key(
    store: &Store,
    s: &Submission<'_>,
) -> Result<Option<Submitted>, SubmitError> {
    let Some(key) = s.idempotency_key.as_deref() else {
        return Ok(None);
    };
    let Some((id, hash)) = store.message_by_idempotency_key(s.instance_id, key).await? else {
        return Ok(None);
    };
    if hash != request_hash(s.request_json) {
        return Err(SubmitError::KeyReused);
    }
    Ok(MessageId::try_from(id).ok().map(Submitted::Existing))
}

/// A digest of the request as parsed (field order and whitespace do not matter).
fn request_hash(request_json: &Value) -> String {
    let canonical = model::request_fingerprint(request_json);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The recipient as the rendered body names it.
fn rendered_recipient(kind: ChannelKind, body: &Value, fallback: &str) -> String {
    let v = match kind {
        ChannelKind::Whatsapp => body.get("to").or_else(|| body.get("recipient")),
        _ => body.get("recipient").and_then(|r| r.get("id")),
    };
    v.and_then(Value::as_str).unwrap_or(fallback).to_string()
}
