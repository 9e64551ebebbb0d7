//! Outbound messages: the send queue, its claims and the state changes of each message, the
//! customer-service windows, and the outbox events that report sends to instances.

use std::collections::HashSet;

use serde_json::{Value, json};
use sqlx::Row;

use super::{Result, Store, Tx, placeholders, values_placeholders};
use crate::config::Backend;
use crate::events::data::{
    ChannelDisconnectedData, ChannelUpdatedData, EventData, MessageFailedData, MessageSentData,
    SendError,
};
use crate::events::parse::types;
use crate::messages::lifecycle::{self, ErrorInfo, Phase, Signal};

/// A validated send, ready to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub instance_id: String,
    pub channel_id: String,
    pub recipient: String,
    pub message_type: String,
    /// The Graph request body.
    pub body: String,
    pub expects_message_id: bool,
    pub client_reference: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    /// When the API accepted it (unix ms).
    pub created_at: i64,
}

/// What queuing one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Created(String),
    /// The idempotency key was used before: the earlier message, and whether the request was
    /// the same.
    Existing {
        id: String,
        same_request: bool,
    },
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub seq: i64,
    pub id: String,
    pub instance_id: String,
    pub channel_id: String,
    pub recipient: String,
    #[sqlx(rename = "type")]
    pub message_type: String,
    pub client_reference: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: Phase,
    pub meta_message_id: Option<String>,
    pub recipient_wa_id: Option<String>,
    pub error_code: Option<i64>,
    pub error_subcode: Option<i64>,
    pub error_title: Option<String>,
    pub error_reason: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub statuses: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
    pub failed_at: Option<i64>,
}

const MESSAGE_COLS: &str = "seq, id, instance_id, channel_id, recipient, type, client_reference, state, meta_message_id, \
    recipient_wa_id, error_code, error_subcode, error_title, error_reason, attempts, next_attempt_at, statuses, \
    created_at, updated_at, sent_at, delivered_at, read_at, failed_at";

/// A message claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedSend {
    pub seq: i64,
    pub id: String,
    pub recipient: String,
    #[sqlx(rename = "type")]
    pub message_type: String,
    pub body: Option<String>,
    pub expects_message_id: i64,
    pub attempts: i64,
    pub created_at: i64,
}

/// A signal for one message, addressed by the bridge's id.
#[derive(Debug, Clone)]
pub struct MessageSignal {
    pub message_id: String,
    pub signal: Signal,
}

/// A channel's send states (`channels.send_state`); its connection is `channels.status`.
pub mod send_state {
    /// Sends go out.
    pub const SENDING: &str = "sending";
    /// Meta restricted the account or number: sends wait until `send_paused_until`.
    pub const PAUSED: &str = "paused";
    /// Meta said the token is invalid (confirmed by `debug_token`): reconnect.
    pub const TOKEN_INVALID: &str = "token_invalid";
}

/// The one-word state the channels API and `channel.updated` have always shown: the connection
/// when it is not `active`, else the send state when it is not `sending`, else `active`.
pub fn channel_summary<'a>(status: &'a str, send_state: &'a str) -> &'a str {
    if status != "active" {
        status
    } else if send_state != send_state::SENDING {
        send_state
    } else {
        "active"
    }
}

/// A change of a channel's sending decided from Meta's answers. Never touches the connection:
/// inbound relay goes on whatever happens here.
#[derive(Debug, Clone)]
pub struct ChannelChange {
    pub channel_id: String,
    pub change: SendChange,
}

#[derive(Debug, Clone)]
pub enum SendChange {
    /// Meta restricted the account or number: sends pause until now + `base_ms` × 2^(pauses in
    /// a row), at most `max_ms`, at least `min_ms` (Meta's own regain time when it gave one).
    Pause {
        reason: String,
        base_ms: i64,
        max_ms: i64,
        min_ms: i64,
    },
    /// The token cannot be used: `token_invalid`; `delete_token` when Meta said it is invalid
    /// (P03), not when only this process cannot decrypt it.
    TokenInvalid { reason: String, delete_token: bool },
    /// Check the token with `debug_token` at the next lifecycle pass.
    CheckToken,
    /// A send got through: the next pause starts from `base_ms` again.
    Healthy,
    /// A pause ends (its time ran out, Meta lifted the restriction, or someone asked): sends go
    /// out again. Only `paused` resumes; `token_invalid` waits for a new token.
    Resume { reason: String },
}

const NEW_MESSAGE_COLS: usize = 14;

/// Queues messages in the writer's transaction. Messages whose idempotency key was used
/// before (in an earlier transaction or earlier in this batch) are not inserted.
pub async fn enqueue_messages(
    tx: &mut Tx,
    backend: Backend,
    msgs: &[NewMessage],
) -> Result<Vec<Enqueued>> {
    let mut created: HashSet<String> = HashSet::new();
    for chunk in msgs.chunks(60) {
        let sql = format!(
            "INSERT INTO messages (id, instance_id, channel_id, recipient, type, body, expects_message_id, \
             client_reference, idempotency_key, request_hash, state, next_attempt_at, created_at, updated_at) \
             VALUES {} ON CONFLICT DO NOTHING RETURNING id",
            values_placeholders(backend, chunk.len(), NEW_MESSAGE_COLS)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in chunk {
            q = q
                .bind(m.id.clone())
                .bind(m.instance_id.clone())
                .bind(m.channel_id.clone())
                .bind(m.recipient.clone())
                .bind(m.message_type.clone())
                .bind(m.body.clone())
                .bind(i64::from(m.expects_message_id))
                .bind(m.client_reference.clone())
                .bind(m.idempotency_key.clone())
                .bind(m.request_hash.clone())
                .bind("queued")
                .bind(m.created_at)
                .bind(m.created_at)
                .bind(m.created_at);
        }
        for row in q.fetch_all(&mut **tx).await? {
            created.insert(row.try_get::<String, _>(0)?);
        }
    }
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        if created.contains(&m.id) {
            out.push(Enqueued::Created(m.id.clone()));
            continue;
        }
        let row = sqlx::query(
            "SELECT id, request_hash FROM messages WHERE instance_id = $1 AND idempotency_key = $2",
        )
        .bind(m.instance_id.as_str())
        .bind(m.idempotency_key.as_deref())
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(row) => {
                let hash: String = row.try_get(1)?;
                out.push(Enqueued::Existing {
                    id: row.try_get(0)?,
                    same_request: hash == m.request_hash,
                });
            }
            None => {
                return Err(super::StoreError::Other(
                    "a message was neither inserted nor found by its idempotency key".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// Context of a message needed to apply a signal and report it.
struct Current {
    instance_id: String,
    channel_id: String,
    channel_kind: Option<String>,
    channel_external_id: Option<String>,
    recipient: String,
    message_type: String,
    client_reference: Option<String>,
    state: String,
    meta_message_id: Option<String>,
    statuses: String,
}

fn history_entry(signal: &Signal, now: i64) -> Option<Value> {
    let (status, error) = match signal {
        Signal::Accepted { .. } => ("accepted", None),
        Signal::Status { status, error, .. } => (status.as_str(), error.as_ref()),
        Signal::Retry { error, .. } => ("retrying", error.as_ref()),
        Signal::Unconfirmed { .. } => ("unconfirmed", None),
        Signal::Fail { error } => ("failed", Some(error)),
        Signal::Hold => ("held", None),
        Signal::Defer { .. } => return None,
    };
    let mut v = json!({ "status": status, "at": crate::ms_to_rfc3339(now) });
    if let Some(e) = error {
        v["error_code"] = json!(e.kind);
    }
    Some(v)
}

/// Applies signals to messages in the writer's transaction: moves each message along its
/// life cycle, appends to its status history, and appends `message.sent` / `message.failed`
/// events to its instance's outbox. Unknown ids are skipped.
pub async fn apply_message_signals(
    tx: &mut Tx,
    backend: Backend,
    signals: &[MessageSignal],
    now: i64,
    horizon_ms: i64,
) -> Result<()> {
    // Every message of the batch in a few queries, then the signals in order (several
    // signals for one message chain through `current`).
    let mut current: std::collections::HashMap<String, Current> = std::collections::HashMap::new();
    let ids: Vec<&str> = {
        let mut seen = HashSet::new();
        signals
            .iter()
            .map(|s| s.message_id.as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    };
    for chunk in ids.chunks(400) {
        let sql = format!(
            "SELECT m.id, m.instance_id, m.channel_id, c.kind, c.external_id, m.recipient, m.type, m.client_reference, \
             m.state, m.meta_message_id, m.statuses FROM messages m LEFT JOIN channels c ON c.id = m.channel_id \
             WHERE m.id IN ({})",
            placeholders(backend, 1, chunk.len()).join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut **tx).await? {
            let id: String = row.try_get(0)?;
            current.insert(
                id,
                Current {
                    instance_id: row.try_get(1)?,
                    channel_id: row.try_get(2)?,
                    channel_kind: row.try_get(3)?,
                    channel_external_id: row.try_get(4)?,
                    recipient: row.try_get(5)?,
                    message_type: row.try_get(6)?,
                    client_reference: row.try_get(7)?,
                    state: row.try_get(8)?,
                    meta_message_id: row.try_get(9)?,
                    statuses: row.try_get(10)?,
                },
            );
        }
    }
    let mut subscriptions: std::collections::HashMap<String, Option<Vec<String>>> =
        std::collections::HashMap::new();
    for s in signals {
        let Some(cur) = current.get_mut(&s.message_id) else {
            continue;
        };
        let Some(from) = Phase::parse(&cur.state) else {
            continue;
        };
        let t = lifecycle::apply(from, &s.signal);
        let mut history: Vec<Value> = serde_json::from_str(&cur.statuses).unwrap_or_default();
        if let Some(entry) = history_entry(&s.signal, now) {
            history.push(entry);
        }
        // Keep the history bounded (a message gets a handful of statuses).
        if history.len() > 50 {
            let excess = history.len() - 50;
            history.drain(..excess);
        }
        let (meta_id, wa_id) = match &s.signal {
            Signal::Accepted {
                meta_message_id,
                recipient_wa_id,
            } => (meta_message_id.clone(), recipient_wa_id.clone()),
            Signal::Status {
                meta_message_id, ..
            } => (meta_message_id.clone(), None),
            _ => (None, None),
        };
        let meta_id = cur.meta_message_id.clone().or(meta_id);
        let error: Option<&ErrorInfo> = match &s.signal {
            Signal::Fail { error } => Some(error),
            Signal::Retry { error, .. } => error.as_ref(),
            Signal::Status {
                error: Some(e),
                status,
                ..
            } if status == "failed" => Some(e),
            _ => None,
        };
        let next_at = match &s.signal {
            Signal::Retry { next_at, .. } => Some(*next_at),
            Signal::Unconfirmed { until, .. } => Some(*until),
            Signal::Hold => Some(now),
            Signal::Defer { next_at } => Some(*next_at),
            _ => None,
        };
        let history_json = Value::Array(history).to_string();
        let to = t.to;
        let stamp = |p: Phase| {
            if to == p && from != p {
                Some(now)
            } else {
                None
            }
        };
        sqlx::query(
            "UPDATE messages SET state = $1, meta_message_id = $2, \
             recipient_wa_id = COALESCE($3, recipient_wa_id), \
             error_code = CASE WHEN $4 = 1 THEN $5 ELSE error_code END, \
             error_subcode = CASE WHEN $4 = 1 THEN $6 ELSE error_subcode END, \
             error_title = CASE WHEN $4 = 1 THEN $7 ELSE error_title END, \
             error_reason = CASE WHEN $4 = 1 THEN $8 ELSE error_reason END, \
             attempts = attempts + $9, next_attempt_at = COALESCE($10, next_attempt_at), lease_until = 0, \
             statuses = $11, updated_at = $12, \
             sent_at = COALESCE(sent_at, $13), delivered_at = COALESCE(delivered_at, $14), \
             read_at = COALESCE(read_at, $15), failed_at = COALESCE($16, failed_at), \
             body = CASE WHEN $17 = 1 THEN NULL ELSE body END \
             WHERE id = $18",
        )
        .bind(to.as_str())
        .bind(meta_id.clone())
        .bind(wa_id)
        .bind(i64::from(error.is_some()))
        .bind(error.and_then(|e| e.code))
        .bind(error.and_then(|e| e.subcode))
        .bind(error.map(|e| e.kind.clone()))
        .bind(error.map(|e| e.reason.clone()))
        .bind(i64::from(t.counts_attempt))
        .bind(next_at)
        .bind(history_json.clone())
        .bind(now)
        .bind(if to.is_pre_send() || to == Phase::Failed {
            None
        } else {
            Some(now)
        })
        .bind(if matches!(to, Phase::Delivered | Phase::Read) {
            Some(now)
        } else {
            None
        })
        .bind(stamp(Phase::Read))
        .bind(stamp(Phase::Failed))
        // Content is kept only while the bridge may still have to send it (P05).
        .bind(i64::from(to.is_final_for_sender()))
        .bind(s.message_id.as_str())
        .execute(&mut **tx)
        .await?;
        cur.state = to.as_str().to_string();
        cur.statuses = history_json;
        cur.meta_message_id = meta_id.clone();
        if let Some(event_type) = t.emit
            && subscribed(tx, &mut subscriptions, &cur.instance_id, event_type).await?
        {
            let error = match &s.signal {
                Signal::Fail { error } => Some(error.clone()),
                Signal::Status { error, .. } => error.clone(),
                _ => None,
            };
            let data =
                outbound_event_data(event_type, &s.message_id, cur, meta_id.as_deref(), error);
            let conversation = crate::events::conversation::outbound_key(
                cur.channel_kind
                    .as_deref()
                    .and_then(crate::channels::ChannelKind::parse),
                &cur.recipient,
            );
            insert_event_row(
                tx,
                backend,
                OutboundEvent {
                    instance_id: &cur.instance_id,
                    channel_id: &cur.channel_id,
                    channel_kind: cur.channel_kind.as_deref(),
                    channel_external_id: cur.channel_external_id.as_deref().unwrap_or(""),
                    conversation_key: &conversation,
                    idempotency_key: format!("out:{}:{event_type}", s.message_id),
                    data,
                },
                now,
                horizon_ms,
            )
            .await?;
        }
        if t.overrode_failure {
            tracing::info!(
                message = %s.message_id,
                status = to.as_str(),
                "a positive status arrived after a failure: the message counts as {}",
                to.as_str()
            );
        }
    }
    Ok(())
}

/// `data` of `emit` (`message.sent` or `message.failed`, as the lifecycle decided). A failure
/// without Meta's error (a `failed` status without `errors`) reports `meta_error`.
fn outbound_event_data(
    emit: &str,
    message_id: &str,
    cur: &Current,
    meta_id: Option<&str>,
    error: Option<ErrorInfo>,
) -> EventData {
    let sent = MessageSentData {
        bridge_message_id: message_id.to_owned(),
        meta_message_id: meta_id.map(str::to_owned),
        channel_id: cur.channel_id.clone(),
        to: cur.recipient.clone(),
        r#type: cur.message_type.clone(),
        client_reference: cur.client_reference.clone(),
    };
    if emit != types::MESSAGE_FAILED {
        return sent.into();
    }
    let e = error.unwrap_or_else(|| ErrorInfo {
        code: None,
        subcode: None,
        kind: "meta_error".to_owned(),
        reason: "Meta reported the message as failed.".to_owned(),
    });
    MessageFailedData {
        bridge_message_id: sent.bridge_message_id,
        meta_message_id: sent.meta_message_id,
        channel_id: sent.channel_id,
        to: sent.to,
        r#type: sent.r#type,
        client_reference: sent.client_reference,
        error: SendError {
            code: e.kind,
            meta_code: e.code,
            meta_subcode: e.subcode,
            reason: e.reason,
        },
    }
    .into()
}

/// `data` as the events table keeps it (see [`EventData::to_json`]).
pub fn event_data_json(data: &EventData) -> Result<String> {
    data.to_json()
        .map_err(|e| super::StoreError::Other(format!("event data does not serialise: {e}")))
}

/// An event the bridge itself originates (not from a webhook); its type is its data's.
pub struct OutboundEvent<'a> {
    pub instance_id: &'a str,
    pub channel_id: &'a str,
    pub channel_kind: Option<&'a str>,
    pub channel_external_id: &'a str,
    pub conversation_key: &'a str,
    pub idempotency_key: String,
    pub data: EventData,
}

/// Whether `instance_id` subscribes to `event_type` (looked up once per batch).
async fn subscribed(
    tx: &mut Tx,
    cache: &mut std::collections::HashMap<String, Option<Vec<String>>>,
    instance_id: &str,
    event_type: &str,
) -> Result<bool> {
    if !cache.contains_key(instance_id) {
        let types: Option<Option<String>> =
            sqlx::query_scalar("SELECT event_types FROM instances WHERE id = $1")
                .bind(instance_id)
                .fetch_optional(&mut **tx)
                .await?;
        // A deleted instance subscribes to nothing; NULL subscribes to everything.
        let list = match types {
            None => Some(Vec::new()),
            Some(None) => None,
            Some(Some(t)) => Some(serde_json::from_str::<Vec<String>>(&t).unwrap_or_default()),
        };
        cache.insert(instance_id.to_string(), list);
    }
    Ok(cache
        .get(instance_id)
        .is_some_and(|l| l.as_ref().is_none_or(|l| l.iter().any(|t| t == event_type))))
}

/// Appends a bridge-originated event to an instance's outbox, in the caller's transaction.
/// Events no subscription of the instance asks for are not appended.
pub async fn insert_outbound_event(
    tx: &mut Tx,
    backend: Backend,
    ev: OutboundEvent<'_>,
    now: i64,
    horizon_ms: i64,
) -> Result<bool> {
    let mut cache = std::collections::HashMap::new();
    if !subscribed(tx, &mut cache, ev.instance_id, ev.data.event_type()).await? {
        return Ok(false);
    }
    insert_event_row(tx, backend, ev, now, horizon_ms).await?;
    Ok(true)
}

async fn insert_event_row(
    tx: &mut Tx,
    backend: Backend,
    ev: OutboundEvent<'_>,
    now: i64,
    horizon_ms: i64,
) -> Result<()> {
    let conv_id =
        crate::events::conversation::conversation_id(ev.channel_external_id, ev.conversation_key);
    let sql = format!(
        "INSERT INTO events (id, instance_id, channel_id, channel_kind, channel_external_id, route, conversation, \
         conversation_id, type, idempotency_key, occurred_at, received_at, state, next_attempt_at, deadline_at, \
         contact, data, raw) VALUES {}",
        values_placeholders(backend, 1, 18)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(crate::ids::new_id(crate::ids::EVENT))
        .bind(ev.instance_id)
        .bind(ev.channel_id)
        .bind(ev.channel_kind)
        .bind(ev.channel_external_id)
        .bind("bridge")
        .bind(format!("{}|{}", ev.channel_id, ev.conversation_key))
        .bind(conv_id)
        .bind(ev.data.event_type())
        .bind(ev.idempotency_key)
        .bind(now)
        .bind(now)
        .bind("pending")
        .bind(now)
        .bind(now + horizon_ms)
        .bind(None::<String>)
        .bind(event_data_json(&ev.data)?)
        // Bridge events have no Meta original: `raw` is JSON null (SQL NULL means purged).
        .bind("null")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies send-state changes decided from Meta's answers, with a `channel.updated` event for
/// each change an instance can see. A disconnected channel is left alone; a pause does not
/// replace `token_invalid` (the token problem needs the person, the pause only time).
pub async fn apply_channel_changes(
    tx: &mut Tx,
    backend: Backend,
    changes: &[ChannelChange],
    now: i64,
    horizon_ms: i64,
) -> Result<()> {
    for c in changes {
        let row = sqlx::query(
            "SELECT instance_id, kind, external_id, status, send_state, send_pauses FROM channels WHERE id = $1",
        )
        .bind(c.channel_id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { continue };
        let instance_id: String = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        let external_id: String = row.try_get(2)?;
        let status: String = row.try_get(3)?;
        let previous: String = row.try_get(4)?;
        let pauses: i64 = row.try_get(5)?;
        if status == "disconnected" {
            continue;
        }
        let (new_state, reason, until) = match &c.change {
            SendChange::CheckToken => {
                sqlx::query("UPDATE channels SET token_checked_at = 0 WHERE id = $1")
                    .bind(c.channel_id.as_str())
                    .execute(&mut **tx)
                    .await?;
                continue;
            }
            SendChange::Healthy => {
                sqlx::query(
                    "UPDATE channels SET send_pauses = 0 WHERE id = $1 AND send_pauses > 0",
                )
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                continue;
            }
            SendChange::Pause {
                reason,
                base_ms,
                max_ms,
                min_ms,
            } => {
                if previous != send_state::SENDING {
                    continue;
                }
                let backoff = base_ms
                    .saturating_mul(1i64 << pauses.clamp(0, 30))
                    .min(*max_ms)
                    .max(*min_ms);
                let until = now + backoff;
                sqlx::query(
                    "UPDATE channels SET send_state = $1, send_reason = $2, send_paused_until = $3, \
                     send_pauses = send_pauses + 1, updated_at = $4 WHERE id = $5",
                )
                .bind(send_state::PAUSED)
                .bind(reason.as_str())
                .bind(until)
                .bind(now)
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                (send_state::PAUSED, reason.as_str(), Some(until))
            }
            SendChange::Resume { reason } => {
                if previous != send_state::PAUSED {
                    continue;
                }
                sqlx::query(
                    "UPDATE channels SET send_state = $1, send_reason = NULL, send_paused_until = NULL, \
                     updated_at = $2 WHERE id = $3",
                )
                .bind(send_state::SENDING)
                .bind(now)
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                (send_state::SENDING, reason.as_str(), None)
            }
            SendChange::TokenInvalid {
                reason,
                delete_token,
            } => {
                if previous == send_state::TOKEN_INVALID {
                    continue;
                }
                sqlx::query(
                    "UPDATE channels SET send_state = $1, send_reason = $2, send_paused_until = NULL, \
                     updated_at = $3, token_enc = CASE WHEN $4 = 1 THEN NULL ELSE token_enc END WHERE id = $5",
                )
                .bind(send_state::TOKEN_INVALID)
                .bind(reason.as_str())
                .bind(now)
                .bind(i64::from(*delete_token))
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                (send_state::TOKEN_INVALID, reason.as_str(), None)
            }
        };
        insert_send_state_event(
            tx,
            backend,
            SendStateEvent {
                instance_id: &instance_id,
                channel_id: &c.channel_id,
                kind: &kind,
                external_id: &external_id,
                status: &status,
                previous_send_state: &previous,
                send_state: new_state,
                reason,
                paused_until: until,
            },
            now,
            horizon_ms,
        )
        .await?;
    }
    Ok(())
}

/// What a `channel.updated` event about a send-state change says.
pub struct SendStateEvent<'a> {
    pub instance_id: &'a str,
    pub channel_id: &'a str,
    pub kind: &'a str,
    pub external_id: &'a str,
    /// The connection (unchanged by a send-state change).
    pub status: &'a str,
    pub previous_send_state: &'a str,
    pub send_state: &'a str,
    pub reason: &'a str,
    pub paused_until: Option<i64>,
}

/// Appends `channel.updated` for a send-state change, in the caller's transaction.
pub async fn insert_send_state_event(
    tx: &mut Tx,
    backend: Backend,
    e: SendStateEvent<'_>,
    now: i64,
    horizon_ms: i64,
) -> Result<()> {
    let data = ChannelUpdatedData {
        channel_id: e.channel_id.to_owned(),
        status: channel_summary(e.status, e.send_state).to_owned(),
        previous_status: channel_summary(e.status, e.previous_send_state).to_owned(),
        reason: e.reason.to_owned(),
        connection: connection_of(e.status).to_owned(),
        send_state: e.send_state.to_owned(),
        previous_send_state: e.previous_send_state.to_owned(),
        send_paused_until: e.paused_until.map(crate::ms_to_rfc3339),
    };
    insert_outbound_event(
        tx,
        backend,
        OutboundEvent {
            instance_id: e.instance_id,
            channel_id: e.channel_id,
            channel_kind: Some(e.kind),
            channel_external_id: e.external_id,
            conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
            idempotency_key: format!("chan:{}:{}:{now}", e.channel_id, e.send_state),
            data: data.into(),
        },
        now,
        horizon_ms,
    )
    .await?;
    Ok(())
}

/// The connection as the API names it: `connected` (also while a WhatsApp registration waits)
/// or `disconnected`.
pub fn connection_of(status: &str) -> &'static str {
    if status == "disconnected" {
        "disconnected"
    } else {
        "connected"
    }
}

/// Records the last inbound message time of contacts (the customer-service window), in the
/// writer's transaction. `(channel_id, instance_id, contact, at)`.
pub async fn touch_windows(
    tx: &mut Tx,
    backend: Backend,
    touches: &[(String, String, String, i64)],
) -> Result<()> {
    // One row per (channel, contact): PostgreSQL refuses to update a row twice in one statement.
    let mut latest: std::collections::HashMap<(&str, &str), (&str, i64)> =
        std::collections::HashMap::new();
    for (channel, instance, contact, at) in touches {
        let e = latest
            .entry((channel.as_str(), contact.as_str()))
            .or_insert((instance.as_str(), *at));
        if *at > e.1 {
            *e = (instance.as_str(), *at);
        }
    }
    let touches: Vec<(String, String, String, i64)> = latest
        .into_iter()
        .map(|((c, k), (i, at))| (c.to_string(), i.to_string(), k.to_string(), at))
        .collect();
    for chunk in touches.chunks(200) {
        let sql = format!(
            "INSERT INTO contact_windows (channel_id, instance_id, contact, last_inbound_at) VALUES {} \
             ON CONFLICT (channel_id, contact) DO UPDATE SET last_inbound_at = \
             CASE WHEN excluded.last_inbound_at > contact_windows.last_inbound_at \
             THEN excluded.last_inbound_at ELSE contact_windows.last_inbound_at END",
            values_placeholders(backend, chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (channel, instance, contact, at) in chunk {
            q = q
                .bind(channel.clone())
                .bind(instance.clone())
                .bind(contact.clone())
                .bind(*at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Finds the bridge message a WhatsApp status is about: by the echoed
/// `biz_opaque_callback_data` (our id), else by Meta's message id; only within `instance_id`.
pub async fn find_message_for_status(
    tx: &mut Tx,
    instance_id: &str,
    callback_data: Option<&str>,
    meta_message_id: Option<&str>,
) -> Result<Option<String>> {
    if let Some(id) = callback_data.filter(|c| crate::ids::is_valid(crate::ids::MESSAGE, c)) {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM messages WHERE id = $1 AND instance_id = $2")
                .bind(id)
                .bind(instance_id)
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let Some(meta) = meta_message_id else {
        return Ok(None);
    };
    // By Meta's id alone (its own index); the instance is checked on the few rows found.
    let rows = sqlx::query(
        "SELECT id, instance_id FROM messages WHERE meta_message_id = $1 ORDER BY seq DESC LIMIT 8",
    )
    .bind(meta)
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let owner: String = row.try_get(1)?;
        if owner == instance_id {
            return Ok(Some(row.try_get(0)?));
        }
    }
    Ok(None)
}

/// [`Store::disconnect_channel`] in the caller's transaction (also used when Meta's
/// `account_update` says our app lost the account). `None` when there is no such connected
/// channel.
pub async fn disconnect_in(
    tx: &mut Tx,
    backend: Backend,
    id: &str,
    instance_id: Option<&str>,
    reason: &str,
    now: i64,
    horizon_ms: i64,
) -> Result<Option<Disconnected>> {
    let row = sqlx::query(
        "SELECT instance_id, kind, external_id, token_enc FROM channels \
         WHERE id = $1 AND ($2 IS NULL OR instance_id = $2) AND status <> 'disconnected'",
    )
    .bind(id)
    .bind(instance_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let owner: String = row.try_get(0)?;
    let kind: String = row.try_get(1)?;
    let external_id: String = row.try_get(2)?;
    let token_enc: Option<String> = row.try_get(3)?;
    sqlx::query(
        "UPDATE channels SET status = 'disconnected', status_reason = $1, token_enc = NULL, \
         send_owner = NULL, send_lease_until = 0, updated_at = $2 WHERE id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE channel_id = $1 AND state IN ('queued', 'unconfirmed') ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let signals: Vec<MessageSignal> = open
        .iter()
        .map(|m| MessageSignal {
            message_id: m.clone(),
            signal: Signal::Fail {
                error: ErrorInfo::channel_disconnected(),
            },
        })
        .collect();
    apply_message_signals(tx, backend, &signals, now, horizon_ms).await?;
    insert_outbound_event(
        tx,
        backend,
        OutboundEvent {
            instance_id: &owner,
            channel_id: id,
            channel_kind: Some(&kind),
            channel_external_id: &external_id,
            conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
            idempotency_key: format!("chan:{id}:disconnected"),
            data: ChannelDisconnectedData {
                channel_id: id.to_owned(),
                reason: reason.to_owned(),
            }
            .into(),
        },
        now,
        horizon_ms,
    )
    .await?;
    Ok(Some(Disconnected {
        token_enc,
        failed_messages: open.len(),
    }))
}

/// What a disconnect did.
#[derive(Debug, Clone)]
pub struct Disconnected {
    /// The ciphertext that was deleted (to drop it from caches).
    pub token_enc: Option<String>,
    /// Messages still waiting that were failed with `channel_disconnected`.
    pub failed_messages: usize,
}

impl Store {
    /// Disconnects a channel (P03, P13): deletes its token, stops routing and sending, fails
    /// its waiting messages, and tells its instance (`channel.disconnected`). The row stays
    /// (its messages and events refer to it) and the Meta id can be connected again.
    pub async fn disconnect_channel(
        &self,
        id: &str,
        instance_id: Option<&str>,
        reason: &str,
        horizon_ms: i64,
    ) -> Result<Option<Disconnected>> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let done = disconnect_in(
            &mut tx,
            self.backend,
            id,
            instance_id,
            reason,
            now,
            horizon_ms,
        )
        .await?;
        if done.is_some() {
            tx.commit().await?;
        }
        Ok(done)
    }

    /// Messages of a channel that still wait to be sent (queued or unconfirmed).
    pub async fn open_message_ids(&self, channel_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM messages WHERE channel_id = $1 AND state IN ('queued', 'unconfirmed') ORDER BY seq",
        )
        .bind(channel_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Channels with sends waiting, in flight or unconfirmed.
    pub async fn channels_with_sends(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT channel_id FROM messages WHERE state IN ('queued', 'unconfirmed') \
             UNION SELECT DISTINCT channel_id FROM messages WHERE state = 'sending'",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// One message of one instance (another instance's id is `None`, like a missing one).
    pub async fn get_message(
        &self,
        id: &str,
        instance_id: Option<&str>,
    ) -> Result<Option<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(instance_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Messages of an instance, newest first.
    pub async fn list_messages(
        &self,
        instance_id: &str,
        channel_id: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE instance_id = $1 AND ($2 IS NULL OR channel_id = $2) \
             AND ($3 IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(instance_id)
            .bind(channel_id)
            .bind(before_seq)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Takes (or keeps) the right to drain a channel's send queue for `lease_ms`. One replica
    /// at a time holds it, so the channel's rate limits hold across replicas.
    pub async fn acquire_send_lease(
        &self,
        channel_id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE channels SET send_owner = $1, send_lease_until = $2 \
             WHERE id = $3 AND (send_owner = $1 OR send_lease_until < $4)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(channel_id)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Gives the lease up (idle, or shutting down): another replica may take it from
    /// `quiet_until` (ms; the end of the last rate window of this holder's sends, or 0).
    pub async fn release_send_lease(
        &self,
        channel_id: &str,
        owner: &str,
        quiet_until: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE channels SET send_owner = NULL, send_lease_until = $3 WHERE id = $1 AND send_owner = $2",
        )
        .bind(channel_id)
        .bind(owner)
        .bind(quiet_until)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sends whose claim expired (their sender died mid-call): Meta may have them, so they
    /// become `unconfirmed` until `reconcile_until`.
    pub async fn recover_stale_sends(
        &self,
        channel_id: &str,
        now: i64,
        reconcile_until: i64,
    ) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE messages SET state = 'unconfirmed', next_attempt_at = $1, lease_until = 0, updated_at = $2, \
             attempts = attempts + 1 WHERE channel_id = $3 AND state = 'sending' AND lease_until < $2",
        )
        .bind(reconcile_until)
        .bind(now)
        .bind(channel_id)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Unconfirmed sends whose reconciliation window is over (no status echo came).
    pub async fn due_unconfirmed(
        &self,
        channel_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(String, String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, type, expects_message_id, attempts FROM messages WHERE channel_id = $1 \
             AND state IN ('queued', 'unconfirmed') AND next_attempt_at <= $2 AND state = 'unconfirmed' \
             ORDER BY next_attempt_at LIMIT $3",
        )
        .bind(channel_id)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Claims up to `limit` due messages of a channel for sending: only the oldest open
    /// message of each recipient (sends to one person go in order, one at a time).
    pub async fn claim_sends(
        &self,
        channel_id: &str,
        now: i64,
        limit: i64,
        lease_until: i64,
    ) -> Result<Vec<ClaimedSend>> {
        let mut tx = self.begin_write().await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT seq, id, recipient, type, body, expects_message_id, attempts, created_at FROM messages m \
             WHERE m.channel_id = $1 AND m.state = 'queued' AND m.next_attempt_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.channel_id = m.channel_id \
               AND p.recipient = m.recipient AND p.state IN ('queued', 'sending') AND p.seq < m.seq) \
             ORDER BY m.seq LIMIT $3{lock}"
        );
        let rows: Vec<ClaimedSend> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(channel_id)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        if !rows.is_empty() {
            // All placeholders of one kind: SQLite binds anonymous `?` from the first argument
            // whatever named ones precede them.
            let ph = placeholders(self.backend, 1, rows.len() + 2);
            let sql = format!(
                "UPDATE messages SET state = 'sending', lease_until = {}, updated_at = {} WHERE id IN ({}) AND state = 'queued'",
                ph[0],
                ph[1],
                ph[2..].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(lease_until)
                .bind(now);
            for r in &rows {
                q = q.bind(r.id.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// When the channel's next queued or unconfirmed message is due (None: nothing waits).
    pub async fn next_send_due(&self, channel_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM messages WHERE channel_id = $1 AND state IN ('queued', 'unconfirmed')",
        )
        .bind(channel_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Last inbound message time of a contact on a channel.
    pub async fn last_inbound(&self, channel_id: &str, contact: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT last_inbound_at FROM contact_windows WHERE channel_id = $1 AND contact = $2",
        )
        .bind(channel_id)
        .bind(contact)
        .fetch_optional(self.pool())
        .await?)
    }
}
