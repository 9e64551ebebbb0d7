//! The read-only Graph calls of `metabridge doctor` ([`crate::doctor`]): the app's own webhook
//! subscriptions, a WhatsApp number's state and messaging health, and the Instagram account a
//! Page is linked to. None of them changes anything at Meta.
//!
//! Sources (read 2026-12-04 with the search tool; each has a conformance-corpus entry):
//! - "App Subscriptions" (`/{app-id}/subscriptions`), Graph API reference,
//!   <https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/>: read with
//!   the **app** access token; each item has `object`, `callback_url`, `fields` (name and
//!   version) and `active`. "Subscriptions Edge",
//!   <https://developers.facebook.com/docs/graph-api/webhooks/subscriptions-edge>, shows the
//!   answer `{"data":[{"object","callback_url","active","fields":[{"name","version"}]}]}`.
//! - "WhatsApp Business Account To Number Current Status", Graph API reference,
//!   <https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/>:
//!   `GET /{phone-number-id}` with `fields` (`status`, `quality_rating`, `name_status`,
//!   `code_verification_status`, `verified_name`, `display_phone_number`).
//! - "Messaging Limits", <https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits>:
//!   `messaging_limit_tier` "has been deprecated"; request
//!   `whatsapp_business_manager_messaging_limit` instead (limits are per business portfolio
//!   since 2025-10-07). meta-platform.md still names the old field.
//! - "Messaging and Calling Health Status", <https://developers.facebook.com/docs/whatsapp/cloud-api/health-status>:
//!   `fields=health_status` gives `can_send_message` (`AVAILABLE` / `LIMITED` / `BLOCKED`)
//!   overall and per entity (`PHONE_NUMBER`, `WABA`, `BUSINESS`, `APP`); a `LIMITED` entity has
//!   `additional_info`, a `BLOCKED` one `errors` (`error_code`, `error_description`,
//!   `possible_solution`).
//! - "Page", Graph API reference, <https://developers.facebook.com/docs/graph-api/reference/page/>:
//!   the `instagram_business_account` field is the Instagram professional account linked to the
//!   Page (read with the Page token).

use super::*;

/// The fields of a WhatsApp number the doctor reads.
pub const PHONE_STATUS_FIELDS: &str = "id,display_phone_number,verified_name,status,quality_rating,name_status,code_verification_status,whatsapp_business_manager_messaging_limit,health_status";

/// One object's webhook subscription of the app (`GET /{app-id}/subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSubscription {
    /// `whatsapp_business_account`, `page`, `instagram`, `user`, ...
    pub object: String,
    pub callback_url: Option<String>,
    pub active: bool,
    pub fields: Vec<String>,
}

/// `GET /{phone-number-id}?fields=...` ([`PHONE_STATUS_FIELDS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneStatus {
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    /// `CONNECTED`, `PENDING`, `FLAGGED`, `RESTRICTED`, `DISCONNECTED`, `BANNED`, ...
    pub status: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `NA`, `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// `APPROVED`, `AVAILABLE_WITHOUT_REVIEW`, `PENDING_REVIEW`, `DECLINED`, `EXPIRED`, `NONE`.
    pub name_status: Option<String>,
    /// `VERIFIED`, `NOT_VERIFIED`, `EXPIRED`.
    pub code_verification_status: Option<String>,
    /// `TIER_250`, `TIER_2K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED` (the portfolio's limit).
    pub messaging_limit: Option<String>,
    pub health: Option<MessagingHealth>,
}

/// `health_status` of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessagingHealth {
    /// `AVAILABLE`, `LIMITED` or `BLOCKED`: the worst of the entities.
    pub can_send_message: String,
    pub entities: Vec<HealthEntity>,
}

/// One node of `health_status.entities`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthEntity {
    /// `PHONE_NUMBER`, `WABA`, `BUSINESS`, `APP`, `MESSAGE_TEMPLATE`.
    pub entity_type: String,
    pub id: Option<String>,
    pub can_send_message: String,
    pub additional_info: Vec<String>,
    pub errors: Vec<HealthError>,
}

/// Why an entity is `BLOCKED`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthError {
    pub error_code: Option<i64>,
    pub error_description: Option<String>,
    pub possible_solution: Option<String>,
}

/// The Instagram professional account linked to a Page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedInstagram {
    pub id: String,
    pub username: Option<String>,
}

impl OAuthClient {
    /// `GET /{v}/{app-id}/subscriptions` with the app token (`app_id|app_secret`).
    pub async fn app_subscriptions(&self) -> Result<Vec<AppSubscription>, GraphCallError> {
        if self.fb_app.app_id.is_empty() || self.fb_app.app_secret.is_empty() {
            return Err(GraphCallError::Invalid(
                "the app's id and secret are needed to read its webhook subscriptions".into(),
            ));
        }
        let url = self.graph_url(&[&self.fb_app.app_id, "subscriptions"])?;
        let app_token = self.fb_app_token();
        let json = self
            .get_bearer(url, &app_token, &[&self.fb_app.app_secret])
            .await?;
        let data = json
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphCallError::Decode("subscriptions have no data array".into()))?;
        Ok(data.iter().filter_map(app_subscription_from).collect())
    }

    /// `GET /{v}/{phone-number-id}?fields=`[`PHONE_STATUS_FIELDS`].
    pub async fn phone_status(
        &self,
        token: &str,
        phone_number_id: &str,
    ) -> Result<PhoneStatus, GraphCallError> {
        let mut url = self.graph_url(&[phone_number_id])?;
        url.query_pairs_mut()
            .append_pair("fields", PHONE_STATUS_FIELDS);
        let json = self.get_bearer(url, token, &[]).await?;
        Ok(phone_status_from(&json))
    }

    /// `GET /{v}/{page-id}?fields=instagram_business_account{id,username}` with the Page
    /// token; `None` when the Page has no linked Instagram account.
    pub async fn page_instagram_account(
        &self,
        page_token: &str,
        page_id: &str,
    ) -> Result<Option<LinkedInstagram>, GraphCallError> {
        let mut url = self.graph_url(&[page_id])?;
        url.query_pairs_mut()
            .append_pair("fields", "instagram_business_account{id,username}");
        let json = self.get_bearer(url, page_token, &[]).await?;
        Ok(json.get("instagram_business_account").and_then(|ig| {
            Some(LinkedInstagram {
                id: opt_string(ig, "id")?,
                username: opt_string(ig, "username"),
            })
        }))
    }
}

fn app_subscription_from(v: &Value) -> Option<AppSubscription> {
    let object = opt_string(v, "object")?;
    // `fields` is a list of `{name, version}`; a plain list of names is read too.
    let fields = match v.get("fields") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|f| match f {
                Value::Object(_) => opt_string(f, "name"),
                other => lenient_string(other),
            })
            .collect(),
        other => strings(other),
    };
    Some(AppSubscription {
        object,
        callback_url: opt_string(v, "callback_url"),
        active: is_true(v.get("active")),
        fields,
    })
}

fn phone_status_from(v: &Value) -> PhoneStatus {
    PhoneStatus {
        display_phone_number: opt_string(v, "display_phone_number"),
        verified_name: opt_string(v, "verified_name"),
        status: opt_string(v, "status"),
        quality_rating: opt_string(v, "quality_rating"),
        name_status: opt_string(v, "name_status"),
        code_verification_status: opt_string(v, "code_verification_status"),
        messaging_limit: opt_string(v, "whatsapp_business_manager_messaging_limit"),
        health: v.get("health_status").map(health_from),
    }
}

fn health_from(v: &Value) -> MessagingHealth {
    let entities = v
        .get("entities")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|e| HealthEntity {
                    entity_type: opt_string(e, "entity_type").unwrap_or_default(),
                    id: opt_string(e, "id"),
                    can_send_message: opt_string(e, "can_send_message").unwrap_or_default(),
                    additional_info: strings(e.get("additional_info")),
                    errors: e
                        .get("errors")
                        .and_then(Value::as_array)
                        .map(|errs| {
                            errs.iter()
                                .map(|x| HealthError {
                                    error_code: x.get("error_code").and_then(lenient_i64),
                                    error_description: opt_string(x, "error_description"),
                                    possible_solution: opt_string(x, "possible_solution"),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    MessagingHealth {
        can_send_message: opt_string(v, "can_send_message").unwrap_or_default(),
        entities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_subscriptions_read_field_objects_and_plain_names() {
        let a = app_subscription_from(&json!({"object": "page", "callback_url": "https://b.example/webhooks/meta",
            "active": true, "fields": [{"name": "messages", "version": "v25.0"}, {"name": "leadgen", "version": "v25.0"}]}))
        .expect("subscription");
        assert_eq!(a.fields, vec!["messages", "leadgen"]);
        assert!(a.active);
        let b = app_subscription_from(
            &json!({"object": "instagram", "active": false, "fields": "messages,messaging_seen"}),
        )
        .expect("subscription");
        assert_eq!(b.fields, vec!["messages", "messaging_seen"]);
        assert!(!b.active);
        assert_eq!(b.callback_url, None);
        assert!(app_subscription_from(&json!({"active": true})).is_none());
    }

    #[test]
    fn phone_status_reads_the_new_limit_field_and_health() {
        let p = phone_status_from(&json!({
            "status": "FLAGGED", "quality_rating": "RED", "name_status": "DECLINED",
            "messaging_limit_tier": "TIER_1K", "whatsapp_business_manager_messaging_limit": "TIER_2K",
            "health_status": {"can_send_message": "BLOCKED", "entities": [
                {"entity_type": "PHONE_NUMBER", "id": "1", "can_send_message": "BLOCKED",
                 "errors": [{"error_code": 141006, "error_description": "d", "possible_solution": "s"}]},
                {"entity_type": "WABA", "id": "2", "can_send_message": "LIMITED", "additional_info": ["x"]}]}
        }));
        assert_eq!(p.messaging_limit.as_deref(), Some("TIER_2K"));
        let h = p.health.expect("health");
        assert_eq!(h.can_send_message, "BLOCKED");
        assert_eq!(h.entities[0].errors[0].error_code, Some(141006));
        assert_eq!(h.entities[1].additional_info, vec!["x"]);
    }
}
