//! Who controls each Instagram / Messenger conversation (`thread_owners`, issue 16 §5). Written
//! in the ingest transaction from handover webhooks ([`record_thread_owners`]) and after the
//! bridge's own successful pass / take calls ([`Store::set_thread_owner`]); an older change
//! never overwrites a newer one. Every read filters by instance (P10); a channel's disconnect
//! and the instance's deletion delete its rows, and the retention worker deletes rows not
//! changed for the contact-window retention (Meta returns a thread to idle after 24 hours
//! without activity).

use super::*;
use crate::events::threads::ThreadOwner;
use crate::ids::{ChannelId, InstanceId};

/// One stored thread.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThreadOwnerRow {
    pub channel_id: String,
    pub instance_id: String,
    pub contact: String,
    /// `bridge` or `other` ([`crate::events::threads`]).
    pub owner: String,
    pub owner_app_id: Option<String>,
    /// When control changed (unix ms).
    pub since: i64,
    /// `webhook` or `api`.
    pub source: String,
    pub updated_at: i64,
}

impl ThreadOwnerRow {
    /// The owner; `None` for a value this version does not know.
    pub fn thread_owner(&self) -> Option<ThreadOwner> {
        ThreadOwner::from_parts(&self.owner, self.owner_app_id.clone())
    }
}

/// A change of a thread's owner, as the ingest records it.
#[derive(Debug, Clone)]
pub struct ThreadChange {
    pub channel_id: ChannelId,
    pub instance_id: InstanceId,
    pub contact: String,
    pub owner: ThreadOwner,
    pub since: i64,
}

/// `source` of a change made by a webhook.
pub const SOURCE_WEBHOOK: &str = "webhook";
/// `source` of a change made by the bridge's own call to Meta.
pub const SOURCE_API: &str = "api";

const UPSERT: &str = "INSERT INTO thread_owners (channel_id, instance_id, contact, owner, owner_app_id, since, source, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (channel_id, contact) DO UPDATE SET owner = excluded.owner, \
     owner_app_id = excluded.owner_app_id, since = excluded.since, source = excluded.source, \
     updated_at = excluded.updated_at \
     WHERE excluded.since >= thread_owners.since";

/// Records owner changes in the ingest transaction, in order (a later change of the same
/// thread wins when it is not older).
pub async fn record_thread_owners(tx: &mut Tx, changes: &[ThreadChange], now: i64) -> Result<()> {
    for c in changes {
        sqlx::query(UPSERT)
            .bind(c.channel_id.as_str())
            .bind(c.instance_id.as_str())
            .bind(c.contact.as_str())
            .bind(c.owner.as_str())
            .bind(c.owner.app_id())
            .bind(c.since)
            .bind(SOURCE_WEBHOOK)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// A contact's thread on a channel of `instance_id`; `None` when nobody told the bridge.
    pub async fn thread_owner(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        contact: &str,
    ) -> Result<Option<ThreadOwnerRow>> {
        Ok(sqlx::query_as::<_, ThreadOwnerRow>(
            "SELECT channel_id, instance_id, contact, owner, owner_app_id, since, source, updated_at \
             FROM thread_owners WHERE channel_id = $1 AND instance_id = $2 AND contact = $3",
        )
        .bind(channel_id.as_str())
        .bind(instance_id.as_str())
        .bind(contact)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records the owner after the bridge's own successful call to Meta (pass / take).
    pub async fn set_thread_owner(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
        contact: &str,
        owner: &ThreadOwner,
        at: i64,
    ) -> Result<()> {
        sqlx::query(UPSERT)
            .bind(channel_id.as_str())
            .bind(instance_id.as_str())
            .bind(contact)
            .bind(owner.as_str())
            .bind(owner.app_id())
            .bind(at)
            .bind(SOURCE_API)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
