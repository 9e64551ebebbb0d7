//! The outbox: events the bridge itself originates, appended in the caller's transaction for
//! the instances that subscribe to their type.

use super::*;
use crate::config::Backend;
use crate::events::data::EventData;
use crate::ids::{ChannelId, EventId, InstanceId};

/// `data` as the events table keeps it (see [`EventData::to_json`]).
pub fn event_data_json(data: &EventData) -> Result<String> {
    data.to_json()
        .map_err(|e| super::StoreError::Other(format!("event data does not serialise: {e}")))
}

/// An event the bridge itself originates (not from a webhook); its type is its data's.
pub struct OutboundEvent<'a> {
    pub instance_id: &'a InstanceId,
    pub channel_id: &'a ChannelId,
    pub channel_kind: Option<&'a str>,
    pub channel_external_id: &'a str,
    pub conversation_key: &'a str,
    pub idempotency_key: String,
    pub data: EventData,
}

/// Whether `instance_id` subscribes to `event_type` (looked up once per batch).
pub(super) async fn subscribed(
    tx: &mut Tx,
    cache: &mut std::collections::HashMap<InstanceId, Option<Vec<String>>>,
    instance_id: &InstanceId,
    event_type: &str,
) -> Result<bool> {
    if !cache.contains_key(instance_id) {
        let types: Option<Option<String>> =
            sqlx::query_scalar("SELECT event_types FROM instances WHERE id = $1")
                .bind(instance_id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        // A deleted instance subscribes to nothing; NULL subscribes to everything.
        let list = match types {
            None => Some(Vec::new()),
            Some(None) => None,
            Some(Some(t)) => Some(serde_json::from_str::<Vec<String>>(&t).unwrap_or_default()),
        };
        cache.insert(instance_id.clone(), list);
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

pub(super) async fn insert_event_row(
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
        .bind(EventId::new().into_string())
        .bind(ev.instance_id.as_str())
        .bind(ev.channel_id.as_str())
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
