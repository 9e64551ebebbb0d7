//! Lead Ads: a lead's fields, its ad-level fields and its form's questions.

use super::*;

/// The lead fields a Page token with `leads_retrieval` reads (no ad-level field).
pub const LEAD_FIELDS: &str = "id,created_time,form_id,field_data,is_organic,platform";

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
}
