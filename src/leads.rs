//! Lead Ads leads that never arrived by webhook: a Page's forms, a backfill of a time window
//! from Meta's lead lists, and the gap check that runs one by itself (a use case over the store,
//! the ingest writer and the Graph client, used by the API and the lifecycle worker).
//!
//! A backfill lists the leads each form received after `since`
//! (`GET /{form-id}/leads`, filtered on `time_created`) and replays each one as the `leadgen`
//! webhook Meta would have sent: the same parser makes the same idempotency key
//! (`lead:<leadgen_id>`), the same writer commits it against the idempotency log, and the lead
//! worker reads its answers exactly as for a webhook lead. So a lead that did arrive (by
//! webhook, or by an earlier backfill) is counted as a duplicate and never delivered twice.
//!
//! **The window** cannot start earlier than the idempotency log reaches back
//! (`METABRIDGE_IDEMPOTENCY_RETENTION_DAYS`, and the stale-item age when set), less an hour:
//! a lead older than that might have been delivered with its key already purged, and would be
//! delivered again.
//!
//! **Gap check:** a Page that has received leads is watched (`lead_watch`: the newest lead's
//! time and the end of the last window read). When both are older than
//! `METABRIDGE_LEAD_GAP_MINUTES`, the Page's webhooks may have stopped (or the bridge was down
//! longer than Meta retries): its leads since then are read and the missing ones relayed, with a
//! `channel.backfill` event when any was found missing. A check that could not read a form is
//! tried again after 15 minutes (sooner than the gap, never in a tight loop).
//!
//! Never logged: tokens, lead answers (only ids and counts).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracing::{info, warn};

use crate::channels::ChannelKind;
use crate::crypto::vault::Vault;
use crate::events::data::ChannelBackfillData;
use crate::events::parse::parse_webhook;
use crate::meta::graph::GraphCallError;
use crate::meta::oauth::{LeadForm, OAuthClient};
use crate::store::writer::Writer;
use crate::store::{ChannelRow, LeadGap, Store, StoreError};

/// How far before the newest known lead (or the last window's end) a gap check starts reading:
/// leads are listed by their creation time, which can be a little earlier than when their
/// webhook would have come.
const GAP_OVERLAP_MS: i64 = 10 * 60_000;
/// A failed gap check is tried again after this long (or after the gap, if shorter).
const GAP_RETRY_MS: i64 = 15 * 60_000;
/// The window may not start closer than this to the idempotency log's horizon.
const HORIZON_MARGIN_MS: i64 = 3_600_000;
/// Leads replayed per commit (one synthetic webhook body each).
const LEADS_PER_COMMIT: usize = 100;
/// Gap checks per pass.
const GAPS_PER_PASS: i64 = 10;

/// Who asked for a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillTrigger {
    /// `POST /v1/channels/{id}/leads/backfill`.
    Api,
    /// The gap check.
    Gap,
}

impl BackfillTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            BackfillTrigger::Api => "api",
            BackfillTrigger::Gap => "gap",
        }
    }
}

/// Why a forms list or a backfill did not run.
#[derive(Debug, thiserror::Error)]
pub enum LeadsError {
    /// Lead Ads belong to Facebook Pages (Messenger channels).
    #[error("lead forms belong to Facebook Pages; this channel is not one")]
    NotAPage,
    /// No token: the channel is disconnected, or its token could not be decrypted.
    #[error("the channel has no usable token (connect it again)")]
    NoToken,
    /// `since` is earlier than the idempotency log reaches back.
    #[error("since is earlier than the bridge can tell delivered leads apart")]
    SinceTooOld { earliest_ms: i64 },
    /// `since` is in the future.
    #[error("since is in the future")]
    SinceInFuture,
    /// The form is not one of the Page's forms.
    #[error("no such lead form on this Page")]
    FormNotFound,
    /// Meta answered with an error, or could not be reached.
    #[error(transparent)]
    Graph(GraphCallError),
    /// The database could not commit the replayed leads.
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The Lead Ads use case; cheap to clone.
#[derive(Clone)]
pub struct Leads {
    store: Store,
    writer: Writer,
    oauth: OAuthClient,
    vault: Arc<Vault>,
    /// How far back the idempotency log tells delivered leads apart.
    dedup_reach: Duration,
    horizon_ms: i64,
}

impl Leads {
    pub fn new(
        store: Store,
        writer: Writer,
        oauth: OAuthClient,
        vault: Arc<Vault>,
        dedup_reach: Duration,
        horizon_ms: i64,
    ) -> Self {
        Self {
            store,
            writer,
            oauth,
            vault,
            dedup_reach,
            horizon_ms,
        }
    }

    /// The earliest `since` a backfill accepts now (unix ms).
    pub fn earliest_since(&self) -> i64 {
        let reach = i64::try_from(self.dedup_reach.as_millis()).unwrap_or(i64::MAX / 4);
        crate::now_ms() - reach + HORIZON_MARGIN_MS
    }

    fn page_token(&self, channel: &ChannelRow) -> Result<String, LeadsError> {
        if channel.kind != ChannelKind::Messenger {
            return Err(LeadsError::NotAPage);
        }
        channel
            .token_enc
            .as_deref()
            .and_then(|t| self.vault.decrypt(t).ok())
            .ok_or(LeadsError::NoToken)
    }

    /// The Page's Lead Ads forms, as Meta lists them now.
    pub async fn forms(&self, channel: &ChannelRow) -> Result<Vec<LeadForm>, LeadsError> {
        let token = self.page_token(channel)?;
        self.oauth
            .lead_forms(&token, &channel.external_id)
            .await
            .map_err(LeadsError::Graph)
    }

    /// Reads the leads created after `since_ms` (of one form, or of every form of the Page),
    /// relays those the bridge has not received, and reports the counts. A `channel.backfill`
    /// event goes to the instance when a lead was relayed (with the forms that could not be
    /// read, if any).
    pub async fn backfill(
        &self,
        channel: &ChannelRow,
        form_id: Option<&str>,
        since_ms: i64,
        trigger: BackfillTrigger,
    ) -> Result<ChannelBackfillData, LeadsError> {
        let token = self.page_token(channel)?;
        let now = crate::now_ms();
        let earliest = self.earliest_since();
        // The gap check asks from the Page's newest lead, which may be older than the log
        // reaches: it reads what it safely can. An API caller is told instead.
        let since_ms = match trigger {
            BackfillTrigger::Gap => since_ms.max(earliest),
            BackfillTrigger::Api => since_ms,
        };
        if since_ms < earliest {
            return Err(LeadsError::SinceTooOld {
                earliest_ms: earliest,
            });
        }
        if since_ms > now {
            return Err(LeadsError::SinceInFuture);
        }
        let page_id = channel.external_id.as_str();
        let forms = self
            .oauth
            .lead_forms(&token, page_id)
            .await
            .map_err(LeadsError::Graph)?;
        let form_ids: Vec<String> = match form_id {
            Some(f) => {
                if !forms.iter().any(|x| x.id == f) {
                    return Err(LeadsError::FormNotFound);
                }
                vec![f.to_owned()]
            }
            None => forms.into_iter().map(|f| f.id).collect(),
        };
        let mut report = ChannelBackfillData {
            channel_id: channel.id.to_string(),
            trigger: trigger.as_str().to_owned(),
            since: crate::ms_to_rfc3339(since_ms),
            until: crate::ms_to_rfc3339(now),
            form_ids: form_ids.clone(),
            ..Default::default()
        };
        let since_unix = since_ms.div_euclid(1000);
        for form in &form_ids {
            let listed = match self.oauth.form_leads_since(&token, form, since_unix).await {
                Ok(l) => l,
                // One form asked for: its failure is the answer.
                Err(e) if form_id.is_some() => return Err(LeadsError::Graph(e)),
                Err(e) => {
                    warn!(channel = %channel.id, form = %form, error = %e, "lead backfill: the form's leads could not be read");
                    report.failed_forms.push(form.clone());
                    continue;
                }
            };
            report.truncated |= listed.truncated;
            report.found += listed.leads.len() as u64;
            for chunk in listed.leads.chunks(LEADS_PER_COMMIT) {
                let changes: Vec<serde_json::Value> = chunk
                    .iter()
                    .map(|l| {
                        json!({"field": "leadgen", "value": {
                            "leadgen_id": l.leadgen_id,
                            "page_id": page_id,
                            "form_id": form,
                            "created_time": l.created_unix,
                        }})
                    })
                    .collect();
                // The body Meta's `leadgen` webhook would have carried ("Webhooks for Leadgen",
                // the payload in "Retrieving Leads": object `page`, one change per lead).
                let body = json!({"object": "page", "entry": [{
                    "id": page_id, "time": now.div_euclid(1000), "changes": changes,
                }]});
                let bytes = serde_json::to_vec(&body)
                    .map_err(|e| StoreError::Other(format!("backfill body: {e}")))?;
                let events = parse_webhook(&bytes)
                    .map_err(|e| StoreError::Other(format!("backfill body: {e}")))?;
                let counts = self
                    .writer
                    .ingest(events, crate::now_ms())
                    .await
                    .map_err(|_| LeadsError::Unavailable)?;
                report.relayed += counts.enqueued as u64;
                report.duplicates += counts.duplicates as u64;
            }
        }
        if report.failed_forms.is_empty() {
            self.store.lead_window_read(&channel.id, now).await?;
        }
        if report.relayed > 0 {
            let actor = match trigger {
                BackfillTrigger::Api => format!("instance:{}", channel.instance_id),
                BackfillTrigger::Gap => "lead-gap-check".to_owned(),
            };
            self.store
                .record_backfill(channel, &actor, report.clone(), self.horizon_ms)
                .await?;
        }
        info!(
            channel = %channel.id,
            trigger = trigger.as_str(),
            found = report.found,
            relayed = report.relayed,
            duplicates = report.duplicates,
            failed_forms = report.failed_forms.len(),
            "lead backfill done"
        );
        Ok(report)
    }

    /// One pass of the gap check: every watched Page whose newest lead and last read window are
    /// older than `gap` has its leads since then read. Returns how many Pages were checked.
    pub async fn check_gaps(&self, gap: Duration) -> Result<usize, StoreError> {
        let gap_ms = i64::try_from(gap.as_millis()).unwrap_or(i64::MAX / 4);
        let now = crate::now_ms();
        let mut checked = 0;
        for due in self
            .store
            .lead_gaps_due(now - gap_ms, GAPS_PER_PASS)
            .await?
        {
            // Taken for a gap's length; a failure below brings the next try closer.
            if !self.store.claim_lead_gap(&due, now + gap_ms).await? {
                continue;
            }
            checked += 1;
            if let Err(e) = self.check_one(&due).await {
                warn!(channel = %due.channel_id, error = %e, "lead gap check failed; trying again later");
                let retry = LeadGap {
                    next_check_at: now + gap_ms,
                    ..due.clone()
                };
                self.store
                    .claim_lead_gap(&retry, now + GAP_RETRY_MS.min(gap_ms))
                    .await?;
            }
        }
        Ok(checked)
    }

    async fn check_one(&self, due: &LeadGap) -> Result<(), LeadsError> {
        let Some(channel) = self.store.get_channel(&due.channel_id, None).await? else {
            return Ok(());
        };
        // `backfill` clamps it to what the idempotency log reaches.
        let since = due.last_lead_at.max(due.read_until) - GAP_OVERLAP_MS;
        let report = self
            .backfill(&channel, None, since, BackfillTrigger::Gap)
            .await?;
        if !report.failed_forms.is_empty() {
            return Err(LeadsError::Graph(GraphCallError::Decode(format!(
                "{} form(s) could not be read",
                report.failed_forms.len()
            ))));
        }
        Ok(())
    }
}
