//! Instances (tenants) and their channels.

use crate::channels::{ChannelKind, Connection, SendState};
use crate::ids::{ChannelId, InstanceId};
use sqlx::Row;

use super::{Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    #[sqlx(try_from = "String")]
    pub id: InstanceId,
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
    #[sqlx(try_from = "String")]
    pub id: ChannelId,
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
    #[sqlx(try_from = "String")]
    pub kind: ChannelKind,
    pub external_id: String,
    pub waba_id: Option<String>,
    pub name: Option<String>,
    pub token_enc: Option<String>,
    /// The connection: `active`, `pending` (WhatsApp registration waiting) or `disconnected`.
    /// Inbound relay depends on this alone.
    #[sqlx(try_from = "String")]
    pub status: Connection,
    /// Why the channel is pending or disconnected.
    pub status_reason: Option<String>,
    /// Send rate in messages/s; None = the kind's default.
    pub rate_limit: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The sending: `sending`, `paused` or `token_invalid`.
    #[sqlx(try_from = "String")]
    pub send_state: SendState,
    /// Why sends are paused or the token is invalid.
    pub send_reason: Option<String>,
    /// When paused sends resume (unix ms).
    pub send_paused_until: Option<i64>,
    /// Pauses in a row (each doubles the next pause); reset by an accepted send.
    pub send_pauses: i64,
    /// WhatsApp: the last `event` of Meta's `phone_number_quality_update` for the number.
    pub quality_event: Option<String>,
    /// WhatsApp: Meta's messaging-limit tier (e.g. `TIER_1K`).
    pub messaging_limit_tier: Option<String>,
    /// Instagram channels: the login their token belongs to, `instagram` (Instagram User
    /// token, graph.instagram.com) or `facebook` (Page token, graph.facebook.com); `None`
    /// for the other kinds.
    pub login: Option<String>,
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
pub(super) const CHANNEL_COLS: &str = "id, instance_id, kind, external_id, waba_id, name, token_enc, status, status_reason, \
    rate_limit, created_at, updated_at, send_state, send_reason, send_paused_until, send_pauses, quality_event, \
    messaging_limit_tier, login";

impl Store {
    pub async fn insert_instance(&self, row: &InstanceRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, name, callback_url, signing_secret_enc, event_types, delivery_paused_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(row.id.as_str())
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

    pub async fn get_instance(&self, id: &InstanceId) -> Result<Option<InstanceRow>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM instances WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?)
    }

    /// Applies `patch`; returns the updated row, or `None` when no such instance exists.
    pub async fn update_instance(
        &self,
        id: &InstanceId,
        patch: &InstancePatch,
    ) -> Result<Option<InstanceRow>> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {INSTANCE_COLS} FROM instances WHERE id = $1");
        let current: Option<InstanceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
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
        .bind(id.as_str())
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

    /// Replaces an instance's secret; the old one keeps verifying its tokens until
    /// `previous_until` (unix ms; a past time revokes it at once).
    pub async fn set_instance_secret(
        &self,
        id: &InstanceId,
        secret_enc: &str,
        previous_until: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE instances SET previous_secret_enc = signing_secret_enc, previous_secret_until = $4, \
             signing_secret_enc = $2, updated_at = $3, auth_version = auth_version + 1 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(secret_enc)
        .bind(crate::now_ms())
        .bind(previous_until)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The version of what verifies an instance's tokens (its secret and keys); `None` when
    /// there is no such instance. One primary-key read: checked on every `/v1` request against
    /// the version the cached keys were read at.
    pub async fn instance_auth_version(&self, id: &InstanceId) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT auth_version FROM instances WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The previous secret of an instance while its grace period lasts, with the end of that
    /// period.
    pub async fn previous_instance_secret(
        &self,
        id: &InstanceId,
        now: i64,
    ) -> Result<Option<(String, i64)>> {
        Ok(sqlx::query_as::<_, (Option<String>, i64)>(
            "SELECT previous_secret_enc, previous_secret_until FROM instances WHERE id = $1 AND previous_secret_until > $2",
        )
        .bind(id.as_str())
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .and_then(|(enc, until)| Some((enc?, until))))
    }

    /// Deletes an instance with its channels (tokens included, P03), events and attempts.
    /// Deletes an instance and everything the bridge holds about it (issue 17): its events
    /// and their attempts, its messages (bodies, recipients, statuses), its contacts'
    /// windows, its connect sessions, its keys, its channels (tokens with them) and the
    /// instance itself, in one transaction. Only the audit log keeps its id. `None` when there
    /// is no such instance; else the ids of the channels deleted (to drop them from caches).
    pub async fn delete_instance(&self, id: &InstanceId) -> Result<Option<Vec<ChannelId>>> {
        let mut tx = self.begin_write().await?;
        let channels = sqlx::query_scalar::<_, String>(
            "SELECT id FROM channels WHERE instance_id = $1 ORDER BY id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|c| ChannelId::try_from(c).map_err(|e| super::StoreError::Other(e.to_string())))
        .collect::<Result<Vec<ChannelId>>>()?;
        for sql in [
            "DELETE FROM delivery_attempts WHERE instance_id = $1",
            "DELETE FROM events WHERE instance_id = $1",
            "DELETE FROM messages WHERE instance_id = $1",
            "DELETE FROM contact_windows WHERE instance_id = $1",
            "DELETE FROM contact_profiles WHERE instance_id = $1",
            "DELETE FROM thread_owners WHERE instance_id = $1",
            "DELETE FROM media_files WHERE instance_id = $1",
            "DELETE FROM connect_sessions WHERE instance_id = $1",
            "DELETE FROM instance_keys WHERE instance_id = $1",
            "DELETE FROM wa_templates WHERE instance_id = $1",
            "DELETE FROM wa_template_syncs WHERE instance_id = $1",
            "DELETE FROM lead_watch WHERE instance_id = $1",
            "DELETE FROM channels WHERE instance_id = $1",
        ] {
            sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
        }
        let res = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(channels))
    }

    /// Origins an instance's connect sessions may return to: its configured list, else the
    /// origin of its callback URL. `None` when the instance does not exist.
    pub async fn instance_return_origins(&self, id: &InstanceId) -> Result<Option<Vec<String>>> {
        let row = sqlx::query("SELECT return_origins, callback_url FROM instances WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let configured: Option<String> = row.try_get(0)?;
        let callback: String = row.try_get(1)?;
        if let Some(list) = configured.and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok()) {
            return Ok(Some(list));
        }
        Ok(Some(
            url::Url::parse(&callback)
                .map(|u| vec![u.origin().ascii_serialization()])
                .unwrap_or_default(),
        ))
    }

    /// Sets the origins an instance's connect sessions may return to (`None`: its callback
    /// URL's origin).
    pub async fn set_instance_return_origins(
        &self,
        id: &InstanceId,
        origins: Option<&[String]>,
    ) -> Result<bool> {
        let res =
            sqlx::query("UPDATE instances SET return_origins = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_str())
                .bind(origins.map(|o| serde_json::json!(o).to_string()))
                .bind(crate::now_ms())
                .execute(self.pool())
                .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn insert_channel(&self, row: &ChannelRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO channels (id, instance_id, kind, external_id, waba_id, name, token_enc, status, created_at, updated_at, login) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.id.as_str())
        .bind(row.instance_id.as_str())
        .bind(row.kind.as_str())
        .bind(&row.external_id)
        .bind(&row.waba_id)
        .bind(&row.name)
        .bind(&row.token_enc)
        .bind(row.status.as_str())
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(&row.login)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Instagram channels whose login is not recorded yet (registered by hand before the
    /// `login` column existed): id and encrypted token.
    pub async fn instagram_channels_without_login(
        &self,
    ) -> Result<Vec<(ChannelId, Option<String>)>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, token_enc FROM channels WHERE kind = 'instagram' AND login IS NULL",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, enc)| Ok((ChannelId::try_from(id)?, enc)))
            .collect()
    }

    /// Records an Instagram channel's login where none is recorded yet.
    pub async fn set_instagram_login_if_unset(&self, id: &ChannelId, login: &str) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE channels SET login = $2 WHERE id = $1 AND kind = 'instagram' AND login IS NULL",
        )
        .bind(id.as_str())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Channels, of one instance when `instance_id` is given.
    pub async fn list_channels(&self, instance_id: Option<&InstanceId>) -> Result<Vec<ChannelRow>> {
        let rows = match instance_id {
            Some(ins) => {
                let sql = format!(
                    "SELECT {CHANNEL_COLS} FROM channels WHERE instance_id = $1 ORDER BY created_at, id"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(ins.as_str())
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
        id: &ChannelId,
        instance_id: Option<&InstanceId>,
    ) -> Result<Option<ChannelRow>> {
        let sql = format!(
            "SELECT {CHANNEL_COLS} FROM channels WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(instance_id.map(InstanceId::as_str))
            .fetch_optional(self.pool())
            .await?)
    }

    /// Changes a channel's settings; `None` leaves a field as it is. Returns false when
    /// the channel does not exist (for this instance).
    pub async fn update_channel_settings(
        &self,
        id: &ChannelId,
        instance_id: Option<&InstanceId>,
        name: Option<&str>,
        rate_limit: Option<Option<i64>>,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE channels SET name = COALESCE($1, name), \
             rate_limit = CASE WHEN $2 = 1 THEN $3 ELSE rate_limit END, updated_at = $4 \
             WHERE id = $5 AND ($6 IS NULL OR instance_id = $6) AND status <> 'disconnected'",
        )
        .bind(name)
        .bind(i64::from(rate_limit.is_some()))
        .bind(rate_limit.flatten())
        .bind(crate::now_ms())
        .bind(id.as_str())
        .bind(instance_id.map(InstanceId::as_str))
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Stores a new token for a channel (encrypted by the caller): its sends start again (a
    /// pause or an invalid token is over), and a channel that could not send tells its instance
    /// (`channel.updated`, send state `sending`).
    /// `instagram_login`: the login the new token belongs to, recorded when the channel is an
    /// Instagram one (meta::login).
    pub async fn replace_channel_token(
        &self,
        id: &ChannelId,
        token_enc: &str,
        instagram_login: &str,
        horizon_ms: i64,
    ) -> Result<bool> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT instance_id, kind, external_id, status, send_state FROM channels WHERE id = $1 AND status <> 'disconnected'",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let instance_id = InstanceId::try_from(row.try_get::<String, _>(0)?)?;
        let kind: String = row.try_get(1)?;
        let external_id: String = row.try_get(2)?;
        let connection = Connection::try_from(row.try_get::<String, _>(3)?)?;
        let previous = SendState::try_from(row.try_get::<String, _>(4)?)?;
        sqlx::query(
            "UPDATE channels SET token_enc = $1, send_state = 'sending', send_reason = NULL, send_paused_until = NULL, \
             send_pauses = 0, token_checked_at = 0, updated_at = $2, \
             login = CASE WHEN kind = 'instagram' THEN $4 ELSE login END WHERE id = $3",
        )
        .bind(token_enc)
        .bind(now)
        .bind(id.as_str())
        .bind(instagram_login)
        .execute(&mut *tx)
        .await?;
        if previous != SendState::Sending {
            super::insert_send_state_event(
                &mut tx,
                self.backend,
                super::SendStateEvent {
                    instance_id: &instance_id,
                    channel_id: id,
                    kind: &kind,
                    external_id: &external_id,
                    connection,
                    previous_send_state: previous,
                    send_state: SendState::Sending,
                    reason: "a new access token was stored",
                    paused_until: None,
                },
                now,
                horizon_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// A public key an instance registered to sign its `/v1` tokens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceKeyRow {
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
    pub kid: String,
    pub alg: String,
    pub public_key: String,
    pub created_at: i64,
}

impl Store {
    /// Registers a verification key; false when the kid is taken.
    pub async fn add_instance_key(&self, row: &InstanceKeyRow) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "INSERT INTO instance_keys (instance_id, kid, alg, public_key, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(row.instance_id.as_str())
        .bind(&row.kid)
        .bind(&row.alg)
        .bind(&row.public_key)
        .bind(row.created_at)
        .execute(&mut *tx)
        .await?;
        let added = res.rows_affected() == 1;
        if added {
            bump_auth_version(&mut tx, &row.instance_id).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    pub async fn list_instance_keys(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Vec<InstanceKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT instance_id, kid, alg, public_key, created_at FROM instance_keys WHERE instance_id = $1 ORDER BY created_at, kid",
        )
        .bind(instance_id.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    /// Retires a verification key; false when there was none.
    pub async fn delete_instance_key(&self, instance_id: &InstanceId, kid: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("DELETE FROM instance_keys WHERE instance_id = $1 AND kid = $2")
            .bind(instance_id.as_str())
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        let deleted = res.rows_affected() == 1;
        if deleted {
            bump_auth_version(&mut tx, instance_id).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

/// One more version of what verifies an instance's tokens (in the transaction that changed it).
async fn bump_auth_version(tx: &mut super::Tx, instance_id: &InstanceId) -> Result<()> {
    sqlx::query("UPDATE instances SET auth_version = auth_version + 1 WHERE id = $1")
        .bind(instance_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What one key-rotation batch found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RotationCounts {
    /// Encrypted values looked at.
    pub scanned: u64,
    /// Re-encrypted under the first key.
    pub rotated: u64,
    /// Already under the first key.
    pub current: u64,
    /// Not decryptable with any configured key (left as they are, reported).
    pub undecryptable: u64,
    /// Changed by someone else between read and write (picked up by a re-run).
    pub raced: u64,
}

impl std::ops::AddAssign for RotationCounts {
    fn add_assign(&mut self, o: Self) {
        self.scanned += o.scanned;
        self.rotated += o.rotated;
        self.current += o.current;
        self.undecryptable += o.undecryptable;
        self.raced += o.raced;
    }
}

/// Which encrypted column a rotation batch walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedColumn {
    ChannelTokens,
    InstanceSecrets,
    /// Secrets still in their grace period after a rotation.
    PreviousSecrets,
}

impl Store {
    /// Re-encrypts one batch of `column` (rows with id > `after`, in id order) with `reencrypt`
    /// and commits it. Returns the counts and the last id seen (None: nothing left). Each
    /// row is updated only if its value did not change meanwhile, so running this while the
    /// service runs, interrupting it and re-running it are all safe.
    pub async fn rotate_batch(
        &self,
        column: EncryptedColumn,
        after: &str,
        limit: i64,
        reencrypt: &(dyn Fn(&str) -> Result<Option<String>, ()> + Sync),
    ) -> Result<(RotationCounts, Option<String>)> {
        let (select, update): (&'static str, &'static str) = match column {
            EncryptedColumn::ChannelTokens => (
                "SELECT id, token_enc FROM channels WHERE id > $1 AND token_enc IS NOT NULL ORDER BY id LIMIT $2",
                "UPDATE channels SET token_enc = $1 WHERE id = $2 AND token_enc = $3",
            ),
            EncryptedColumn::InstanceSecrets => (
                "SELECT id, signing_secret_enc FROM instances WHERE id > $1 ORDER BY id LIMIT $2",
                "UPDATE instances SET signing_secret_enc = $1 WHERE id = $2 AND signing_secret_enc = $3",
            ),
            EncryptedColumn::PreviousSecrets => (
                "SELECT id, previous_secret_enc FROM instances WHERE id > $1 AND previous_secret_enc IS NOT NULL \
                 ORDER BY id LIMIT $2",
                "UPDATE instances SET previous_secret_enc = $1 WHERE id = $2 AND previous_secret_enc = $3",
            ),
        };
        let mut tx = self.begin_write().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(select)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut counts = RotationCounts::default();
        let last = rows.last().map(|r| r.0.clone());
        for (id, old) in &rows {
            counts.scanned += 1;
            match reencrypt(old) {
                Ok(None) => counts.current += 1,
                Err(()) => counts.undecryptable += 1,
                Ok(Some(new)) => {
                    let n = sqlx::query(update)
                        .bind(new)
                        .bind(id.as_str())
                        .bind(old.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if n == 1 {
                        counts.rotated += 1;
                    } else {
                        counts.raced += 1;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok((counts, last))
    }
}
