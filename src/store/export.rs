//! The machine-readable export of what the bridge holds about an instance (P14).

use serde_json::{Value, json};
use sqlx::Row;

use super::*;

impl Store {
    /// What the bridge holds about an instance, as JSON: the instance (no secrets), its
    /// channels and their status, its connect sessions, its undelivered events and its
    /// messages' metadata (no bodies, no tokens).
    pub async fn export_instance(
        &self,
        instance_id: &crate::ids::InstanceId,
    ) -> Result<Option<Value>> {
        let Some(ins) = self.get_instance(instance_id).await? else {
            return Ok(None);
        };
        let channels = sqlx::query(
            "SELECT id, kind, external_id, waba_id, name, status, status_reason, rate_limit, token_kind, \
             token_expires_at, created_at, updated_at, CASE WHEN token_enc IS NULL THEN 0 ELSE 1 END FROM channels WHERE instance_id = $1 ORDER BY created_at, id",
        )
        .bind(instance_id.as_str())
        .fetch_all(self.pool())
        .await?;
        let mut ch = Vec::with_capacity(channels.len());
        for r in &channels {
            ch.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "kind": r.try_get::<String, _>(1)?,
                "external_id": r.try_get::<String, _>(2)?,
                "waba_id": r.try_get::<Option<String>, _>(3)?,
                "name": r.try_get::<Option<String>, _>(4)?,
                "status": r.try_get::<String, _>(5)?,
                "status_reason": r.try_get::<Option<String>, _>(6)?,
                "rate_limit": r.try_get::<Option<i64>, _>(7)?,
                "token_kind": r.try_get::<Option<String>, _>(8)?,
                "token_expires_at": r.try_get::<Option<i64>, _>(9)?.map(crate::ms_to_rfc3339),
                "has_token": r.try_get::<i64, _>(12)? == 1,
                "created_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(10)?),
                "updated_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(11)?),
            }));
        }
        let sessions = sqlx::query(
            "SELECT id, kind, flow, state, failure_code, channel_ids, created_at, expires_at, finished_at \
             FROM connect_sessions WHERE instance_id = $1 ORDER BY created_at, id",
        )
        .bind(instance_id.as_str())
        .fetch_all(self.pool())
        .await?;
        let mut cs = Vec::with_capacity(sessions.len());
        for r in &sessions {
            let ids: Option<String> = r.try_get(5)?;
            cs.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "kind": r.try_get::<String, _>(1)?,
                "flow": r.try_get::<String, _>(2)?,
                "state": r.try_get::<String, _>(3)?,
                "failure_code": r.try_get::<Option<String>, _>(4)?,
                "channel_ids": ids.and_then(|s| serde_json::from_str::<Value>(&s).ok()),
                "created_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(6)?),
                "expires_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(7)?),
                "finished_at": r.try_get::<Option<i64>, _>(8)?.map(crate::ms_to_rfc3339),
            }));
        }
        let events = sqlx::query(
            "SELECT id, type, state, channel_id, attempts, received_at, next_attempt_at FROM events \
             WHERE instance_id = $1 AND state IN ('pending', 'enriching', 'dead') ORDER BY seq",
        )
        .bind(instance_id.as_str())
        .fetch_all(self.pool())
        .await?;
        let mut ev = Vec::with_capacity(events.len());
        for r in &events {
            ev.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "type": r.try_get::<String, _>(1)?,
                "state": r.try_get::<String, _>(2)?,
                "channel_id": r.try_get::<Option<String>, _>(3)?,
                "attempts": r.try_get::<i64, _>(4)?,
                "received_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(5)?),
                "next_attempt_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(6)?),
            }));
        }
        let messages = sqlx::query(
            "SELECT id, channel_id, type, state, meta_message_id, client_reference, attempts, error_code, created_at, updated_at \
             FROM messages WHERE instance_id = $1 ORDER BY seq",
        )
        .bind(instance_id.as_str())
        .fetch_all(self.pool())
        .await?;
        let mut ms = Vec::with_capacity(messages.len());
        for r in &messages {
            ms.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "channel_id": r.try_get::<String, _>(1)?,
                "type": r.try_get::<String, _>(2)?,
                "status": r.try_get::<String, _>(3)?,
                "meta_message_id": r.try_get::<Option<String>, _>(4)?,
                "client_reference": r.try_get::<Option<String>, _>(5)?,
                "attempts": r.try_get::<i64, _>(6)?,
                "error_code": r.try_get::<Option<i64>, _>(7)?,
                "created_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(8)?),
                "updated_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(9)?),
            }));
        }
        Ok(Some(json!({
            "exported_at": crate::ms_to_rfc3339(crate::now_ms()),
            "instance": {
                "id": ins.id,
                "name": ins.name,
                "callback_url": ins.callback_url,
                "event_types": ins.event_type_list(),
                "delivery_paused_reason": ins.delivery_paused_reason,
                "created_at": crate::ms_to_rfc3339(ins.created_at),
                "updated_at": crate::ms_to_rfc3339(ins.updated_at),
            },
            "channels": ch,
            "connect_sessions": cs,
            "pending_events": ev,
            "messages": ms,
        })))
    }
}
