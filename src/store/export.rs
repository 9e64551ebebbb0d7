//! The rows of an instance's export (P14), read one keyset page at a time.
//!
//! Each page is its own short query on the pool: no transaction and no connection (nor a
//! SQLite read snapshot) is held between pages, so an export of any size holds one page in
//! memory and never blocks writers or starves the pool for the length of a download. The price:
//! the pages are not one snapshot. A row inserted while an export runs appears if its key sorts
//! after the page being read, and a row that changes state between pages may appear with its
//! state at either time (or, for an event that left `pending`, not at all).
//!
//! Every query filters by `instance_id` (P10) and selects metadata only: no token, no secret,
//! no message body, no event content (P01, P05).

use super::*;

/// Rows read per page query.
pub const EXPORT_PAGE_ROWS: i64 = 500;

/// The `(created_at, id)` key before every channel and connect session: pages of those start
/// after a key.
pub const FIRST_CREATED_KEY: (i64, &str) = (i64::MIN, "");

/// A channel as exported: its status, never its token (`has_token` says whether one is held).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportChannelRow {
    pub id: String,
    pub kind: String,
    pub external_id: String,
    pub waba_id: Option<String>,
    pub name: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub rate_limit: Option<i64>,
    pub token_kind: Option<String>,
    pub token_expires_at: Option<i64>,
    pub has_token: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A connect session as exported: no link, browser binding, nonce or temporary token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportSessionRow {
    pub id: String,
    pub kind: String,
    pub flow: String,
    pub state: String,
    pub failure_code: Option<String>,
    /// JSON array of channel ids, once completed.
    pub channel_ids: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
}

/// An undelivered (`pending`, `enriching`) or dead-lettered event's metadata; no content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportEventRow {
    pub seq: i64,
    pub id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub state: String,
    pub channel_id: Option<String>,
    pub attempts: i64,
    pub received_at: i64,
    pub next_attempt_at: i64,
}

/// A message's metadata; never its body.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportMessageRow {
    pub seq: i64,
    pub id: String,
    pub channel_id: String,
    #[sqlx(rename = "type")]
    pub message_type: String,
    pub state: String,
    pub meta_message_id: Option<String>,
    pub client_reference: Option<String>,
    pub attempts: i64,
    pub error_code: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A WhatsApp message template as last read from Meta (no components: the template's text is
/// the business's, read again from Meta on demand).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportTemplateRow {
    pub channel_id: String,
    pub name: String,
    pub language: String,
    pub template_id: String,
    pub status: String,
    pub category: Option<String>,
    pub parameter_format: String,
    pub quality: Option<String>,
    pub synced_at: i64,
}

/// A media file the bridge keeps: never its bytes nor Meta's address.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportMediaRow {
    pub channel_id: String,
    pub media_id: String,
    pub kind: String,
    pub state: String,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub stored_at: Option<i64>,
    pub expires_at: i64,
}

/// The key before every template (`channel_id, name, language`) and media file
/// (`channel_id, media_id`).
pub const FIRST_TEXT_KEY: (&str, &str, &str) = ("", "", "");

impl Store {
    /// Up to `limit` of the instance's templates after `after`, by `(channel_id, name,
    /// language)`.
    pub async fn export_templates_page(
        &self,
        instance_id: &crate::ids::InstanceId,
        after: (&str, &str, &str),
        limit: i64,
    ) -> Result<Vec<ExportTemplateRow>> {
        Ok(sqlx::query_as(
            "SELECT channel_id, name, language, template_id, status, category, parameter_format, quality, synced_at              FROM wa_templates WHERE instance_id = $1 AND (channel_id, name, language) > ($2, $3, $4)              ORDER BY channel_id, name, language LIMIT $5",
        )
        .bind(instance_id.as_str())
        .bind(after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` of the instance's kept media files after `after`, by `(channel_id,
    /// media_id)`.
    pub async fn export_media_page(
        &self,
        instance_id: &crate::ids::InstanceId,
        after: (&str, &str),
        limit: i64,
    ) -> Result<Vec<ExportMediaRow>> {
        Ok(sqlx::query_as(
            "SELECT channel_id, media_id, kind, state, mime_type, size, sha256, error, created_at, stored_at, expires_at              FROM media_files WHERE instance_id = $1 AND (channel_id, media_id) > ($2, $3)              ORDER BY channel_id, media_id LIMIT $4",
        )
        .bind(instance_id.as_str())
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` of the instance's channels after `after`, by `(created_at, id)`.
    pub async fn export_channels_page(
        &self,
        instance_id: &crate::ids::InstanceId,
        after: (i64, &str),
        limit: i64,
    ) -> Result<Vec<ExportChannelRow>> {
        Ok(sqlx::query_as(
            "SELECT id, kind, external_id, waba_id, name, status, status_reason, rate_limit, token_kind, \
             token_expires_at, CASE WHEN token_enc IS NULL THEN 0 ELSE 1 END AS has_token, created_at, updated_at \
             FROM channels WHERE instance_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4",
        )
        .bind(instance_id.as_str())
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` of the instance's connect sessions after `after`, by `(created_at, id)`.
    pub async fn export_sessions_page(
        &self,
        instance_id: &crate::ids::InstanceId,
        after: (i64, &str),
        limit: i64,
    ) -> Result<Vec<ExportSessionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, kind, flow, state, failure_code, channel_ids, created_at, expires_at, finished_at \
             FROM connect_sessions WHERE instance_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4",
        )
        .bind(instance_id.as_str())
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` of the instance's pending, enriching and dead events after `after_seq`,
    /// by `seq` (arrival order).
    pub async fn export_events_page(
        &self,
        instance_id: &crate::ids::InstanceId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ExportEventRow>> {
        Ok(sqlx::query_as(
            "SELECT seq, id, type, state, channel_id, attempts, received_at, next_attempt_at FROM events \
             WHERE instance_id = $1 AND seq > $2 AND state IN ('pending', 'enriching', 'dead') \
             ORDER BY seq LIMIT $3",
        )
        .bind(instance_id.as_str())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` of the instance's messages after `after_seq`, by `seq` (acceptance order).
    pub async fn export_messages_page(
        &self,
        instance_id: &crate::ids::InstanceId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ExportMessageRow>> {
        Ok(sqlx::query_as(
            "SELECT seq, id, channel_id, type, state, meta_message_id, client_reference, attempts, error_code, \
             created_at, updated_at FROM messages WHERE instance_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(instance_id.as_str())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
