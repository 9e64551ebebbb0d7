//! The audit log (P17): who did what to which instance, and when.

use super::*;

/// One audit record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub instance_id: Option<String>,
    pub detail: Option<String>,
}

/// Writes an audit record in a transaction.
pub async fn audit_in(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    target: &str,
    instance_id: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, instance_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crate::now_ms())
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(instance_id)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Writes an audit record naming the instance concerned (P17).
    pub async fn audit_instance(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        instance_id: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        audit_in(&mut tx, actor, action, target, instance_id, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Audit records, newest first, before `before_id` when given.
    pub async fn list_audit(
        &self,
        instance_id: Option<&str>,
        action: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target, instance_id, detail FROM audit_log \
             WHERE ($1 IS NULL OR instance_id = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(instance_id)
        .bind(action)
        .bind(before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
