//! A WhatsApp Business Account's message templates (`/{waba-id}/message_templates`): read
//! them all, submit one, delete one by name.
//!
//! Meta's pages (read 2026-12-03): "WhatsApp Business Account Message Templates" (Graph API
//! reference, <https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/>),
//! "WhatsApp Message Template" (the node's fields, among them `parameter_format` and
//! `quality_score`, <https://developers.facebook.com/docs/graph-api/reference/whats-app-business-hsm>)
//! and "Create and Manage Message Templates"
//! (<https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates>).
//! The corpus files `whatsapp.waba.message_templates.{list,create,delete}.json` record them.

use super::*;

/// The fields asked for on every template (the node's fields the bridge keeps).
pub const TEMPLATE_FIELDS: &str =
    "id,name,language,status,category,components,parameter_format,quality_score";
/// Templates per page asked for.
const PAGE_SIZE: &str = "100";
/// Most pages read: a verified business may hold 6,000 templates per account (Meta's page).
const MAX_TEMPLATE_PAGES: usize = 80;

/// One template (one name in one language) as Meta lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaTemplate {
    /// Meta's template id (the `hsm_id`).
    pub id: String,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, … as Meta spells it.
    pub status: String,
    pub category: Option<String>,
    /// `POSITIONAL` or `NAMED` as Meta sent it; absent means positional (Meta's default).
    pub parameter_format: Option<String>,
    /// The template's components as Meta sent them (an array).
    pub components: Value,
    /// `quality_score.score` (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    pub quality: Option<String>,
}

/// What Meta answered to a new template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTemplate {
    pub id: String,
    /// `PENDING` while in review (or at once `APPROVED` / `REJECTED`).
    pub status: Option<String>,
    pub category: Option<String>,
}

impl OAuthClient {
    /// `GET /{v}/{waba}/message_templates?fields=…&limit=100`, following `paging.next`: every
    /// template of the account. Items without an id, name or language are skipped.
    pub async fn message_templates(
        &self,
        token: &str,
        waba_id: &str,
    ) -> Result<Vec<MetaTemplate>, GraphCallError> {
        let mut url = self.graph_url(&[waba_id, "message_templates"])?;
        url.query_pairs_mut()
            .append_pair("fields", TEMPLATE_FIELDS)
            .append_pair("limit", PAGE_SIZE);
        let items = self.get_pages(url, token, MAX_TEMPLATE_PAGES).await?;
        Ok(items.iter().filter_map(template_from).collect())
    }

    /// `POST /{v}/{waba}/message_templates` with `body` (name, language, category, components,
    /// parameter_format) as JSON: the new template's id and status.
    pub async fn create_message_template(
        &self,
        token: &str,
        waba_id: &str,
        body: &Value,
    ) -> Result<CreatedTemplate, GraphCallError> {
        let url = self.graph_url(&[waba_id, "message_templates"])?;
        let json = self
            .call(self.http.post(url).bearer_auth(token).json(body), &[token])
            .await?;
        let id = opt_string(&json, "id")
            .ok_or_else(|| GraphCallError::Decode("new template has no id".into()))?;
        Ok(CreatedTemplate {
            id,
            status: opt_string(&json, "status"),
            category: opt_string(&json, "category"),
        })
    }

    /// `DELETE /{v}/{waba}/message_templates?name=…[&hsm_id=…]`: by name deletes every
    /// language of the template; with `hsm_id` only that one.
    pub async fn delete_message_template(
        &self,
        token: &str,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<(), GraphCallError> {
        let mut url = self.graph_url(&[waba_id, "message_templates"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("name", name);
            if let Some(id) = hsm_id {
                q.append_pair("hsm_id", id);
            }
        }
        let json = self
            .call(self.http.delete(url).bearer_auth(token), &[token])
            .await?;
        success(&json)
    }
}

fn template_from(v: &Value) -> Option<MetaTemplate> {
    let quality = match v.get("quality_score") {
        Some(Value::Object(q)) => q.get("score").and_then(lenient_string),
        Some(other) => lenient_string(other),
        None => None,
    };
    Some(MetaTemplate {
        id: opt_string(v, "id")?,
        name: opt_string(v, "name")?,
        language: opt_string(v, "language")?,
        status: opt_string(v, "status").unwrap_or_else(|| "UNKNOWN".into()),
        category: opt_string(v, "category"),
        parameter_format: opt_string(v, "parameter_format"),
        components: v
            .get("components")
            .filter(|c| c.is_array())
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new())),
        quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listed_template_is_read_leniently() {
        let t = template_from(&json!({"id": 1667192013751005_u64, "name": "order_update",
            "language": "en_US", "status": "APPROVED", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}"}],
            "quality_score": {"score": "GREEN", "date": 1700000000}}))
        .expect("template");
        assert_eq!(t.id, "1667192013751005");
        assert_eq!(t.quality.as_deref(), Some("GREEN"));
        assert_eq!(t.parameter_format, None);
        assert!(template_from(&json!({"name": "x", "language": "en"})).is_none());
    }
}
