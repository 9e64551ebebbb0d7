//! A channel's sending, changed from Meta's answers, and its disconnection; each change an
//! instance can see is reported as an event in the same transaction.

use sqlx::Row;

use super::*;
use crate::channels::{Connection, SendState};
use crate::config::Backend;
use crate::events::data::{ChannelDisconnectedData, ChannelUpdatedData};
use crate::ids::{ChannelId, InstanceId, MessageId};
use crate::messages::lifecycle::{ErrorInfo, Signal};

/// A change of a channel's sending decided from Meta's answers. Never touches the connection:
/// inbound relay goes on whatever happens here.
#[derive(Debug, Clone)]
pub struct ChannelChange {
    pub channel_id: ChannelId,
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
        let instance_id = InstanceId::try_from(row.try_get::<String, _>(0)?)?;
        let kind: String = row.try_get(1)?;
        let external_id: String = row.try_get(2)?;
        let connection = Connection::try_from(row.try_get::<String, _>(3)?)?;
        let previous = SendState::try_from(row.try_get::<String, _>(4)?)?;
        let pauses: i64 = row.try_get(5)?;
        if connection == Connection::Disconnected {
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
                if previous != SendState::Sending {
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
                .bind(SendState::Paused.as_str())
                .bind(reason.as_str())
                .bind(until)
                .bind(now)
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                (SendState::Paused, reason.as_str(), Some(until))
            }
            SendChange::Resume { reason } => {
                if previous != SendState::Paused {
                    continue;
                }
                sqlx::query(
                    "UPDATE channels SET send_state = $1, send_reason = NULL, send_paused_until = NULL, \
                     updated_at = $2 WHERE id = $3",
                )
                .bind(SendState::Sending.as_str())
                .bind(now)
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                (SendState::Sending, reason.as_str(), None)
            }
            SendChange::TokenInvalid {
                reason,
                delete_token,
            } => {
                if previous == SendState::TokenInvalid {
                    continue;
                }
                sqlx::query(
                    "UPDATE channels SET send_state = $1, send_reason = $2, send_paused_until = NULL, \
                     updated_at = $3, token_enc = CASE WHEN $4 = 1 THEN NULL ELSE token_enc END WHERE id = $5",
                )
                .bind(SendState::TokenInvalid.as_str())
                .bind(reason.as_str())
                .bind(now)
                .bind(i64::from(*delete_token))
                .bind(c.channel_id.as_str())
                .execute(&mut **tx)
                .await?;
                (SendState::TokenInvalid, reason.as_str(), None)
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
                connection,
                previous_send_state: previous,
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
    pub instance_id: &'a InstanceId,
    pub channel_id: &'a ChannelId,
    pub kind: &'a str,
    pub external_id: &'a str,
    /// The connection (unchanged by a send-state change).
    pub connection: Connection,
    pub previous_send_state: SendState,
    pub send_state: SendState,
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
    let data = ChannelUpdatedData::new(
        e.channel_id.as_str(),
        (e.connection, e.previous_send_state),
        (e.connection, e.send_state),
        e.reason,
        e.paused_until,
    );
    insert_outbound_event(
        tx,
        backend,
        OutboundEvent {
            instance_id: e.instance_id,
            channel_id: e.channel_id,
            channel_kind: Some(e.kind),
            channel_external_id: e.external_id,
            conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
            idempotency_key: format!("chan:{}:{}:{now}", e.channel_id, e.send_state.as_str()),
            data: data.into(),
        },
        now,
        horizon_ms,
    )
    .await?;
    Ok(())
}

/// [`Store::disconnect_channel`] in the caller's transaction (also used when Meta's
/// `account_update` says our app lost the account). `None` when there is no such connected
/// channel.
pub async fn disconnect_in(
    tx: &mut Tx,
    backend: Backend,
    id: &ChannelId,
    instance_id: Option<&InstanceId>,
    reason: &str,
    now: i64,
    horizon_ms: i64,
) -> Result<Option<Disconnected>> {
    let row = sqlx::query(
        "SELECT instance_id, kind, external_id, token_enc FROM channels \
         WHERE id = $1 AND ($2 IS NULL OR instance_id = $2) AND status <> 'disconnected'",
    )
    .bind(id.as_str())
    .bind(instance_id.map(InstanceId::as_str))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let owner = InstanceId::try_from(row.try_get::<String, _>(0)?)?;
    let kind: String = row.try_get(1)?;
    let external_id: String = row.try_get(2)?;
    let token_enc: Option<String> = row.try_get(3)?;
    sqlx::query(
        "UPDATE channels SET status = 'disconnected', status_reason = $1, token_enc = NULL, \
         send_owner = NULL, send_lease_until = 0, updated_at = $2 WHERE id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    // Disconnecting withdraws consent (P13): what Meta's User Profile API told the bridge about
    // the channel's contacts goes with it.
    sqlx::query("DELETE FROM contact_profiles WHERE channel_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    // Who controls its conversations is the channel's data too (handover, issue 16 §5).
    sqlx::query("DELETE FROM thread_owners WHERE channel_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    // So are the media files kept of its customers' messages (P18): their rows go now, the
    // files at the media worker's next sweep (it deletes the directory of a channel that is
    // not connected).
    sqlx::query("DELETE FROM media_files WHERE channel_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE channel_id = $1 AND state IN ('queued', 'unconfirmed') ORDER BY seq",
    )
    .bind(id.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let open = open
        .into_iter()
        .map(MessageId::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let signals: Vec<MessageSignal> = open
        .iter()
        .map(|m| MessageSignal {
            message_id: m.clone(),
            signal: Signal::Fail {
                error: ErrorInfo::channel_disconnected(),
            },
        })
        .collect();
    let settled = apply_message_signals(tx, backend, &signals, now, horizon_ms).await?;
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
                channel_id: id.to_string(),
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
        settled,
    }))
}

/// What a disconnect did.
#[derive(Debug, Clone)]
pub struct Disconnected {
    /// The ciphertext that was deleted (to drop it from caches).
    pub token_enc: Option<String>,
    /// Messages still waiting that were failed with `channel_disconnected`.
    pub failed_messages: usize,
    /// Those messages, for the settled notice ([`super::settled`]).
    pub settled: Vec<MessageId>,
}
impl Store {
    /// Disconnects a channel (P03, P13): deletes its token, stops routing and sending, fails
    /// its waiting messages, and tells its instance (`channel.disconnected`). The row stays
    /// (its messages and events refer to it) and the Meta id can be connected again.
    pub async fn disconnect_channel(
        &self,
        id: &ChannelId,
        instance_id: Option<&InstanceId>,
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
        if let Some(d) = &done {
            self.commit_settled(tx, &d.settled).await?;
        }
        Ok(done)
    }
}
