//! Keeping each WhatsApp channel's message templates in step with Meta, and checking a
//! template send against them (a use case over the store and the Graph client, used by the
//! send path, the API, the webhook handler and the lifecycle worker).
//!
//! A channel's templates are read in full (`GET /{waba-id}/message_templates`, every page)
//! when it is connected, when Meta reports a template change (`message_template_status_update`,
//! `message_template_quality_update`, `template_category_update`), on a schedule
//! (`METABRIDGE_TEMPLATE_SYNC_SECS`), and once for a send naming a template (or language) the
//! bridge does not know. A read replaces the stored set in one transaction.
//!
//! **When the templates cannot be read** (Meta down, token refused, no WABA id on the channel),
//! sends are not blocked by the bridge's own failure: a template (or language) the bridge does
//! not know while its last read failed is let through and Meta decides (a `132001` comes back
//! as `message.failed`). A template the bridge did read is checked against that last read,
//! however old (status, parameters): only a successful read changes it. So a sync failure never
//! turns a send Meta would accept into a `422`, while a
//! template known to be paused or mismatched is still refused at once.
//!
//! Never logged: tokens, template texts, Meta's response bodies (only Meta's error code).

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde_json::Value;
use tracing::{debug, warn};

use crate::channels::ChannelKind;
use crate::crypto::vault::Vault;
use crate::ids::ChannelId;
use crate::messages::model::content::TemplateMessage;
use crate::messages::templates::{KnownTemplate, ParameterFormat, TemplateRefusal, check_send};
use crate::meta::graph::GraphCallError;
use crate::meta::oauth::{CreatedTemplate, MetaTemplate, OAuthClient};
use crate::store::{ChannelRow, NewTemplate, Replaced, Store, StoreError, TemplateRow};

/// How long a refresh made for an unknown template name stands: another send of that name
/// within this time is judged on the stored set, without asking Meta again.
const UNKNOWN_REFRESH_TTL: Duration = Duration::from_secs(60);

/// What reading a channel's templates came to.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// Read in full and stored.
    Synced(Replaced),
    /// Not a WhatsApp channel, or it has no WABA id, or no token: nothing to read.
    NotApplicable,
    /// Meta (or the network) failed; recorded with the reason.
    Failed(String),
}

/// Why a send's template check let it through or refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendCheck {
    /// Checked against the stored templates: fits.
    Fits,
    /// The bridge could not read the channel's templates: not checked, Meta decides.
    Unchecked,
    /// Refused, with the rule.
    Refused(TemplateRefusal),
}

/// A call to Meta for the API (create, delete) that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateCallError {
    /// The channel has no WABA id or no usable token.
    #[error("the channel cannot manage templates: {0}")]
    NotApplicable(&'static str),
    /// Meta answered, or could not be reached.
    #[error(transparent)]
    Graph(GraphCallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The templates use case; cheap to clone.
#[derive(Clone)]
pub struct Templates {
    store: Store,
    oauth: OAuthClient,
    vault: Arc<Vault>,
    /// (channel, template name) refreshed recently for a send that did not find it.
    refreshed_for: Cache<(ChannelId, String), ()>,
    /// WABAs being read because of a template webhook, and whether another webhook asked for
    /// a read meanwhile (then one more read follows): a burst of template webhooks (or Meta's
    /// retries of one) costs one read at a time per account, not one per webhook.
    webhook_reads: Arc<std::sync::Mutex<std::collections::HashMap<String, bool>>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    pub fn new(store: Store, oauth: OAuthClient, vault: Arc<Vault>) -> Self {
        Self {
            store,
            oauth,
            vault,
            refreshed_for: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(UNKNOWN_REFRESH_TTL)
                .build(),
            webhook_reads: Arc::default(),
        }
    }

    /// [`Self::sync_waba`] for a template webhook, coalesced: while a read of this account
    /// runs, further requests only mark it to be read once more when it ends.
    pub async fn sync_waba_coalesced(&self, waba_id: &str) -> Result<usize, StoreError> {
        {
            let mut reads = self
                .webhook_reads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(again) = reads.get_mut(waba_id) {
                *again = true;
                return Ok(0);
            }
            reads.insert(waba_id.to_owned(), false);
        }
        loop {
            let result = self.sync_waba(waba_id).await;
            let mut reads = self
                .webhook_reads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if result.is_ok() && reads.get(waba_id) == Some(&true) {
                reads.insert(waba_id.to_owned(), false);
                continue;
            }
            reads.remove(waba_id);
            return result;
        }
    }

    fn applicable<'a>(&self, ch: &'a ChannelRow) -> Result<(&'a str, String), &'static str> {
        if ch.kind != ChannelKind::Whatsapp {
            return Err("templates belong to WhatsApp channels");
        }
        let waba = ch
            .waba_id
            .as_deref()
            .filter(|w| !w.is_empty())
            .ok_or("the channel has no WhatsApp Business Account id")?;
        let token = ch
            .token_enc
            .as_deref()
            .and_then(|e| self.vault.decrypt(e).ok())
            .ok_or("the channel has no usable access token")?;
        Ok((waba, token))
    }

    /// Reads the channel's templates from Meta and stores them (or records the failure).
    pub async fn sync_channel(&self, ch: &ChannelRow) -> Result<SyncOutcome, StoreError> {
        let now = crate::now_ms();
        let (waba, token) = match self.applicable(ch) {
            Ok(x) => x,
            Err(why) => {
                if ch.kind == ChannelKind::Whatsapp {
                    self.store
                        .template_sync_failed(&ch.id, &ch.instance_id, now, why)
                        .await?;
                }
                return Ok(SyncOutcome::NotApplicable);
            }
        };
        match self.oauth.message_templates(&token, waba).await {
            Ok(list) => {
                let rows: Vec<NewTemplate> = list.into_iter().map(new_template).collect();
                let replaced = self
                    .store
                    .replace_templates(&ch.id, &ch.instance_id, &rows, now)
                    .await?;
                debug!(
                    channel = %ch.id,
                    templates = replaced.count,
                    changed = replaced.changed.len(),
                    "templates read from Meta"
                );
                Ok(SyncOutcome::Synced(replaced))
            }
            Err(e) => {
                let why = short_reason(&e);
                warn!(channel = %ch.id, error = %why, "templates could not be read from Meta");
                self.store
                    .template_sync_failed(&ch.id, &ch.instance_id, now, &why)
                    .await?;
                Ok(SyncOutcome::Failed(why))
            }
        }
    }

    /// Reads the templates of every connected channel of a WABA (after a template webhook).
    pub async fn sync_waba(&self, waba_id: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for ch in self.store.whatsapp_channels_of_waba(waba_id).await? {
            if matches!(self.sync_channel(&ch).await?, SyncOutcome::Synced(_)) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Checks a template send. An unknown name or language is refreshed from Meta once (per
    /// channel and name, for a minute) before the send is refused; see the module docs for
    /// what happens when the templates cannot be read.
    pub async fn check(
        &self,
        ch: &ChannelRow,
        msg: &TemplateMessage,
    ) -> Result<SendCheck, StoreError> {
        if ch.kind != ChannelKind::Whatsapp {
            return Ok(SendCheck::Unchecked);
        }
        let mut known = self.known(&ch.id, &msg.name).await?;
        let found = known.iter().any(|t| t.language == msg.language);
        if !found {
            let key = (ch.id.clone(), msg.name.clone());
            if !self.refreshed_for.contains_key(&key) {
                self.refreshed_for.insert(key, ()).await;
                if let SyncOutcome::Synced(_) = self.sync_channel(ch).await? {
                    known = self.known(&ch.id, &msg.name).await?;
                }
            }
            // Refuse an unknown name or language only on a read that worked: after a failed
            // one the template may exist at Meta without the bridge knowing.
            let last_read_ok = self
                .store
                .template_sync(&ch.id)
                .await?
                .is_some_and(|s| s.synced_at.is_some() && s.last_error.is_none());
            if !last_read_ok && !known.iter().any(|t| t.language == msg.language) {
                return Ok(SendCheck::Unchecked);
            }
        }
        Ok(match check_send(&known, msg) {
            Ok(()) => SendCheck::Fits,
            Err(r) => SendCheck::Refused(r),
        })
    }

    async fn known(&self, ch: &ChannelId, name: &str) -> Result<Vec<KnownTemplate>, StoreError> {
        Ok(self
            .store
            .templates_named(ch, name)
            .await?
            .into_iter()
            .map(known_template)
            .collect())
    }

    /// Submits a new template to Meta (`body` as Meta takes it) and stores what Meta
    /// answered (a template in review is `PENDING`).
    pub async fn create(
        &self,
        ch: &ChannelRow,
        body: &Value,
    ) -> Result<CreatedTemplate, TemplateCallError> {
        let (waba, token) = self
            .applicable(ch)
            .map_err(TemplateCallError::NotApplicable)?;
        let created = self
            .oauth
            .create_message_template(&token, waba, body)
            .await
            .map_err(TemplateCallError::Graph)?;
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
        let row = NewTemplate {
            name: text("name").to_owned(),
            language: text("language").to_owned(),
            template_id: created.id.clone(),
            status: created.status.clone().unwrap_or_else(|| "PENDING".into()),
            category: created
                .category
                .clone()
                .or_else(|| Some(text("category").to_ascii_uppercase())),
            parameter_format: ParameterFormat::parse(
                body.get("parameter_format").and_then(Value::as_str),
            )
            .as_str()
            .to_owned(),
            components: body
                .get("components")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()))
                .to_string(),
            quality: None,
        };
        self.store
            .put_template(&ch.id, &ch.instance_id, &row, crate::now_ms())
            .await?;
        Ok(created)
    }

    /// Deletes a template (every language) at Meta, then here.
    pub async fn delete(&self, ch: &ChannelRow, name: &str) -> Result<(), TemplateCallError> {
        let (waba, token) = self
            .applicable(ch)
            .map_err(TemplateCallError::NotApplicable)?;
        self.oauth
            .delete_message_template(&token, waba, name, None)
            .await
            .map_err(TemplateCallError::Graph)?;
        self.store.delete_templates_named(&ch.id, name).await?;
        Ok(())
    }
}

/// A reason for the sync record and logs: Meta's code, or the kind of failure; never a body.
fn short_reason(e: &GraphCallError) -> String {
    match e {
        GraphCallError::Graph { error, .. } => match error.subcode {
            Some(s) => format!("Meta refused the read (code {}/{s})", error.code),
            None => format!("Meta refused the read (code {})", error.code),
        },
        GraphCallError::Status { status } => format!("Meta answered HTTP {status}"),
        GraphCallError::Transport(_) => "the Graph API could not be reached".into(),
        GraphCallError::Decode(_) => "Meta's answer could not be read".into(),
        GraphCallError::Invalid(_) => "the WhatsApp Business Account id is not usable".into(),
    }
}

fn new_template(t: MetaTemplate) -> NewTemplate {
    NewTemplate {
        name: t.name,
        language: t.language,
        template_id: t.id,
        status: t.status.to_ascii_uppercase(),
        category: t.category.map(|c| c.to_ascii_uppercase()),
        parameter_format: ParameterFormat::parse(t.parameter_format.as_deref())
            .as_str()
            .to_owned(),
        components: t.components.to_string(),
        quality: t.quality,
    }
}

/// The stored row as the send rules see it (unreadable components count as none).
pub fn known_template(r: TemplateRow) -> KnownTemplate {
    KnownTemplate {
        components: serde_json::from_str(&r.components).unwrap_or(Value::Array(Vec::new())),
        parameter_format: ParameterFormat::parse(Some(&r.parameter_format)),
        name: r.name,
        language: r.language,
        status: r.status,
    }
}
