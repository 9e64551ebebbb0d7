//! Lead Ads: a lead's fields, its ad-level fields and its form's questions.

use super::*;

/// The lead fields a Page token with `leads_retrieval` reads (no ad-level field).
pub const LEAD_FIELDS: &str = "id,created_time,form_id,field_data,is_organic,platform";

/// The fields of a Page's Lead Ads forms the bridge lists (`LeadgenForm` node).
pub const LEAD_FORM_FIELDS: &str = "id,name,status,locale,created_time";

/// What a backfill reads of each lead in a form's list: its id and time only. The lead's
/// answers are read by the same per-lead fetch as a webhook lead ([`OAuthClient::fetch_lead`]),
/// so a backfilled lead reaches the platform exactly as a webhook lead would.
pub const FORM_LEAD_FIELDS: &str = "id,created_time";

/// Leads asked for per page of a form's list.
pub const FORM_LEADS_PAGE_SIZE: u32 = 100;

/// Most pages of one form's leads a backfill reads (10,000 leads); more is reported as
/// truncated.
pub const FORM_LEADS_MAX_PAGES: usize = 100;

/// One of a Page's Lead Ads forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadForm {
    pub id: String,
    pub name: Option<String>,
    /// `ACTIVE`, `ARCHIVED`, `DELETED`, `DRAFT` as Meta says.
    pub status: Option<String>,
    pub locale: Option<String>,
    /// As Meta gives it (ISO 8601 with `+0000`).
    pub created_time: Option<String>,
}

/// A lead of a form's list: what a backfill needs to replay it as its webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormLead {
    pub leadgen_id: String,
    /// Unix seconds, when Meta gave a readable `created_time`.
    pub created_unix: Option<i64>,
}

/// A form's leads created after a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormLeads {
    pub leads: Vec<FormLead>,
    /// More pages were left unread ([`FORM_LEADS_MAX_PAGES`]).
    pub truncated: bool,
}

/// The lead's ad-level fields: they need an ads permission (`ads_management` / `ads_read`) and
/// advertiser access to the ad account, so they are a second, optional read.
pub const LEAD_AD_FIELDS: &str = "ad_id,adset_id,campaign_id";

impl OAuthClient {
    /// `GET /{v}/{leadgen_id}?fields=`[`LEAD_FIELDS`] with a Page token: the lead as Meta
    /// returns it, without its ad-level fields (those need ads permissions the Page token may
    /// not carry; see [`Self::fetch_lead_ad_fields`]).
    ///
    /// Meta: "Retrieving Leads" (Marketing API guide),
    /// <https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving>, and
    /// "User Lead Gen Info" (`GET /{lead-id}`),
    /// <https://developers.facebook.com/docs/marketing-api/reference/user-lead-gen-info/>, both
    /// read 2026-12-02: the lead is read with a Page token of a person with leads access
    /// (`leads_retrieval`).
    pub async fn fetch_lead(
        &self,
        page_token: &str,
        leadgen_id: &str,
    ) -> Result<Value, GraphCallError> {
        let mut url = self.graph_url(&[leadgen_id])?;
        url.query_pairs_mut().append_pair("fields", LEAD_FIELDS);
        let json = self.get_bearer(url, page_token, &[]).await?;
        if !json.is_object() || json.get("id").and_then(lenient_string).is_none() {
            return Err(GraphCallError::Decode("lead has no id".into()));
        }
        Ok(json)
    }

    /// `GET /{v}/{leadgen_id}?fields=`[`LEAD_AD_FIELDS`]: the lead's ad, ad set and campaign.
    ///
    /// Meta ("Retrieving Leads", read 2026-12-02): "To read ad specific fields, such as `ad_id`
    /// or `campaign_id`, you will need … a Page or User access token requested by a person who
    /// can advertise on the ad account … the `ads_management` permission". A token without it
    /// gets a permission error (code 200 / 10): the caller treats this read as optional.
    pub async fn fetch_lead_ad_fields(
        &self,
        page_token: &str,
        leadgen_id: &str,
    ) -> Result<Value, GraphCallError> {
        let mut url = self.graph_url(&[leadgen_id])?;
        url.query_pairs_mut().append_pair("fields", LEAD_AD_FIELDS);
        let json = self.get_bearer(url, page_token, &[]).await?;
        if !json.is_object() {
            return Err(GraphCallError::Decode(
                "lead answer is not an object".into(),
            ));
        }
        Ok(json)
    }

    /// `GET /{v}/{form_id}?fields=questions` with a Page token: the form's questions as
    /// `(key, label)` pairs, in the form's order. The `key` is what a lead's `field_data[].name`
    /// carries.
    ///
    /// Meta: the Lead Gen form node has `questions` (`list<LeadGenQuestion>`), each with `key`,
    /// `label`, `type`, `options`, `id` (Meta's Business SDK, generated from the Graph API
    /// spec: `facebook_business/adobjects/leadgenform.py` and `leadgenquestion.py` of
    /// <https://github.com/facebook/facebook-python-business-sdk>); forms are read with a Page
    /// access token ("Page Leadgen Forms",
    /// <https://developers.facebook.com/docs/graph-api/reference/page/leadgen_forms/>, read
    /// 2026-12-02; its errors: 200 permissions, 100, 190, 80001/80005 rate limits).
    pub async fn fetch_form_questions(
        &self,
        page_token: &str,
        form_id: &str,
    ) -> Result<Vec<(String, String)>, GraphCallError> {
        let mut url = self.graph_url(&[form_id])?;
        url.query_pairs_mut().append_pair("fields", "questions");
        let json = self.get_bearer(url, page_token, &[]).await?;
        let questions = json
            .get("questions")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphCallError::Decode("form answer has no questions".into()))?;
        Ok(questions
            .iter()
            .filter_map(|q| {
                let key = q.get("key").and_then(Value::as_str)?;
                let label = q.get("label").and_then(Value::as_str)?;
                Some((key.to_owned(), label.to_owned()))
            })
            .collect())
    }

    /// `GET /{v}/{page_id}/leadgen_forms?fields=`[`LEAD_FORM_FIELDS`] with the Page token,
    /// every page: the Page's Lead Ads forms.
    ///
    /// Meta: "Page Leadgen Forms" (Graph API reference),
    /// <https://developers.facebook.com/docs/graph-api/reference/page/leadgen_forms/>, read
    /// 2026-12-03: "Fetch LeadGen forms associated with a page. This operation requires a Page
    /// access token"; the edge returns `{"data": [...], "paging": {...}}` of LeadgenForm nodes;
    /// errors 200 (permissions), 100, 190, 80001 / 80005 (rate limits).
    pub async fn lead_forms(
        &self,
        page_token: &str,
        page_id: &str,
    ) -> Result<Vec<LeadForm>, GraphCallError> {
        let mut url = self.graph_url(&[page_id, "leadgen_forms"])?;
        url.query_pairs_mut()
            .append_pair("fields", LEAD_FORM_FIELDS);
        let items = self.get_all(url, page_token).await?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(items
            .iter()
            .filter_map(|f| {
                Some(LeadForm {
                    id: f.get("id").and_then(lenient_string)?,
                    name: text(f, "name"),
                    status: text(f, "status"),
                    locale: text(f, "locale"),
                    created_time: text(f, "created_time"),
                })
            })
            .collect())
    }

    /// `GET /{v}/{form_id}/leads?fields=`[`FORM_LEAD_FIELDS`]`&filtering=[{"field":
    /// "time_created","operator":"GREATER_THAN","value":<since>}]&limit=100` with the Page
    /// token, following `paging.next` (at most [`FORM_LEADS_MAX_PAGES`] pages).
    ///
    /// Meta: "Retrieving Leads", section Bulk Read (Marketing API, Lead Ads),
    /// <https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving>,
    /// read 2026-12-03: a form's (or an ad's) leads are read from its `leads` edge with a Page
    /// token of someone with leads access, and filtered by creation time with the `filtering`
    /// parameter on `time_created` (Unix seconds, operator `GREATER_THAN`); the rate limit is
    /// 200 × 24 × the leads of the last 90 days per Page per day. Pages follow Graph API
    /// cursor paging (`limit`, `paging.next`: "Paginated Results",
    /// <https://developers.facebook.com/docs/graph-api/results>, read 2026-12-03).
    pub async fn form_leads_since(
        &self,
        page_token: &str,
        form_id: &str,
        since_unix: i64,
    ) -> Result<FormLeads, GraphCallError> {
        let mut url = self.graph_url(&[form_id, "leads"])?;
        let filtering = serde_json::json!([
            {"field": "time_created", "operator": "GREATER_THAN", "value": since_unix}
        ]);
        url.query_pairs_mut()
            .append_pair("fields", FORM_LEAD_FIELDS)
            .append_pair("filtering", &filtering.to_string())
            .append_pair("limit", &FORM_LEADS_PAGE_SIZE.to_string());
        let items = self
            .get_pages(url, page_token, FORM_LEADS_MAX_PAGES + 1)
            .await?;
        let cap = FORM_LEADS_MAX_PAGES * FORM_LEADS_PAGE_SIZE as usize;
        let truncated = items.len() > cap;
        Ok(FormLeads {
            leads: items
                .iter()
                .take(cap)
                .filter_map(|l| {
                    Some(FormLead {
                        leadgen_id: l.get("id").and_then(lenient_string)?,
                        created_unix: l
                            .get("created_time")
                            .and_then(Value::as_str)
                            .and_then(parse_meta_time),
                    })
                })
                .collect(),
            truncated,
        })
    }
}

/// Meta's `created_time` (`2026-11-17T12:00:00+0000`) as Unix seconds.
fn parse_meta_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.timestamp())
}
