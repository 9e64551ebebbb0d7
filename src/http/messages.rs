//! `POST /v1/messages` and friends: validate a send against Meta's limits and the contact's
//! customer-service window, queue it durably (idempotently), answer 202 with its id, and
//! report its state.

use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::AppState;
use super::api::{InstanceAuth, Tag, page_cursor, page_limit};
use super::errors::{ApiError, codes};
use crate::channels::ChannelKind;
use crate::ids::{ChannelId, InstanceId, MessageId};
use crate::messages::lifecycle::Phase;
use crate::messages::model::SendMessageRequest;
use crate::messages::submit::{self, Submission, SubmitError, Submitted};
use crate::store::{MessageRow, NewMessage};

/// A waiting send reads its message again this often even without a notice: notices are
/// hints and can be lost (a write by another process on SQLite, the CLI; a break in a
/// replica's `LISTEN` connection before it noticed).
const SAFETY_REREAD: Duration = Duration::from_secs(5);

/// Longest `wait` a caller may ask for, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A Meta error or the bridge's reason a message failed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MessageError {
    /// Meta's error code as text (`131047`), or the bridge's own: `unknown_outcome` (the
    /// Graph call timed out after the request was sent and no status confirmed it),
    /// `retries_exhausted`, `channel_disconnected`, `content_missing`.
    pub code: String,
    /// Meta's numeric code, when Meta gave one.
    pub meta_code: Option<i64>,
    pub meta_subcode: Option<i64>,
    /// A readable reason.
    pub reason: String,
}

/// One entry of a message's status history.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StatusEntry {
    /// `accepted` (Graph API answered 200), `sent`, `delivered`, `read`, `played`, `failed`
    /// (from Meta's status webhooks), or the bridge's `retrying`, `unconfirmed`, `held`.
    pub status: String,
    pub at: String,
    /// The error code that came with it, if any.
    pub error_code: Option<String>,
}

/// An outbound message and where it is.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MessageView {
    /// The bridge's message id (also Meta's `biz_opaque_callback_data`).
    pub id: String,
    pub channel_id: String,
    /// The recipient as sent to Meta (normalised).
    pub to: String,
    /// The message type (`text`, `template`, `image`, …, `mark_read`, `typing_on`).
    #[oai(rename = "type")]
    pub message_type: String,
    /// Where the message is; it only moves forward.
    pub status: Phase,
    /// Meta's message id (`wamid.…` or `m_…`) once accepted.
    pub meta_message_id: Option<String>,
    /// The recipient's WhatsApp id as Meta normalised it, when it said.
    pub recipient_wa_id: Option<String>,
    pub client_reference: Option<String>,
    /// Why it failed (or the last retryable error while it is retried).
    pub error: Option<MessageError>,
    /// Graph API calls made for it so far.
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
    /// When the next attempt is due (queued messages).
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
    pub failed_at: Option<String>,
    /// Every status recorded, oldest first.
    pub statuses: Vec<StatusEntry>,
}

impl From<MessageRow> for MessageView {
    fn from(r: MessageRow) -> Self {
        let statuses: Vec<Value> = serde_json::from_str(&r.statuses).unwrap_or_default();
        let error = r.error_title.clone().map(|code| MessageError {
            code,
            meta_code: r.error_code,
            meta_subcode: r.error_subcode,
            reason: r.error_reason.clone().unwrap_or_default(),
        });
        Self {
            next_attempt_at: (r.state == Phase::Queued)
                .then(|| crate::ms_to_rfc3339(r.next_attempt_at)),
            id: r.id.into_string(),
            channel_id: r.channel_id.into_string(),
            to: r.recipient,
            message_type: r.message_type,
            status: r.state,
            meta_message_id: r.meta_message_id,
            recipient_wa_id: r.recipient_wa_id,
            client_reference: r.client_reference,
            error,
            attempts: r.attempts,
            created_at: crate::ms_to_rfc3339(r.created_at),
            updated_at: crate::ms_to_rfc3339(r.updated_at),
            sent_at: r.sent_at.map(crate::ms_to_rfc3339),
            delivered_at: r.delivered_at.map(crate::ms_to_rfc3339),
            read_at: r.read_at.map(crate::ms_to_rfc3339),
            failed_at: r.failed_at.map(crate::ms_to_rfc3339),
            statuses: statuses
                .into_iter()
                .map(|s| StatusEntry {
                    status: s["status"].as_str().unwrap_or("").to_string(),
                    at: s["at"].as_str().unwrap_or("").to_string(),
                    error_code: s["error_code"].as_str().map(str::to_string),
                })
                .collect(),
        }
    }
}

impl MessageView {
    /// The view of a message that was just queued (what `GET` would show).
    fn queued(m: &NewMessage) -> Self {
        let at = crate::ms_to_rfc3339(m.created_at);
        Self {
            id: m.id.to_string(),
            channel_id: m.channel_id.to_string(),
            to: m.recipient.clone(),
            message_type: m.message_type.clone(),
            status: Phase::Queued,
            meta_message_id: None,
            recipient_wa_id: None,
            client_reference: m.client_reference.clone(),
            error: None,
            attempts: 0,
            created_at: at.clone(),
            updated_at: at.clone(),
            next_attempt_at: Some(at),
            sent_at: None,
            delivered_at: None,
            read_at: None,
            failed_at: None,
            statuses: Vec::new(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum SendResponse {
    /// Queued durably; `status` tells how far it got (with `wait`, it may already be `sent`
    /// or `failed`).
    #[oai(status = 202)]
    Accepted(Json<MessageView>),
    /// A retry with an `Idempotency-Key` already used with the same body: the original
    /// message, never a second send.
    #[oai(status = 200)]
    Existing(Json<MessageView>),
}

/// A page of messages, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub struct MessagesApi;

fn not_found() -> ApiError {
    ApiError::not_found(codes::MESSAGE_NOT_FOUND, "No message with that id.")
}

fn channel_not_found() -> ApiError {
    ApiError::not_found(codes::CHANNEL_NOT_FOUND, "No channel with that id.")
}

/// The request's `Idempotency-Key`, read from the raw headers: poem-openapi's `Header`
/// extractor silently drops a value that is not visible ASCII, which would turn a retry with
/// such a key into a second send. A key that is not 1–255 visible ASCII characters, or more
/// than one `Idempotency-Key` header, is refused.
fn idempotency_key(req: &poem::Request) -> Result<Option<String>, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            codes::IDEMPOTENCY_KEY_INVALID,
            format!(
                "Send one Idempotency-Key of 1–{MAX_IDEMPOTENCY_KEY} visible ASCII characters."
            ),
        )
    };
    let mut values = req.headers().get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let key = std::str::from_utf8(value.as_bytes()).map_err(|_| invalid())?;
    validate_idempotency_key(Some(key))
}

fn validate_idempotency_key(key: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(ApiError::bad_request(
            codes::IDEMPOTENCY_KEY_INVALID,
            format!("Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY} visible ASCII characters."),
        ));
    }
    Ok(Some(key.to_string()))
}

/// The answer to a send the rules refused.
fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::ChannelGone => channel_not_found(),
        SubmitError::ChannelUnavailable { state, resume_at } => {
            let until = resume_at
                .map(|t| format!(" Sends resume at {}.", crate::ms_to_rfc3339(t)))
                .unwrap_or_default();
            ApiError::conflict(
                codes::CHANNEL_UNAVAILABLE,
                format!(
                    "The channel is {state} and cannot send now (see GET /v1/channels/{{id}}).{until}"
                ),
            )
        }
        SubmitError::Invalid(v) => ApiError::rule(&v.field, v.rule, v.message),
        SubmitError::Template(r) => ApiError::template(&r.field, r.rule, r.message),
        SubmitError::WindowClosed(kind) => ApiError::unprocessable(
            codes::WINDOW_CLOSED,
            Some("to"),
            match kind {
                ChannelKind::Whatsapp => {
                    "The customer-service window with this contact is closed (no message from them in the \
                     last 24 hours). Send a template, or set `ignore_window` if the bridge's view is incomplete."
                }
                _ => {
                    "The messaging window with this contact is closed (no message from them in the last \
                     24 hours; 7 days with the human_agent tag). Set `ignore_window` if the bridge's view \
                     is incomplete."
                }
            },
        ),
        SubmitError::ThreadNotOwned {
            owner_app_id,
            since,
        } => {
            let who = owner_app_id
                .as_deref()
                .map(|a| format!("Meta app {a}"))
                .unwrap_or_else(|| "another Meta app".to_owned());
            ApiError::thread_not_owned(
                owner_app_id.clone(),
                format!(
                    "{who} controls this conversation since {} (Meta's handover protocol); nothing \
                     was queued. Set `take_thread_control` to take control first, or ask for it with \
                     POST /v1/channels/{{id}}/threads/{{contact}}/request.",
                    crate::ms_to_rfc3339(since)
                ),
            )
        }
        SubmitError::TakeFailed(e) => {
            super::threads::handover_error(e, "taking control of the conversation")
        }
        SubmitError::KeyReused => ApiError::conflict(
            codes::IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was used with a different request.",
        ),
        SubmitError::Store(e) => ApiError::store("queue message", e),
        SubmitError::NotQueued => ApiError::not_committed("queue message"),
    }
}

async fn wait_until_settled(
    state: &AppState,
    id: &MessageId,
    instance_id: &InstanceId,
    secs: u64,
) -> Option<MessageRow> {
    use crate::store::SettledNotice;
    use tokio::sync::broadcast::error::RecvError;
    // Subscribed before the first read: a commit after that read is never missed.
    let mut notices = state.store.subscribe_settled();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    // How the read that follows was prompted (for `metabridge_send_waits_total`).
    let mut prompted_by = "immediately";
    loop {
        let row = state
            .store
            .get_message(id, Some(instance_id))
            .await
            .ok()
            .flatten();
        let Some(r) = &row else {
            // Deleted with its instance meanwhile (or not readable): nothing to wait for.
            state.metrics.send_wait_ended("gone");
            return row;
        };
        if r.state.is_final_for_sender() {
            state.metrics.send_wait_ended(prompted_by);
            return row;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            state.metrics.send_wait_ended("time_up");
            return row;
        }
        // Woken by the commit that settles the message, on this replica or another (see
        // `store::settled`); read again after SAFETY_REREAD in case a notice was lost.
        let step = (deadline - now).min(SAFETY_REREAD);
        prompted_by = match tokio::time::timeout(step, async {
            loop {
                match notices.recv().await {
                    Ok(SettledNotice::Message(s)) if s == *id => break "notified",
                    Ok(SettledNotice::Message(_)) => {}
                    Ok(SettledNotice::Recheck) | Err(RecvError::Lagged(_)) => break "polled",
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
        .await
        {
            Ok(how) => how,
            Err(_) => "polled",
        };
    }
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Messages")]
impl MessagesApi {
    /// Send a message (or a sender action) through one of this instance's channels.
    ///
    /// The message is validated against Meta's limits and the contact's customer-service
    /// window, stored as `queued`, and answered `202` with its id; a per-channel sender
    /// then calls the Graph API under the channel's rate limit. Results arrive as
    /// `message.sent` / `message.failed` events and in `GET /v1/messages/{id}`.
    ///
    /// Retries are safe with an `Idempotency-Key` header: the same key with the same body
    /// answers `200` with the original message (never a second send); with a different body
    /// it is a `409`. Keys are kept as long as the message (at least 24 hours).
    ///
    /// `wait` (seconds, ≤ 30) holds the answer until Meta accepted or refused the message,
    /// or the time is up; the message is queued durably first either way.
    #[oai(path = "/messages", method = "post", operation_id = "messages.send")]
    async fn send(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: Json<SendMessageRequest>,
        // Declared for the spec; the value is read from the raw headers (`idempotency_key`).
        /// Makes retries safe: the same key never sends twice (1–255 visible ASCII characters).
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        /// Seconds to wait for Meta's answer before responding (0–30, default 0).
        wait: Query<Option<u64>>,
    ) -> Result<SendResponse, ApiError> {
        let instance_id = auth.0;
        let key = idempotency_key(request)?;
        let wait = match wait.0 {
            None => 0,
            Some(w) if w <= MAX_WAIT_SECS => w,
            Some(_) => {
                return Err(ApiError::rule(
                    "wait",
                    "out_of_range",
                    format!("must be between 0 and {MAX_WAIT_SECS} seconds"),
                ));
            }
        };
        let req = body.0;
        let Ok(channel_id) = ChannelId::parse(&req.channel_id) else {
            return Err(channel_not_found());
        };
        let channel = state.channel_of(&channel_id, &instance_id).await?;
        let request_json = req.to_json().unwrap_or(Value::Null);
        let submission = Submission {
            instance_id: &instance_id,
            channel: &channel,
            request: &req,
            request_json: &request_json,
            idempotency_key: key,
            now: crate::now_ms(),
            templates: Some(&state.templates),
            threads: Some(&state.handover),
        };
        let (id, existing, view_if_new) =
            match submit::submit(&state.store, &state.writer, submission).await {
                Ok(Submitted::Created(msg)) => {
                    state.metrics.messages_accepted.inc();
                    state.senders.wake(&channel.id);
                    (msg.id.clone(), false, Some(MessageView::queued(&msg)))
                }
                Ok(Submitted::Existing(id)) => (id, true, None),
                Err(e) => return Err(submit_error(e)),
            };
        let view = if wait > 0 && !existing {
            MessageView::from(
                wait_until_settled(&state, &id, &instance_id, wait)
                    .await
                    .ok_or_else(not_found)?,
            )
        } else if let Some(view) = view_if_new {
            // Just queued: nothing else can have happened to it that the caller must see.
            view
        } else {
            MessageView::from(
                state
                    .store
                    .get_message(&id, Some(&instance_id))
                    .await
                    .map_err(|e| ApiError::store("read message", e))?
                    .ok_or_else(not_found)?,
            )
        };
        Ok(if existing {
            SendResponse::Existing(Json(view))
        } else {
            SendResponse::Accepted(Json(view))
        })
    }

    /// A message of this instance: its state, Meta's id, the error if it failed, and every
    /// status with its time.
    #[oai(path = "/messages/:id", method = "get", operation_id = "messages.get")]
    async fn get(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<MessageView>, ApiError> {
        let Ok(id) = MessageId::parse(&id) else {
            return Err(not_found());
        };
        let row = state
            .store
            .get_message(&id, Some(&auth.0))
            .await
            .map_err(|e| ApiError::store("read message", e))?
            .ok_or_else(not_found)?;
        Ok(Json(row.into()))
    }

    /// This instance's messages, newest first.
    #[oai(path = "/messages", method = "get", operation_id = "messages.list")]
    async fn list(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        /// Only this channel's messages.
        channel_id: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> Result<Json<MessagePage>, ApiError> {
        let limit = page_limit(limit.0)?;
        let before = page_cursor(cursor.as_deref())?;
        // A filter that is not a channel id matches no message.
        let channel_id = match channel_id.as_deref().map(ChannelId::parse) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                return Ok(Json(MessagePage {
                    messages: Vec::new(),
                    next_cursor: None,
                }));
            }
        };
        let rows = state
            .store
            .list_messages(&auth.0, channel_id.as_ref(), None, before, limit)
            .await
            .map_err(|e| ApiError::store("list messages", e))?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.seq.to_string()))
            .flatten();
        Ok(Json(MessagePage {
            messages: rows.into_iter().map(MessageView::from).collect(),
            next_cursor,
        }))
    }
}
