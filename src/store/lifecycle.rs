//! Connected channels' token and subscription lifecycle: health checks, refreshes, expiry
//! notices, number registration, dead tokens and send pauses.

use sqlx::Row;

use super::*;
use crate::channels::{Connection, SendState};
use crate::events::data::{
    ChannelSubscriptionRestoredData, ChannelTokenExpiringData, ChannelUpdatedData,
};
use crate::ids::{ChannelId, InstanceId};

/// What the token-health worker needs to know about a channel.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LifecycleRow {
    #[sqlx(try_from = "String")]
    pub id: ChannelId,
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
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

impl Store {
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
        id: &ChannelId,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE channels SET token_checked_at = $2, token_expires_at = COALESCE($3, token_expires_at) WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn mark_subscription_checked(&self, id: &ChannelId, now: i64) -> Result<()> {
        sqlx::query("UPDATE channels SET subscription_checked_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces a refreshed token, only if the stored one is still `old_enc` (another replica
    /// or an operator may have replaced it meanwhile).
    pub async fn store_refreshed_token(
        &self,
        id: &ChannelId,
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
        .bind(id.as_str())
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
                id.as_str(),
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
        .bind(row.id.as_str())
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
                        channel_id: row.id.to_string(),
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
                    .bind(row.id.as_str())
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
                .bind(row.id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if res.rows_affected() == 1 {
                    // The event names the send state too (unchanged by the registration).
                    let send_state = SendState::try_from(
                        sqlx::query_scalar::<_, String>(
                            "SELECT send_state FROM channels WHERE id = $1",
                        )
                        .bind(row.id.as_str())
                        .fetch_one(&mut *tx)
                        .await?,
                    )?;
                    let data = ChannelUpdatedData::new(
                        row.id.as_str(),
                        (Connection::Pending, send_state),
                        (Connection::Active, send_state),
                        "Meta registered the phone number",
                        None,
                    );
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
        id: &ChannelId,
        reason: &str,
        horizon_ms: i64,
    ) -> Result<()> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        super::apply_channel_changes(
            &mut tx,
            self.backend,
            &[super::ChannelChange {
                channel_id: id.clone(),
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
            id.as_str(),
            None,
            Some(reason),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes a channel's token check due at the next lifecycle pass (Meta refused the token of
    /// a call: only `debug_token` may condemn it).
    pub async fn request_token_check(&self, id: &ChannelId) -> Result<()> {
        sqlx::query("UPDATE channels SET token_checked_at = 0 WHERE id = $1")
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Paused channels whose pause has ended (`send_paused_until <= now`), at most `limit`.
    pub async fn channels_due_send_resume(&self, now: i64, limit: i64) -> Result<Vec<ChannelId>> {
        let rows = sqlx::query(
            "SELECT id FROM channels WHERE send_state = 'paused' AND send_paused_until <= $1 \
             AND status <> 'disconnected' ORDER BY send_paused_until LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok(ChannelId::try_from(r.try_get::<String, _>(0)?)?))
            .collect()
    }

    /// Ends a pause of a channel's sends (its timer ran out, or someone asked), with a
    /// `channel.updated` event. Only `paused` resumes: a `token_invalid` channel needs a new
    /// token. `instance_id` limits it to that instance's channel (P10). `who` goes to the audit
    /// log when a person asked.
    pub async fn resume_sends(
        &self,
        id: &ChannelId,
        instance_id: Option<&InstanceId>,
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
        .bind(id.as_str())
        .bind(instance_id.map(InstanceId::as_str))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(ResumeOutcome::NotFound);
        };
        let owner: String = row.try_get(0)?;
        let connection = Connection::try_from(row.try_get::<String, _>(1)?)?;
        let state = SendState::try_from(row.try_get::<String, _>(2)?)?;
        if connection == Connection::Disconnected {
            return Ok(ResumeOutcome::NotFound);
        }
        match state {
            SendState::Sending => return Ok(ResumeOutcome::AlreadySending),
            SendState::TokenInvalid => return Ok(ResumeOutcome::TokenInvalid),
            SendState::Paused => {}
        }
        super::apply_channel_changes(
            &mut tx,
            self.backend,
            &[super::ChannelChange {
                channel_id: id.clone(),
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
                id.as_str(),
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
                    channel_id: row.id.to_string(),
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
            row.id.as_str(),
            Some(row.instance_id.as_str()),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lifecycle view of one channel (for unsubscribing at disconnect).
    pub async fn lifecycle_row(&self, id: &ChannelId) -> Result<Option<LifecycleRow>> {
        let sql = format!("SELECT {LIFECYCLE_COLS} FROM channels WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?)
    }

    /// Other live channels whose webhooks come through the same subscription object.
    pub async fn others_on_subscription(&self, object: &str, except: &ChannelId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM channels WHERE subscription_object = $1 AND id <> $2 AND status <> 'disconnected'",
        )
        .bind(object)
        .bind(except.as_str())
        .fetch_one(self.pool())
        .await?)
    }
}
