//! Instagram and Messenger contact profiles as last read from Meta (`contact_profiles`). Every
//! read of the API filters by instance (P10); a channel's disconnect and the instance's deletion
//! delete its rows, and the retention worker deletes rows not read for the contact-window
//! retention.

use super::*;
use crate::ids::{ChannelId, InstanceId};

/// One stored profile row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProfileRow {
    pub channel_id: String,
    pub instance_id: String,
    pub contact: String,
    /// JSON object text of the fields Meta answered; `None` = no read succeeded yet.
    pub profile: Option<String>,
    pub fetched_at: Option<i64>,
    pub attempted_at: i64,
    pub last_error: Option<String>,
}

const PROFILE_COLS: &str =
    "channel_id, instance_id, contact, profile, fetched_at, attempted_at, last_error";

impl Store {
    /// A contact's stored profile on a channel of `instance_id`.
    pub async fn contact_profile(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        contact: &str,
    ) -> Result<Option<ProfileRow>> {
        Ok(sqlx::query_as::<_, ProfileRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {PROFILE_COLS} FROM contact_profiles \
             WHERE channel_id = $1 AND instance_id = $2 AND contact = $3"
        )))
        .bind(channel_id.as_str())
        .bind(instance_id.as_str())
        .bind(contact)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records a successful read (`profile` is the JSON object text), replacing the last one.
    pub async fn store_contact_profile(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        contact: &str,
        profile: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO contact_profiles (channel_id, instance_id, contact, profile, fetched_at, attempted_at, last_error) \
             VALUES ($1, $2, $3, $4, $5, $5, NULL) \
             ON CONFLICT (channel_id, contact) DO UPDATE SET profile = excluded.profile, \
             fetched_at = excluded.fetched_at, attempted_at = excluded.attempted_at, last_error = NULL",
        )
        .bind(channel_id.as_str())
        .bind(instance_id.as_str())
        .bind(contact)
        .bind(profile)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed read: the last good profile (if any) stays, with the reason.
    pub async fn contact_profile_failed(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        contact: &str,
        reason: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO contact_profiles (channel_id, instance_id, contact, profile, fetched_at, attempted_at, last_error) \
             VALUES ($1, $2, $3, NULL, NULL, $4, $5) \
             ON CONFLICT (channel_id, contact) DO UPDATE SET attempted_at = excluded.attempted_at, \
             last_error = excluded.last_error",
        )
        .bind(channel_id.as_str())
        .bind(instance_id.as_str())
        .bind(contact)
        .bind(at)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The connected Instagram / Messenger channels with this Meta id (one per instance that
    /// connected it), as the inbound routing finds them.
    pub async fn social_channels_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Vec<ChannelRow>> {
        let sql = format!(
            "SELECT {} FROM channels WHERE external_id = $1 AND status <> 'disconnected' \
             AND kind IN ('instagram', 'messenger') ORDER BY created_at, id",
            super::instances::CHANNEL_COLS
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(external_id)
            .fetch_all(self.pool())
            .await?)
    }
}
