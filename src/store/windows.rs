//! Customer-service windows: the last inbound message time of each contact on a channel.

use super::*;
use crate::config::Backend;
use crate::ids::{ChannelId, InstanceId};

/// Records the last inbound message time of contacts (the customer-service window), in the
/// writer's transaction. `(channel_id, instance_id, contact, at)`.
pub async fn touch_windows(
    tx: &mut Tx,
    backend: Backend,
    touches: &[(ChannelId, InstanceId, String, i64)],
) -> Result<()> {
    // One row per (channel, contact): PostgreSQL refuses to update a row twice in one statement.
    let mut latest: std::collections::HashMap<(&str, &str), (&str, i64)> =
        std::collections::HashMap::new();
    for (channel, instance, contact, at) in touches {
        let e = latest
            .entry((channel.as_str(), contact.as_str()))
            .or_insert((instance.as_str(), *at));
        if *at > e.1 {
            *e = (instance.as_str(), *at);
        }
    }
    let touches: Vec<(String, String, String, i64)> = latest
        .into_iter()
        .map(|((c, k), (i, at))| (c.to_string(), i.to_string(), k.to_string(), at))
        .collect();
    for chunk in touches.chunks(200) {
        let sql = format!(
            "INSERT INTO contact_windows (channel_id, instance_id, contact, last_inbound_at) VALUES {} \
             ON CONFLICT (channel_id, contact) DO UPDATE SET last_inbound_at = \
             CASE WHEN excluded.last_inbound_at > contact_windows.last_inbound_at \
             THEN excluded.last_inbound_at ELSE contact_windows.last_inbound_at END",
            values_placeholders(backend, chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (channel, instance, contact, at) in chunk {
            q = q
                .bind(channel.clone())
                .bind(instance.clone())
                .bind(contact.clone())
                .bind(*at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Last inbound message time of a contact on a channel.
    pub async fn last_inbound(&self, channel_id: &ChannelId, contact: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT last_inbound_at FROM contact_windows WHERE channel_id = $1 AND contact = $2",
        )
        .bind(channel_id.as_str())
        .bind(contact)
        .fetch_optional(self.pool())
        .await?)
    }
}
