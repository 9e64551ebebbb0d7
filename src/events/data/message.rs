//! `data` of the `message.*` types parsed from Meta's webhooks.

use poem_openapi::Object;
use serde::Serialize;
use serde_json::{Map, Value};

use super::parts::{
    HistorySync, MessageAttachment, MessageButton, MessageContext, MessageInteractive,
    MessageLocation, MessageMedia, MessageOrder, MetaError,
};

/// `data` of `message.received`: a customer's message.
///
/// WhatsApp: `message_id`, `type` (Meta's type: `text`, `image`, `audio`, `video`, `document`,
/// `sticker`, `location`, `contacts`, `interactive`, `button`, `order`, `request_welcome`),
/// `context`?, `referral`?, `errors`?, `group_id`? and the type's own key (`text`, `media`,
/// `location`, `contacts`, `interactive`, `button`, `order`; none for `request_welcome`).
/// Instagram / Messenger: `message_id` (mid), `type` (`text`, `attachments` or `empty`),
/// `text`?, `attachments`?, `reply_to`?, `quick_reply_payload`?, `referral`?,
/// `is_echo` (false) and `standby`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageReceivedData {
    /// Meta's message id: a WhatsApp wamid or an Instagram / Messenger mid.
    pub message_id: String,
    /// See the object's description.
    #[oai(rename = "type")]
    pub r#type: String,
    /// Text messages: the text.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// WhatsApp image, audio, video, document, sticker.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MessageMedia>,
    /// WhatsApp location.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<MessageLocation>,
    /// WhatsApp contacts: Meta's contact cards as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Value>>,
    /// WhatsApp interactive replies.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<MessageInteractive>,
    /// WhatsApp template quick-reply buttons.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<MessageButton>,
    /// WhatsApp catalog orders.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<MessageOrder>,
    /// WhatsApp reply / forward / product context.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<MessageContext>,
    /// The ad or link the conversation started from, as Meta sent it (WhatsApp
    /// click-to-WhatsApp: `source_url`, `source_id`, `ctwa_clid`, …).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<Value>,
    /// WhatsApp message-level errors.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<MetaError>>,
    /// WhatsApp group messages: the group id (the sender is the contact's `participant`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Instagram / Messenger attachments.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<MessageAttachment>>,
    /// Instagram / Messenger: Meta's `reply_to` as sent (`{mid}` or `{story: {url, id}}`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Value>,
    /// Instagram / Messenger: the tapped quick reply's payload as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_reply_payload: Option<Value>,
    /// Instagram / Messenger: always false (echoes are `message.echo`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_echo: Option<bool>,
    /// Instagram / Messenger: true for items of `standby[]` (a thread another app controls).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// `data` of `message.echo`: a message the business sent (Instagram / Messenger `is_echo`,
/// WhatsApp `smb_message_echoes` from the WhatsApp Business app). The same keys as
/// `message.received` plus `is_echo` (true), Instagram / Messenger `app_id`? and `metadata`?,
/// and `bridge_message_id` when the echo is of a send made through the bridge. A WhatsApp
/// echo of a reaction, edit, revoke or unsupported message carries that kind's keys
/// (`target_message_id`, `emoji`, `removed`, `message`, `unsupported_type`, `payload`,
/// `reason`). Conversation and contact are the customer's.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageEchoData {
    /// Meta's message id: a WhatsApp wamid or an Instagram / Messenger mid.
    pub message_id: String,
    /// As in `message.received`; for WhatsApp echoes Meta's type as sent (a string, null when
    /// missing).
    #[oai(rename = "type")]
    pub r#type: Value,
    /// Always true.
    pub is_echo: bool,
    /// The bridge's message id (`msg_…`) when the echoed message was sent through the bridge.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_message_id: Option<String>,
    /// Instagram / Messenger: the app that sent the message.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Instagram / Messenger: the sender's `metadata` as sent (the bridge puts its message id
    /// there).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MessageMedia>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<MessageLocation>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Value>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<MessageInteractive>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<MessageButton>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<MessageOrder>,
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
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<MessageAttachment>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_reply_payload: Option<Value>,
    /// WhatsApp reaction, edit and revoke echoes: the message they concern.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<String>,
    /// WhatsApp reaction echoes.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// WhatsApp reaction echoes: the reaction was removed.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
    /// WhatsApp edit echoes: the new message as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// WhatsApp unsupported echoes.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_type: Option<String>,
    /// WhatsApp echoes of a type the bridge does not know: its payload as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// `missing_payload` when a known type came without its payload.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Instagram / Messenger: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
    /// WhatsApp echoes of a `system` message: that kind's keys (`system_type`, `body`,
    /// `new_wa_id`, `new_user_id`, `customer`, `identity`), which this schema does not list.
    #[oai(skip)]
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `data` of `message.reaction`. WhatsApp: `message_id` (the reaction's own wamid), `type`
/// (`reaction`), `target_message_id`, `emoji`?, `removed`. Instagram / Messenger: `type`
/// (`reaction`), `target_message_id`, `action` (`react` / `unreact`), `reaction`?, `emoji`?,
/// `removed`, `standby`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageReactionData {
    /// WhatsApp: the reaction's own wamid.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `reaction`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// The message reacted to.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<String>,
    /// The emoji. WhatsApp: absent when the reaction was removed; Instagram / Messenger: as
    /// sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<Value>,
    /// True when the reaction was removed (WhatsApp: empty emoji; Instagram / Messenger:
    /// `action` = `unreact`).
    pub removed: bool,
    /// Instagram / Messenger: `react` or `unreact`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Instagram / Messenger: Meta's reaction name as sent (`love`, `like`, …).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Value>,
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
    /// Instagram / Messenger: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// `data` of `message.status`. WhatsApp: `message_id`, `status` (`sent`, `delivered`, `read`,
/// `played`, `failed`, …), `recipient` (the contact, or `{group_id, participant}`),
/// `errors`?, `biz_opaque_callback_data`?, `pricing`?, `conversation`?, and
/// `bridge_message_id` when the status is of a send made through the bridge. Instagram read:
/// `status` (`read`), `message_id`; Messenger read: `status` (`read`), `watermark`; Messenger
/// delivery: `status` (`delivered`), `message_ids`?, `watermark`?; all three with `standby`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageStatusData {
    /// The message the status is about (WhatsApp wamid, Instagram mid).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Meta's status as sent (`sent`, `delivered`, `read`, `played`, `failed`, …).
    pub status: String,
    /// WhatsApp: the recipient as in the envelope's `contact` (null when the status names
    /// nobody).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Value>,
    /// The bridge's message id (`msg_…`) when the message was sent through the bridge.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_message_id: Option<String>,
    /// WhatsApp `failed` statuses: why.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<MetaError>>,
    /// WhatsApp: the sender's opaque data as sent (the bridge puts its message id there).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<Value>,
    /// WhatsApp: Meta's `pricing` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Value>,
    /// WhatsApp: Meta's `conversation` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Value>,
    /// Messenger delivery: the mids delivered, as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<Value>>,
    /// Messenger read / delivery: everything before this time (ms) is read / delivered.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Value>,
    /// Instagram / Messenger: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// `data` of `message.edited`. WhatsApp `edit`: `message_id`, `type` (`edit`),
/// `target_message_id`?, `message`? (the new content as sent). Instagram / Messenger
/// `message_edit`: `type` (`message_edit`), `message_id`?, `text`?, `num_edit`?, `standby`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageEditedData {
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `edit` (WhatsApp) or `message_edit` (Instagram / Messenger).
    #[oai(rename = "type")]
    pub r#type: String,
    /// WhatsApp: the edited message.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<String>,
    /// WhatsApp: the new message as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// Instagram / Messenger: the new text as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// Instagram / Messenger: how many times it was edited (an integer; kept as sent when not
    /// a number).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_edit: Option<Value>,
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
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// `data` of `message.deleted`. WhatsApp `revoke`: `message_id`, `type` (`revoke`),
/// `target_message_id`?. Instagram / Messenger `is_deleted`: `message_id` (the deleted
/// message), `type` (`deleted`), `is_echo`, `standby` (and whatever else the item carried,
/// as for `message.received`).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageDeletedData {
    pub message_id: String,
    /// `revoke` (WhatsApp) or `deleted` (Instagram / Messenger).
    #[oai(rename = "type")]
    pub r#type: String,
    /// WhatsApp: the revoked message.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<String>,
    /// Instagram / Messenger.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_echo: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<MessageAttachment>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_reply_payload: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
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
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// `data` of `message.postback` (Instagram / Messenger button taps, Ice Breakers, persistent
/// menu).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessagePostbackData {
    /// `postback`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// The postback's mid, when Meta gave one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The button's title as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Value>,
    /// The payload the business defined, as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Meta's `referral` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<Value>,
    /// True for items of `standby[]`.
    pub standby: bool,
}

/// `data` of `message.referral`: a standalone Instagram / Messenger referral (an ad, an
/// `ig.me` / `m.me` link) without a message.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageReferralData {
    /// `referral`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// Meta's `referral` object as sent (`ref`, `source`, `type`, `ad_id`?, …).
    pub referral: Value,
    /// True for items of `standby[]`.
    pub standby: bool,
}

/// `data` of `message.unsupported`: a customer message whose content cannot be shown
/// (WhatsApp `unsupported` / `unknown`, a WhatsApp type the bridge does not know, a known
/// WhatsApp type without its payload, Instagram `is_unsupported`). Show an "unreadable
/// message" placeholder.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageUnsupportedData {
    pub message_id: String,
    /// WhatsApp: Meta's type as sent (a string, null when missing); Instagram: `unsupported`.
    #[oai(rename = "type")]
    pub r#type: Value,
    /// WhatsApp `unsupported.type` (e.g. `unknown`, `poll`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_type: Option<String>,
    /// A WhatsApp type the bridge does not know: its payload as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// `missing_payload` when a known WhatsApp type came without its payload.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Instagram: as in `message.received`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<MessageAttachment>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_reply_payload: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_echo: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// `data` of `message.history`: one message of the chat history a WhatsApp number that keeps
/// using the WhatsApp Business app (coexistence) shared when it was onboarded (Meta's `history`
/// webhook; up to 180 days, no group chats; media of the last 14 days arrive again with their
/// media id as a second event). The keys of `message.received` for the message's type, plus
/// `direction` and `history`. Conversation and contact are the customer's (the thread).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageHistoryData {
    /// Meta's message id (wamid).
    pub message_id: String,
    /// Meta's type as sent (a string, null when missing).
    #[oai(rename = "type")]
    pub r#type: Value,
    /// `inbound` (the customer sent it) or `outbound` (the business sent it, from the app or
    /// the API).
    pub direction: String,
    /// Phase, chunk and progress of the sync, and the message's status.
    pub history: HistorySync,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media; `id` only on the second item Meta sends for recent media.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MessageMedia>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<MessageLocation>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Value>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<MessageInteractive>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<MessageButton>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<MessageOrder>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keys of the message's kind this schema does not list (`referral`, `group_id`, an edit's
    /// `message`, a `system` message's keys), as for `message.received` and `contact.changed`.
    #[oai(skip)]
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
