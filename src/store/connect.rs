//! Connect sessions and the channels they create.

use serde_json::json;
use sqlx::Row;

use super::*;
use crate::events::data::ChannelConnectedData;
use crate::ids::{ChannelId, InstanceId};

/// One connect session (`connect_sessions`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectSessionRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
    pub kind: String,
    pub flow: String,
    pub return_url: String,
    pub locale: Option<String>,
    pub state: String,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    /// JSON array of channel ids once completed.
    pub channel_ids: Option<String>,
    pub browser_hash: Option<String>,
    pub nonce_hash: Option<String>,
    pub temp_enc: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
}

impl ConnectSessionRow {
    /// The state as the outside sees it: a pending session past its expiry is `expired`.
    pub fn effective_state(&self, now: i64) -> &str {
        if self.state == "pending" && self.expires_at <= now {
            "expired"
        } else {
            &self.state
        }
    }

    pub fn channel_id_list(&self) -> Vec<String> {
        self.channel_ids
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }
}

const SESSION_COLS: &str = "id, instance_id, kind, flow, return_url, locale, state, failure_code, failure_reason, \
    channel_ids, browser_hash, nonce_hash, temp_enc, created_at, updated_at, expires_at, finished_at";

/// A channel the connect flow is about to create (or refresh, when the same instance
/// connects the same Meta id again).
#[derive(Debug, Clone)]
pub struct ConnectedChannel<'a> {
    pub instance_id: &'a InstanceId,
    pub session_id: &'a str,
    pub kind: &'a str,
    pub external_id: &'a str,
    pub waba_id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub token_enc: &'a str,
    pub token_kind: &'a str,
    pub token_expires_at: Option<i64>,
    pub subscription_object: Option<&'a str>,
    /// Comma-separated webhook fields the object was subscribed to (Pages, Instagram Login);
    /// `None` for WABAs, which take none.
    pub subscribed_fields: Option<&'a str>,
    /// Permissions the person did not grant (fields left out); told to the instance.
    pub missing_permissions: &'a [String],
    pub meta_user_id: Option<&'a str>,
    pub register_pin_enc: Option<&'a str>,
    /// `active`, or `pending` (a WhatsApp number Meta does not let us register yet).
    pub status: &'a str,
    pub status_reason: Option<&'a str>,
    pub register_next_at: Option<i64>,
    /// Instagram channels: `instagram` (Instagram Login) or `facebook` (through the Page).
    pub login: Option<&'a str>,
}

/// What storing a connected channel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectOutcome {
    Created(ChannelId),
    /// The instance already had this Meta id: its token and status were replaced.
    Reconnected(ChannelId),
    /// Another instance holds this Meta id: nothing was stored.
    TakenByAnotherInstance,
}

impl Store {
    pub async fn insert_connect_session(
        &self,
        row: &ConnectSessionRow,
        link_hash: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO connect_sessions (id, instance_id, kind, flow, link_hash, return_url, locale, state, \
             created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(row.instance_id.as_str())
        .bind(&row.kind)
        .bind(&row.flow)
        .bind(link_hash)
        .bind(&row.return_url)
        .bind(&row.locale)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.expires_at)
        .execute(&mut *tx)
        .await?;
        audit_in(
            &mut tx,
            "instance",
            "connect_session.created",
            &row.id,
            Some(row.instance_id.as_str()),
            Some(&row.kind),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A session, only if it belongs to `instance_id` when one is given (P10).
    pub async fn get_connect_session(
        &self,
        id: &str,
        instance_id: Option<&InstanceId>,
    ) -> Result<Option<ConnectSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM connect_sessions WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(instance_id.map(InstanceId::as_str))
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn connect_session_by_link(
        &self,
        link_hash: &str,
    ) -> Result<Option<ConnectSessionRow>> {
        let sql = format!("SELECT {SESSION_COLS} FROM connect_sessions WHERE link_hash = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(link_hash)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Binds a pending session to a browser (first start wins) and stores the hash of a new
    /// OAuth state nonce. False when the session is not pending, has expired, or is bound to
    /// another browser.
    pub async fn start_connect_attempt(
        &self,
        id: &str,
        browser_hash: &str,
        nonce_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE connect_sessions SET browser_hash = $2, nonce_hash = $3, updated_at = $4 \
             WHERE id = $1 AND state = 'pending' AND expires_at > $4 AND (browser_hash IS NULL OR browser_hash = $2)",
        )
        .bind(id)
        .bind(browser_hash)
        .bind(nonce_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Uses up the session's OAuth state nonce: true exactly once per nonce, for the bound
    /// browser, while the session is pending and unexpired.
    pub async fn consume_connect_nonce(
        &self,
        id: &str,
        nonce_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE connect_sessions SET nonce_hash = NULL, updated_at = $4 \
             WHERE id = $1 AND nonce_hash = $2 AND browser_hash = $3 AND state = 'pending' AND expires_at > $4",
        )
        .bind(id)
        .bind(nonce_hash)
        .bind(browser_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Keeps the encrypted temporary data (token and candidate assets) while the person picks.
    pub async fn set_connect_temp(&self, id: &str, temp_enc: Option<&str>) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE connect_sessions SET temp_enc = $2, updated_at = $3 WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(temp_enc)
        .bind(crate::now_ms())
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Ends a pending session (`completed` or `failed`) and deletes its temporary data (P06).
    /// False when it had already ended.
    pub async fn finish_connect_session(
        &self,
        id: &str,
        state: &str,
        failure: Option<(&str, &str)>,
        channel_ids: &[ChannelId],
    ) -> Result<bool> {
        let now = crate::now_ms();
        let res = sqlx::query(
            "UPDATE connect_sessions SET state = $2, failure_code = $3, failure_reason = $4, channel_ids = $5, \
             browser_hash = NULL, nonce_hash = NULL, temp_enc = NULL, updated_at = $6, finished_at = $6 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(state)
        .bind(failure.map(|f| f.0))
        .bind(failure.map(|f| f.1))
        .bind((!channel_ids.is_empty()).then(|| json!(channel_ids).to_string()))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Marks pending sessions past their expiry `expired` and deletes their temporary data
    /// (P06). Returns how many.
    pub async fn expire_connect_sessions(&self, now: i64) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE connect_sessions SET state = 'expired', browser_hash = NULL, nonce_hash = NULL, temp_enc = NULL, \
             updated_at = $1, finished_at = $1 WHERE state = 'pending' AND expires_at <= $1",
        )
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected())
    }

    /// Deletes ended connect sessions last changed before `before` (they hold ids and the
    /// outcome only).
    pub async fn purge_connect_sessions(&self, before: i64) -> Result<u64> {
        let res = sqlx::query(
            "DELETE FROM connect_sessions WHERE state <> 'pending' AND updated_at < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected())
    }

    /// Stores a channel the connect flow created: the channel (or the refreshed existing one
    /// of the same instance), its `channel.connected` event and the audit record, in one
    /// transaction.
    pub async fn store_connected_channel(
        &self,
        c: &ConnectedChannel<'_>,
        horizon_ms: i64,
    ) -> Result<ConnectOutcome> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(
            "SELECT id, instance_id FROM channels WHERE external_id = $1 AND status <> 'disconnected'",
        )
        .bind(c.external_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, outcome) = match existing {
            Some(row) => {
                let id = ChannelId::try_from(row.try_get::<String, _>(0)?)?;
                let owner: String = row.try_get(1)?;
                if owner != c.instance_id.as_str() {
                    return Ok(ConnectOutcome::TakenByAnotherInstance);
                }
                sqlx::query(
                    "UPDATE channels SET kind = $2, waba_id = COALESCE($3, waba_id), name = COALESCE($4, name), \
                     token_enc = $5, status = $6, status_reason = $7, updated_at = $8, send_state = 'sending', \
                     send_reason = NULL, send_paused_until = NULL, send_pauses = 0 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(c.kind)
                .bind(c.waba_id)
                .bind(c.name)
                .bind(c.token_enc)
                .bind(c.status)
                .bind(c.status_reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id.clone(), ConnectOutcome::Reconnected(id))
            }
            None => {
                let id = ChannelId::new();
                sqlx::query(
                    "INSERT INTO channels (id, instance_id, kind, external_id, waba_id, name, token_enc, status, \
                     status_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(id.as_str())
                .bind(c.instance_id.as_str())
                .bind(c.kind)
                .bind(c.external_id)
                .bind(c.waba_id)
                .bind(c.name)
                .bind(c.token_enc)
                .bind(c.status)
                .bind(c.status_reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id.clone(), ConnectOutcome::Created(id))
            }
        };
        sqlx::query(
            "UPDATE channels SET token_kind = $2, token_expires_at = $3, token_issued_at = $4, token_checked_at = $4, \
             token_expiry_notified_at = NULL, subscription_object = $5, subscription_checked_at = $4, \
             meta_user_id = $6, register_pin_enc = COALESCE($7, register_pin_enc), register_next_at = $8, \
             subscribed_fields = $9, login = $10 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(c.token_kind)
        .bind(c.token_expires_at)
        .bind(now)
        .bind(c.subscription_object)
        .bind(c.meta_user_id)
        .bind(c.register_pin_enc)
        .bind(c.register_next_at)
        .bind(c.subscribed_fields)
        .bind(c.login)
        .execute(&mut *tx)
        .await?;
        insert_outbound_event(
            &mut tx,
            self.backend,
            OutboundEvent {
                instance_id: c.instance_id,
                channel_id: &id,
                channel_kind: Some(c.kind),
                channel_external_id: c.external_id,
                conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
                idempotency_key: format!("chan:{id}:connected:{}", c.session_id),
                data: ChannelConnectedData {
                    channel_id: id.to_string(),
                    kind: c.kind.to_owned(),
                    external_id: c.external_id.to_owned(),
                    waba_id: c.waba_id.map(str::to_owned),
                    name: c.name.map(str::to_owned),
                    status: c.status.to_owned(),
                    reason: c.status_reason.map(str::to_owned),
                    connect_session_id: c.session_id.to_owned(),
                    reconnected: matches!(outcome, ConnectOutcome::Reconnected(_)),
                    missing_permissions: c.missing_permissions.to_vec(),
                }
                .into(),
            },
            now,
            horizon_ms,
        )
        .await?;
        audit_in(
            &mut tx,
            &format!("connect:{}", c.session_id),
            "channel.connected",
            id.as_str(),
            Some(c.instance_id.as_str()),
            Some(c.kind),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Live channels a Meta user (app-scoped id) connected.
    pub async fn channels_of_meta_user(
        &self,
        meta_user_id: &str,
    ) -> Result<Vec<(ChannelId, InstanceId)>> {
        let rows = sqlx::query(
            "SELECT id, instance_id FROM channels WHERE meta_user_id = $1 AND status <> 'disconnected' ORDER BY id",
        )
        .bind(meta_user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    ChannelId::try_from(r.try_get::<String, _>(0)?)?,
                    InstanceId::try_from(r.try_get::<String, _>(1)?)?,
                ))
            })
            .collect()
    }
}
