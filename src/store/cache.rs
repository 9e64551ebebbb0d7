//! What this process caches about channels, shared by the API's accept path and the senders:
//! channel rows (two seconds) and decrypted tokens (keyed by their ciphertext, so a replaced
//! token is a new key and a stale plaintext is never used; entries also expire after the
//! configured TTL). A change made through this process drops its entries here and is
//! published to the other replicas ([`Invalidation`]), whose caches drop them too.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use super::{ChannelRow, Invalidation, Store};
use crate::crypto::vault::Vault;
use crate::ids::{ChannelId, InstanceId};

/// Why a channel's token could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the channel has no stored token")]
    Missing,
    #[error("the stored token cannot be decrypted with the configured keys")]
    Undecryptable,
}

/// Channel rows and decrypted tokens of this process (cheap to clone).
#[derive(Clone)]
pub struct ChannelCache {
    store: Store,
    vault: Arc<Vault>,
    rows: Cache<ChannelId, Arc<ChannelRow>>,
    tokens: Cache<String, Arc<String>>,
}

impl std::fmt::Debug for ChannelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCache")
            .field("rows", &self.rows.entry_count())
            .field("tokens", &self.tokens.entry_count())
            .finish()
    }
}

impl ChannelCache {
    pub fn new(store: Store, vault: Arc<Vault>, token_ttl: Duration) -> Self {
        Self {
            store,
            vault,
            rows: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(2))
                .build(),
            tokens: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(token_ttl)
                .build(),
        }
    }

    /// The channel `channel_id` of `instance_id` (from the cache when it is there); `None`
    /// when there is none or it belongs to another instance.
    pub async fn channel_of(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
    ) -> super::Result<Option<Arc<ChannelRow>>> {
        if let Some(c) = self.rows.get(channel_id).await {
            return Ok((c.instance_id == *instance_id).then_some(c));
        }
        let Some(row) = self
            .store
            .get_channel(channel_id, Some(instance_id))
            .await?
        else {
            return Ok(None);
        };
        let row = Arc::new(row);
        self.rows.insert(channel_id.clone(), Arc::clone(&row)).await;
        Ok(Some(row))
    }

    /// The decrypted token of a channel.
    pub async fn token_for(&self, channel: &ChannelRow) -> Result<Arc<String>, TokenError> {
        let enc = channel.token_enc.as_ref().ok_or(TokenError::Missing)?;
        if let Some(t) = self.tokens.get(enc).await {
            return Ok(t);
        }
        let plain = Arc::new(
            self.vault
                .decrypt(enc)
                .map_err(|_| TokenError::Undecryptable)?,
        );
        self.tokens.insert(enc.clone(), Arc::clone(&plain)).await;
        Ok(plain)
    }

    /// Drops a channel row here and tells the other replicas to do the same (after a change to
    /// the channel was committed).
    pub async fn forget_channel(&self, channel_id: &ChannelId) {
        self.rows.invalidate(channel_id).await;
        self.store
            .publish_invalidation(&Invalidation::Channel(channel_id.clone()))
            .await;
    }

    /// Drops a token (the channel was disconnected or its token replaced).
    pub async fn forget_token(&self, token_enc: &str) {
        self.tokens.invalidate(token_enc).await;
    }

    /// Another replica changed the channel: drop its row and its decrypted token (the change
    /// may have deleted or replaced the token).
    pub async fn apply_channel_invalidation(&self, channel_id: &ChannelId) {
        if let Some(row) = self.rows.get(channel_id).await
            && let Some(enc) = &row.token_enc
        {
            self.tokens.invalidate(enc).await;
        }
        self.rows.invalidate(channel_id).await;
    }

    /// Drops everything (the invalidation feed was interrupted: changes may be missed).
    pub fn forget_all(&self) {
        self.rows.invalidate_all();
        self.tokens.invalidate_all();
    }
}
