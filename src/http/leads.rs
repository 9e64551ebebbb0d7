//! A Facebook Page's Lead Ads (`/v1/channels/{id}/lead-forms`, `/v1/channels/{id}/leads/backfill`):
//! the Page's forms as Meta lists them, and a backfill that reads a time window of leads from
//! Meta and relays those the bridge never received (see [`crate::leads`]). Both are calls to
//! Meta made for the instance; what Meta refuses comes back as `422 meta_rejected` with Meta's
//! reason (never a token).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};

use super::AppState;
use super::api::{InstanceAuth, Tag};
use super::channels::own_channel;
use super::errors::{ApiError, codes};
use crate::events::data::ChannelBackfillData;
use crate::leads::{BackfillTrigger, LeadsError};
use crate::meta::oauth::LeadForm;
use crate::store::ChannelRow;

/// One of the Page's Lead Ads forms.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LeadFormView {
    /// Meta's form id (what `lead.received` carries as `form_id`).
    pub id: String,
    pub name: Option<String>,
    /// Meta's status: `ACTIVE`, `ARCHIVED`, `DRAFT`, `DELETED`.
    pub status: Option<String>,
    /// The form's locale, e.g. `pt_BR`.
    pub locale: Option<String>,
    /// When the form was created, as Meta gives it.
    pub created_time: Option<String>,
}

impl From<LeadForm> for LeadFormView {
    fn from(f: LeadForm) -> Self {
        Self {
            id: f.id,
            name: f.name,
            status: f.status,
            locale: f.locale,
            created_time: f.created_time,
        }
    }
}

/// The Page's Lead Ads forms, as Meta lists them now.
#[derive(Debug, Object)]
#[oai(example)]
pub struct LeadFormList {
    pub forms: Vec<LeadFormView>,
}

impl Example for LeadFormList {
    fn example() -> Self {
        Self {
            forms: vec![LeadFormView {
                id: "990000000000001".into(),
                name: Some("Test drive".into()),
                status: Some("ACTIVE".into()),
                locale: Some("pt_BR".into()),
                created_time: Some("2026-11-01T09:00:00+0000".into()),
            }],
        }
    }
}

/// Which leads to read again from Meta.
#[derive(Debug, Object)]
#[oai(example)]
pub struct BackfillRequest {
    /// One form of the Page; every form when absent.
    pub form_id: Option<String>,
    /// Leads created after this time (RFC 3339) are read. At most the idempotency log's
    /// retention back (30 days by default) less an hour: older leads could not be told apart
    /// from ones already delivered.
    pub since: String,
}

impl Example for BackfillRequest {
    fn example() -> Self {
        Self {
            form_id: Some("990000000000001".into()),
            since: "2026-11-17T06:00:00Z".into(),
        }
    }
}

/// A Messenger channel (a Facebook Page) of the instance.
async fn page_channel(
    state: &AppState,
    id: &str,
    auth: &InstanceAuth,
) -> Result<ChannelRow, ApiError> {
    let ch = own_channel(state, id, &auth.0, false).await?;
    if ch.kind != crate::channels::ChannelKind::Messenger {
        return Err(not_a_page());
    }
    Ok(ch)
}

fn not_a_page() -> ApiError {
    ApiError::unprocessable(
        codes::LEADS_UNAVAILABLE,
        None,
        "Lead Ads forms belong to Facebook Pages (Messenger channels).",
    )
}

fn leads_error(e: LeadsError) -> ApiError {
    match e {
        LeadsError::NotAPage => not_a_page(),
        LeadsError::NoToken => ApiError::unprocessable(
            codes::LEADS_UNAVAILABLE,
            None,
            "The channel has no usable token; connect it again.",
        ),
        LeadsError::SinceTooOld { earliest_ms } => ApiError::rule(
            "since",
            "too_old",
            format!(
                "must not be earlier than {}: older leads cannot be told apart from ones already delivered",
                crate::ms_to_rfc3339(earliest_ms)
            ),
        ),
        LeadsError::SinceInFuture => ApiError::rule("since", "in_future", "is in the future"),
        LeadsError::FormNotFound => ApiError::not_found(
            codes::LEAD_FORM_NOT_FOUND,
            "No lead form with that id on this Page.",
        ),
        LeadsError::Graph(e) => ApiError::meta_call(e, "the lead read"),
        LeadsError::Unavailable => ApiError::not_committed("lead backfill"),
        LeadsError::Store(e) => ApiError::store("lead backfill", e),
    }
}

/// A Meta id: digits only (forms, Pages).
fn is_meta_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

pub struct LeadsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Channels")]
impl LeadsApi {
    /// A Facebook Page's Lead Ads forms, read from Meta now (`GET /{page-id}/leadgen_forms`).
    #[oai(
        path = "/channels/:id/lead-forms",
        method = "get",
        operation_id = "leads.forms"
    )]
    async fn forms(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<LeadFormList>, ApiError> {
        let ch = page_channel(&state, &id, &auth).await?;
        let forms = state.leads.forms(&ch).await.map_err(leads_error)?;
        Ok(Json(LeadFormList {
            forms: forms.into_iter().map(LeadFormView::from).collect(),
        }))
    }

    /// Read the leads a Page received after `since` from Meta (`GET /{form-id}/leads`, every
    /// page) and relay those the bridge never received, each as its own `lead.received` (the
    /// same idempotency key as its webhook: a lead is never delivered twice). Answers with the
    /// counts once the leads are stored; their answers are read and delivered right after, as
    /// for a webhook lead. A `channel.backfill` event follows when any lead was relayed.
    #[oai(
        path = "/channels/:id/leads/backfill",
        method = "post",
        operation_id = "leads.backfill"
    )]
    async fn backfill(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: Json<BackfillRequest>,
    ) -> Result<Json<ChannelBackfillData>, ApiError> {
        let ch = page_channel(&state, &id, &auth).await?;
        let b = body.0;
        let since = chrono::DateTime::parse_from_rfc3339(b.since.trim())
            .map_err(|_| {
                ApiError::rule(
                    "since",
                    "invalid_format",
                    "must be an RFC 3339 time, e.g. 2026-11-17T06:00:00Z",
                )
            })?
            .timestamp_millis();
        if let Some(f) = b.form_id.as_deref()
            && !is_meta_id(f)
        {
            return Err(ApiError::rule(
                "form_id",
                "invalid_format",
                "must be a Meta form id (digits)",
            ));
        }
        let report = state
            .leads
            .backfill(&ch, b.form_id.as_deref(), since, BackfillTrigger::Api)
            .await
            .map_err(leads_error)?;
        Ok(Json(report))
    }
}
