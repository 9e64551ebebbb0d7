//! Outbound messages: the send queue, its claims and the state changes of each message, and
//! the events that report them (`message.sent`, `message.failed`).

use std::collections::HashSet;

use serde_json::{Value, json};
use sqlx::Row;

use super::*;
use crate::config::Backend;
use crate::events::data::{EventData, MessageFailedData, MessageSentData, SendError};
use crate::events::parse::types;
use crate::ids::{ChannelId, InstanceId, MessageId};
use crate::messages::lifecycle::{self, ErrorInfo, Phase, Signal};

/// A validated send, ready to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub instance_id: InstanceId,
    pub channel_id: ChannelId,
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
    Created(MessageId),
    /// The idempotency key was used before: the earlier message, and whether the request was
    /// the same.
    Existing {
        id: MessageId,
        same_request: bool,
    },
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub seq: i64,
    #[sqlx(try_from = "String")]
    pub id: MessageId,
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
    #[sqlx(try_from = "String")]
    pub channel_id: ChannelId,
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
    #[sqlx(try_from = "String")]
    pub id: MessageId,
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
    pub message_id: MessageId,
    pub signal: Signal,
}

const NEW_MESSAGE_COLS: usize = 14;

/// Queues messages in the writer's transaction. Messages whose idempotency key was used
/// before (in an earlier transaction or earlier in this batch) are not inserted.
///
/// The insert skips them (`ON CONFLICT DO NOTHING`). PostgreSQL names the rows it inserted
/// (`RETURNING id`). SQLite does not: `RETURNING` would hand each new row back through sqlx's
/// SQLite worker one row at a time (see `ingest::record_keys`). When its row count says every
/// message went in (a batch without a reused key) nothing more is asked; otherwise the ids are
/// looked up — an id is this batch's own, new, so one that is in the table was inserted now.
pub async fn enqueue_messages(
    tx: &mut Tx,
    backend: Backend,
    msgs: &[NewMessage],
) -> Result<Vec<Enqueued>> {
    let mut created: HashSet<MessageId> = HashSet::new();
    for chunk in msgs.chunks(60) {
        let q = bind_new_messages(insert_messages_sql(backend, chunk.len()), chunk);
        match backend {
            Backend::Postgres => {
                for row in q.fetch_all(&mut **tx).await? {
                    created.insert(MessageId::try_from(row.try_get::<String, _>(0)?)?);
                }
            }
            Backend::Sqlite => {
                let inserted = q.execute(&mut **tx).await?.rows_affected() as usize;
                if inserted == chunk.len() {
                    created.extend(chunk.iter().map(|m| m.id.clone()));
                } else if inserted > 0 {
                    let sql = format!(
                        "SELECT id FROM messages WHERE id IN ({})",
                        super::placeholders(backend, 1, chunk.len()).join(", ")
                    );
                    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
                    for m in chunk {
                        q = q.bind(m.id.as_str());
                    }
                    for id in q.fetch_all(&mut **tx).await? {
                        created.insert(MessageId::try_from(id)?);
                    }
                }
            }
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
                    id: MessageId::try_from(row.try_get::<String, _>(0)?)?,
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

fn insert_messages_sql(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO messages (id, instance_id, channel_id, recipient, type, body, expects_message_id, \
         client_reference, idempotency_key, request_hash, state, next_attempt_at, created_at, updated_at) \
         VALUES {} ON CONFLICT DO NOTHING{}",
        values_placeholders(backend, rows, NEW_MESSAGE_COLS),
        if backend == Backend::Postgres {
            " RETURNING id"
        } else {
            ""
        }
    )
}

fn bind_new_messages(
    sql: String,
    msgs: &[NewMessage],
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for m in msgs {
        q = q
            .bind(m.id.to_string())
            .bind(m.instance_id.to_string())
            .bind(m.channel_id.to_string())
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
    q
}

/// Context of a message needed to apply a signal and report it.
struct Current {
    instance_id: InstanceId,
    channel_id: ChannelId,
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
/// events to its instance's outbox. Unknown ids are skipped. Returns the messages that settled
/// (left the sender's states; see [`super::settled`]): the caller commits with
/// [`Store::commit_settled`] so that whoever waits for them is woken.
pub async fn apply_message_signals(
    tx: &mut Tx,
    backend: Backend,
    signals: &[MessageSignal],
    now: i64,
    horizon_ms: i64,
) -> Result<Vec<MessageId>> {
    let mut settled = Vec::new();
    // Every message of the batch in a few queries, then the signals in order (several
    // signals for one message chain through `current`).
    let mut current: std::collections::HashMap<MessageId, Current> =
        std::collections::HashMap::new();
    let ids: Vec<&MessageId> = {
        let mut seen = HashSet::new();
        signals
            .iter()
            .map(|s| &s.message_id)
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
            q = q.bind(id.as_str());
        }
        for row in q.fetch_all(&mut **tx).await? {
            let id = MessageId::try_from(row.try_get::<String, _>(0)?)?;
            current.insert(
                id,
                Current {
                    instance_id: InstanceId::try_from(row.try_get::<String, _>(1)?)?,
                    channel_id: ChannelId::try_from(row.try_get::<String, _>(2)?)?,
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
    let mut subscriptions: std::collections::HashMap<InstanceId, Option<Vec<String>>> =
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
        if from.is_pre_send() && to.is_final_for_sender() {
            settled.push(s.message_id.clone());
        }
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
    Ok(settled)
}

/// `data` of `emit` (`message.sent` or `message.failed`, as the lifecycle decided). A failure
/// without Meta's error (a `failed` status without `errors`) reports `meta_error`.
fn outbound_event_data(
    emit: &str,
    message_id: &MessageId,
    cur: &Current,
    meta_id: Option<&str>,
    error: Option<ErrorInfo>,
) -> EventData {
    let sent = MessageSentData {
        bridge_message_id: message_id.to_string(),
        meta_message_id: meta_id.map(str::to_owned),
        channel_id: cur.channel_id.to_string(),
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

/// Finds the bridge message a WhatsApp status is about: by the echoed
/// `biz_opaque_callback_data` (our id), else by Meta's message id; only within `instance_id`.
pub async fn find_message_for_status(
    tx: &mut Tx,
    instance_id: &InstanceId,
    callback_data: Option<&str>,
    meta_message_id: Option<&str>,
) -> Result<Option<MessageId>> {
    if let Some(id) = callback_data.and_then(|c| MessageId::parse(c).ok()) {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM messages WHERE id = $1 AND instance_id = $2")
                .bind(id.as_str())
                .bind(instance_id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_some() {
            return Ok(Some(id));
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
        if owner == instance_id.as_str() {
            return Ok(Some(MessageId::try_from(row.try_get::<String, _>(0)?)?));
        }
    }
    Ok(None)
}

impl Store {
    /// Messages of a channel that still wait to be sent (queued or unconfirmed).
    pub async fn open_message_ids(&self, channel_id: &ChannelId) -> Result<Vec<MessageId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE channel_id = $1 AND state IN ('queued', 'unconfirmed') ORDER BY seq",
        )
        .bind(channel_id.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(ids
            .into_iter()
            .map(MessageId::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// Channels with sends waiting, in flight or unconfirmed.
    pub async fn channels_with_sends(&self) -> Result<Vec<ChannelId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT channel_id FROM messages WHERE state IN ('queued', 'unconfirmed') \
             UNION SELECT DISTINCT channel_id FROM messages WHERE state = 'sending'",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(ids
            .into_iter()
            .map(ChannelId::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// One message of one instance (another instance's id is `None`, like a missing one).
    pub async fn get_message(
        &self,
        id: &MessageId,
        instance_id: Option<&InstanceId>,
    ) -> Result<Option<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(instance_id.map(InstanceId::as_str))
            .fetch_optional(self.pool())
            .await?)
    }

    /// Messages of an instance (in one state when `state` is given), newest first.
    pub async fn list_messages(
        &self,
        instance_id: &InstanceId,
        channel_id: Option<&ChannelId>,
        state: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE instance_id = $1 AND ($2 IS NULL OR channel_id = $2) \
             AND ($3 IS NULL OR seq < $3) AND ($5 IS NULL OR state = $5) ORDER BY seq DESC LIMIT $4"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(instance_id.as_str())
            .bind(channel_id.map(ChannelId::as_str))
            .bind(before_seq)
            .bind(limit)
            .bind(state)
            .fetch_all(self.pool())
            .await?)
    }

    /// Gives the lease up (idle, or shutting down): another replica may take it from
    /// `quiet_until` (ms; the end of the last rate window of this holder's sends, or 0).
    pub async fn release_send_lease(
        &self,
        channel_id: &ChannelId,
        owner: &str,
        quiet_until: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE channels SET send_owner = NULL, send_lease_until = $3 WHERE id = $1 AND send_owner = $2",
        )
        .bind(channel_id.as_str())
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
        channel_id: &ChannelId,
        now: i64,
        reconcile_until: i64,
    ) -> Result<u64> {
        // Read first: the sender asks every second, and on SQLite an UPDATE takes the write
        // lock even when nothing matches, waiting behind the group commits in the busy handler
        // (a channel's sends stood still for a second at a time under load, issue 14).
        let stale = sqlx::query(
            "SELECT 1 FROM messages WHERE channel_id = $1 AND state = 'sending' AND lease_until < $2 LIMIT 1",
        )
        .bind(channel_id.as_str())
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .is_some();
        if !stale {
            return Ok(0);
        }
        Ok(sqlx::query(
            "UPDATE messages SET state = 'unconfirmed', next_attempt_at = $1, lease_until = 0, updated_at = $2, \
             attempts = attempts + 1 WHERE channel_id = $3 AND state = 'sending' AND lease_until < $2",
        )
        .bind(reconcile_until)
        .bind(now)
        .bind(channel_id.as_str())
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Unconfirmed sends whose reconciliation window is over (no status echo came).
    pub async fn due_unconfirmed(
        &self,
        channel_id: &ChannelId,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(MessageId, String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, type, expects_message_id, attempts FROM messages WHERE channel_id = $1 \
             AND state IN ('queued', 'unconfirmed') AND next_attempt_at <= $2 AND state = 'unconfirmed' \
             ORDER BY next_attempt_at LIMIT $3",
        )
        .bind(channel_id.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    MessageId::try_from(r.try_get::<String, _>(0)?)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                ))
            })
            .collect()
    }

    /// When the channel's next queued or unconfirmed message is due (None: nothing waits).
    pub async fn next_send_due(&self, channel_id: &ChannelId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM messages WHERE channel_id = $1 AND state IN ('queued', 'unconfirmed')",
        )
        .bind(channel_id.as_str())
        .fetch_one(self.pool())
        .await?)
    }
}

/// Takes (or keeps) the right to drain a channel's send queue for `lease_ms`, in the writer's
/// transaction. One replica at a time holds it, so the channel's rate limits hold across
/// replicas.
pub async fn acquire_send_lease(
    tx: &mut Tx,
    channel_id: &ChannelId,
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
    .bind(channel_id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Claims up to `limit` due messages of a channel for sending, in the group commit's
/// transaction (the writer runs it for [`crate::store::writer::Writer::claim_sends`]): only the
/// oldest open message of each recipient (sends to one person go in order, one at a time), and
/// only while the channel is active and sending, checked in the claim itself: a send's outcome
/// that holds its message and pauses the channel (Meta's 131048 spam limit) commits both at
/// once, and a sender loop that read the channel as sending just before must not claim the
/// held message again (CI once saw it sent despite the pause,
/// `send_state::spam_rate_limit_pauses_sends_not_inbound_and_resume_sends_them::sqlite`).
pub async fn claim_sends(
    tx: &mut Tx,
    backend: Backend,
    channel_id: &ChannelId,
    now: i64,
    limit: i64,
    lease_until: i64,
) -> Result<Vec<ClaimedSend>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT seq, id, recipient, type, body, expects_message_id, attempts, created_at FROM messages m \
         WHERE m.channel_id = $1 AND m.state = 'queued' AND m.next_attempt_at <= $2 \
         AND EXISTS (SELECT 1 FROM channels c WHERE c.id = m.channel_id AND c.status = 'active' \
           AND c.send_state = 'sending') \
         AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.channel_id = m.channel_id \
           AND p.recipient = m.recipient AND p.state IN ('queued', 'sending') AND p.seq < m.seq) \
         ORDER BY m.seq LIMIT $3{lock}"
    );
    let rows: Vec<ClaimedSend> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(channel_id.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    if !rows.is_empty() {
        // All placeholders of one kind: SQLite binds anonymous `?` from the first argument
        // whatever named ones precede them.
        let ph = placeholders(backend, 1, rows.len() + 2);
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
            q = q.bind(r.id.to_string());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(rows)
}
