//! `data` of `lead.received`, and the lead as the webhook names it before it is fetched.

use std::collections::{BTreeMap, HashMap};

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of `lead.received`: a Lead Ads lead. Delivered only once the bridge fetched the
/// lead from the Graph API (failed fetches are retried until the delivery horizon, then the
/// event is dead-lettered; it is never delivered without `field_data`). The fetch starts as
/// soon as the webhook is stored.
///
/// The lead is read with the Page's token in two steps, as Meta's "Retrieving Leads" guide
/// requires: the lead itself (`leads_retrieval`), then, optionally, its ad-level fields
/// (`ad_id`, `adset_id`, `campaign_id`), which Meta gives only to a token with
/// `ads_management`/`ads_read` of a person who can advertise on the ad account. `ad_fields`
/// says how that second read went; it never holds the lead back.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct LeadReceivedData {
    pub leadgen_id: String,
    /// The form (from the webhook, else from the Graph API); null when neither gave it.
    #[oai(nullable)]
    pub form_id: Option<Value>,
    /// The Page the lead belongs to; null when unknown.
    #[oai(nullable)]
    pub page_id: Option<String>,
    /// The webhook's `created_time` in unix milliseconds; null when missing.
    #[oai(nullable)]
    pub created_time_ms: Option<i64>,
    /// The ad (from the webhook, else from the Graph API as sent).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adgroup_id: Option<String>,
    /// Meta's `field_data` as sent: `[{name, values}]`.
    pub field_data: Vec<LeadField>,
    /// The same answers keyed by question: `{name: values}`.
    pub fields: BTreeMap<String, Value>,
    /// Graph API `created_time` as sent (e.g. `2025-11-17T12:33:15+0000`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<Value>,
    /// Graph API, as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adset_id: Option<Value>,
    /// Graph API, as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<Value>,
    /// Graph API, as sent (a boolean).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_organic: Option<Value>,
    /// Graph API, as sent (`fb`, `ig`, …).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
    /// How the read of the ad-level fields went: `read` (`ad_id`, `adset_id`, `campaign_id`
    /// are here when Meta has them; an organic lead has none), `not_permitted` (Meta refused
    /// them for lack of permission: the Page was connected without an ads permission, or its
    /// person is no advertiser on the ad account; `adset_id` and `campaign_id` are absent, `ad_id`
    /// only from the webhook) or `failed` (another error; not retried). Absent on leads
    /// fetched by bridge versions before this field.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_fields: Option<LeadAdFields>,
}

/// `ad_fields` of `lead.received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum LeadAdFields {
    Read,
    NotPermitted,
    Failed,
}

/// One answer of a lead form (Meta's `field_data` item, with the question's label added).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct LeadField {
    /// The question's key, as sent (a string).
    pub name: Value,
    /// The answers, as sent (an array of strings).
    pub values: Value,
    /// The question as the person saw it: the `label` of the form question whose `key` is
    /// `name` (the bridge reads the form's `questions` once per form and caches them). Absent
    /// when the form could not be read or has no such question; a failed form read never holds
    /// the lead back.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Other keys of Meta's item, as sent.
    #[oai(skip)]
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A lead as the `leadgen` webhook names it: stored with the event until the lead worker
/// fetched the lead ([`LeadReceivedData::from_webhook`]); never delivered as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadWebhookData {
    pub leadgen_id: String,
    /// The form, when the webhook named it; null otherwise.
    pub form_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adgroup_id: Option<String>,
    /// The Page (the webhook's `page_id`, else the entry's id); null when neither is known.
    pub page_id: Option<String>,
    /// The webhook's `created_time` in unix milliseconds; null when missing.
    pub created_time_ms: Option<i64>,
}

impl LeadField {
    /// One of Meta's `field_data` items (`name` and `values` null when missing).
    fn from_meta(item: &Value) -> Self {
        let mut other = item.as_object().cloned().unwrap_or_default();
        LeadField {
            name: other.remove("name").unwrap_or(Value::Null),
            values: other.remove("values").unwrap_or(Value::Null),
            label: None,
            other,
        }
    }
}

impl LeadReceivedData {
    /// The webhook's lead completed with the lead Meta's Graph API returned: its `field_data`
    /// (required), and `created_time`, `adset_id`, `campaign_id`, `is_organic`, `platform`, and
    /// `ad_id` / `form_id` when the webhook did not name them (values as Meta sent them; null
    /// ones are ignored).
    pub fn from_webhook(lead: LeadWebhookData, graph: &Value) -> Result<Self, String> {
        let items = graph
            .get("field_data")
            .and_then(Value::as_array)
            .ok_or("Meta's answer has no field_data")?;
        let mut fields = BTreeMap::new();
        for item in items {
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                let values = item.get("values").cloned();
                fields.insert(
                    name.to_owned(),
                    values.unwrap_or_else(|| Value::Array(Vec::new())),
                );
            }
        }
        let sent = |key: &str| graph.get(key).filter(|v| !v.is_null()).cloned();
        Ok(LeadReceivedData {
            leadgen_id: lead.leadgen_id,
            form_id: lead.form_id.map(Value::String).or_else(|| sent("form_id")),
            page_id: lead.page_id,
            created_time_ms: lead.created_time_ms,
            ad_id: lead.ad_id.map(Value::String).or_else(|| sent("ad_id")),
            adgroup_id: lead.adgroup_id,
            field_data: items.iter().map(LeadField::from_meta).collect(),
            fields,
            created_time: sent("created_time"),
            adset_id: sent("adset_id"),
            campaign_id: sent("campaign_id"),
            is_organic: sent("is_organic"),
            platform: sent("platform"),
            ad_fields: None,
        })
    }

    /// Gives each answer whose `name` is a question key of the form that question's `label`
    /// (the text the person saw).
    pub fn add_labels(&mut self, labels: &HashMap<String, String>) {
        for field in &mut self.field_data {
            if let Some(label) = field.name.as_str().and_then(|n| labels.get(n)) {
                field.label = Some(label.clone());
            }
        }
    }
}
