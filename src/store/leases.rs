//! Once-per-cluster job leases: one replica at a time runs a periodic job.

use super::*;

impl Store {
    /// holds it now.
    pub async fn acquire_job_lease(&self, name: &str, owner: &str, ttl_ms: i64) -> Result<bool> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO job_leases (name, owner, lease_until) VALUES ($1, '', 0) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query(
            "UPDATE job_leases SET owner = $2, lease_until = $3 WHERE name = $1 AND (owner = $2 OR lease_until <= $4)",
        )
        .bind(name)
        .bind(owner)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn release_job_lease(&self, name: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE job_leases SET lease_until = 0 WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
