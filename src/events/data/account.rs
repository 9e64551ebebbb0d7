//! `data` of the contact, channel, account and template types parsed from Meta's webhooks,
//! and of `meta.unsupported`.

use poem_openapi::Object;
use serde::Serialize;
use serde_json::{Map, Value};

use super::parts::{MessageContext, MetaError};

/// `data` of `contact.changed`: a WhatsApp `system` message (the customer changed number or
/// identity). Conversation and contact are the old identity.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ContactChangedData {
    pub message_id: String,
    /// `system`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// Meta's `system.type` as sent (`user_changed_number`, `user_changed_user_id`, …), null
    /// when missing.
    pub system_type: Value,
    /// Meta's human-readable text as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The new phone number (`system.wa_id`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_wa_id: Option<String>,
    /// The new business-scoped user id (`system.user_id`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_user_id: Option<String>,
    /// Meta's `system.customer` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<Value>,
    /// Meta's message-level `identity` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// `data` of `contact.preferences`: one WhatsApp `user_preferences` item (e.g. the customer
/// stopped marketing messages).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ContactPreferencesData {
    /// As sent (`marketing_messages`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Value>,
    /// As sent (`stop`, `resume`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `data` of `contact.synced`: a contact of the WhatsApp Business app address book of a
/// coexistence number was added, changed or removed (Meta's `smb_app_state_sync` webhook).
/// Conversation and contact are that phone number's.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ContactSyncedData {
    /// `contact`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// Meta's `action` as sent (`add`, `remove`), null when missing.
    pub action: Value,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Value>,
    /// The contact's phone number as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// `data` of `channel.error`: one WhatsApp value-level `errors[]` item (conversation
/// `channel`).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelErrorData {
    /// Meta's error code: an integer (a numeric string is converted); kept as sent when it is
    /// not a number, null when missing.
    pub code: Value,
    /// As sent (a string), null when missing.
    pub title: Value,
    /// As sent (a string), null when missing.
    pub message: Value,
    /// Meta's `error_data.details` as sent (a string), null when missing.
    pub details: Value,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<Value>,
}

/// `data` of `channel.quality`: Meta's `phone_number_quality_update` value as given (every
/// key Meta sent is relayed; those below are the documented ones).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelQualityData {
    /// As sent (`FLAGGED`, `UNFLAGGED`, `THROUGHPUT_UPGRADE`, `ONBOARDING`, …); always
    /// present, null when Meta sent none.
    pub event: Value,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<Value>,
    /// As sent (`TIER_1K`, …, `TIER_UNLIMITED`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_limit: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_limit: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_daily_conversations_per_business: Option<Value>,
    /// Every other key of Meta's value, as sent.
    #[oai(skip)]
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `data` of `account.updated`: Meta's `account_update` value as given (every key Meta sent
/// is relayed; those below are the documented ones).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct AccountUpdatedData {
    /// As sent (`VERIFIED_ACCOUNT`, `DISABLED_UPDATE`, `ACCOUNT_VIOLATION`,
    /// `PARTNER_APP_UNINSTALLED`, …); always present, null when Meta sent none.
    pub event: Value,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waba_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restriction_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<Value>,
    /// Every other key of Meta's value, as sent.
    #[oai(skip)]
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `data` of `template.status`: a WhatsApp `message_template_status_update`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct TemplateStatusData {
    /// Meta's `message_template_id` (as a decimal string); null when missing.
    #[oai(nullable)]
    pub template_id: Option<String>,
    /// `message_template_name` as sent, null when missing.
    pub template_name: Value,
    /// `message_template_language` as sent, null when missing.
    pub language: Value,
    /// As sent (`APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, …), null when missing.
    pub event: Value,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Value>,
    /// `message_template_category` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_info: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_info: Option<Value>,
}

/// `data` of `template.quality`: a WhatsApp `message_template_quality_update`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct TemplateQualityData {
    /// Meta's `message_template_id` (as a decimal string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// `message_template_name` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_name: Option<Value>,
    /// `message_template_language` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Value>,
    /// As sent (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_quality_score: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_quality_score: Option<Value>,
}

/// `data` of `template.category`: a WhatsApp `template_category_update` — Meta is going to
/// change a template's category (`correct_category`, `new_category` = the current one,
/// `category_update_timestamp`) or has changed it (`previous_category`, `new_category`).
/// "template_category_update webhook reference",
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/template_category_update>,
/// read 2026-12-04.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct TemplateCategoryData {
    /// Meta's `message_template_id` (as a decimal string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// `message_template_name` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_name: Option<Value>,
    /// `message_template_language` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Value>,
    /// `changed` (Meta changed the category: `previous_category` → `new_category`) or
    /// `impending` (Meta will change it to `correct_category` at `category_update_timestamp`).
    pub change: String,
    /// As sent (a completed change).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_category: Option<Value>,
    /// As sent: the category now (an impending change: still the current one).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_category: Option<Value>,
    /// As sent (an impending change): the category Meta will set.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_category: Option<Value>,
    /// As sent (an impending change): when, in Unix seconds.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_update_timestamp: Option<Value>,
}

/// `data` of `meta.unsupported`: something Meta sent that the bridge does not understand,
/// relayed so that nothing is lost (the original is in the envelope's `raw`).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MetaUnsupportedData {
    /// Why: `unknown_object`, `unknown_field`, `not_an_object`, `container_not_array`,
    /// `empty_entry`, `empty_value`, `missing_id`, `missing_leadgen_id`, `missing_payload`,
    /// `unknown_messaging_item`, `handover`, `instagram_test_payload`.
    pub reason: String,
    /// The webhook's `object` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// The change's `field` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Value>,
    /// `unknown_object`: the entry's `id` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<Value>,
    /// `container_not_array`: which container.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Instagram / Messenger items: the item's kind (`optin`, `pass_thread_control`, …).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// WhatsApp message without an id: its `type` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[oai(rename = "type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Value>,
    /// WhatsApp status without an id or status: its `status` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Instagram / Messenger items: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

impl From<MetaError> for ChannelErrorData {
    fn from(e: MetaError) -> Self {
        ChannelErrorData {
            code: e.code,
            title: e.title,
            message: e.message,
            details: e.details,
            href: e.href,
        }
    }
}
