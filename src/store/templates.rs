//! WhatsApp message templates as last read from Meta, per channel, and when each channel's
//! templates were last read (or failed to be). Every read of the API filters by instance
//! (P10).

use super::*;
use crate::ids::{ChannelId, InstanceId};

const TEMPLATE_COLS: &str = "channel_id, instance_id, name, language, template_id, status, category, \
     parameter_format, components, quality, synced_at";

/// One stored template.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateRow {
    pub channel_id: String,
    pub instance_id: String,
    pub name: String,
    pub language: String,
    pub template_id: String,
    pub status: String,
    pub category: Option<String>,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// Meta's `components` array as JSON text.
    pub components: String,
    pub quality: Option<String>,
    pub synced_at: i64,
}

/// A template to store (from Meta's list or a create).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub template_id: String,
    pub status: String,
    pub category: Option<String>,
    pub parameter_format: String,
    pub components: String,
    pub quality: Option<String>,
}

/// Filters and page of `GET /v1/channels/{id}/templates`.
#[derive(Debug, Default)]
pub struct TemplateFilter<'a> {
    pub status: Option<&'a str>,
    pub name: Option<&'a str>,
    pub language: Option<&'a str>,
    pub category: Option<&'a str>,
    /// Keyset cursor: the (name, language) the previous page ended with.
    pub after: Option<(&'a str, &'a str)>,
    pub limit: i64,
}

/// When a channel's templates were last read.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateSync {
    /// The last complete read; `None` = never.
    pub synced_at: Option<i64>,
    pub attempted_at: i64,
    pub last_error: Option<String>,
}

/// What a full read changed: the templates that are new or whose status or quality changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replaced {
    pub count: usize,
    pub changed: Vec<(String, String)>,
}

impl Store {
    /// Replaces the channel's templates with a complete read from Meta, in one transaction
    /// (a reader sees the old set or the new one, never half), and records the read.
    pub async fn replace_templates(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        templates: &[NewTemplate],
        now: i64,
    ) -> Result<Replaced> {
        let mut tx = self.begin_write().await?;
        let old: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT name, language, status, quality FROM wa_templates WHERE channel_id = $1",
        )
        .bind(channel_id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM wa_templates WHERE channel_id = $1")
            .bind(channel_id.as_str())
            .execute(&mut *tx)
            .await?;
        let mut changed = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in templates {
            if !seen.insert((t.name.as_str(), t.language.as_str())) {
                continue; // Meta listed it twice (pages moved under us): keep the first.
            }
            let before = old.iter().find(|o| o.0 == t.name && o.1 == t.language);
            if before.is_none_or(|o| o.2 != t.status || o.3 != t.quality) {
                changed.push((t.name.clone(), t.language.clone()));
            }
            insert_template(&mut tx, channel_id, instance_id, t, now).await?;
        }
        upsert_sync(&mut tx, channel_id, instance_id, Some(now), now, None).await?;
        tx.commit().await?;
        Ok(Replaced {
            count: seen.len(),
            changed,
        })
    }

    /// Stores one template (a create Meta accepted) without touching the others.
    pub async fn put_template(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        t: &NewTemplate,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM wa_templates WHERE channel_id = $1 AND name = $2 AND language = $3",
        )
        .bind(channel_id.as_str())
        .bind(&t.name)
        .bind(&t.language)
        .execute(&mut *tx)
        .await?;
        insert_template(&mut tx, channel_id, instance_id, t, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets every language of a template (deleted at Meta); how many rows went.
    pub async fn delete_templates_named(&self, channel_id: &ChannelId, name: &str) -> Result<u64> {
        let res = sqlx::query("DELETE FROM wa_templates WHERE channel_id = $1 AND name = $2")
            .bind(channel_id.as_str())
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(res.rows_affected())
    }

    /// A read of the channel's templates failed: when, and why (never a token or a body).
    pub async fn template_sync_failed(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        now: i64,
        error: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        upsert_sync(&mut tx, channel_id, instance_id, None, now, Some(error)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// When the channel's templates were last read; `None` before the first attempt.
    pub async fn template_sync(&self, channel_id: &ChannelId) -> Result<Option<TemplateSync>> {
        Ok(sqlx::query_as(
            "SELECT synced_at, attempted_at, last_error FROM wa_template_syncs WHERE channel_id = $1",
        )
        .bind(channel_id.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    /// How many of the channel's synced templates are in each status (`APPROVED`, ...).
    pub async fn template_counts(&self, channel_id: &ChannelId) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) FROM wa_templates WHERE channel_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(channel_id.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    /// Every language of a template of the channel.
    pub async fn templates_named(
        &self,
        channel_id: &ChannelId,
        name: &str,
    ) -> Result<Vec<TemplateRow>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM wa_templates WHERE channel_id = $1 AND name = $2 ORDER BY language"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(channel_id.as_str())
            .bind(name)
            .fetch_all(self.pool())
            .await?)
    }

    /// One template of one of the instance's channels.
    pub async fn get_template(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        name: &str,
        language: &str,
    ) -> Result<Option<TemplateRow>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM wa_templates \
             WHERE channel_id = $1 AND instance_id = $2 AND name = $3 AND language = $4"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(channel_id.as_str())
            .bind(instance_id.as_str())
            .bind(name)
            .bind(language)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A page of the channel's templates, by name then language, after the cursor.
    pub async fn list_templates(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        f: &TemplateFilter<'_>,
    ) -> Result<Vec<TemplateRow>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM wa_templates \
             WHERE channel_id = $1 AND instance_id = $2 \
               AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR name = $4) \
               AND ($5 IS NULL OR language = $5) AND ($6 IS NULL OR category = $6) \
               AND ($7 IS NULL OR name > $7 OR (name = $7 AND language > $8)) \
             ORDER BY name, language LIMIT $9"
        );
        let (after_name, after_lang) = f.after.unzip();
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(channel_id.as_str())
            .bind(instance_id.as_str())
            .bind(f.status)
            .bind(f.name)
            .bind(f.language)
            .bind(f.category)
            .bind(after_name)
            .bind(after_lang.unwrap_or_default())
            .bind(f.limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// WhatsApp channels whose templates are due for a read: connected, with a token and a
    /// WABA, last tried at or before `before`, or never tried and created at or before
    /// `new_before` (a new channel's first read is the connect's own). Oldest attempt first.
    pub async fn channels_due_template_sync(
        &self,
        before: i64,
        new_before: i64,
        limit: i64,
    ) -> Result<Vec<ChannelRow>> {
        let cols = super::instances::CHANNEL_COLS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM channels c LEFT JOIN wa_template_syncs s ON s.channel_id = c.id \
             WHERE c.kind = 'whatsapp' AND c.status <> 'disconnected' AND c.token_enc IS NOT NULL \
               AND c.waba_id IS NOT NULL \
               AND ((s.attempted_at IS NULL AND c.created_at <= $2) OR s.attempted_at <= $1) \
             ORDER BY COALESCE(s.attempted_at, 0), c.id LIMIT $3"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(before)
            .bind(new_before)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// The message an instance queued under an `Idempotency-Key`: its id and request hash.
    /// (Here because only the template check needs it before enqueueing: a retry of a send
    /// queued before its template was paused still answers the original message.)
    pub async fn message_by_idempotency_key(
        &self,
        instance_id: &InstanceId,
        key: &str,
    ) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, request_hash FROM messages WHERE instance_id = $1 AND idempotency_key = $2",
        )
        .bind(instance_id.as_str())
        .bind(key)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The connected WhatsApp channels of a WhatsApp Business Account (its templates are
    /// theirs).
    pub async fn whatsapp_channels_of_waba(&self, waba_id: &str) -> Result<Vec<ChannelRow>> {
        let sql = format!(
            "SELECT {} FROM channels WHERE kind = 'whatsapp' AND waba_id = $1 AND status <> 'disconnected' ORDER BY id",
            super::instances::CHANNEL_COLS
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(waba_id)
            .fetch_all(self.pool())
            .await?)
    }
}

async fn insert_template(
    tx: &mut Tx,
    channel_id: &ChannelId,
    instance_id: &InstanceId,
    t: &NewTemplate,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO wa_templates (channel_id, instance_id, name, language, template_id, status, category, \
         parameter_format, components, quality, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(channel_id.as_str())
    .bind(instance_id.as_str())
    .bind(&t.name)
    .bind(&t.language)
    .bind(&t.template_id)
    .bind(&t.status)
    .bind(t.category.as_deref())
    .bind(&t.parameter_format)
    .bind(&t.components)
    .bind(t.quality.as_deref())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_sync(
    tx: &mut Tx,
    channel_id: &ChannelId,
    instance_id: &InstanceId,
    synced_at: Option<i64>,
    now: i64,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO wa_template_syncs (channel_id, instance_id, synced_at, attempted_at, last_error) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel_id) DO UPDATE SET \
         synced_at = COALESCE(excluded.synced_at, wa_template_syncs.synced_at), \
         attempted_at = excluded.attempted_at, last_error = excluded.last_error",
    )
    .bind(channel_id.as_str())
    .bind(instance_id.as_str())
    .bind(synced_at)
    .bind(now)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
