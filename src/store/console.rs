//! What the operator console reads and keeps besides the shared rows (issue 18): its
//! sessions, the throughput history behind its charts, and summaries of instances and
//! channels. Every change the console makes goes through the same functions as the admin API.

use sqlx::Row;

use super::{Result, Store};
use crate::ids::{EventId, InstanceId};

/// A console session as stored (the cookie value itself is never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsoleSessionRow {
    pub id_hash: String,
    pub token_hash: String,
    pub created_at: i64,
    pub seen_at: i64,
}

/// One minute of throughput, summed over every replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryPoint {
    /// Unix ms at the start of the minute.
    pub minute: i64,
    pub webhooks_in: i64,
    pub delivered: i64,
    pub sends: i64,
    pub failures: i64,
    pub dead_letters: i64,
}

/// The delivery backlog of one instance: pending events, those already tried (the receiver
/// failed), dead letters, the oldest pending event and the last error seen.
#[derive(Debug, Clone, Default)]
pub struct InstanceBacklog {
    pub instance_id: String,
    pub pending: i64,
    pub retrying: i64,
    pub dead: i64,
    pub oldest_pending_at: Option<i64>,
}

/// What the console shows of a channel besides its row: token expiry and last traffic.
#[derive(Debug, Clone, Default)]
pub struct ChannelActivity {
    pub channel_id: String,
    pub token_expires_at: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
}

/// An event's stored content (absent once delivered or purged by retention, P05).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventContent {
    pub contact: Option<String>,
    pub data: Option<String>,
    pub raw: Option<String>,
}

/// How long the throughput history is kept.
pub const HISTORY_RETENTION_MS: i64 = 2 * 24 * 3600 * 1000;

impl Store {
    pub async fn insert_console_session(&self, row: &ConsoleSessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_hash, created_at, seen_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.id_hash)
        .bind(&row.token_hash)
        .bind(row.created_at)
        .bind(row.seen_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn get_console_session(&self, id_hash: &str) -> Result<Option<ConsoleSessionRow>> {
        Ok(sqlx::query_as(
            "SELECT id_hash, token_hash, created_at, seen_at FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Marks a session as used now.
    pub async fn touch_console_session(&self, id_hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET seen_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_console_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes sessions idle since before `before`.
    pub async fn purge_console_sessions(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM console_sessions WHERE seen_at < $1")
                .bind(before)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }

    /// Adds one replica's counts to a minute of the history.
    pub async fn add_history(&self, replica: &str, p: &HistoryPoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO metrics_history (minute, replica, webhooks_in, delivered, sends, failures, dead_letters) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (minute, replica) DO UPDATE SET \
             webhooks_in = metrics_history.webhooks_in + excluded.webhooks_in, \
             delivered = metrics_history.delivered + excluded.delivered, \
             sends = metrics_history.sends + excluded.sends, \
             failures = metrics_history.failures + excluded.failures, \
             dead_letters = metrics_history.dead_letters + excluded.dead_letters",
        )
        .bind(p.minute)
        .bind(replica)
        .bind(p.webhooks_in)
        .bind(p.delivered)
        .bind(p.sends)
        .bind(p.failures)
        .bind(p.dead_letters)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The history from `since` on (unix ms), one point per minute that counted anything.
    pub async fn history_since(&self, since: i64) -> Result<Vec<HistoryPoint>> {
        let rows = sqlx::query(
            "SELECT minute, CAST(SUM(webhooks_in) AS BIGINT), CAST(SUM(delivered) AS BIGINT), \
             CAST(SUM(sends) AS BIGINT), CAST(SUM(failures) AS BIGINT), CAST(SUM(dead_letters) AS BIGINT) \
             FROM metrics_history WHERE minute >= $1 GROUP BY minute ORDER BY minute",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryPoint {
                    minute: r.try_get(0)?,
                    webhooks_in: r.try_get(1)?,
                    delivered: r.try_get(2)?,
                    sends: r.try_get(3)?,
                    failures: r.try_get(4)?,
                    dead_letters: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Removes history older than `before`.
    pub async fn purge_history(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM metrics_history WHERE minute < $1")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Every instance with pending events or dead letters, with its counts.
    pub async fn instance_backlogs(&self) -> Result<Vec<InstanceBacklog>> {
        let rows = sqlx::query(
            "SELECT instance_id, \
             CAST(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN state = 'pending' AND attempts > 0 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS BIGINT), \
             MIN(CASE WHEN state = 'pending' THEN received_at END) \
             FROM events WHERE state IN ('pending', 'dead') AND instance_id IS NOT NULL GROUP BY instance_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InstanceBacklog {
                    instance_id: r.try_get(0)?,
                    pending: r.try_get(1)?,
                    retrying: r.try_get(2)?,
                    dead: r.try_get(3)?,
                    oldest_pending_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The last delivery failure of an instance (status and error of its newest event that
    /// was tried and is still pending or dead).
    pub async fn last_delivery_failure(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<(Option<i64>, Option<String>)>> {
        let row = sqlx::query(
            "SELECT last_status, last_error FROM events WHERE instance_id = $1 AND state IN ('pending', 'dead') \
             AND attempts > 0 ORDER BY seq DESC LIMIT 1",
        )
        .bind(instance_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Token expiry and last traffic of the channels of an instance (of every instance when
    /// `None`).
    pub async fn channel_activity(
        &self,
        instance_id: Option<&InstanceId>,
    ) -> Result<Vec<ChannelActivity>> {
        let rows = sqlx::query(
            "SELECT c.id, c.token_expires_at, \
             (SELECT e.received_at FROM events e WHERE e.instance_id = c.instance_id AND e.channel_id = c.id \
              ORDER BY e.seq DESC LIMIT 1), \
             (SELECT m.created_at FROM messages m WHERE m.instance_id = c.instance_id AND m.channel_id = c.id \
              ORDER BY m.seq DESC LIMIT 1) \
             FROM channels c WHERE ($1 IS NULL OR c.instance_id = $1) ORDER BY c.created_at",
        )
        .bind(instance_id.map(InstanceId::as_str))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChannelActivity {
                    channel_id: r.try_get(0)?,
                    token_expires_at: r.try_get(1)?,
                    last_inbound_at: r.try_get(2)?,
                    last_outbound_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// An event's content while it is still stored.
    pub async fn event_content(&self, id: &EventId) -> Result<Option<EventContent>> {
        Ok(
            sqlx::query_as("SELECT contact, data, raw FROM events WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
