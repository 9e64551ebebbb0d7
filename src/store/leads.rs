//! Leads waiting for their field data before their `lead.received` event is delivered.

use super::*;
use crate::config::Backend;
use crate::events::data::LeadReceivedData;

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

    /// The lead's data is complete: the event is released for delivery.
    pub async fn lead_enriched(&self, seq: i64, data: LeadReceivedData) -> Result<bool> {
        let now = crate::now_ms();
        let res = sqlx::query(
            "UPDATE events SET state = 'pending', data = $2, next_attempt_at = $3, attempts = 0, last_error = NULL \
             WHERE seq = $1 AND state = 'enriching'",
        )
        .bind(seq)
        .bind(super::event_data_json(&data.into())?)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() == 1)
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
