//! Leads waiting for their field data before their `lead.received` event is delivered.

use super::*;
use crate::config::Backend;
use crate::events::data::{ChannelBackfillData, LeadReceivedData};
use crate::ids::{ChannelId, InstanceId};

/// A `lead.received` event waiting for its field data.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrichingLead {
    pub seq: i64,
    pub id: String,
    pub channel_id: Option<String>,
    pub data: Option<String>,
    pub attempts: i64,
    pub deadline_at: i64,
}

impl Store {
    /// Claims up to `limit` lead events whose field data is due to be fetched: their next
    /// attempt moves to `claim_until`, so another pass (or replica) does not fetch them at the
    /// same time; a fetch that never reports back is retried once the claim runs out. On
    /// PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED` while claiming.
    pub async fn claim_due_leads(
        &self,
        now: i64,
        limit: i64,
        claim_until: i64,
    ) -> Result<Vec<EnrichingLead>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT seq, id, channel_id, data, attempts, deadline_at FROM events \
             WHERE state = 'enriching' AND next_attempt_at <= $1 ORDER BY next_attempt_at, seq LIMIT $2{lock}"
        );
        let mut tx = self.begin_write().await?;
        let rows: Vec<EnrichingLead> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        for lead in &rows {
            sqlx::query(
                "UPDATE events SET next_attempt_at = $2 WHERE seq = $1 AND state = 'enriching'",
            )
            .bind(lead.seq)
            .bind(claim_until)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// When the next lead waiting for its field data is due (unix ms), if any.
    pub async fn next_lead_due(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM events WHERE state = 'enriching'")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The lead's data is complete: the event is released for delivery, and its Page's
    /// newest lead time moves forward (the gap check's watermark, [`Store::lead_gaps_due`]).
    pub async fn lead_enriched(&self, seq: i64, data: LeadReceivedData) -> Result<bool> {
        let now = crate::now_ms();
        let created_ms = data.created_time_ms.or_else(|| {
            data.created_time
                .as_ref()
                .and_then(serde_json::Value::as_str)
                .and_then(meta_time_ms)
        });
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE events SET state = 'pending', data = $2, next_attempt_at = $3, attempts = 0, last_error = NULL \
             WHERE seq = $1 AND state = 'enriching'",
        )
        .bind(seq)
        .bind(super::event_data_json(&data.into())?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let released = res.rows_affected() == 1;
        if released {
            // Conflict target and `excluded` work alike on SQLite (≥ 3.24) and PostgreSQL.
            sqlx::query(
                "INSERT INTO lead_watch (channel_id, instance_id, last_lead_at, read_until) \
                 SELECT channel_id, instance_id, COALESCE($2, occurred_at, received_at), 0 FROM events \
                 WHERE seq = $1 AND channel_id IS NOT NULL AND instance_id IS NOT NULL \
                 ON CONFLICT (channel_id) DO UPDATE SET last_lead_at = \
                 CASE WHEN excluded.last_lead_at > lead_watch.last_lead_at \
                 THEN excluded.last_lead_at ELSE lead_watch.last_lead_at END",
            )
            .bind(seq)
            .bind(created_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(released)
    }

    /// Page channels (connected, Messenger) whose newest lead and last read window are both
    /// older than `before` (unix ms): their lead webhooks may have stopped.
    pub async fn lead_gaps_due(&self, before: i64, limit: i64) -> Result<Vec<LeadGap>> {
        Ok(sqlx::query_as(
            "SELECT w.channel_id, w.instance_id, w.last_lead_at, w.read_until, w.next_check_at \
             FROM lead_watch w JOIN channels c ON c.id = w.channel_id \
             WHERE c.status <> 'disconnected' AND c.kind = 'messenger' \
             AND w.last_lead_at < $1 AND w.read_until < $1 AND w.next_check_at <= $2 \
             ORDER BY w.next_check_at, w.channel_id LIMIT $3",
        )
        .bind(before)
        .bind(crate::now_ms())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Takes a due gap check for this pass: no other check of the channel starts before
    /// `next_check_at`. False when another pass (or replica) took it first.
    pub async fn claim_lead_gap(&self, gap: &LeadGap, next_check_at: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE lead_watch SET next_check_at = $3 WHERE channel_id = $1 AND next_check_at = $2",
        )
        .bind(gap.channel_id.as_str())
        .bind(gap.next_check_at)
        .bind(next_check_at)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// A backfill read a window up to `until`: a later gap check starts there (never moves
    /// back). Only for channels that have a watch row (a Page that has had leads).
    pub async fn lead_window_read(&self, channel_id: &ChannelId, until: i64) -> Result<()> {
        sqlx::query(
            "UPDATE lead_watch SET read_until = $2 WHERE channel_id = $1 AND read_until < $2",
        )
        .bind(channel_id.as_str())
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Queues `channel.backfill` for the channel's instance, with an audit record.
    pub async fn record_backfill(
        &self,
        channel: &ChannelRow,
        actor: &str,
        data: ChannelBackfillData,
        horizon_ms: i64,
    ) -> Result<()> {
        let now = crate::now_ms();
        let detail = format!(
            "trigger={} found={} relayed={} duplicates={} failed_forms={}",
            data.trigger,
            data.found,
            data.relayed,
            data.duplicates,
            data.failed_forms.len()
        );
        let mut tx = self.begin_write().await?;
        super::outbox::insert_outbound_event(
            &mut tx,
            self.backend,
            super::outbox::OutboundEvent {
                instance_id: &channel.instance_id,
                channel_id: &channel.id,
                channel_kind: Some(channel.kind.as_str()),
                channel_external_id: &channel.external_id,
                conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
                idempotency_key: format!(
                    "chan:{}:backfill:{now}:{}",
                    channel.id,
                    crate::ids::new_id("")
                ),
                data: data.into(),
            },
            now,
            horizon_ms,
        )
        .await?;
        super::audit::audit_in(
            &mut tx,
            actor,
            "channel.leads_backfilled",
            channel.id.as_str(),
            Some(channel.instance_id.as_str()),
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A lead fetch failed: try again at `next_at`, or dead-letter the event when `next_at`
    /// is past its deadline (an operator can replay it once the cause is fixed).
    pub async fn lead_fetch_failed(
        &self,
        lead: &EnrichingLead,
        next_at: i64,
        error: &str,
    ) -> Result<()> {
        let now = crate::now_ms();
        if next_at > lead.deadline_at {
            sqlx::query(
                "UPDATE events SET state = 'dead', dead_at = $2, attempts = attempts + 1, last_error = $3 \
                 WHERE seq = $1 AND state = 'enriching'",
            )
            .bind(lead.seq)
            .bind(now)
            .bind(error)
            .execute(self.pool())
            .await?;
        } else {
            sqlx::query(
                "UPDATE events SET next_attempt_at = $2, attempts = attempts + 1, last_error = $3 \
                 WHERE seq = $1 AND state = 'enriching'",
            )
            .bind(lead.seq)
            .bind(next_at)
            .bind(error)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }
}

/// A Page channel whose lead webhooks may have stopped ([`Store::lead_gaps_due`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeadGap {
    #[sqlx(try_from = "String")]
    pub channel_id: ChannelId,
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
    /// Creation time of the newest lead received (unix ms).
    pub last_lead_at: i64,
    /// End of the last window read from Meta (unix ms; 0 = never).
    pub read_until: i64,
    /// No check starts before this (unix ms).
    pub next_check_at: i64,
}

/// Meta's `created_time` (`2026-11-17T12:00:00+0000`, or RFC 3339) as unix ms.
fn meta_time_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.timestamp_millis())
}
