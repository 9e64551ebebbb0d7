//! Connect sessions, connected channels' token lifecycle, Meta's app callbacks, leads waiting
//! for their field data, once-only job leases, the audit log and the instance export.

use serde_json::{Value, json};
use sqlx::Row;

use super::{OutboundEvent, Result, Store, Tx, insert_outbound_event};
use crate::config::Backend;
use crate::events::data::{
    ChannelConnectedData, ChannelSubscriptionRestoredData, ChannelTokenExpiringData,
    ChannelUpdatedData, LeadReceivedData,
};

/// One connect session (`connect_sessions`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectSessionRow {
    pub id: String,
    pub instance_id: String,
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
    pub instance_id: &'a str,
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
    Created(String),
    /// The instance already had this Meta id: its token and status were replaced.
    Reconnected(String),
    /// Another instance holds this Meta id: nothing was stored.
    TakenByAnotherInstance,
}

/// What the token-health worker needs to know about a channel.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LifecycleRow {
    pub id: String,
    pub instance_id: String,
    pub kind: String,
    pub external_id: String,
    pub waba_id: Option<String>,
    pub status: String,
    pub token_enc: Option<String>,
    pub token_kind: Option<String>,
    pub token_expires_at: Option<i64>,
    pub token_issued_at: Option<i64>,
    pub token_expiry_notified_at: Option<i64>,
    pub subscription_object: Option<String>,
    pub register_pin_enc: Option<String>,
    /// Comma-separated fields subscribed at connect time; `None` = not recorded (older rows).
    pub subscribed_fields: Option<String>,
    /// Instagram channels: `instagram` or `facebook` (meta::login).
    pub login: Option<String>,
}

const LIFECYCLE_COLS: &str = "id, instance_id, kind, external_id, waba_id, status, token_enc, token_kind, \
    token_expires_at, token_issued_at, token_expiry_notified_at, subscription_object, register_pin_enc, \
    subscribed_fields, login";

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
        .bind(&row.instance_id)
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
            Some(&row.instance_id),
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
        instance_id: Option<&str>,
    ) -> Result<Option<ConnectSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM connect_sessions WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(instance_id)
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
        channel_ids: &[String],
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
                let id: String = row.try_get(0)?;
                let owner: String = row.try_get(1)?;
                if owner != c.instance_id {
                    return Ok(ConnectOutcome::TakenByAnotherInstance);
                }
                sqlx::query(
                    "UPDATE channels SET kind = $2, waba_id = COALESCE($3, waba_id), name = COALESCE($4, name), \
                     token_enc = $5, status = $6, status_reason = $7, updated_at = $8, send_state = 'sending', \
                     send_reason = NULL, send_paused_until = NULL, send_pauses = 0 WHERE id = $1",
                )
                .bind(&id)
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
                let id = crate::ids::new_id(crate::ids::CHANNEL);
                sqlx::query(
                    "INSERT INTO channels (id, instance_id, kind, external_id, waba_id, name, token_enc, status, \
                     status_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(&id)
                .bind(c.instance_id)
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
        .bind(&id)
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
                    channel_id: id.clone(),
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
            &id,
            Some(c.instance_id),
            Some(c.kind),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Live channels a Meta user (app-scoped id) connected.
    pub async fn channels_of_meta_user(&self, meta_user_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, instance_id FROM channels WHERE meta_user_id = $1 AND status <> 'disconnected' ORDER BY id",
        )
        .bind(meta_user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    // ----- token lifecycle -----

    /// Takes (or renews) a lease on a once-per-cluster job for `ttl_ms`. True when `owner`
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

    /// Lifecycle rows matching `condition` (whose `$1` is bound to `at`), oldest `order` first.
    async fn lifecycle_rows(
        &self,
        condition: &str,
        order: &str,
        at: i64,
        limit: i64,
    ) -> Result<Vec<LifecycleRow>> {
        let sql = format!(
            "SELECT {LIFECYCLE_COLS} FROM channels WHERE token_enc IS NOT NULL AND {condition} \
             ORDER BY {order}, id LIMIT $2"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(at)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Channels with a token whose last check is older than `checked_before`.
    pub async fn channels_due_token_check(
        &self,
        checked_before: i64,
        limit: i64,
    ) -> Result<Vec<LifecycleRow>> {
        self.lifecycle_rows(
            "status <> 'disconnected' AND token_checked_at < $1",
            "token_checked_at",
            checked_before,
            limit,
        )
        .await
    }

    /// Active channels with a token whose subscription check is older than `checked_before`.
    pub async fn channels_due_subscription_check(
        &self,
        checked_before: i64,
        limit: i64,
    ) -> Result<Vec<LifecycleRow>> {
        self.lifecycle_rows(
            "status = 'active' AND subscription_checked_at < $1",
            "subscription_checked_at",
            checked_before,
            limit,
        )
        .await
    }

    /// WhatsApp numbers waiting for Meta to allow their registration.
    pub async fn channels_due_registration(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<LifecycleRow>> {
        self.lifecycle_rows(
            "status = 'pending' AND register_next_at IS NOT NULL AND register_next_at <= $1",
            "register_next_at",
            now,
            limit,
        )
        .await
    }

    pub async fn mark_token_checked(
        &self,
        id: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE channels SET token_checked_at = $2, token_expires_at = COALESCE($3, token_expires_at) WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn mark_subscription_checked(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE channels SET subscription_checked_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces a refreshed token, only if the stored one is still `old_enc` (another replica
    /// or an operator may have replaced it meanwhile).
    pub async fn store_refreshed_token(
        &self,
        id: &str,
        old_enc: &str,
        new_enc: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE channels SET token_enc = $3, token_expires_at = $4, token_issued_at = $5, token_checked_at = $5, \
             token_expiry_notified_at = NULL, updated_at = $5 WHERE id = $1 AND token_enc = $2",
        )
        .bind(id)
        .bind(old_enc)
        .bind(new_enc)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            audit_in(
                &mut tx,
                "token-health",
                "channel.token_refreshed",
                id,
                None,
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    /// Tells the instance a token will expire and cannot be refreshed automatically
    /// (`channel.token_expiring`), once per expiry.
    pub async fn notify_token_expiring(
        &self,
        row: &LifecycleRow,
        expires_at: i64,
        horizon_ms: i64,
    ) -> Result<bool> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE channels SET token_expiry_notified_at = $2 WHERE id = $1 \
             AND (token_expiry_notified_at IS NULL OR token_expiry_notified_at <> $2)",
        )
        .bind(&row.id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            insert_outbound_event(
                &mut tx,
                self.backend,
                OutboundEvent {
                    instance_id: &row.instance_id,
                    channel_id: &row.id,
                    channel_kind: Some(&row.kind),
                    channel_external_id: &row.external_id,
                    conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
                    idempotency_key: format!("chan:{}:expiring:{expires_at}", row.id),
                    data: ChannelTokenExpiringData {
                        channel_id: row.id.clone(),
                        expires_at: crate::ms_to_rfc3339(expires_at),
                        reason: "the access token expires and cannot be refreshed automatically: connect the channel again before then".to_owned(),
                    }
                    .into(),
                },
                now,
                horizon_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    /// A registration attempt of a pending WhatsApp number: `Some(next)` tries again then,
    /// `None` makes the channel active (Meta registered it).
    pub async fn registration_result(
        &self,
        row: &LifecycleRow,
        next_at: Option<i64>,
        horizon_ms: i64,
    ) -> Result<()> {
        let now = crate::now_ms();
        match next_at {
            Some(next) => {
                sqlx::query("UPDATE channels SET register_next_at = $2 WHERE id = $1")
                    .bind(&row.id)
                    .bind(next)
                    .execute(self.pool())
                    .await?;
            }
            None => {
                let mut tx = self.begin_write().await?;
                let res = sqlx::query(
                    "UPDATE channels SET status = 'active', status_reason = NULL, register_next_at = NULL, updated_at = $2 \
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(&row.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if res.rows_affected() == 1 {
                    // The event names the send state too (unchanged by the registration).
                    let send_state: String =
                        sqlx::query_scalar("SELECT send_state FROM channels WHERE id = $1")
                            .bind(&row.id)
                            .fetch_one(&mut *tx)
                            .await?;
                    let data = ChannelUpdatedData {
                        channel_id: row.id.clone(),
                        status: super::channel_summary("active", &send_state).to_owned(),
                        previous_status: super::channel_summary("pending", &send_state).to_owned(),
                        reason: "Meta registered the phone number".to_owned(),
                        connection: super::connection_of("active").to_owned(),
                        previous_send_state: send_state.clone(),
                        send_state,
                        send_paused_until: None,
                    };
                    insert_outbound_event(
                        &mut tx,
                        self.backend,
                        OutboundEvent {
                            instance_id: &row.instance_id,
                            channel_id: &row.id,
                            channel_kind: Some(&row.kind),
                            channel_external_id: &row.external_id,
                            conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
                            idempotency_key: format!("chan:{}:active:{now}", row.id),
                            data: data.into(),
                        },
                        now,
                        horizon_ms,
                    )
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    // ----- leads -----

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

    // ----- Meta's app callbacks -----

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

    // ----- export (P14) -----

    /// What the bridge holds about an instance, as JSON: the instance (no secrets), its
    /// channels and their status, its connect sessions, its undelivered events and its
    /// messages' metadata (no bodies, no tokens).
    pub async fn export_instance(&self, instance_id: &str) -> Result<Option<Value>> {
        let Some(ins) = self.get_instance(instance_id).await? else {
            return Ok(None);
        };
        let channels = sqlx::query(
            "SELECT id, kind, external_id, waba_id, name, status, status_reason, rate_limit, token_kind, \
             token_expires_at, created_at, updated_at, CASE WHEN token_enc IS NULL THEN 0 ELSE 1 END FROM channels WHERE instance_id = $1 ORDER BY created_at, id",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?;
        let mut ch = Vec::with_capacity(channels.len());
        for r in &channels {
            ch.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "kind": r.try_get::<String, _>(1)?,
                "external_id": r.try_get::<String, _>(2)?,
                "waba_id": r.try_get::<Option<String>, _>(3)?,
                "name": r.try_get::<Option<String>, _>(4)?,
                "status": r.try_get::<String, _>(5)?,
                "status_reason": r.try_get::<Option<String>, _>(6)?,
                "rate_limit": r.try_get::<Option<i64>, _>(7)?,
                "token_kind": r.try_get::<Option<String>, _>(8)?,
                "token_expires_at": r.try_get::<Option<i64>, _>(9)?.map(crate::ms_to_rfc3339),
                "has_token": r.try_get::<i64, _>(12)? == 1,
                "created_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(10)?),
                "updated_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(11)?),
            }));
        }
        let sessions = sqlx::query(
            "SELECT id, kind, flow, state, failure_code, channel_ids, created_at, expires_at, finished_at \
             FROM connect_sessions WHERE instance_id = $1 ORDER BY created_at, id",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?;
        let mut cs = Vec::with_capacity(sessions.len());
        for r in &sessions {
            let ids: Option<String> = r.try_get(5)?;
            cs.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "kind": r.try_get::<String, _>(1)?,
                "flow": r.try_get::<String, _>(2)?,
                "state": r.try_get::<String, _>(3)?,
                "failure_code": r.try_get::<Option<String>, _>(4)?,
                "channel_ids": ids.and_then(|s| serde_json::from_str::<Value>(&s).ok()),
                "created_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(6)?),
                "expires_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(7)?),
                "finished_at": r.try_get::<Option<i64>, _>(8)?.map(crate::ms_to_rfc3339),
            }));
        }
        let events = sqlx::query(
            "SELECT id, type, state, channel_id, attempts, received_at, next_attempt_at FROM events \
             WHERE instance_id = $1 AND state IN ('pending', 'enriching', 'dead') ORDER BY seq",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?;
        let mut ev = Vec::with_capacity(events.len());
        for r in &events {
            ev.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "type": r.try_get::<String, _>(1)?,
                "state": r.try_get::<String, _>(2)?,
                "channel_id": r.try_get::<Option<String>, _>(3)?,
                "attempts": r.try_get::<i64, _>(4)?,
                "received_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(5)?),
                "next_attempt_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(6)?),
            }));
        }
        let messages = sqlx::query(
            "SELECT id, channel_id, type, state, meta_message_id, client_reference, attempts, error_code, created_at, updated_at \
             FROM messages WHERE instance_id = $1 ORDER BY seq",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?;
        let mut ms = Vec::with_capacity(messages.len());
        for r in &messages {
            ms.push(json!({
                "id": r.try_get::<String, _>(0)?,
                "channel_id": r.try_get::<String, _>(1)?,
                "type": r.try_get::<String, _>(2)?,
                "status": r.try_get::<String, _>(3)?,
                "meta_message_id": r.try_get::<Option<String>, _>(4)?,
                "client_reference": r.try_get::<Option<String>, _>(5)?,
                "attempts": r.try_get::<i64, _>(6)?,
                "error_code": r.try_get::<Option<i64>, _>(7)?,
                "created_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(8)?),
                "updated_at": crate::ms_to_rfc3339(r.try_get::<i64, _>(9)?),
            }));
        }
        Ok(Some(json!({
            "exported_at": crate::ms_to_rfc3339(crate::now_ms()),
            "instance": {
                "id": ins.id,
                "name": ins.name,
                "callback_url": ins.callback_url,
                "event_types": ins.event_type_list(),
                "delivery_paused_reason": ins.delivery_paused_reason,
                "created_at": crate::ms_to_rfc3339(ins.created_at),
                "updated_at": crate::ms_to_rfc3339(ins.updated_at),
            },
            "channels": ch,
            "connect_sessions": cs,
            "pending_events": ev,
            "messages": ms,
        })))
    }
}

/// What [`Store::resume_sends`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeOutcome {
    Resumed,
    /// Nothing to resume: sends were not paused.
    AlreadySending,
    /// Sends wait for a new token (reconnect), not for time.
    TokenInvalid,
    NotFound,
}

impl Store {
    /// Meta says a channel's token is dead (`debug_token`: invalid, or a needed permission is
    /// gone): sends `token_invalid`, token deleted (P03), sends held, the instance told
    /// (`channel.updated`). The connection is untouched: its webhooks keep being relayed.
    pub async fn mark_channel_token_invalid(
        &self,
        id: &str,
        reason: &str,
        horizon_ms: i64,
    ) -> Result<()> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        super::apply_channel_changes(
            &mut tx,
            self.backend,
            &[super::ChannelChange {
                channel_id: id.to_string(),
                change: super::SendChange::TokenInvalid {
                    reason: reason.to_string(),
                    delete_token: true,
                },
            }],
            now,
            horizon_ms,
        )
        .await?;
        audit_in(
            &mut tx,
            "token-health",
            "channel.token_invalid",
            id,
            None,
            Some(reason),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes a channel's token check due at the next lifecycle pass (Meta refused the token of
    /// a call: only `debug_token` may condemn it).
    pub async fn request_token_check(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE channels SET token_checked_at = 0 WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Paused channels whose pause has ended (`send_paused_until <= now`), at most `limit`.
    pub async fn channels_due_send_resume(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM channels WHERE send_state = 'paused' AND send_paused_until <= $1 \
             AND status <> 'disconnected' ORDER BY send_paused_until LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Ends a pause of a channel's sends (its timer ran out, or someone asked), with a
    /// `channel.updated` event. Only `paused` resumes: a `token_invalid` channel needs a new
    /// token. `instance_id` limits it to that instance's channel (P10). `who` goes to the audit
    /// log when a person asked.
    pub async fn resume_sends(
        &self,
        id: &str,
        instance_id: Option<&str>,
        reason: &str,
        who: Option<&str>,
        horizon_ms: i64,
    ) -> Result<ResumeOutcome> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT instance_id, status, send_state FROM channels \
             WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)",
        )
        .bind(id)
        .bind(instance_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(ResumeOutcome::NotFound);
        };
        let owner: String = row.try_get(0)?;
        let status: String = row.try_get(1)?;
        let state: String = row.try_get(2)?;
        if status == "disconnected" {
            return Ok(ResumeOutcome::NotFound);
        }
        match state.as_str() {
            super::send_state::SENDING => return Ok(ResumeOutcome::AlreadySending),
            super::send_state::TOKEN_INVALID => return Ok(ResumeOutcome::TokenInvalid),
            _ => {}
        }
        super::apply_channel_changes(
            &mut tx,
            self.backend,
            &[super::ChannelChange {
                channel_id: id.to_string(),
                change: super::SendChange::Resume {
                    reason: reason.to_string(),
                },
            }],
            now,
            horizon_ms,
        )
        .await?;
        if let Some(who) = who {
            audit_in(
                &mut tx,
                who,
                "channel.sends_resumed",
                id,
                Some(&owner),
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ResumeOutcome::Resumed)
    }

    /// Meta had dropped a channel's webhook subscription and it was restored: tell the
    /// instance (messages sent meanwhile may not have reached the bridge).
    pub async fn subscription_restored(&self, row: &LifecycleRow, horizon_ms: i64) -> Result<()> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        insert_outbound_event(
            &mut tx,
            self.backend,
            OutboundEvent {
                instance_id: &row.instance_id,
                channel_id: &row.id,
                channel_kind: Some(&row.kind),
                channel_external_id: &row.external_id,
                conversation_key: crate::events::parse::CHANNEL_CONVERSATION,
                idempotency_key: format!("chan:{}:resubscribed:{now}", row.id),
                data: ChannelSubscriptionRestoredData {
                    channel_id: row.id.clone(),
                    reason: "Meta had removed the app's webhook subscription (usually after repeated delivery failures); it was restored. Messages sent while it was missing may not have been received.".to_owned(),
                }
                .into(),
            },
            now,
            horizon_ms,
        )
        .await?;
        audit_in(
            &mut tx,
            "token-health",
            "channel.resubscribed",
            &row.id,
            Some(&row.instance_id),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lifecycle view of one channel (for unsubscribing at disconnect).
    pub async fn lifecycle_row(&self, id: &str) -> Result<Option<LifecycleRow>> {
        let sql = format!("SELECT {LIFECYCLE_COLS} FROM channels WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Other live channels whose webhooks come through the same subscription object.
    pub async fn others_on_subscription(&self, object: &str, except: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM channels WHERE subscription_object = $1 AND id <> $2 AND status <> 'disconnected'",
        )
        .bind(object)
        .bind(except)
        .fetch_one(self.pool())
        .await?)
    }
}
