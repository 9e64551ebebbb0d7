//! Token health, webhook-subscription checks, pending WhatsApp registrations, Lead Ads
//! retrieval and the expiry of connect sessions.
//!
//! One replica at a time does the token, subscription and registration work (a job lease in
//! the database); every step is per channel and records when it was done, so a replica that
//! takes over continues where the last one stopped. On each tick:
//! - connect sessions past their expiry become `expired` and lose their temporary data (P06);
//! - leads waiting in state `enriching` get their field data from the Graph API with the
//!   page's token and are released for delivery; a failed fetch is retried with backoff until
//!   the delivery horizon, then dead-lettered (never delivered empty). Leads have their own
//!   loop: the ingest writer wakes it right after the commit that stored a lead
//!   ([`crate::store::writer::Writer::lead_wakeup`]), its tick is only the safety net, and every
//!   replica takes part (each lead is claimed, see [`Store::claim_due_leads`]). Besides the
//!   lead itself, two reads never hold a lead back: its ad-level fields (they need ads
//!   permissions; `ad_fields` says whether they were read) and its form's question labels
//!   (read once per form and cached; each `field_data` item gets its `label`);
//! - each channel's token is checked every `METABRIDGE_TOKEN_CHECK_SECS` (P09): Instagram
//!   Login tokens are refreshed when fewer than `METABRIDGE_TOKEN_REFRESH_DAYS` are left;
//!   other tokens are checked with `debug_token`; a dead token makes the channel
//!   `token_invalid`, deletes the token (P03) and tells the instance (`channel.updated`); an
//!   expiry that cannot be refreshed is announced (`channel.token_expiring`);
//! - each channel's webhook subscription is checked every `METABRIDGE_SUBSCRIPTION_CHECK_SECS`
//!   and restored when Meta dropped it (`channel.subscription_restored`);
//! - WhatsApp numbers Meta could not register yet are tried again;
//! - each WhatsApp channel's message templates are read again every
//!   `METABRIDGE_TEMPLATE_SYNC_SECS` (a channel never read, a minute after it was connected:
//!   the connect reads it first; [`crate::templates`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde_json::Value;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::channels::ChannelKind;
use crate::config::LifecycleConfig;
use crate::connect::IG_FIELDS;
use crate::connect::flow::{PIN_MISMATCH, PIN_TOO_FAST};
use crate::connect::grants;
use crate::crypto::vault::Vault;
use crate::events::data::{LeadAdFields, LeadReceivedData, LeadWebhookData};
use crate::ids::ChannelId;
use crate::meta::graph::{ErrorClass, GraphCallError};
use crate::meta::login::InstagramLogin;
use crate::meta::oauth::OAuthClient;
use crate::shutdown::CancellationToken;
use crate::store::{EnrichingLead, LifecycleRow, Store};
use crate::workers::sender::Senders;

const JOB: &str = "lifecycle";
const BATCH: i64 = 25;
const HOUR_MS: i64 = 3_600_000;
/// A channel connected less than this long ago is left to its connect's own template read.
const NEW_CHANNEL_GRACE_MS: i64 = 60_000;
/// How long a claimed lead is left to the pass that claimed it (a pass that dies mid-way is
/// taken over after this).
const LEAD_CLAIM_MS: i64 = 120_000;
/// Most batches of leads one pass fetches before it yields to the next wake-up or tick.
const LEAD_BATCHES_PER_PASS: usize = 40;

/// What the lead loop remembers between leads: form question labels (one read per form and
/// hour), forms whose read just failed (not tried again for five minutes) and channels whose
/// token Meta refused the ad-level fields (not asked again for an hour).
#[derive(Clone)]
pub struct LeadCache {
    labels: Cache<String, Arc<HashMap<String, String>>>,
    label_failures: Cache<String, ()>,
    ads_refused: Cache<ChannelId, ()>,
}

impl LeadCache {
    pub fn new() -> Self {
        Self {
            labels: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            label_failures: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            ads_refused: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }
}

impl Default for LeadCache {
    fn default() -> Self {
        Self::new()
    }
}

/// The lifecycle worker of this process.
#[derive(Clone)]
pub struct Lifecycle {
    pub store: Store,
    pub vault: Arc<Vault>,
    pub oauth: OAuthClient,
    pub cfg: LifecycleConfig,
    pub senders: Senders,
    pub horizon_ms: i64,
    pub app_id: Option<String>,
    pub delivery_wakeup: Arc<Notify>,
    /// Woken by the ingest writer when a lead was stored.
    pub lead_wakeup: Arc<Notify>,
    pub lead_cache: LeadCache,
    pub owner: String,
    /// Reads WhatsApp channels' templates from Meta.
    pub templates: crate::templates::Templates,
    /// Reads the leads a Page's webhooks missed (the gap check).
    pub leads: crate::leads::Leads,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Whether Meta refused the call for lack of permission (class `Permission` of the error table
/// in `meta::errors`: 10, 200–299; "Handling Errors",
/// <https://developers.facebook.com/docs/graph-api/guides/error-handling/>, read 2026-12-02:
/// "API Permission (range) — 200-299: user either has not granted a permission or removed a
/// permission").
fn permission_refused(err: &GraphCallError) -> bool {
    matches!(
        err,
        GraphCallError::Graph {
            class: ErrorClass::Permission,
            ..
        }
    )
}

/// Permissions a channel's token must still hold to be worth keeping, any one of them (Meta's
/// Permissions Reference, https://developers.facebook.com/docs/permissions, read 2026-12-02):
/// WhatsApp sends need `whatsapp_business_messaging`; a Page is kept for Messenger
/// (`pages_messaging`) or Lead Ads (`leads_retrieval`); an Instagram account linked to a Page
/// needs `instagram_manage_messages` (or `instagram_business_manage_messages`).
fn needed_scopes(kind: &str) -> &'static [&'static str] {
    match kind {
        "whatsapp" => &["whatsapp_business_messaging"],
        "messenger" => &["pages_messaging", "leads_retrieval"],
        "instagram" => &[
            "instagram_manage_messages",
            "instagram_business_manage_messages",
        ],
        _ => &[],
    }
}

impl Lifecycle {
    pub async fn run(self, shutdown: CancellationToken) {
        let token_check = self.senders.token_check_wakeup();
        let leads = tokio::spawn(self.clone().run_leads(shutdown.clone()));
        loop {
            if let Err(e) = self.tick().await {
                warn!(error = %e, "lifecycle pass failed; retrying at the next tick");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.cfg.tick) => {}
                // A send's answer asked for a token check: do it now, not at the next tick.
                _ = token_check.notified() => {}
            }
        }
        let _ = self.store.release_job_lease(JOB, &self.owner).await;
        let _ = leads.await;
    }

    /// The lead loop: a pass when the ingest writer stored a lead, and one per tick (leads
    /// whose retry is due, leads a stopped replica had claimed).
    async fn run_leads(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.leads().await {
                warn!(error = %e, "lead pass failed; retrying at the next wake-up or tick");
            }
            // Sleep until the tick, or until a failed fetch is due again if that is sooner.
            let mut wait = self.cfg.tick;
            if let Ok(Some(due)) = self.store.next_lead_due().await {
                let until_due = u64::try_from(due - crate::now_ms()).unwrap_or(0);
                // Never a busy loop (a pass that failed leaves its leads due).
                wait = wait.min(Duration::from_millis(until_due.max(50)));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.lead_wakeup.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass over everything that is due.
    pub async fn tick(&self) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let expired = self.store.expire_connect_sessions(now).await?;
        self.store
            .purge_connect_sessions(now - ms(self.cfg.session_retention))
            .await?;
        if expired > 0 {
            info!(
                sessions = expired,
                "connect sessions expired; their temporary data is deleted"
            );
        }
        let lease = ms(self.cfg.tick).max(10_000) * 3;
        if !self
            .store
            .acquire_job_lease(JOB, &self.owner, lease)
            .await?
        {
            return Ok(());
        }
        self.resume_paused_sends(now).await?;
        for row in self
            .store
            .channels_due_token_check(now - ms(self.cfg.token_check_every), BATCH)
            .await?
        {
            self.check_token(&row).await?;
        }
        for row in self
            .store
            .channels_due_subscription_check(now - ms(self.cfg.subscription_check_every), BATCH)
            .await?
        {
            self.check_subscription(&row).await?;
        }
        for row in self.store.channels_due_registration(now, BATCH).await? {
            self.retry_registration(&row).await?;
        }
        for row in self
            .store
            .channels_due_template_sync(
                now - ms(self.cfg.template_sync_every),
                now - NEW_CHANNEL_GRACE_MS,
                BATCH,
            )
            .await?
        {
            // A failed read is recorded (and tried again at the next period); it never stops
            // the pass.
            self.templates.sync_channel(&row).await?;
        }
        if let Some(gap) = self.cfg.lead_gap {
            self.leads.check_gaps(gap).await?;
        }
        Ok(())
    }

    /// Ends the pauses whose time has come: the channel sends again (`channel.updated`); if Meta
    /// still restricts it, the first send pauses it again, for twice as long.
    async fn resume_paused_sends(&self, now: i64) -> anyhow::Result<()> {
        for id in self.store.channels_due_send_resume(now, BATCH).await? {
            let outcome = self
                .store
                .resume_sends(
                    &id,
                    None,
                    "the pause ended; sends resume",
                    None,
                    self.horizon_ms,
                )
                .await?;
            if outcome == crate::store::ResumeOutcome::Resumed {
                info!(channel = %id, "paused sends resume");
                self.senders.cache().forget_channel(&id).await;
                self.senders.wake(&id);
                self.delivery_wakeup.notify_one();
            }
        }
        Ok(())
    }

    fn token_of(&self, row: &LifecycleRow) -> Option<String> {
        row.token_enc
            .as_deref()
            .and_then(|e| self.vault.decrypt(e).ok())
    }

    async fn mark_dead(&self, row: &LifecycleRow, reason: String) -> anyhow::Result<()> {
        warn!(channel = %row.id, "channel token is no longer valid; token deleted");
        self.store
            .mark_channel_token_invalid(&row.id, &reason, self.horizon_ms)
            .await?;
        if let Some(enc) = &row.token_enc {
            self.senders.cache().forget_token(enc).await;
        }
        self.senders.cache().forget_channel(&row.id).await;
        self.delivery_wakeup.notify_one();
        Ok(())
    }

    /// A failed check is tried again in five minutes, not at every tick.
    async fn retry_check_soon(&self, row: &LifecycleRow) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let retry_at = now - ms(self.cfg.token_check_every) + 300_000;
        self.store
            .mark_token_checked(&row.id, None, retry_at.min(now))
            .await?;
        Ok(())
    }

    async fn check_token(&self, row: &LifecycleRow) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let Some(token) = self.token_of(row) else {
            warn!(channel = %row.id, "a stored token cannot be decrypted with the configured keys");
            return self.retry_check_soon(row).await;
        };
        // Instagram Login tokens are checked and refreshed on graph.instagram.com, whether the
        // connect flow or an operator registered the channel (meta::login).
        if row.token_kind.as_deref() == Some("instagram_login")
            || (row.kind == "instagram"
                && InstagramLogin::of_channel(row.login.as_deref(), &token)
                    == InstagramLogin::Instagram)
        {
            return self.check_instagram_token(row, &token, now).await;
        }
        if self.app_id.is_none() {
            // `debug_token` needs the app's own token (META_APP_ID|META_APP_SECRET). Without it
            // the token asks for itself: `GET /me` with it answers 190 only when Meta holds it
            // invalid (Graph API "Handling Errors": code 190, "access token has expired",
            // https://developers.facebook.com/docs/graph-api/guides/error-handling, read
            // 2026-12-02). Scopes cannot be read this way.
            return match self.oauth.me_id(&token).await {
                Ok(_) => {
                    self.store.mark_token_checked(&row.id, None, now).await?;
                    Ok(())
                }
                Err(e) if e.is_token_refused() => {
                    self.mark_dead(
                        row,
                        format!("Meta refused the access token ({e}); connect the channel again"),
                    )
                    .await
                }
                Err(e) => {
                    warn!(channel = %row.id, error = %e, "token check failed; trying again later");
                    self.retry_check_soon(row).await
                }
            };
        }
        match self.oauth.debug_token(&token).await {
            Ok(info) if !info.is_valid => {
                let why = match info.error_code {
                    Some(c) => format!(
                        "Meta reports the access token as invalid (code {c}); connect the channel again"
                    ),
                    None => "Meta reports the access token as invalid; connect the channel again"
                        .to_string(),
                };
                self.mark_dead(row, why).await
            }
            Ok(info)
                if !info.scopes.is_empty()
                    && !needed_scopes(&row.kind)
                        .iter()
                        .any(|need| info.scopes.iter().any(|s| s == need)) =>
            {
                let why = format!(
                    "the access token no longer holds the permission this channel needs ({}); connect the channel again",
                    needed_scopes(&row.kind).join(" or ")
                );
                self.mark_dead(row, why).await
            }
            Ok(info) => {
                let expires_at = info.expires_at.filter(|e| *e > 0).map(|e| e * 1000);
                self.store
                    .mark_token_checked(&row.id, expires_at, now)
                    .await?;
                if let Some(exp) = expires_at
                    && exp - now < ms(self.cfg.warn_before)
                    && self
                        .store
                        .notify_token_expiring(row, exp, self.horizon_ms)
                        .await?
                {
                    info!(channel = %row.id, "token expiry announced to the instance");
                    self.delivery_wakeup.notify_one();
                }
                Ok(())
            }
            // An error here is about the app's token or the call, not the channel's token:
            // only `is_valid: false` condemns a channel token.
            Err(e) => {
                warn!(channel = %row.id, error = %e, "token check failed; trying again later");
                self.retry_check_soon(row).await
            }
        }
    }

    async fn check_instagram_token(
        &self,
        row: &LifecycleRow,
        token: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let due_refresh = row
            .token_expires_at
            .is_some_and(|exp| exp - now < ms(self.cfg.refresh_before));
        let old_enough = row.token_issued_at.is_none_or(|t| now - t >= 24 * HOUR_MS);
        if due_refresh && old_enough {
            match self.oauth.ig_refresh(token).await {
                Ok(fresh) => {
                    let expires_at = fresh.expires_in.filter(|s| *s > 0).map(|s| now + s * 1000);
                    let new_enc = self.vault.encrypt(&fresh.access_token);
                    let old_enc = row.token_enc.clone().unwrap_or_default();
                    if self
                        .store
                        .store_refreshed_token(&row.id, &old_enc, &new_enc, expires_at, now)
                        .await?
                    {
                        self.senders.cache().forget_token(&old_enc).await;
                        self.senders.cache().forget_channel(&row.id).await;
                        info!(channel = %row.id, "Instagram token refreshed");
                    }
                    return Ok(());
                }
                Err(e) if e.is_token_refused() => {
                    return self
                        .mark_dead(row, format!("the Instagram token could not be refreshed ({e}); connect the account again"))
                        .await;
                }
                Err(e) => {
                    warn!(channel = %row.id, error = %e, "Instagram token refresh failed; trying again later");
                    return self.retry_check_soon(row).await;
                }
            }
        }
        match self.oauth.ig_me(token).await {
            Ok(_) => {
                self.store.mark_token_checked(&row.id, None, now).await?;
                if let Some(exp) = row.token_expires_at
                    && exp - now < ms(self.cfg.warn_before)
                    && !old_enough
                    && self
                        .store
                        .notify_token_expiring(row, exp, self.horizon_ms)
                        .await?
                {
                    self.delivery_wakeup.notify_one();
                }
                Ok(())
            }
            Err(e) if e.is_token_refused() => {
                self.mark_dead(
                    row,
                    format!("Meta refused the Instagram token ({e}); connect the account again"),
                )
                .await
            }
            Err(e) => {
                warn!(channel = %row.id, error = %e, "Instagram token check failed; trying again later");
                self.retry_check_soon(row).await
            }
        }
    }

    async fn check_subscription(&self, row: &LifecycleRow) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let (Some(object), Some(token)) = (row.subscription_object.as_deref(), self.token_of(row))
        else {
            // Registered by hand: the operator manages its subscription.
            self.store.mark_subscription_checked(&row.id, now).await?;
            return Ok(());
        };
        let listed = if object == "me" {
            self.oauth.ig_subscribed_apps(&token).await
        } else {
            self.oauth.subscribed_apps(&token, object).await
        };
        let apps = match listed {
            Ok(a) => a,
            Err(e) if e.is_token_refused() => {
                warn!(channel = %row.id, error = %e, "Meta refused the token of a subscription check; checking the token");
                self.store.request_token_check(&row.id).await?;
                return Ok(());
            }
            Err(e) => {
                warn!(channel = %row.id, error = %e, "subscription check failed; trying again later");
                return Ok(());
            }
        };
        let ours = apps.iter().any(|a| match (&a.app_id, &self.app_id) {
            (Some(got), Some(mine)) => got == mine,
            _ => true,
        });
        if !ours {
            // The fields the channel was subscribed to at connect time: only those its
            // permissions cover (asking for more makes Meta refuse the whole call).
            let recorded: Option<Vec<&str>> = row
                .subscribed_fields
                .as_deref()
                .map(|f| f.split(',').filter(|x| !x.is_empty()).collect());
            let restored = if object == "me" {
                let fields = recorded.unwrap_or_else(|| IG_FIELDS.to_vec());
                self.oauth.ig_subscribe(&token, &fields).await
            } else if row.kind == "whatsapp" {
                self.oauth.subscribe_app(&token, object, &[]).await
            } else {
                let fields = recorded.unwrap_or_else(|| {
                    grants::all_page_fields(
                        ChannelKind::parse(&row.kind).unwrap_or(ChannelKind::Messenger),
                    )
                });
                self.oauth.subscribe_app(&token, object, &fields).await
            };
            match restored {
                Ok(()) => {
                    warn!(channel = %row.id, "Meta had dropped the webhook subscription; restored");
                    self.store
                        .subscription_restored(row, self.horizon_ms)
                        .await?;
                    self.delivery_wakeup.notify_one();
                }
                Err(e) => {
                    warn!(channel = %row.id, error = %e, "restoring a dropped webhook subscription failed; trying again later");
                    return Ok(());
                }
            }
        }
        self.store.mark_subscription_checked(&row.id, now).await?;
        Ok(())
    }

    async fn retry_registration(&self, row: &LifecycleRow) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let (Some(token), Some(pin)) = (
            self.token_of(row),
            row.register_pin_enc
                .as_deref()
                .and_then(|p| self.vault.decrypt(p).ok()),
        ) else {
            self.store
                .registration_result(row, Some(now + HOUR_MS), self.horizon_ms)
                .await?;
            return Ok(());
        };
        // Meta's order: set the two-step verification PIN, then register with it. A refused
        // PIN change is not final: `/register` says whether the PIN is the number's.
        if let Err(e) = self
            .oauth
            .set_two_step_pin(&token, &row.external_id, &pin)
            .await
        {
            // A refused token only makes its check due (debug_token decides); a refused PIN
            // change (e.g. a permission error) is about this call.
            if e.is_token_refused() {
                warn!(channel = %row.id, error = %e, "Meta refused the token of a PIN change; checking the token");
                self.store.request_token_check(&row.id).await?;
                self.store
                    .registration_result(row, Some(now + HOUR_MS), self.horizon_ms)
                    .await?;
                return Ok(());
            }
            info!(channel = %row.id, error = %e, "setting the two-step verification PIN failed; registering anyway");
        }
        match self
            .oauth
            .register_phone(&token, &row.external_id, &pin)
            .await
        {
            Ok(()) => {
                info!(channel = %row.id, "WhatsApp number registered");
                self.store
                    .registration_result(row, None, self.horizon_ms)
                    .await?;
                self.senders.cache().forget_channel(&row.id).await;
                self.delivery_wakeup.notify_one();
            }
            Err(e) if e.is_token_refused() => {
                warn!(channel = %row.id, error = %e, "Meta refused the token of a registration; checking the token");
                self.store.request_token_check(&row.id).await?;
                self.store
                    .registration_result(row, Some(now + HOUR_MS), self.horizon_ms)
                    .await?;
            }
            // A PIN mismatch or too many attempts does not get better within the hour, and
            // every attempt counts against Meta's 10 registrations per 72 hours (133016).
            Err(GraphCallError::Graph { ref error, .. })
                if matches!(error.code, PIN_MISMATCH | PIN_TOO_FAST | 133016) =>
            {
                warn!(channel = %row.id, code = error.code, "WhatsApp registration refused (two-step verification PIN); trying again in a day");
                self.store
                    .registration_result(row, Some(now + 24 * HOUR_MS), self.horizon_ms)
                    .await?;
            }
            Err(e) => {
                info!(channel = %row.id, error = %e, "WhatsApp number not registered yet; trying again in an hour");
                self.store
                    .registration_result(row, Some(now + HOUR_MS), self.horizon_ms)
                    .await?;
            }
        }
        Ok(())
    }

    /// Fetches every lead that is due, batch after batch.
    pub async fn leads(&self) -> anyhow::Result<()> {
        for _ in 0..LEAD_BATCHES_PER_PASS {
            let now = crate::now_ms();
            let due = self
                .store
                .claim_due_leads(now, BATCH, now + LEAD_CLAIM_MS)
                .await?;
            let full = due.len() as i64 == BATCH;
            for lead in due {
                match self.fetch_lead(&lead).await {
                    Ok(data) => {
                        if self.store.lead_enriched(lead.seq, data).await? {
                            // Deliver each lead as soon as it is ready.
                            self.delivery_wakeup.notify_one();
                        }
                    }
                    Err(why) => {
                        let backoff = ms(self.cfg.lead_backoff)
                            .saturating_mul(1 << lead.attempts.clamp(0, 20))
                            .min(HOUR_MS);
                        warn!(event = %lead.id, attempts = lead.attempts + 1, "lead fetch failed: {why}");
                        self.store
                            .lead_fetch_failed(&lead, crate::now_ms() + backoff, &why)
                            .await?;
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// The lead's event data with Meta's field data merged in, plus (never holding the lead
    /// back) its ad-level fields and its form's question labels.
    async fn fetch_lead(&self, lead: &EnrichingLead) -> Result<LeadReceivedData, String> {
        let stored = lead.data.as_deref().ok_or("the event has no data")?;
        let webhook: LeadWebhookData = serde_json::from_str(stored)
            .map_err(|e| format!("the event's data is not a webhook lead: {e}"))?;
        let leadgen_id = webhook.leadgen_id.clone();
        let channel_id = lead
            .channel_id
            .as_deref()
            .ok_or("the lead is not routed to a channel")?;
        let channel_id = ChannelId::parse(channel_id).map_err(|e| e.to_string())?;
        let channel = self
            .store
            .get_channel(&channel_id, None)
            .await
            .map_err(|e| format!("database: {e}"))?
            .ok_or("the channel no longer exists")?;
        let token = channel
            .token_enc
            .as_deref()
            .and_then(|e| self.vault.decrypt(e).ok())
            .ok_or("the page has no valid token (reconnect it)")?;
        let mut lead_json = self
            .oauth
            .fetch_lead(&token, &leadgen_id)
            .await
            .map_err(|e| e.to_string())?;
        let ad_fields = self
            .read_ad_fields(&channel_id, &token, &leadgen_id, &mut lead_json)
            .await;
        let form_id = webhook.form_id.clone().or_else(|| {
            lead_json
                .get("form_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let labels = match form_id {
            Some(form_id) => self.form_labels(&token, &form_id).await,
            None => None,
        };
        let mut data = LeadReceivedData::from_webhook(webhook, &lead_json)?;
        data.ad_fields = Some(ad_fields);
        if let Some(labels) = labels {
            data.add_labels(&labels);
        }
        Ok(data)
    }

    /// The optional second read: the lead's ad-level fields, merged into `lead_json`. Returns
    /// the `ad_fields` value of the event.
    async fn read_ad_fields(
        &self,
        channel_id: &ChannelId,
        token: &str,
        leadgen_id: &str,
        lead_json: &mut Value,
    ) -> LeadAdFields {
        if self.lead_cache.ads_refused.contains_key(channel_id) {
            return LeadAdFields::NotPermitted;
        }
        match self.oauth.fetch_lead_ad_fields(token, leadgen_id).await {
            Ok(ad) => {
                if let (Some(ad), Some(lead)) = (ad.as_object(), lead_json.as_object_mut()) {
                    for key in ["ad_id", "adset_id", "campaign_id"] {
                        if let Some(v) = ad.get(key).filter(|v| !v.is_null()) {
                            lead.insert(key.to_string(), v.clone());
                        }
                    }
                }
                LeadAdFields::Read
            }
            Err(e) if permission_refused(&e) => {
                info!(channel = %channel_id, "the Page token may not read the leads' ad fields (ads permission missing); leads are delivered without them");
                self.lead_cache
                    .ads_refused
                    .insert(channel_id.clone(), ())
                    .await;
                LeadAdFields::NotPermitted
            }
            Err(e) => {
                warn!(channel = %channel_id, error = %e, "reading a lead's ad fields failed; the lead is delivered without them");
                LeadAdFields::Failed
            }
        }
    }

    /// The form's question labels (`key` → `label`), read once per form and cached; `None`
    /// when the form cannot be read (the lead goes out without labels).
    async fn form_labels(
        &self,
        token: &str,
        form_id: &str,
    ) -> Option<Arc<HashMap<String, String>>> {
        if let Some(labels) = self.lead_cache.labels.get(form_id).await {
            return Some(labels);
        }
        if self.lead_cache.label_failures.contains_key(form_id) {
            return None;
        }
        match self.oauth.fetch_form_questions(token, form_id).await {
            Ok(questions) => {
                let labels: Arc<HashMap<String, String>> =
                    Arc::new(questions.into_iter().collect());
                self.lead_cache
                    .labels
                    .insert(form_id.to_string(), Arc::clone(&labels))
                    .await;
                Some(labels)
            }
            Err(e) => {
                warn!(form = %form_id, error = %e, "reading a lead form's questions failed; leads go out without labels");
                self.lead_cache
                    .label_failures
                    .insert(form_id.to_string(), ())
                    .await;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_beside_the_answers_of_known_keys_only() {
        let webhook = LeadWebhookData {
            leadgen_id: "1".into(),
            ..Default::default()
        };
        let answers = serde_json::json!({"field_data": [
            {"name": "email", "values": ["ana@example.com"]},
            {"name": "custom_q", "values": ["yes"]},
        ]});
        let mut data = LeadReceivedData::from_webhook(webhook, &answers).expect("lead");
        let labels: HashMap<String, String> = [("email".to_string(), "Email".to_string())]
            .into_iter()
            .collect();
        data.add_labels(&labels);
        let data = serde_json::to_value(&data).expect("json");
        assert_eq!(data["field_data"][0]["label"], "Email");
        assert!(data["field_data"][1].get("label").is_none());
    }

    #[test]
    fn permission_codes_are_10_and_200_to_299() {
        let err = |code: i64| GraphCallError::Graph {
            error: Box::new(crate::meta::graph::GraphError {
                code,
                subcode: None,
                message: String::new(),
                title: None,
                details: None,
                fbtrace_id: None,
                http_status: 400,
            }),
            class: crate::meta::errors::classify(code, None),
        };
        assert!(permission_refused(&err(200)));
        assert!(permission_refused(&err(10)));
        assert!(permission_refused(&err(299)));
        assert!(!permission_refused(&err(100)));
        assert!(!permission_refused(&err(190)));
        assert!(!permission_refused(&GraphCallError::Transport("x".into())));
    }
}
