//! The events an instance receives, as OpenAPI schemas (documentation only: nothing here is
//! used to build the JSON that is sent, see [`super::render_envelope`]).
//!
//! One `…Data` object per event type describes `data` as [`super::parse`] (Meta-originated
//! types) and the store (bridge-originated types) build it; one `…Event` object per type is the
//! whole body POSTed to the callback URL. [`EventWebhooks`] lists one webhook per type for the
//! OpenAPI document, with [`RECEIVER_GUIDE`] (how to authenticate, acknowledge and deduplicate
//! a callback) as the shared description.
//!
//! Typing rule: a field is typed (string, integer, boolean, object) when the bridge guarantees
//! that type; a field the bridge passes on as Meta sent it is free-form (any JSON), with the
//! type Meta documents in its description. Keys that are always present but may be null are
//! marked nullable; keys present only when Meta sent the value are optional. Every `data` may
//! carry keys not listed here (Meta adds fields; `channel.quality` and `account.updated` relay
//! Meta's value as given).

use std::collections::BTreeMap;

use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaRequest, Registry};
use poem_openapi::types::Example;
use poem_openapi::{ApiExtractor, ApiResponse, Enum, Object};
use serde_json::{Value, json};

/// What an instance's callback endpoint must do with the events; the description of every
/// event webhook in the OpenAPI document.
pub const RECEIVER_GUIDE: &str = "\
The bridge POSTs each event to the instance's callback URL as `application/json` (the body is \
the event envelope below) with the headers `Authorization: Bearer <JWT>`, \
`X-Metabridge-Event-Id` (= the envelope's `id`), `X-Metabridge-Event-Type` (= `type`) and \
`X-Metabridge-Attempt` (1 on the first attempt).

**Verify the JWT** before trusting the body. It is signed either **HS256** with the instance's \
signing secret (shown once when the instance was created) or, when the bridge runs with \
`METABRIDGE_JWT_SIGNING_KEY_FILE`, **EdDSA** (Ed25519) with the bridge's own key: the header's \
`kid` names the key, published with the bridge's other keys at `/.well-known/jwks.json` on the \
bridge's public URL (cache it; fetch again on an unknown `kid`). Accept only the algorithm you \
expect (never `none`). Claims: `iss` = `metabridge`, `aud` = your instance id, `sub` = the \
event id (equal to the body's `id`), `iat`, `exp` = `iat` + 300 s (check it, allow a little \
clock skew), `jti` unique per attempt.

**Acknowledge** with any 2xx once the event is stored; the response body is ignored. The bridge \
waits at most `METABRIDGE_DELIVERY_TIMEOUT_MS` (default 10 s) for the answer.
- `410 Gone` pauses delivery to the whole instance: its events stay queued until an operator \
resumes it (`PATCH /admin/v1/instances/{id}` with `{\"resume_delivery\": true}`); an \
event already past the delivery horizon is dead-lettered instead.
- Any other status (4xx included), a timeout or a connection error is retried with exponential \
backoff: `METABRIDGE_DELIVERY_BACKOFF_MS` (default 5 s) doubled after each failure (5 s, 10 s, \
20 s, …), capped at 1 h, ±20 % jitter, until the delivery horizon \
(`METABRIDGE_DELIVERY_HORIZON_HOURS`, default 96 h, counted from when the bridge recorded the \
event). An event still undelivered at the horizon is dead-lettered; dead letters are listed by \
`GET /v1/events?state=dead` and delivered again with `POST /v1/events/{id}/replay`.

**Deduplicate on the envelope's `id`**: it is stable across retries and replays, so the same \
event may arrive more than once (a timeout after you stored it, a replay).

**Order**: events of one conversation (`conversation_id`) are delivered one at a time in the \
order the bridge received them (Meta's timestamps order the items of one webhook); the next \
one is not sent until the previous one was acknowledged or dead-lettered. Events of different \
conversations are delivered concurrently, in no particular order. A channel's channel-level \
events (`channel.*`, `template.*`, `account.updated`, `channel.error`, …) form one conversation.

Envelope: `id`, `type`, `instance_id`, `channel` (`id`, `kind`, `external_id`), \
`conversation_id`, `contact`, `occurred_at`, `received_at`, `data` (per type, documented on \
each event's `data` schema) and `raw` (Meta's original item; null for the bridge's own \
events). Unknown keys and unknown event types must be ignored: new ones may be added.";

// ---------------------------------------------------------------------------------------------
// Shared parts.

/// The channel an event belongs to.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct EventChannel {
    /// The bridge's channel id (`ch_…`); null when the event is not tied to a channel of the
    /// bridge any more.
    #[oai(nullable)]
    pub id: Option<String>,
    /// `whatsapp`, `instagram` or `messenger` (Lead Ads arrive on `messenger`, the Page);
    /// null when unknown.
    #[oai(nullable)]
    pub kind: Option<String>,
    /// Meta's id of the channel: WhatsApp phone_number_id (or the WABA id for account-level
    /// events), Instagram account id or Page id.
    pub external_id: String,
}

impl Example for EventChannel {
    fn example() -> Self {
        EventChannel {
            id: Some(EX_CHANNEL.into()),
            kind: Some("whatsapp".into()),
            external_id: EX_PNID.into(),
        }
    }
}

/// A Meta error as the bridge normalizes it (WhatsApp message, status and value-level errors).
#[derive(Debug, Clone, Default, Object)]
pub struct MetaError {
    /// Meta's error code: an integer (a numeric string is converted); kept as sent when it is
    /// not a number, null when missing.
    pub code: Value,
    /// Meta's `title` as sent (a string), null when missing.
    pub title: Value,
    /// Meta's `message` as sent (a string), null when missing.
    pub message: Value,
    /// Meta's `error_data.details` as sent (a string), null when missing.
    pub details: Value,
    /// Meta's `href` as sent (a string), when present.
    #[oai(skip_serializing_if_is_none)]
    pub href: Option<Value>,
}

/// WhatsApp `context` of a message (a reply, a forward, a product enquiry).
#[derive(Debug, Clone, Default, Object)]
pub struct MessageContext {
    /// The quoted message's id (wamid).
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<String>,
    /// Who sent the quoted message (a phone number).
    #[oai(skip_serializing_if_is_none)]
    pub reply_to_from: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub forwarded: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub frequently_forwarded: Option<bool>,
    /// Meta's `referred_product` as sent (`{catalog_id, product_retailer_id}`).
    #[oai(skip_serializing_if_is_none)]
    pub referred_product: Option<Value>,
}

/// WhatsApp media (image, audio, video, document, sticker). Fetch the bytes through the
/// bridge's media API with `id`.
#[derive(Debug, Clone, Default, Object)]
pub struct MessageMedia {
    /// Meta's media id.
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub mime_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub caption: Option<String>,
    /// Documents only.
    #[oai(skip_serializing_if_is_none)]
    pub filename: Option<String>,
    /// Meta's direct download URL, when Meta sent one (needs the channel's token).
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    /// Audio: a voice note.
    #[oai(skip_serializing_if_is_none)]
    pub voice: Option<bool>,
    /// Stickers: animated.
    #[oai(skip_serializing_if_is_none)]
    pub animated: Option<bool>,
}

/// A WhatsApp location pin.
#[derive(Debug, Clone, Default, Object)]
pub struct MessageLocation {
    /// A number (numeric strings are converted); kept as sent otherwise, null when missing.
    pub latitude: Value,
    /// A number (numeric strings are converted); kept as sent otherwise, null when missing.
    pub longitude: Value,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub address: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<Value>,
}

/// A WhatsApp interactive reply. `button_reply` / `list_reply`: `id`, `title`,
/// `description`?; `nfm_reply` (a Flow): `name`?, `body`?, `response` and `response_json`;
/// other subtypes: `payload` (the subtype's object as sent).
#[derive(Debug, Clone, Default, Object)]
pub struct MessageInteractive {
    /// The subtype as sent (`button_reply`, `list_reply`, `nfm_reply`, …), null when missing.
    #[oai(rename = "type")]
    pub r#type: Value,
    /// The reply's id (the button or row id the business defined).
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<String>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<Value>,
    /// `nfm_reply`: as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<Value>,
    /// `nfm_reply`: as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub body: Option<Value>,
    /// `nfm_reply`: `response_json` parsed (always present for `nfm_reply`; null when it does
    /// not parse).
    #[oai(skip_serializing_if_is_none)]
    pub response: Option<Value>,
    /// `nfm_reply`: Meta's `response_json` as sent (a JSON string; always present for
    /// `nfm_reply`, null when missing).
    #[oai(skip_serializing_if_is_none)]
    pub response_json: Option<Value>,
    /// Other subtypes: the subtype's object as sent.
    #[oai(skip_serializing_if_is_none)]
    pub payload: Option<Value>,
}

/// A WhatsApp quick-reply button tap on a template.
#[derive(Debug, Clone, Default, Object)]
pub struct MessageButton {
    /// As sent (a string), null when missing.
    pub payload: Value,
    /// As sent (a string), null when missing.
    pub text: Value,
}

/// A WhatsApp catalog order.
#[derive(Debug, Clone, Default, Object)]
pub struct MessageOrder {
    #[oai(skip_serializing_if_is_none)]
    pub catalog_id: Option<String>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<Value>,
    /// Meta's `product_items` as sent (`[{product_retailer_id, quantity, item_price,
    /// currency}]`); empty when missing.
    pub product_items: Vec<Value>,
}

/// An Instagram / Messenger attachment.
#[derive(Debug, Clone, Default, Object)]
pub struct MessageAttachment {
    /// As sent (`image`, `video`, `audio`, `file`, `share`, `story_mention`, `ig_reel`, …),
    /// null when missing.
    #[oai(rename = "type")]
    pub r#type: Value,
    /// `payload.url` when it is a string.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    /// Meta's `payload` as sent, null when missing.
    pub payload: Value,
}

/// One answer of a lead form (Meta's `field_data` item, with the question's label added).
#[derive(Debug, Clone, Default, Object)]
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
    pub label: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// `data` of the types parsed from Meta's webhooks.

/// `data` of `message.received`: a customer's message.
///
/// WhatsApp: `message_id`, `type` (Meta's type: `text`, `image`, `audio`, `video`, `document`,
/// `sticker`, `location`, `contacts`, `interactive`, `button`, `order`, `request_welcome`),
/// `context`?, `referral`?, `errors`?, `group_id`? and the type's own key (`text`, `media`,
/// `location`, `contacts`, `interactive`, `button`, `order`; none for `request_welcome`).
/// Instagram / Messenger: `message_id` (mid), `type` (`text`, `attachments` or `empty`),
/// `text`?, `attachments`?, `reply_to`?, `quick_reply_payload`?, `referral`?,
/// `is_echo` (false) and `standby`.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageReceivedData {
    /// Meta's message id: a WhatsApp wamid or an Instagram / Messenger mid.
    pub message_id: String,
    /// See the object's description.
    #[oai(rename = "type")]
    pub r#type: String,
    /// Text messages: the text.
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<String>,
    /// WhatsApp image, audio, video, document, sticker.
    #[oai(skip_serializing_if_is_none)]
    pub media: Option<MessageMedia>,
    /// WhatsApp location.
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<MessageLocation>,
    /// WhatsApp contacts: Meta's contact cards as sent.
    #[oai(skip_serializing_if_is_none)]
    pub contacts: Option<Vec<Value>>,
    /// WhatsApp interactive replies.
    #[oai(skip_serializing_if_is_none)]
    pub interactive: Option<MessageInteractive>,
    /// WhatsApp template quick-reply buttons.
    #[oai(skip_serializing_if_is_none)]
    pub button: Option<MessageButton>,
    /// WhatsApp catalog orders.
    #[oai(skip_serializing_if_is_none)]
    pub order: Option<MessageOrder>,
    /// WhatsApp reply / forward / product context.
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    /// The ad or link the conversation started from, as Meta sent it (WhatsApp
    /// click-to-WhatsApp: `source_url`, `source_id`, `ctwa_clid`, …).
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    /// WhatsApp message-level errors.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    /// WhatsApp group messages: the group id (the sender is the contact's `participant`).
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
    /// Instagram / Messenger attachments.
    #[oai(skip_serializing_if_is_none)]
    pub attachments: Option<Vec<MessageAttachment>>,
    /// Instagram / Messenger: Meta's `reply_to` as sent (`{mid}` or `{story: {url, id}}`).
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<Value>,
    /// Instagram / Messenger: the tapped quick reply's payload as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub quick_reply_payload: Option<Value>,
    /// Instagram / Messenger: always false (echoes are `message.echo`).
    #[oai(skip_serializing_if_is_none)]
    pub is_echo: Option<bool>,
    /// Instagram / Messenger: true for items of `standby[]` (a thread another app controls).
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `message.echo`: a message the business sent (Instagram / Messenger `is_echo`,
/// WhatsApp `smb_message_echoes` from the WhatsApp Business app). The same keys as
/// `message.received` plus `is_echo` (true), Instagram / Messenger `app_id`? and `metadata`?,
/// and `bridge_message_id` when the echo is of a send made through the bridge. A WhatsApp
/// echo of a reaction, edit, revoke or unsupported message carries that kind's keys
/// (`target_message_id`, `emoji`, `removed`, `message`, `unsupported_type`, `payload`,
/// `reason`). Conversation and contact are the customer's.
#[derive(Debug, Clone, Default, Object)]
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
    pub bridge_message_id: Option<String>,
    /// Instagram / Messenger: the app that sent the message.
    #[oai(skip_serializing_if_is_none)]
    pub app_id: Option<String>,
    /// Instagram / Messenger: the sender's `metadata` as sent (the bridge puts its message id
    /// there).
    #[oai(skip_serializing_if_is_none)]
    pub metadata: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub media: Option<MessageMedia>,
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<MessageLocation>,
    #[oai(skip_serializing_if_is_none)]
    pub contacts: Option<Vec<Value>>,
    #[oai(skip_serializing_if_is_none)]
    pub interactive: Option<MessageInteractive>,
    #[oai(skip_serializing_if_is_none)]
    pub button: Option<MessageButton>,
    #[oai(skip_serializing_if_is_none)]
    pub order: Option<MessageOrder>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub attachments: Option<Vec<MessageAttachment>>,
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub quick_reply_payload: Option<Value>,
    /// WhatsApp reaction, edit and revoke echoes: the message they concern.
    #[oai(skip_serializing_if_is_none)]
    pub target_message_id: Option<String>,
    /// WhatsApp reaction echoes.
    #[oai(skip_serializing_if_is_none)]
    pub emoji: Option<String>,
    /// WhatsApp reaction echoes: the reaction was removed.
    #[oai(skip_serializing_if_is_none)]
    pub removed: Option<bool>,
    /// WhatsApp edit echoes: the new message as sent.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<Value>,
    /// WhatsApp unsupported echoes.
    #[oai(skip_serializing_if_is_none)]
    pub unsupported_type: Option<String>,
    /// WhatsApp echoes of a type the bridge does not know: its payload as sent.
    #[oai(skip_serializing_if_is_none)]
    pub payload: Option<Value>,
    /// `missing_payload` when a known type came without its payload.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// Instagram / Messenger: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `message.reaction`. WhatsApp: `message_id` (the reaction's own wamid), `type`
/// (`reaction`), `target_message_id`, `emoji`?, `removed`. Instagram / Messenger: `type`
/// (`reaction`), `target_message_id`, `action` (`react` / `unreact`), `reaction`?, `emoji`?,
/// `removed`, `standby`.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageReactionData {
    /// WhatsApp: the reaction's own wamid.
    #[oai(skip_serializing_if_is_none)]
    pub message_id: Option<String>,
    /// `reaction`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// The message reacted to.
    #[oai(skip_serializing_if_is_none)]
    pub target_message_id: Option<String>,
    /// The emoji. WhatsApp: absent when the reaction was removed; Instagram / Messenger: as
    /// sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub emoji: Option<Value>,
    /// True when the reaction was removed (WhatsApp: empty emoji; Instagram / Messenger:
    /// `action` = `unreact`).
    pub removed: bool,
    /// Instagram / Messenger: `react` or `unreact`.
    #[oai(skip_serializing_if_is_none)]
    pub action: Option<String>,
    /// Instagram / Messenger: Meta's reaction name as sent (`love`, `like`, …).
    #[oai(skip_serializing_if_is_none)]
    pub reaction: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
    /// Instagram / Messenger: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `message.status`. WhatsApp: `message_id`, `status` (`sent`, `delivered`, `read`,
/// `played`, `failed`, …), `recipient` (the contact, or `{group_id, participant}`),
/// `errors`?, `biz_opaque_callback_data`?, `pricing`?, `conversation`?, and
/// `bridge_message_id` when the status is of a send made through the bridge. Instagram read:
/// `status` (`read`), `message_id`; Messenger read: `status` (`read`), `watermark`; Messenger
/// delivery: `status` (`delivered`), `message_ids`?, `watermark`?; all three with `standby`.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageStatusData {
    /// The message the status is about (WhatsApp wamid, Instagram mid).
    #[oai(skip_serializing_if_is_none)]
    pub message_id: Option<String>,
    /// Meta's status as sent (`sent`, `delivered`, `read`, `played`, `failed`, …).
    pub status: String,
    /// WhatsApp: the recipient as in the envelope's `contact` (null when the status names
    /// nobody).
    #[oai(skip_serializing_if_is_none)]
    pub recipient: Option<Value>,
    /// The bridge's message id (`msg_…`) when the message was sent through the bridge.
    #[oai(skip_serializing_if_is_none)]
    pub bridge_message_id: Option<String>,
    /// WhatsApp `failed` statuses: why.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    /// WhatsApp: the sender's opaque data as sent (the bridge puts its message id there).
    #[oai(skip_serializing_if_is_none)]
    pub biz_opaque_callback_data: Option<Value>,
    /// WhatsApp: Meta's `pricing` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub pricing: Option<Value>,
    /// WhatsApp: Meta's `conversation` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub conversation: Option<Value>,
    /// Messenger delivery: the mids delivered, as sent.
    #[oai(skip_serializing_if_is_none)]
    pub message_ids: Option<Vec<Value>>,
    /// Messenger read / delivery: everything before this time (ms) is read / delivered.
    #[oai(skip_serializing_if_is_none)]
    pub watermark: Option<Value>,
    /// Instagram / Messenger: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `message.edited`. WhatsApp `edit`: `message_id`, `type` (`edit`),
/// `target_message_id`?, `message`? (the new content as sent). Instagram / Messenger
/// `message_edit`: `type` (`message_edit`), `message_id`?, `text`?, `num_edit`?, `standby`.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageEditedData {
    #[oai(skip_serializing_if_is_none)]
    pub message_id: Option<String>,
    /// `edit` (WhatsApp) or `message_edit` (Instagram / Messenger).
    #[oai(rename = "type")]
    pub r#type: String,
    /// WhatsApp: the edited message.
    #[oai(skip_serializing_if_is_none)]
    pub target_message_id: Option<String>,
    /// WhatsApp: the new message as sent.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<Value>,
    /// Instagram / Messenger: the new text as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<Value>,
    /// Instagram / Messenger: how many times it was edited (an integer; kept as sent when not
    /// a number).
    #[oai(skip_serializing_if_is_none)]
    pub num_edit: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `message.deleted`. WhatsApp `revoke`: `message_id`, `type` (`revoke`),
/// `target_message_id`?. Instagram / Messenger `is_deleted`: `message_id` (the deleted
/// message), `type` (`deleted`), `is_echo`, `standby` (and whatever else the item carried,
/// as for `message.received`).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageDeletedData {
    pub message_id: String,
    /// `revoke` (WhatsApp) or `deleted` (Instagram / Messenger).
    #[oai(rename = "type")]
    pub r#type: String,
    /// WhatsApp: the revoked message.
    #[oai(skip_serializing_if_is_none)]
    pub target_message_id: Option<String>,
    /// Instagram / Messenger.
    #[oai(skip_serializing_if_is_none)]
    pub is_echo: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub attachments: Option<Vec<MessageAttachment>>,
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub quick_reply_payload: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub app_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub metadata: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `message.postback` (Instagram / Messenger button taps, Ice Breakers, persistent
/// menu).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessagePostbackData {
    /// `postback`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// The postback's mid, when Meta gave one.
    #[oai(skip_serializing_if_is_none)]
    pub message_id: Option<String>,
    /// The button's title as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<Value>,
    /// The payload the business defined, as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub payload: Option<Value>,
    /// Meta's `referral` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    /// True for items of `standby[]`.
    pub standby: bool,
}

/// `data` of `message.referral`: a standalone Instagram / Messenger referral (an ad, an
/// `ig.me` / `m.me` link) without a message.
#[derive(Debug, Clone, Default, Object)]
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
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageUnsupportedData {
    pub message_id: String,
    /// WhatsApp: Meta's type as sent (a string, null when missing); Instagram: `unsupported`.
    #[oai(rename = "type")]
    pub r#type: Value,
    /// WhatsApp `unsupported.type` (e.g. `unknown`, `poll`).
    #[oai(skip_serializing_if_is_none)]
    pub unsupported_type: Option<String>,
    /// A WhatsApp type the bridge does not know: its payload as sent.
    #[oai(skip_serializing_if_is_none)]
    pub payload: Option<Value>,
    /// `missing_payload` when a known WhatsApp type came without its payload.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
    /// Instagram: as in `message.received`.
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub attachments: Option<Vec<MessageAttachment>>,
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub quick_reply_payload: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub is_echo: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

/// `data` of `contact.changed`: a WhatsApp `system` message (the customer changed number or
/// identity). Conversation and contact are the old identity.
#[derive(Debug, Clone, Default, Object)]
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
    pub body: Option<Value>,
    /// The new phone number (`system.wa_id`).
    #[oai(skip_serializing_if_is_none)]
    pub new_wa_id: Option<String>,
    /// The new business-scoped user id (`system.user_id`).
    #[oai(skip_serializing_if_is_none)]
    pub new_user_id: Option<String>,
    /// Meta's `system.customer` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub customer: Option<Value>,
    /// Meta's message-level `identity` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub identity: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub group_id: Option<String>,
}

/// `data` of `contact.preferences`: one WhatsApp `user_preferences` item (e.g. the customer
/// stopped marketing messages).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ContactPreferencesData {
    /// As sent (`marketing_messages`).
    #[oai(skip_serializing_if_is_none)]
    pub category: Option<Value>,
    /// As sent (`stop`, `resume`).
    #[oai(skip_serializing_if_is_none)]
    pub value: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub wa_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
}

/// Where a `message.history` item sits in Meta's history sync (values as Meta sent them).
#[derive(Debug, Clone, Default, Object)]
pub struct HistorySync {
    /// 0 (day 0–1 before onboarding), 1 (day 1–90) or 2 (day 90–180).
    #[oai(skip_serializing_if_is_none)]
    pub phase: Option<Value>,
    /// Order of this chunk inside its phase.
    #[oai(skip_serializing_if_is_none)]
    pub chunk_order: Option<Value>,
    /// Sync progress in percent.
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<Value>,
    /// The message's status in the app (`history_context.status`, e.g. `READ`, `DELIVERED`).
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<Value>,
}

/// `data` of `message.history`: one message of the chat history a WhatsApp number that keeps
/// using the WhatsApp Business app (coexistence) shared when it was onboarded (Meta's `history`
/// webhook; up to 180 days, no group chats; media of the last 14 days arrive again with their
/// media id as a second event). The keys of `message.received` for the message's type, plus
/// `direction` and `history`. Conversation and contact are the customer's (the thread).
#[derive(Debug, Clone, Default, Object)]
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
    pub text: Option<String>,
    /// Media; `id` only on the second item Meta sends for recent media.
    #[oai(skip_serializing_if_is_none)]
    pub media: Option<MessageMedia>,
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<MessageLocation>,
    #[oai(skip_serializing_if_is_none)]
    pub contacts: Option<Vec<Value>>,
    #[oai(skip_serializing_if_is_none)]
    pub interactive: Option<MessageInteractive>,
    #[oai(skip_serializing_if_is_none)]
    pub button: Option<MessageButton>,
    #[oai(skip_serializing_if_is_none)]
    pub order: Option<MessageOrder>,
    #[oai(skip_serializing_if_is_none)]
    pub context: Option<MessageContext>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<MetaError>>,
    #[oai(skip_serializing_if_is_none)]
    pub target_message_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub emoji: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub removed: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub unsupported_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub payload: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

/// `data` of `contact.synced`: a contact of the WhatsApp Business app address book of a
/// coexistence number was added, changed or removed (Meta's `smb_app_state_sync` webhook).
/// Conversation and contact are that phone number's.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ContactSyncedData {
    /// `contact`.
    #[oai(rename = "type")]
    pub r#type: String,
    /// Meta's `action` as sent (`add`, `remove`), null when missing.
    pub action: Value,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub full_name: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    pub first_name: Option<Value>,
    /// The contact's phone number as sent.
    #[oai(skip_serializing_if_is_none)]
    pub phone_number: Option<String>,
}

/// `data` of `channel.error`: one WhatsApp value-level `errors[]` item (conversation
/// `channel`).
#[derive(Debug, Clone, Default, Object)]
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
    pub href: Option<Value>,
}

/// `data` of `channel.quality`: Meta's `phone_number_quality_update` value as given (every
/// key Meta sent is relayed; those below are the documented ones).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ChannelQualityData {
    /// As sent (`FLAGGED`, `UNFLAGGED`, `THROUGHPUT_UPGRADE`, `ONBOARDING`, …); always
    /// present, null when Meta sent none.
    pub event: Value,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    pub display_phone_number: Option<Value>,
    /// As sent (`TIER_1K`, …, `TIER_UNLIMITED`).
    #[oai(skip_serializing_if_is_none)]
    pub current_limit: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    pub old_limit: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    pub max_daily_conversations_per_business: Option<Value>,
}

/// `data` of `account.updated`: Meta's `account_update` value as given (every key Meta sent
/// is relayed; those below are the documented ones).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct AccountUpdatedData {
    /// As sent (`VERIFIED_ACCOUNT`, `DISABLED_UPDATE`, `ACCOUNT_VIOLATION`,
    /// `PARTNER_APP_UNINSTALLED`, …); always present, null when Meta sent none.
    pub event: Value,
    #[oai(skip_serializing_if_is_none)]
    pub waba_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub ban_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub violation_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub lock_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub restriction_info: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub phone_number: Option<Value>,
}

/// `data` of `template.status`: a WhatsApp `message_template_status_update`.
#[derive(Debug, Clone, Default, Object)]
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
    pub reason: Option<Value>,
    /// `message_template_category` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub category: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    pub rejection_info: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    pub other_info: Option<Value>,
}

/// `data` of `template.quality`: a WhatsApp `message_template_quality_update`.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct TemplateQualityData {
    /// Meta's `message_template_id` (as a decimal string).
    #[oai(skip_serializing_if_is_none)]
    pub template_id: Option<String>,
    /// `message_template_name` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub template_name: Option<Value>,
    /// `message_template_language` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub language: Option<Value>,
    /// As sent (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    #[oai(skip_serializing_if_is_none)]
    pub previous_quality_score: Option<Value>,
    /// As sent.
    #[oai(skip_serializing_if_is_none)]
    pub new_quality_score: Option<Value>,
}

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
#[derive(Debug, Clone, Default, Object)]
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
    pub ad_id: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub adgroup_id: Option<String>,
    /// Meta's `field_data` as sent: `[{name, values}]`.
    pub field_data: Vec<LeadField>,
    /// The same answers keyed by question: `{name: values}`.
    pub fields: BTreeMap<String, Value>,
    /// Graph API `created_time` as sent (e.g. `2025-11-17T12:33:15+0000`).
    #[oai(skip_serializing_if_is_none)]
    pub created_time: Option<Value>,
    /// Graph API, as sent.
    #[oai(skip_serializing_if_is_none)]
    pub adset_id: Option<Value>,
    /// Graph API, as sent.
    #[oai(skip_serializing_if_is_none)]
    pub campaign_id: Option<Value>,
    /// Graph API, as sent (a boolean).
    #[oai(skip_serializing_if_is_none)]
    pub is_organic: Option<Value>,
    /// Graph API, as sent (`fb`, `ig`, …).
    #[oai(skip_serializing_if_is_none)]
    pub platform: Option<Value>,
    /// How the read of the ad-level fields went: `read` (`ad_id`, `adset_id`, `campaign_id`
    /// are here when Meta has them; an organic lead has none), `not_permitted` (Meta refused
    /// them for lack of permission: the Page was connected without an ads permission, or its
    /// person is no advertiser on the ad account; `adset_id` and `campaign_id` are absent, `ad_id`
    /// only from the webhook) or `failed` (another error; not retried). Absent on leads
    /// fetched by bridge versions before this field.
    #[oai(skip_serializing_if_is_none)]
    pub ad_fields: Option<LeadAdFields>,
}

/// `ad_fields` of `lead.received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LeadAdFields {
    Read,
    NotPermitted,
    Failed,
}

/// `data` of `meta.unsupported`: something Meta sent that the bridge does not understand,
/// relayed so that nothing is lost (the original is in the envelope's `raw`).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MetaUnsupportedData {
    /// Why: `unknown_object`, `unknown_field`, `not_an_object`, `container_not_array`,
    /// `empty_entry`, `empty_value`, `missing_id`, `missing_leadgen_id`, `missing_payload`,
    /// `unknown_messaging_item`, `handover`, `instagram_test_payload`.
    pub reason: String,
    /// The webhook's `object` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub object: Option<Value>,
    /// The change's `field` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<Value>,
    /// `unknown_object`: the entry's `id` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub entry_id: Option<Value>,
    /// `container_not_array`: which container.
    #[oai(skip_serializing_if_is_none)]
    pub container: Option<String>,
    /// Instagram / Messenger items: the item's kind (`optin`, `pass_thread_control`, …).
    #[oai(skip_serializing_if_is_none)]
    pub kind: Option<String>,
    /// WhatsApp message without an id: its `type` as sent.
    #[oai(skip_serializing_if_is_none)]
    #[oai(rename = "type")]
    pub r#type: Option<Value>,
    /// WhatsApp status without an id or status: its `status` as sent.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<Value>,
    /// Instagram / Messenger items: true for items of `standby[]`.
    #[oai(skip_serializing_if_is_none)]
    pub standby: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// `data` of the bridge's own types.

/// `data` of `message.sent`: Meta accepted a send made through `POST /v1/messages`.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageSentData {
    /// The bridge's message id (`msg_…`).
    pub bridge_message_id: String,
    /// Meta's message id (wamid / mid); null when Meta gave none.
    #[oai(nullable)]
    pub meta_message_id: Option<String>,
    /// The bridge's channel id.
    pub channel_id: String,
    /// The recipient as given in the send.
    pub to: String,
    /// The send's message type (`text`, `template`, …).
    #[oai(rename = "type")]
    pub r#type: String,
    /// The send's `client_reference`; null when none was given.
    #[oai(nullable)]
    pub client_reference: Option<String>,
}

/// Why a send failed for good.
#[derive(Debug, Clone, Default, Object)]
pub struct SendError {
    /// Meta's code as text (`131047`), or the bridge's: `unknown_outcome`,
    /// `retries_exhausted`, `channel_disconnected`, `meta_error`, ….
    pub code: String,
    /// Meta's numeric code; null for the bridge's own reasons.
    #[oai(nullable)]
    pub meta_code: Option<i64>,
    /// Meta's subcode; null when none.
    #[oai(nullable)]
    pub meta_subcode: Option<i64>,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `message.failed`: a send failed for good (once per message).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct MessageFailedData {
    /// The bridge's message id (`msg_…`).
    pub bridge_message_id: String,
    /// Meta's message id, when Meta had accepted the message; null otherwise.
    #[oai(nullable)]
    pub meta_message_id: Option<String>,
    pub channel_id: String,
    pub to: String,
    #[oai(rename = "type")]
    pub r#type: String,
    #[oai(nullable)]
    pub client_reference: Option<String>,
    pub error: SendError,
}

/// `data` of `channel.updated`: a channel's sending changed (its connection is unchanged: a
/// channel whose sends are paused or whose token is invalid keeps relaying its webhooks).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ChannelUpdatedData {
    pub channel_id: String,
    /// The one-word state after the change (`active`, `paused`, `token_invalid`, …), as
    /// `status` of `GET /v1/channels/{id}`.
    pub status: String,
    /// The one-word state before.
    pub previous_status: String,
    /// A readable reason (Meta's code and reason when Meta caused it).
    pub reason: String,
    /// `connected` or `disconnected` (unchanged by this event).
    pub connection: String,
    /// `sending`, `paused` or `token_invalid`.
    pub send_state: String,
    /// The send state before.
    pub previous_send_state: String,
    /// `paused`: when the sends resume on their own.
    pub send_paused_until: Option<String>,
}

/// `data` of `channel.disconnected`: a channel was disconnected (its token deleted; sends
/// still queued fail with `channel_disconnected`).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ChannelDisconnectedData {
    pub channel_id: String,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `channel.connected`: a channel was connected (or reconnected) through a connect
/// session.
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ChannelConnectedData {
    pub channel_id: String,
    /// `whatsapp`, `instagram` or `messenger`.
    pub kind: String,
    /// Meta's id of the channel (phone_number_id, Instagram account id, Page id).
    pub external_id: String,
    /// WhatsApp: the WhatsApp Business Account id; null otherwise.
    #[oai(nullable)]
    pub waba_id: Option<String>,
    /// The channel's display name; null when unknown.
    #[oai(nullable)]
    pub name: Option<String>,
    /// `active`, or `pending` (a WhatsApp number Meta does not let the bridge register yet).
    pub status: String,
    /// Why the status is what it is; null when active.
    #[oai(nullable)]
    pub reason: Option<String>,
    /// The connect session (`cs_…`).
    pub connect_session_id: String,
    /// True when the channel existed and was connected again.
    pub reconnected: bool,
}

/// `data` of `channel.token_expiring`: the channel's token expires soon and cannot be
/// refreshed automatically (connect the channel again before then).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ChannelTokenExpiringData {
    pub channel_id: String,
    /// When the token expires (RFC 3339).
    pub expires_at: String,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `channel.subscription_restored`: Meta had dropped the channel's webhook
/// subscription and the bridge restored it (messages sent meanwhile may not have reached the
/// bridge).
#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct ChannelSubscriptionRestoredData {
    pub channel_id: String,
    /// A readable reason.
    pub reason: String,
}

// ---------------------------------------------------------------------------------------------
// Envelopes and webhooks.

/// How the bridge reads the receiver's answer (documentation of the webhook responses).
#[derive(Debug, ApiResponse)]
pub enum EventAck {
    /// Stored (any 2xx counts; the body is ignored).
    #[oai(status = 200)]
    Delivered,
    /// Gone: delivery to the whole instance is paused (events stay queued) until an operator
    /// resumes it.
    #[oai(status = 410)]
    Gone,
    /// Any other status (4xx included), a timeout or a connection error: retried with backoff
    /// until the delivery horizon, then dead-lettered (replayable).
    #[oai(status = 503)]
    Retry,
}

/// The fields every example envelope of one kind shares.
struct ExampleEnvelope {
    id: &'static str,
    channel: EventChannel,
    conversation_id: &'static str,
    contact: Option<Value>,
    occurred_at: Option<&'static str>,
    raw: Value,
}

const EX_INSTANCE: &str = "ins_0197a0c4c3a87d3e9a5b7c1d2e3f4a5b";
const EX_CHANNEL: &str = "ch_0197a0c5d1e27a6b8c9d0e1f2a3b4c5d";
const EX_PNID: &str = "106000000000001";
const EX_WAMID: &str = "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDE=";
const EX_WAMID_OUT: &str = "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=";
const EX_IG_MID: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMQZDZD";
const EX_MSG: &str = "msg_0197a0c7f0a17b2c8d3e4f5a6b7c8d9e";
const EX_RECEIVED_AT: &str = "2025-11-17T12:00:01.250Z";

fn wa_contact() -> Value {
    json!({"id": "US.100000000000000001", "user_id": "US.100000000000000001",
           "wa_id": "15550001234", "phone": "15550001234", "name": "Ana Pereira"})
}

fn wa_envelope(id: &'static str, raw: Value) -> ExampleEnvelope {
    ExampleEnvelope {
        id,
        channel: EventChannel::example(),
        conversation_id: "conv_5b1f0c2a9d7e4f3a8c6b2d1e",
        contact: Some(wa_contact()),
        occurred_at: Some("2025-11-17T12:00:00Z"),
        raw,
    }
}

fn wa_channel_envelope(id: &'static str, raw: Value) -> ExampleEnvelope {
    ExampleEnvelope {
        conversation_id: "conv_0a9b8c7d6e5f4a3b2c1d0e9f",
        contact: None,
        ..wa_envelope(id, raw)
    }
}

fn ig_envelope(id: &'static str, raw: Value) -> ExampleEnvelope {
    ExampleEnvelope {
        id,
        channel: EventChannel {
            id: Some("ch_0197a0c5d1e27a6b8c9d0e1f2a3b4c6e".into()),
            kind: Some("instagram".into()),
            external_id: "17841400000000001".into(),
        },
        conversation_id: "conv_7c2e9a1b4d6f8e0a3c5b7d9f",
        contact: Some(json!({"id": "6120000000000001"})),
        occurred_at: Some("2025-11-17T12:00:00Z"),
        raw,
    }
}

fn bridge_envelope(id: &'static str, contact_conversation: bool) -> ExampleEnvelope {
    ExampleEnvelope {
        id,
        channel: EventChannel::example(),
        conversation_id: if contact_conversation {
            "conv_5b1f0c2a9d7e4f3a8c6b2d1e"
        } else {
            "conv_0a9b8c7d6e5f4a3b2c1d0e9f"
        },
        contact: None,
        occurred_at: Some("2025-11-17T12:00:01.250Z"),
        raw: Value::Null,
    }
}

macro_rules! events {
    ($(
        $event:ident, $data:ident, $ty:ident, $name:tt, $op:tt, $summary:tt, $envelope:expr;
    )*) => {
        $(
            #[doc = concat!("The `type` of a `", $name, "` event.")]
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Enum)]
            pub enum $ty {
                #[default]
                #[oai(rename = $name)]
                Value,
            }

            #[doc = concat!("A `", $name, "` event: the body POSTed to the callback URL.")]
            #[derive(Debug, Clone, Object)]
            #[oai(example)]
            pub struct $event {
                /// The event id (`evt_…`): stable across retries and replays; deduplicate on it.
                pub id: String,
                /// The event type.
                #[oai(rename = "type")]
                pub r#type: $ty,
                /// The instance the event is for.
                pub instance_id: String,
                pub channel: EventChannel,
                /// The conversation (`conv_…`, derived from the channel and the customer, or
                /// the channel itself for channel-level events): events of one conversation
                /// are delivered in order, one at a time.
                pub conversation_id: String,
                /// The customer, when the event concerns one. WhatsApp: `{id (user_id else
                /// wa_id), user_id?, parent_user_id?, wa_id?, phone?, name?, username?,
                /// identity_key_hash?}`; WhatsApp groups: `{group_id, participant}`;
                /// Instagram / Messenger: `{id}` (IGSID / PSID). Null otherwise (always null
                /// for the bridge's own events).
                #[oai(nullable)]
                pub contact: Option<Value>,
                /// Meta's timestamp of the item (RFC 3339); for the bridge's own events when
                /// the bridge recorded it. Null when Meta gave none.
                #[oai(nullable)]
                pub occurred_at: Option<String>,
                /// When the bridge received the webhook or recorded the event (RFC 3339).
                pub received_at: String,
                pub data: $data,
                /// Meta's original item (message, status, error, messaging item, change value
                /// or entry) as received; null for the bridge's own events.
                pub raw: Value,
            }

            impl Example for $event {
                fn example() -> Self {
                    let e: ExampleEnvelope = $envelope;
                    $event {
                        id: e.id.to_owned(),
                        r#type: $ty::Value,
                        instance_id: EX_INSTANCE.to_owned(),
                        channel: e.channel,
                        conversation_id: e.conversation_id.to_owned(),
                        contact: e.contact,
                        occurred_at: e.occurred_at.map(str::to_owned),
                        received_at: EX_RECEIVED_AT.to_owned(),
                        data: <$data as Example>::example(),
                        raw: e.raw,
                    }
                }
            }
        )*

        /// Each event type and the names of its envelope and `data` schemas.
        pub const EVENT_SCHEMAS: &[(&str, &str, &str)] = &[
            $(($name, stringify!($event), stringify!($data)),)*
        ];

        /// Parses `data` into the `data` schema of `event_type` (checks required keys and types).
        #[cfg(test)]
        fn check_data(event_type: &str, data: Value) -> Result<(), String> {
            use poem_openapi::types::ParseFromJSON;
            match event_type {
                $($name => <$data as ParseFromJSON>::parse_from_json(Some(data))
                    .map(|_| ())
                    .map_err(|e| e.into_message()),)*
                other => Err(format!("no schema for {other}")),
            }
        }

        /// Parses a whole body into the envelope schema of `event_type`.
        #[cfg(test)]
        fn check_envelope(event_type: &str, body: Value) -> Result<(), String> {
            use poem_openapi::types::ParseFromJSON;
            match event_type {
                $($name => <$event as ParseFromJSON>::parse_from_json(Some(body))
                    .map(|_| ())
                    .map_err(|e| e.into_message()),)*
                other => Err(format!("no schema for {other}")),
            }
        }

        /// Every envelope example, as JSON, with its type.
        #[cfg(test)]
        fn examples() -> Vec<(&'static str, Value)> {
            use poem_openapi::types::ToJSON;
            vec![$(($name, <$event as Example>::example().to_json().unwrap_or_default()),)*]
        }

        /// One documented webhook: an event type as an OpenAPI `post` (see [`RECEIVER_GUIDE`]).
        pub struct EventDoc {
            pub event_type: &'static str,
            pub operation_id: &'static str,
            pub summary: &'static str,
            /// The envelope as the request body.
            pub request: Option<MetaRequest>,
        }

        /// Every event type's webhook description, in the order above.
        pub fn event_docs() -> Vec<EventDoc> {
            vec![$(
                EventDoc {
                    event_type: $name,
                    operation_id: $op,
                    summary: $summary,
                    request: <Json<$event> as ApiExtractor>::request_meta(),
                },
            )*]
        }

        /// Registers every envelope and `data` schema, and the receiver's answers.
        pub fn register_event_schemas(registry: &mut Registry) {
            $(<Json<$event> as ApiExtractor>::register(registry);)*
            <EventAck as ApiResponse>::register(registry);
        }
    };
}

events! {
    MessageReceivedEvent, MessageReceivedData, MessageReceivedType, "message.received",
        "events.message_received", "A customer's message",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e0f", json!({"from": "15550001234",
            "from_user_id": "US.100000000000000001", "id": EX_WAMID, "timestamp": "1763380800",
            "type": "text", "text": {"body": "Olá! Vocês têm o tênis tamanho 42?"}}));
    MessageEchoEvent, MessageEchoData, MessageEchoType, "message.echo",
        "events.message_echo", "A message the business sent (echo)",
        ig_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e10", json!({
            "sender": {"id": "17841400000000001"}, "recipient": {"id": "6120000000000001"},
            "timestamp": 1763380800000_i64, "message": {"mid": EX_IG_MID,
            "text": "Temos sim! Qual cor?", "is_echo": true, "app_id": "5731000000000001",
            "metadata": EX_MSG}}));
    MessageReactionEvent, MessageReactionData, MessageReactionType, "message.reaction",
        "events.message_reaction", "A reaction to a message was added or removed",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e11", json!({"from": "15550001234",
            "id": "wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=", "timestamp": "1763380800",
            "type": "reaction", "reaction": {"message_id": EX_WAMID_OUT, "emoji": "👍"}}));
    MessageStatusEvent, MessageStatusData, MessageStatusType, "message.status",
        "events.message_status", "A message's delivery status changed",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e12", json!({"id": EX_WAMID_OUT,
            "status": "delivered", "timestamp": "1763381402", "recipient_id": "15550001234",
            "biz_opaque_callback_data": EX_MSG}));
    MessageEditedEvent, MessageEditedData, MessageEditedType, "message.edited",
        "events.message_edited", "A message was edited",
        ig_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e13", json!({
            "sender": {"id": "6120000000000001"}, "recipient": {"id": "17841400000000001"},
            "timestamp": 1763380800000_i64, "message_edit": {"mid": EX_IG_MID,
            "text": "Tamanho 43, na verdade", "num_edit": 1}}));
    MessageDeletedEvent, MessageDeletedData, MessageDeletedType, "message.deleted",
        "events.message_deleted", "A message was deleted (unsent)",
        ig_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e14", json!({
            "sender": {"id": "6120000000000001"}, "recipient": {"id": "17841400000000001"},
            "timestamp": 1763380800000_i64, "message": {"mid": EX_IG_MID, "is_deleted": true}}));
    MessagePostbackEvent, MessagePostbackData, MessagePostbackType, "message.postback",
        "events.message_postback", "A button of the business was tapped",
        ig_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e15", json!({
            "sender": {"id": "6120000000000001"}, "recipient": {"id": "17841400000000001"},
            "timestamp": 1763380800000_i64, "postback": {"mid": EX_IG_MID,
            "title": "Ver catálogo", "payload": "SHOW_CATALOG"}}));
    MessageReferralEvent, MessageReferralData, MessageReferralType, "message.referral",
        "events.message_referral", "A customer arrived from an ad or link",
        ig_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e16", json!({
            "sender": {"id": "6120000000000001"}, "recipient": {"id": "17841400000000001"},
            "timestamp": 1763380800000_i64, "referral": {"ref": "black-friday",
            "source": "SHORTLINK", "type": "OPEN_THREAD"}}));
    MessageUnsupportedEvent, MessageUnsupportedData, MessageUnsupportedType,
        "message.unsupported", "events.message_unsupported", "A message that cannot be shown",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e17", json!({"from": "15550001234",
            "id": "wamid.HBgLMTU1NTAwMDEyMzRVTlMwMDE=", "timestamp": "1763380800",
            "type": "unsupported", "unsupported": {"type": "poll"},
            "errors": [{"code": 131051, "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."}}]}));
    ContactChangedEvent, ContactChangedData, ContactChangedType, "contact.changed",
        "events.contact_changed", "A WhatsApp customer changed number or identity",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e18", json!({"from": "15550001234",
            "id": "wamid.HBgLMTU1NTAwMDEyMzRTWVMwMDE=", "timestamp": "1763380800",
            "type": "system", "system": {"body": "Ana changed their phone number",
            "wa_id": "15550005678", "type": "user_changed_number"}}));
    ContactPreferencesEvent, ContactPreferencesData, ContactPreferencesType,
        "contact.preferences", "events.contact_preferences",
        "A WhatsApp customer changed a messaging preference",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e19", json!({"wa_id": "15550001234",
            "detail": "User requested to stop marketing messages",
            "category": "marketing_messages", "value": "stop", "timestamp": 1763380800}));
    MessageHistoryEvent, MessageHistoryData, MessageHistoryType, "message.history",
        "events.message_history",
        "A message of the chat history a WhatsApp Business app number shared (coexistence)",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e2a", json!({"from": "15550001234",
            "id": "wamid.HBgLMTU1NTAwMDEyMzRISVMwMDE=", "timestamp": "1762000000",
            "type": "text", "text": {"body": "Vocês abrem sábado?"},
            "history_context": {"status": "READ"}}));
    ContactSyncedEvent, ContactSyncedData, ContactSyncedType, "contact.synced",
        "events.contact_synced",
        "A contact of a WhatsApp Business app number's address book changed (coexistence)",
        wa_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e2b", json!({"type": "contact",
            "contact": {"full_name": "Ana Pereira", "first_name": "Ana",
            "phone_number": "15550001234"}, "action": "add",
            "metadata": {"timestamp": "1763380800"}}));
    ChannelErrorEvent, ChannelErrorData, ChannelErrorType, "channel.error",
        "events.channel_error", "Meta reported an error for the channel",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e1a", json!({"code": 131056,
            "title": "(Business Account, Consumer Account) pair rate limit hit",
            "message": "(Business Account, Consumer Account) pair rate limit hit",
            "error_data": {"details": "Too many messages sent to this number."}}));
    ChannelQualityEvent, ChannelQualityData, ChannelQualityType, "channel.quality",
        "events.channel_quality", "A WhatsApp number's quality or limit changed",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e1b", json!({
            "display_phone_number": "15559990000", "event": "THROUGHPUT_UPGRADE",
            "current_limit": "TIER_UNLIMITED",
            "max_daily_conversations_per_business": "TIER_UNLIMITED"}));
    AccountUpdatedEvent, AccountUpdatedData, AccountUpdatedType, "account.updated",
        "events.account_updated", "The WhatsApp Business Account changed",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e1c", json!({
            "event": "PARTNER_APP_UNINSTALLED", "waba_info": {"waba_id": "102000000000001",
            "owner_business_id": "2329000000000001", "partner_app_id": "5731000000000001"}}));
    TemplateStatusEvent, TemplateStatusData, TemplateStatusType, "template.status",
        "events.template_status", "A message template was approved, rejected, paused, …",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e1d", json!({"event": "REJECTED",
            "message_template_id": 1689556908129835_i64,
            "message_template_name": "promo_black_friday", "message_template_language": "pt_BR",
            "reason": "INVALID_FORMAT", "message_template_category": "MARKETING"}));
    TemplateQualityEvent, TemplateQualityData, TemplateQualityType, "template.quality",
        "events.template_quality", "A message template's quality score changed",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e1e", json!({
            "previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
            "message_template_id": 1689556908129835_i64,
            "message_template_name": "promo_black_friday",
            "message_template_language": "pt_BR"}));
    LeadReceivedEvent, LeadReceivedData, LeadReceivedType, "lead.received",
        "events.lead_received", "A Lead Ads lead, with its answers",
        ExampleEnvelope {
            id: "evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e1f",
            channel: EventChannel {
                id: Some("ch_0197a0c5d1e27a6b8c9d0e1f2a3b4c7f".into()),
                kind: Some("messenger".into()),
                external_id: "105000000000001".into(),
            },
            conversation_id: "conv_3e5d7c9b1a2f4e6d8c0b2a4f",
            contact: None,
            occurred_at: Some("2025-11-17T12:33:15Z"),
            raw: json!({"ad_id": "120210000000000101", "form_id": "990000000000001",
                "leadgen_id": "1234567890123456", "created_time": 1763382795,
                "page_id": "105000000000001", "adgroup_id": "120210000000000101"}),
        };
    MetaUnsupportedEvent, MetaUnsupportedData, MetaUnsupportedType, "meta.unsupported",
        "events.meta_unsupported", "Something Meta sent that the bridge does not know yet",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e20", json!({
            "field": "business_capability_update", "value": {"max_daily_conversation_per_phone": 1000}}));
    MessageSentEvent, MessageSentData, MessageSentType, "message.sent",
        "events.message_sent", "Meta accepted a message sent through the bridge",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e21", true);
    MessageFailedEvent, MessageFailedData, MessageFailedType, "message.failed",
        "events.message_failed", "A message sent through the bridge failed for good",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e22", true);
    ChannelUpdatedEvent, ChannelUpdatedData, ChannelUpdatedType, "channel.updated",
        "events.channel_updated", "A channel's status changed",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e23", false);
    ChannelDisconnectedEvent, ChannelDisconnectedData, ChannelDisconnectedType,
        "channel.disconnected", "events.channel_disconnected", "A channel was disconnected",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e24", false);
    ChannelConnectedEvent, ChannelConnectedData, ChannelConnectedType, "channel.connected",
        "events.channel_connected", "A channel was connected through a connect session",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e25", false);
    ChannelTokenExpiringEvent, ChannelTokenExpiringData, ChannelTokenExpiringType,
        "channel.token_expiring", "events.channel_token_expiring",
        "A channel's token expires soon and cannot be refreshed",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e26", false);
    ChannelSubscriptionRestoredEvent, ChannelSubscriptionRestoredData,
        ChannelSubscriptionRestoredType, "channel.subscription_restored",
        "events.channel_subscription_restored",
        "The bridge restored the channel's webhook subscription",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e27", false);
}

/// (event type, envelope schema name) for every event type.
pub fn event_schema_names() -> Vec<(&'static str, &'static str)> {
    EVENT_SCHEMAS.iter().map(|(t, e, _)| (*t, *e)).collect()
}

/// The `data` schema name of an event type.
pub fn data_schema_name(event_type: &str) -> Option<&'static str> {
    EVENT_SCHEMAS
        .iter()
        .find(|(t, _, _)| *t == event_type)
        .map(|(_, _, d)| *d)
}

// ---------------------------------------------------------------------------------------------
// Examples of `data`.

fn s(v: &str) -> String {
    v.to_owned()
}

impl Example for MessageReceivedData {
    fn example() -> Self {
        MessageReceivedData {
            message_id: s(EX_WAMID),
            r#type: s("text"),
            text: Some(s("Olá! Vocês têm o tênis tamanho 42?")),
            ..Default::default()
        }
    }
}

impl Example for MessageEchoData {
    fn example() -> Self {
        MessageEchoData {
            message_id: s(EX_IG_MID),
            r#type: json!("text"),
            is_echo: true,
            bridge_message_id: Some(s(EX_MSG)),
            app_id: Some(s("5731000000000001")),
            metadata: Some(json!(EX_MSG)),
            text: Some(s("Temos sim! Qual cor?")),
            standby: Some(false),
            ..Default::default()
        }
    }
}

impl Example for MessageReactionData {
    fn example() -> Self {
        MessageReactionData {
            message_id: Some(s("wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=")),
            r#type: s("reaction"),
            target_message_id: Some(s(EX_WAMID_OUT)),
            emoji: Some(json!("👍")),
            removed: false,
            ..Default::default()
        }
    }
}

impl Example for MessageStatusData {
    fn example() -> Self {
        MessageStatusData {
            message_id: Some(s(EX_WAMID_OUT)),
            status: s("delivered"),
            recipient: Some(wa_contact()),
            bridge_message_id: Some(s(EX_MSG)),
            biz_opaque_callback_data: Some(json!(EX_MSG)),
            ..Default::default()
        }
    }
}

impl Example for MessageEditedData {
    fn example() -> Self {
        MessageEditedData {
            message_id: Some(s(EX_IG_MID)),
            r#type: s("message_edit"),
            text: Some(json!("Tamanho 43, na verdade")),
            num_edit: Some(json!(1)),
            standby: Some(false),
            ..Default::default()
        }
    }
}

impl Example for MessageDeletedData {
    fn example() -> Self {
        MessageDeletedData {
            message_id: s(EX_IG_MID),
            r#type: s("deleted"),
            is_echo: Some(false),
            standby: Some(false),
            ..Default::default()
        }
    }
}

impl Example for MessagePostbackData {
    fn example() -> Self {
        MessagePostbackData {
            r#type: s("postback"),
            message_id: Some(s(EX_IG_MID)),
            title: Some(json!("Ver catálogo")),
            payload: Some(json!("SHOW_CATALOG")),
            referral: None,
            standby: false,
        }
    }
}

impl Example for MessageReferralData {
    fn example() -> Self {
        MessageReferralData {
            r#type: s("referral"),
            referral: json!({"ref": "black-friday", "source": "SHORTLINK", "type": "OPEN_THREAD"}),
            standby: false,
        }
    }
}

impl Example for MessageUnsupportedData {
    fn example() -> Self {
        MessageUnsupportedData {
            message_id: s("wamid.HBgLMTU1NTAwMDEyMzRVTlMwMDE="),
            r#type: json!("unsupported"),
            unsupported_type: Some(s("poll")),
            errors: Some(vec![MetaError {
                code: json!(131051),
                title: json!("Message type unknown"),
                message: json!("Message type unknown"),
                details: json!("Message type is currently not supported."),
                href: None,
            }]),
            ..Default::default()
        }
    }
}

impl Example for ContactChangedData {
    fn example() -> Self {
        ContactChangedData {
            message_id: s("wamid.HBgLMTU1NTAwMDEyMzRTWVMwMDE="),
            r#type: s("system"),
            system_type: json!("user_changed_number"),
            body: Some(json!("Ana changed their phone number")),
            new_wa_id: Some(s("15550005678")),
            ..Default::default()
        }
    }
}

impl Example for MessageHistoryData {
    fn example() -> Self {
        MessageHistoryData {
            message_id: s("wamid.HBgLMTU1NTAwMDEyMzRISVMwMDE="),
            r#type: json!("text"),
            direction: s("inbound"),
            history: HistorySync {
                phase: Some(json!(1)),
                chunk_order: Some(json!(1)),
                progress: Some(json!(40)),
                status: Some(json!("READ")),
            },
            text: Some(s("Vocês abrem sábado?")),
            ..Default::default()
        }
    }
}

impl Example for ContactSyncedData {
    fn example() -> Self {
        ContactSyncedData {
            r#type: s("contact"),
            action: json!("add"),
            full_name: Some(json!("Ana Pereira")),
            first_name: Some(json!("Ana")),
            phone_number: Some(s("15550001234")),
        }
    }
}

impl Example for ContactPreferencesData {
    fn example() -> Self {
        ContactPreferencesData {
            category: Some(json!("marketing_messages")),
            value: Some(json!("stop")),
            detail: Some(json!("User requested to stop marketing messages")),
            wa_id: Some(s("15550001234")),
            user_id: None,
        }
    }
}

impl Example for ChannelErrorData {
    fn example() -> Self {
        ChannelErrorData {
            code: json!(131056),
            title: json!("(Business Account, Consumer Account) pair rate limit hit"),
            message: json!("(Business Account, Consumer Account) pair rate limit hit"),
            details: json!("Too many messages sent to this number."),
            href: None,
        }
    }
}

impl Example for ChannelQualityData {
    fn example() -> Self {
        ChannelQualityData {
            event: json!("THROUGHPUT_UPGRADE"),
            display_phone_number: Some(json!("15559990000")),
            current_limit: Some(json!("TIER_UNLIMITED")),
            old_limit: None,
            max_daily_conversations_per_business: Some(json!("TIER_UNLIMITED")),
        }
    }
}

impl Example for AccountUpdatedData {
    fn example() -> Self {
        AccountUpdatedData {
            event: json!("PARTNER_APP_UNINSTALLED"),
            waba_info: Some(json!({"waba_id": "102000000000001",
                "owner_business_id": "2329000000000001", "partner_app_id": "5731000000000001"})),
            ..Default::default()
        }
    }
}

impl Example for TemplateStatusData {
    fn example() -> Self {
        TemplateStatusData {
            template_id: Some(s("1689556908129835")),
            template_name: json!("promo_black_friday"),
            language: json!("pt_BR"),
            event: json!("REJECTED"),
            reason: Some(json!("INVALID_FORMAT")),
            category: Some(json!("MARKETING")),
            ..Default::default()
        }
    }
}

impl Example for TemplateQualityData {
    fn example() -> Self {
        TemplateQualityData {
            template_id: Some(s("1689556908129835")),
            template_name: Some(json!("promo_black_friday")),
            language: Some(json!("pt_BR")),
            previous_quality_score: Some(json!("GREEN")),
            new_quality_score: Some(json!("YELLOW")),
        }
    }
}

impl Example for LeadReceivedData {
    fn example() -> Self {
        let answers = [
            ("full_name", "Ana Pereira"),
            ("email", "ana.pereira@example.com"),
            ("phone_number", "+15550001234"),
        ];
        let labels = ["Full name", "Email", "Phone number"];
        LeadReceivedData {
            leadgen_id: s("1234567890123456"),
            form_id: Some(json!("990000000000001")),
            page_id: Some(s("105000000000001")),
            created_time_ms: Some(1_763_382_795_000),
            ad_id: Some(json!("120210000000000101")),
            adgroup_id: Some(s("120210000000000101")),
            field_data: answers
                .iter()
                .zip(labels)
                .map(|((k, v), label)| LeadField {
                    name: json!(k),
                    values: json!([v]),
                    label: Some(s(label)),
                })
                .collect(),
            fields: answers.iter().map(|(k, v)| (s(k), json!([v]))).collect(),
            created_time: Some(json!("2025-11-17T12:33:15+0000")),
            is_organic: Some(json!(false)),
            platform: Some(json!("ig")),
            adset_id: Some(json!("120210000000000102")),
            campaign_id: Some(json!("120210000000000103")),
            ad_fields: Some(LeadAdFields::Read),
        }
    }
}

impl Example for MetaUnsupportedData {
    fn example() -> Self {
        MetaUnsupportedData {
            reason: s("unknown_field"),
            field: Some(json!("business_capability_update")),
            ..Default::default()
        }
    }
}

impl Example for MessageSentData {
    fn example() -> Self {
        MessageSentData {
            bridge_message_id: s(EX_MSG),
            meta_message_id: Some(s(EX_WAMID_OUT)),
            channel_id: s(EX_CHANNEL),
            to: s("15550001234"),
            r#type: s("template"),
            client_reference: Some(s("order-4711")),
        }
    }
}

impl Example for MessageFailedData {
    fn example() -> Self {
        MessageFailedData {
            bridge_message_id: s(EX_MSG),
            meta_message_id: Some(s(EX_WAMID_OUT)),
            channel_id: s(EX_CHANNEL),
            to: s("15550001234"),
            r#type: s("text"),
            client_reference: None,
            error: SendError {
                code: s("131047"),
                meta_code: Some(131_047),
                meta_subcode: None,
                reason: s("More than 24 hours have passed since the customer last replied."),
            },
        }
    }
}

impl Example for ChannelUpdatedData {
    fn example() -> Self {
        ChannelUpdatedData {
            channel_id: s(EX_CHANNEL),
            status: s("paused"),
            previous_status: s("active"),
            reason: s("Meta restricted sending on this account (code 131048): Spam rate limit hit"),
            connection: s("connected"),
            send_state: s("paused"),
            previous_send_state: s("sending"),
            send_paused_until: Some(s("2026-12-02T10:15:00.000Z")),
        }
    }
}

impl Example for ChannelDisconnectedData {
    fn example() -> Self {
        ChannelDisconnectedData {
            channel_id: s(EX_CHANNEL),
            reason: s("removed by the instance"),
        }
    }
}

impl Example for ChannelConnectedData {
    fn example() -> Self {
        ChannelConnectedData {
            channel_id: s(EX_CHANNEL),
            kind: s("whatsapp"),
            external_id: s(EX_PNID),
            waba_id: Some(s("102000000000001")),
            name: Some(s("+1 555-999-0000")),
            status: s("active"),
            reason: None,
            connect_session_id: s("cs_0197a0c4f2b37c4d9e5f6a7b8c9d0e1f"),
            reconnected: false,
        }
    }
}

impl Example for ChannelTokenExpiringData {
    fn example() -> Self {
        ChannelTokenExpiringData {
            channel_id: s(EX_CHANNEL),
            expires_at: s("2025-12-01T09:00:00Z"),
            reason: s(
                "the access token expires and cannot be refreshed automatically: connect the channel again before then",
            ),
        }
    }
}

impl Example for ChannelSubscriptionRestoredData {
    fn example() -> Self {
        ChannelSubscriptionRestoredData {
            channel_id: s(EX_CHANNEL),
            reason: s(
                "Meta had removed the app's webhook subscription (usually after repeated delivery failures); it was restored. Messages sent while it was missing may not have been received.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::{Map, Value, json};

    use super::*;
    use crate::events::parse::{ParsedEvent, parse_webhook, types};
    use crate::messages::lifecycle::ErrorInfo;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");

    /// The same filter as the parser's tests: webhook bodies only.
    fn is_webhook_fixture(name: &str) -> bool {
        let webhook_prefix = ["wa-", "ig-", "messenger-"]
            .iter()
            .any(|p| name.starts_with(p))
            || name == "leadgen.json";
        webhook_prefix
            && name.ends_with(".json")
            && !name.ends_with("-response.json")
            && name != "wa-media-metadata.json"
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{FIXTURES}{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    fn fixture_names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
            .expect("fixtures dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_webhook_fixture(n))
            .collect();
        names.sort();
        names
    }

    fn lead_response() -> Value {
        serde_json::from_slice(&fixture("lead-retrieve-response.json")).expect("lead json")
    }

    /// The data as delivered: leads only after the Graph API fetch.
    fn delivered_data(ev: &ParsedEvent) -> Value {
        if ev.event_type == types::LEAD_RECEIVED {
            let data = ev
                .data
                .as_object()
                .cloned()
                .expect("lead data is an object");
            crate::workers::lifecycle::merge_lead(data, &lead_response()).expect("merge")
        } else {
            ev.data.clone()
        }
    }

    /// The body `render_envelope` sends for a stored event.
    fn body(event_type: &str, contact: Option<&Value>, data: &Value, raw: &Value) -> Value {
        let (contact, data, raw) = (
            contact.map(Value::to_string),
            data.to_string(),
            raw.to_string(),
        );
        let stored = crate::events::StoredEvent {
            id: "evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e0f",
            event_type,
            instance_id: EX_INSTANCE,
            channel_id: Some(EX_CHANNEL),
            channel_kind: Some("whatsapp"),
            channel_external_id: EX_PNID,
            conversation_id: "conv_5b1f0c2a9d7e4f3a8c6b2d1e",
            occurred_at: None,
            received_at: 1_763_380_801_250,
            contact: contact.as_deref(),
            data: Some(&data),
            raw: Some(&raw),
        };
        let bytes = crate::events::render_envelope(&stored).expect("render");
        serde_json::from_slice(&bytes).expect("envelope json")
    }

    #[test]
    fn every_event_type_has_one_schema() {
        let listed: Vec<&str> = types::ALL.iter().chain(types::BRIDGE).copied().collect();
        for t in &listed {
            assert!(data_schema_name(t).is_some(), "{t} has no data schema");
        }
        let names = event_schema_names();
        assert_eq!(
            names.len(),
            listed.len(),
            "a schema for a type that is not listed"
        );
        let distinct: HashSet<_> = names.iter().map(|(_, e)| *e).collect();
        assert_eq!(distinct.len(), names.len());
        let docs = event_docs();
        assert_eq!(docs.len(), listed.len());
        for (d, t) in docs.iter().zip(EVENT_SCHEMAS) {
            assert_eq!(d.event_type, t.0);
            let op = format!("events.{}", t.0.replace('.', "_"));
            assert_eq!(d.operation_id, op.as_str());
            assert!(d.request.is_some(), "{} has no request body", t.0);
        }
    }

    #[test]
    fn every_parsed_fixture_event_fits_its_schema() {
        let names = fixture_names();
        assert_eq!(names.len(), 45, "webhook fixtures: {names:?}");
        let mut seen = HashSet::new();
        let mut checked = 0;
        for name in &names {
            let events = parse_webhook(&fixture(name)).expect("fixture parses");
            for (i, ev) in events.iter().enumerate() {
                let data = delivered_data(ev);
                if let Err(e) = check_data(ev.event_type, data.clone()) {
                    panic!("{name}[{i}] {}: {e}\n{data:#}", ev.event_type);
                }
                let body = body(ev.event_type, ev.contact.as_ref(), &data, &ev.raw);
                if let Err(e) = check_envelope(ev.event_type, body.clone()) {
                    panic!("{name}[{i}] {} envelope: {e}\n{body:#}", ev.event_type);
                }
                seen.insert(ev.event_type);
                checked += 1;
            }
        }
        assert!(checked >= 41, "{checked}");
        // The fixtures cover most types; the others are checked with hand-built items below.
        assert!(seen.len() >= 14, "{seen:?}");
    }

    /// Items of the types the fixtures do not cover, and odd shapes the parser passes on.
    #[test]
    fn hand_built_items_fit_their_schemas() {
        let wa = |value: Value| {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "102000000000001",
                "time": 1763380800, "changes": [{"field": "messages", "value": value}]}]})
        };
        let meta = json!({"display_phone_number": "15559990000", "phone_number_id": EX_PNID});
        let msg = |extra: Value| {
            let mut m = json!({"from": "15550001234", "id": "wamid.X", "timestamp": "1763380800"});
            if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
                m.extend(e.clone());
            }
            wa(json!({"messaging_product": "whatsapp", "metadata": meta, "messages": [m]}))
        };
        let ig = |item: Value| {
            let mut m = json!({"sender": {"id": "6120000000000001"},
                "recipient": {"id": "17841400000000001"}, "timestamp": 1763380800000_i64});
            if let (Some(m), Some(e)) = (m.as_object_mut(), item.as_object()) {
                m.extend(e.clone());
            }
            json!({"object": "instagram", "entry": [{"id": "17841400000000001",
                "time": 1763380800000_i64, "messaging": [m]}]})
        };
        let bodies = vec![
            msg(
                json!({"type": "edit", "edit": {"original_message_id": "wamid.O",
                "message": {"type": "text", "text": {"body": "x"}}}}),
            ),
            msg(json!({"type": "revoke", "revoke": {"original_message_id": "wamid.O"}})),
            msg(json!({"type": "reaction", "reaction": {"message_id": "wamid.O", "emoji": ""}})),
            msg(json!({"type": "image"})),
            msg(json!({"type": "text", "text": {"body": 5}})),
            msg(json!({"type": "poll", "poll": {"q": 1}})),
            msg(json!({"id": 7, "type": null})),
            msg(json!({"type": "location", "location": {"latitude": "x"}})),
            msg(
                json!({"type": "interactive", "interactive": {"type": "nfm_reply",
                "nfm_reply": {"response_json": "{not json"}}}),
            ),
            msg(json!({"type": "interactive", "interactive": {"type": "other", "other": {}}})),
            msg(json!({"type": "button", "button": {}})),
            msg(json!({"type": "order", "order": {"catalog_id": 1}})),
            msg(
                json!({"type": "system", "system": {"type": "user_changed_user_id",
                "user_id": "US.2"}}),
            ),
            msg(
                json!({"type": "text", "text": {"body": "hi"}, "errors": [{"code": "x"}, {}],
                "context": {"id": "wamid.C", "forwarded": "true", "referred_product": {}}}),
            ),
            msg(json!({"id": null, "type": "text"})),
            wa(
                json!({"metadata": meta, "statuses": [{"id": "wamid.S", "status": "failed",
                "timestamp": "1763380800", "errors": [{"code": 131047}]}]}),
            ),
            wa(
                json!({"metadata": meta, "statuses": [{"id": "wamid.S", "status": "sent",
                "recipient_type": "group", "recipient_id": "G1"}]}),
            ),
            wa(json!({"metadata": meta, "errors": [{"code": 1, "title": "t"}, 5]})),
            wa(json!({"metadata": meta, "messages": "nope"})),
            json!({"object": "whatsapp_business_account", "entry": [{"id": "102000000000001",
                "changes": [{"field": "message_template_quality_update", "value": {
                "message_template_id": 1, "new_quality_score": "RED"}}, {"field":
                "message_template_status_update", "value": {}}, {"field": "account_update",
                "value": {"ban_info": {}}}, {"field": "phone_number_quality_update",
                "value": {}}, {"field": "user_preferences", "value": {"user_preferences":
                [{"user_id": "US.1", "category": "marketing_messages", "value": "resume"}]}},
                {"field": "smb_message_echoes", "value": {"metadata": meta, "message_echoes":
                [{"from": "15559990000", "to": "15550001234", "id": "wamid.E",
                "type": "reaction", "reaction": {"message_id": "wamid.O", "emoji": "x"}}]}},
                {"field": "history", "value": {"metadata": meta, "history": [{"metadata":
                {"phase": 0}, "threads": [{"id": "15550001234", "messages": [{"from":
                "15550001234", "id": "wamid.H", "type": "image", "image": {"id": "7",
                "mime_type": "image/jpeg"}}, {"from": "15559990000", "id": "wamid.H2",
                "type": "reaction", "reaction": {"message_id": "wamid.H", "emoji": ""}},
                {"id": "wamid.H3", "type": "future_type", "future_type": {}}]}]},
                {"errors": [{"code": 2593109}]}]}},
                {"field": "smb_app_state_sync", "value": {"metadata": meta, "state_sync": [
                {"type": "contact", "contact": {"phone_number": "15550001234"}},
                {"type": "contact", "action": "remove", "contact": {"full_name": "A"}}]}},
                {"field": "flows", "value": {}}]}]}),
            ig(json!({"message": {"mid": "aWdf1", "is_unsupported": true}})),
            ig(
                json!({"message": {"mid": "aWdf1", "text": "t", "is_echo": true,
                "app_id": 1, "metadata": "msg_1"}}),
            ),
            ig(
                json!({"message": {"mid": "aWdf1", "attachments": [{"type": "image",
                "payload": {"url": "https://x"}}, {}], "quick_reply": {"payload": "Q"},
                "reply_to": {"mid": "aWdf0"}}}),
            ),
            ig(json!({"message": {"mid": "aWdf1"}})),
            ig(json!({"message_edit": {"mid": "aWdf1", "num_edit": "two"}})),
            ig(json!({"reaction": {"mid": "aWdf1", "action": "unreact"}})),
            ig(json!({"postback": {"title": "T", "payload": "P"}})),
            ig(json!({"read": {"mid": "aWdf1"}})),
            ig(json!({"referral": {"ref": "r", "source": "ADS"}})),
            ig(json!({"optin": {}})),
            ig(json!({"pass_thread_control": {}})),
            ig(json!({"message": "x"})),
            json!({"object": "page", "entry": [{"id": "105000000000001", "time": 1,
                "messaging": [{"sender": {"id": "7010000000000001"}, "recipient": {"id":
                "105000000000001"}, "delivery": {"watermark": 1763380800000_i64, "mids": ["m"]}},
                {"sender": {"id": "7010000000000001"}, "read": {"watermark": 1}}],
                "changes": [{"field": "leadgen", "value": {"leadgen_id": 9}}, {"field":
                "leadgen", "value": {}}, {"field": "feed", "value": {}}]}]}),
            json!({"object": "instagram", "entry": [{"id": "1", "changes": [{"field":
                "messages", "value": {"sender": {"id": "2"}}}]}, {"id": "1"}, 3]}),
            json!({"object": "unknown", "entry": [{"id": 4}]}),
        ];
        let mut seen = HashSet::new();
        for (n, b) in bodies.iter().enumerate() {
            let events = parse_webhook(&serde_json::to_vec(b).expect("json")).expect("parses");
            for ev in &events {
                let data = delivered_data(ev);
                if let Err(e) = check_data(ev.event_type, data.clone()) {
                    panic!("body {n} {}: {e}\n{data:#}", ev.event_type);
                }
                seen.insert(ev.event_type);
            }
        }
        for t in types::ALL {
            if *t != types::LEAD_RECEIVED {
                assert!(seen.contains(t), "no hand-built item produced {t}");
            }
        }
    }

    /// `message.status` and `message.echo` of the bridge's sends gain `bridge_message_id`
    /// (store/ingest.rs `outbound_effects`).
    #[test]
    fn bridge_linkage_fits() {
        for name in ["wa-status-failed.json", "ig-echo.json"] {
            for ev in parse_webhook(&fixture(name)).expect("parses") {
                let mut data = ev.data.clone();
                data["bridge_message_id"] = Value::String("msg_1".into());
                check_data(ev.event_type, data).expect(name);
            }
        }
    }

    /// `data` of the bridge's own events, built as store/messages.rs and store/connect.rs
    /// build them (with every nullable key null as well as set), and their envelopes (contact
    /// null, raw null) as `insert_event_row` stores them.
    #[test]
    fn bridge_event_data_fits() {
        let send = |meta_id: Option<&str>, reference: Option<&str>, error: Option<ErrorInfo>| {
            let mut data = json!({
                "bridge_message_id": "msg_1",
                "meta_message_id": meta_id,
                "channel_id": "ch_1",
                "to": "15550001234",
                "type": "text",
                "client_reference": reference,
            });
            if let Some(e) = error {
                data["error"] = json!({
                    "code": e.kind,
                    "meta_code": e.code,
                    "meta_subcode": e.subcode,
                    "reason": e.reason,
                });
            }
            data
        };
        let meta_error = ErrorInfo {
            code: Some(131047),
            subcode: Some(2494010),
            kind: "131047".into(),
            reason: "window closed".into(),
        };
        let connected = |waba: Option<&str>, name: Option<&str>, reason: Option<&str>| {
            json!({
                "channel_id": "ch_1",
                "kind": "whatsapp",
                "external_id": EX_PNID,
                "waba_id": waba,
                "name": name,
                "status": "pending",
                "reason": reason,
                "connect_session_id": "cs_1",
                "reconnected": true,
            })
        };
        let cases = vec![
            (types::MESSAGE_SENT, send(Some("wamid.1"), Some("r"), None)),
            (types::MESSAGE_SENT, send(None, None, None)),
            (
                types::MESSAGE_FAILED,
                send(None, None, Some(ErrorInfo::channel_disconnected())),
            ),
            (
                types::MESSAGE_FAILED,
                send(Some("wamid.1"), Some("r"), Some(meta_error)),
            ),
            (
                types::CHANNEL_UPDATED,
                json!({"channel_id": "ch_1", "status": "token_invalid",
                    "previous_status": "active", "reason": "token revoked",
                    "connection": "connected", "send_state": "token_invalid",
                    "previous_send_state": "sending"}),
            ),
            (
                types::CHANNEL_DISCONNECTED,
                json!({ "channel_id": "ch_1", "reason": "removed" }),
            ),
            (types::CHANNEL_CONNECTED, connected(None, None, None)),
            (
                types::CHANNEL_CONNECTED,
                connected(
                    Some("102000000000001"),
                    Some("Loja"),
                    Some("not registered yet"),
                ),
            ),
            (
                types::CHANNEL_TOKEN_EXPIRING,
                json!({"channel_id": "ch_1", "expires_at": crate::ms_to_rfc3339(1_763_380_800_000),
                    "reason": "the access token expires"}),
            ),
            (
                types::CHANNEL_SUBSCRIPTION_RESTORED,
                json!({"channel_id": "ch_1", "reason": "restored"}),
            ),
        ];
        let mut seen = HashSet::new();
        for (t, data) in cases {
            check_data(t, data.clone()).unwrap_or_else(|e| panic!("{t}: {e}\n{data:#}"));
            let body = body(t, None, &data, &Value::Null);
            check_envelope(t, body.clone()).unwrap_or_else(|e| panic!("{t}: {e}\n{body:#}"));
            seen.insert(t);
        }
        for t in types::BRIDGE {
            assert!(seen.contains(t), "{t} not checked");
        }
    }

    #[test]
    fn lead_ad_fields_values_are_the_workers_constants() {
        use crate::workers::lifecycle::{
            AD_FIELDS_FAILED, AD_FIELDS_NOT_PERMITTED, AD_FIELDS_READ,
        };
        use poem_openapi::types::ToJSON;
        for (v, s) in [
            (LeadAdFields::Read, AD_FIELDS_READ),
            (LeadAdFields::NotPermitted, AD_FIELDS_NOT_PERMITTED),
            (LeadAdFields::Failed, AD_FIELDS_FAILED),
        ] {
            assert_eq!(v.to_json(), Some(json!(s)));
        }
    }

    #[test]
    fn leads_without_field_data_do_not_fit() {
        // The parser's lead data alone is not what is delivered (field_data is added first).
        let ev = parse_webhook(&fixture("leadgen.json")).expect("parses");
        assert!(check_data(types::LEAD_RECEIVED, ev[0].data.clone()).is_err());
        let mut data = Map::new();
        data.insert("leadgen_id".into(), json!("1"));
        let merged =
            crate::workers::lifecycle::merge_lead(data, &json!({"field_data": []})).expect("merge");
        check_data(types::LEAD_RECEIVED, merged).expect("minimal lead");
    }

    #[test]
    fn examples_fit_their_own_schemas() {
        let examples = examples();
        assert_eq!(examples.len(), EVENT_SCHEMAS.len());
        for (t, example) in examples {
            assert_eq!(example["type"], json!(t));
            check_envelope(t, example.clone()).unwrap_or_else(|e| panic!("{t}: {e}"));
            check_data(t, example["data"].clone()).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn fixture_examples_match_the_parser() {
        // The envelope examples of parsed types carry a `raw` item; parsing it as Meta's item
        // gives the same event type (so the examples stay realistic).
        let ex = examples();
        let get = |t: &str| ex.iter().find(|(n, _)| *n == t).map(|(_, v)| v.clone());
        let msg = get(types::MESSAGE_RECEIVED).expect("example");
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": EX_PNID},
            "messages": [msg["raw"]]}}]}]});
        let events = parse_webhook(&serde_json::to_vec(&body).expect("json")).expect("parses");
        assert_eq!(events[0].event_type, types::MESSAGE_RECEIVED);
        assert_eq!(events[0].data["text"], msg["data"]["text"]);
    }
}
