//! Inbound media the bridge keeps (`media_files`, issue 16 §3): rows written in the ingest
//! transaction, claimed by the media worker, marked stored or failed, read by the download API
//! (always filtered by instance, P10), and deleted at their expiry, with the channel's
//! disconnect and with the instance. The files themselves live on disk ([`crate::media`]);
//! this module never touches them.

use super::*;
use crate::config::Backend;
use crate::ids::{ChannelId, InstanceId};

/// A media file to keep, as the ingest transaction records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediaFile {
    pub channel_id: String,
    pub instance_id: String,
    pub media_id: String,
    pub kind: String,
    pub source_url: Option<String>,
    pub expected_sha256: Option<String>,
    pub expires_at: i64,
}

/// One row of `media_files`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaFileRow {
    pub channel_id: String,
    pub media_id: String,
    pub instance_id: String,
    pub kind: String,
    pub source_url: Option<String>,
    pub expected_sha256: Option<String>,
    /// `pending`, `stored` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub stored_at: Option<i64>,
    pub expires_at: i64,
}

const MEDIA_COLS: &str = "channel_id, media_id, instance_id, kind, source_url, expected_sha256, \
     state, attempts, mime_type, size, sha256, error, created_at, stored_at, expires_at";

const MEDIA_INSERT_COLS: usize = 10;
const MEDIA_CHUNK: usize = 100;

/// Records the files to keep in the ingest transaction (`pending`, due at once). A file already
/// recorded (the same media in a redelivered or repeated webhook) is left as it is.
pub(crate) async fn record_media(
    tx: &mut Tx,
    backend: Backend,
    files: &[NewMediaFile],
    now: i64,
) -> Result<()> {
    for chunk in files.chunks(MEDIA_CHUNK) {
        let sql = format!(
            "INSERT INTO media_files (channel_id, media_id, instance_id, kind, source_url, expected_sha256, \
             state, next_attempt_at, created_at, expires_at) VALUES {} ON CONFLICT (channel_id, media_id) DO NOTHING",
            values_placeholders(backend, chunk.len(), MEDIA_INSERT_COLS)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for f in chunk {
            q = q
                .bind(f.channel_id.as_str())
                .bind(f.media_id.as_str())
                .bind(f.instance_id.as_str())
                .bind(f.kind.as_str())
                .bind(f.source_url.as_deref())
                .bind(f.expected_sha256.as_deref())
                .bind("pending")
                .bind(now)
                .bind(now)
                .bind(f.expires_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Claims up to `limit` files due for download: their lease runs to `lease_until` and their
    /// attempt count goes up, so another pass (or replica) does not fetch them at the same
    /// time; a download that never reports back is tried again once the lease runs out. On
    /// PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED` while claiming.
    pub async fn claim_due_media(
        &self,
        now: i64,
        limit: i64,
        lease_until: i64,
    ) -> Result<Vec<MediaFileRow>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media_files WHERE state = 'pending' AND next_attempt_at <= $1 \
             AND lease_until <= $1 ORDER BY next_attempt_at, created_at LIMIT $2{lock}"
        );
        let mut tx = self.begin_write().await?;
        let mut rows: Vec<MediaFileRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        for row in &mut rows {
            sqlx::query(
                "UPDATE media_files SET lease_until = $3, attempts = attempts + 1 \
                 WHERE channel_id = $1 AND media_id = $2 AND state = 'pending'",
            )
            .bind(row.channel_id.as_str())
            .bind(row.media_id.as_str())
            .bind(lease_until)
            .execute(&mut *tx)
            .await?;
            row.attempts += 1;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// When the next pending download is due (unix ms), if any.
    pub async fn next_media_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END) \
             FROM media_files WHERE state = 'pending'",
        )
        .fetch_one(self.pool())
        .await?)
    }

    /// The file is on disk: its type, size and digest. `false` when the row is gone (the
    /// channel was disconnected meanwhile): the caller deletes the file it wrote.
    pub async fn media_stored(
        &self,
        channel_id: &str,
        media_id: &str,
        mime_type: &str,
        size: i64,
        sha256: &str,
        now: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE media_files SET state = 'stored', mime_type = $3, size = $4, sha256 = $5, \
             stored_at = $6, source_url = NULL, error = NULL, lease_until = 0 \
             WHERE channel_id = $1 AND media_id = $2",
        )
        .bind(channel_id)
        .bind(media_id)
        .bind(mime_type)
        .bind(size)
        .bind(sha256)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The download failed for good (`error` is a machine-readable reason): the CDN address is
    /// forgotten.
    pub async fn media_failed(&self, channel_id: &str, media_id: &str, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET state = 'failed', error = $3, source_url = NULL, lease_until = 0 \
             WHERE channel_id = $1 AND media_id = $2 AND state = 'pending'",
        )
        .bind(channel_id)
        .bind(media_id)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The download failed for now: tried again at `next_attempt_at`.
    pub async fn media_retry(
        &self,
        channel_id: &str,
        media_id: &str,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET error = $3, next_attempt_at = $4, lease_until = 0 \
             WHERE channel_id = $1 AND media_id = $2 AND state = 'pending'",
        )
        .bind(channel_id)
        .bind(media_id)
        .bind(error)
        .bind(next_attempt_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A kept file of a channel of `instance_id`.
    pub async fn media_file(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        media_id: &str,
    ) -> Result<Option<MediaFileRow>> {
        Ok(sqlx::query_as::<_, MediaFileRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {MEDIA_COLS} FROM media_files WHERE channel_id = $1 AND instance_id = $2 AND media_id = $3"
        )))
        .bind(channel_id.as_str())
        .bind(instance_id.as_str())
        .bind(media_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Up to `limit` files past their expiry at `now`: `(instance_id, channel_id, media_id)`.
    pub async fn expired_media(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(String, String, String)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT instance_id, channel_id, media_id FROM media_files WHERE expires_at <= $1 \
             ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Deletes the rows of files whose copies were deleted.
    pub async fn delete_media_rows(&self, files: &[(String, String, String)]) -> Result<u64> {
        let mut done = 0;
        for (_, channel_id, media_id) in files {
            done += sqlx::query("DELETE FROM media_files WHERE channel_id = $1 AND media_id = $2")
                .bind(channel_id.as_str())
                .bind(media_id.as_str())
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(done)
    }

    /// Whether the bridge may keep files of this channel of this instance: the channel exists,
    /// belongs to the instance and is connected. The media worker's sweep deletes the
    /// directory of any other.
    pub async fn media_channel_live(&self, instance_id: &str, channel_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM channels WHERE id = $1 AND instance_id = $2 AND status <> 'disconnected'",
        )
        .bind(channel_id)
        .bind(instance_id)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }
}
