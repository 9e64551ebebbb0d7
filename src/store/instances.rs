//! Instances (tenants) and their channels.

use super::{Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub name: String,
    pub callback_url: String,
    pub signing_secret_enc: String,
    pub event_types: Option<String>,
    pub delivery_paused_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl InstanceRow {
    /// Subscribed event types; `None` means all.
    pub fn event_type_list(&self) -> Option<Vec<String>> {
        self.event_types
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: String,
    pub instance_id: String,
    pub kind: String,
    pub external_id: String,
    pub waba_id: Option<String>,
    pub name: Option<String>,
    pub token_enc: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields of an instance that can change; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct InstancePatch {
    pub name: Option<String>,
    pub callback_url: Option<String>,
    /// `Some(None)` subscribes to every type.
    pub event_types: Option<Option<Vec<String>>>,
    /// `Some(None)` resumes a paused delivery.
    pub delivery_paused_reason: Option<Option<String>>,
}

const INSTANCE_COLS: &str = "id, name, callback_url, signing_secret_enc, event_types, delivery_paused_reason, created_at, updated_at";
const CHANNEL_COLS: &str =
    "id, instance_id, kind, external_id, waba_id, name, token_enc, status, created_at, updated_at";

impl Store {
    pub async fn insert_instance(&self, row: &InstanceRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, name, callback_url, signing_secret_enc, event_types, delivery_paused_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.callback_url)
        .bind(&row.signing_secret_enc)
        .bind(&row.event_types)
        .bind(&row.delivery_paused_reason)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_instances(&self) -> Result<Vec<InstanceRow>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM instances ORDER BY created_at, id");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn get_instance(&self, id: &str) -> Result<Option<InstanceRow>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM instances WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Applies `patch`; returns the updated row, or `None` when no such instance exists.
    pub async fn update_instance(
        &self,
        id: &str,
        patch: &InstancePatch,
    ) -> Result<Option<InstanceRow>> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {INSTANCE_COLS} FROM instances WHERE id = $1");
        let current: Option<InstanceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut row) = current else {
            return Ok(None);
        };
        if let Some(name) = &patch.name {
            row.name = name.clone();
        }
        if let Some(url) = &patch.callback_url {
            row.callback_url = url.clone();
        }
        if let Some(types) = &patch.event_types {
            row.event_types = types
                .as_ref()
                .map(|t| serde_json::to_string(t).unwrap_or_default());
        }
        if let Some(paused) = &patch.delivery_paused_reason {
            row.delivery_paused_reason = paused.clone();
        }
        row.updated_at = crate::now_ms();
        sqlx::query(
            "UPDATE instances SET name = $2, callback_url = $3, event_types = $4, delivery_paused_reason = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(&row.name)
        .bind(&row.callback_url)
        .bind(&row.event_types)
        .bind(&row.delivery_paused_reason)
        .bind(row.updated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    pub async fn set_instance_secret(&self, id: &str, secret_enc: &str) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE instances SET signing_secret_enc = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(secret_enc)
        .bind(crate::now_ms())
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Deletes an instance with its channels (tokens included, P03), events and attempts.
    pub async fn delete_instance(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM delivery_attempts WHERE instance_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM events WHERE instance_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM channels WHERE instance_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn insert_channel(&self, row: &ChannelRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO channels (id, instance_id, kind, external_id, waba_id, name, token_enc, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(&row.instance_id)
        .bind(&row.kind)
        .bind(&row.external_id)
        .bind(&row.waba_id)
        .bind(&row.name)
        .bind(&row.token_enc)
        .bind(&row.status)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Channels, of one instance when `instance_id` is given.
    pub async fn list_channels(&self, instance_id: Option<&str>) -> Result<Vec<ChannelRow>> {
        let rows = match instance_id {
            Some(ins) => {
                let sql = format!(
                    "SELECT {CHANNEL_COLS} FROM channels WHERE instance_id = $1 ORDER BY created_at, id"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(ins)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                let sql = format!("SELECT {CHANNEL_COLS} FROM channels ORDER BY created_at, id");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        Ok(rows)
    }

    /// A channel, only if it belongs to `instance_id` when one is given (P10).
    pub async fn get_channel(
        &self,
        id: &str,
        instance_id: Option<&str>,
    ) -> Result<Option<ChannelRow>> {
        let sql = format!(
            "SELECT {CHANNEL_COLS} FROM channels WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(instance_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Removes a channel and its stored token (P03, P13); its events stop being routed.
    pub async fn delete_channel(&self, id: &str, instance_id: Option<&str>) -> Result<bool> {
        let res =
            sqlx::query("DELETE FROM channels WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)")
                .bind(id)
                .bind(instance_id)
                .execute(self.pool())
                .await?;
        Ok(res.rows_affected() > 0)
    }
}
