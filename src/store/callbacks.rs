//! Meta's deauthorize and data-deletion callbacks (P15) and their confirmation codes.

use sqlx::Row;

use super::*;

/// A deletion / deauthorization request Meta sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeletionRow {
    pub code: String,
    pub kind: String,
    pub status: String,
    pub channels: i64,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

impl Store {
    /// The confirmation code and channel count of an earlier callback with this
    /// `signed_request` (by its SHA-256), if any.
    pub async fn deletion_request_by_hash(
        &self,
        request_hash: &str,
        kind: &str,
    ) -> Result<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT code, channels FROM deletion_requests WHERE request_hash = $1 AND kind = $2",
        )
        .bind(request_hash)
        .bind(kind)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Records a honoured callback. `Some(first)` when the same request (by `request_hash`) was
    /// recorded meanwhile by a concurrent call: answer with that one.
    pub async fn insert_deletion_request(
        &self,
        code: &str,
        kind: &str,
        user_hash: &str,
        channels: i64,
        request_hash: &str,
    ) -> Result<Option<(String, i64)>> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO deletion_requests (code, kind, user_hash, status, channels, created_at, completed_at, request_hash) \
             VALUES ($1, $2, $3, 'completed', $4, $5, $5, $6) ON CONFLICT (request_hash) WHERE request_hash IS NOT NULL DO NOTHING",
        )
        .bind(code)
        .bind(kind)
        .bind(user_hash)
        .bind(channels)
        .bind(now)
        .bind(request_hash)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            drop(tx);
            return self.deletion_request_by_hash(request_hash, kind).await;
        }
        audit_in(
            &mut tx,
            "meta",
            if kind == "data_deletion" {
                "data.deleted_by_callback"
            } else {
                "user.deauthorized_by_callback"
            },
            code,
            None,
            Some(&format!("{channels} channel(s) disconnected")),
        )
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    pub async fn get_deletion_request(&self, code: &str) -> Result<Option<DeletionRow>> {
        Ok(sqlx::query_as(
            "SELECT code, kind, status, channels, created_at, completed_at FROM deletion_requests WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(self.pool())
        .await?)
    }
}
