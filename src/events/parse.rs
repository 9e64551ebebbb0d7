//! Turning a verified Meta webhook body into events.
//!
//! This module owns one step of the inbound pipeline: a body whose signature was already checked
//! goes in, a list of [`ParsedEvent`]s comes out, one per thing Meta told us about (each WhatsApp
//! message, status and value-level error; each Instagram/Messenger `messaging[]` or `standby[]`
//! item; each `leadgen` change; each other `changes[]` item). Every event carries a stable
//! idempotency key, a route to its channel, a conversation key for ordering, the contact, Meta's
//! timestamp, a normalized `data` object and the original item in `raw`.
//!
//! What it must never do:
//! - fail or panic on a shape it does not know. Only a body that is not JSON, not a JSON object,
//!   or has no `entry` array is an error ([`MalformedBody`]). Anything else that cannot be
//!   understood (unknown `object` or `field`, an item that is not an object, a message without an
//!   id, handover events, the Instagram dashboard test shape, ...) becomes a
//!   [`types::META_UNSUPPORTED`] event with a `data.reason` (see [`reasons`]), so that it is stored
//!   and counted, and one bad item never hides its neighbours;
//! - normalise ids: ids are kept exactly as Meta sent them (numbers are rendered as decimal
//!   strings, nothing is trimmed, no case change);
//! - do I/O, look at the clock, or know about channels in the database: routing only says which
//!   Meta id the event belongs to ([`Route`]).
//!
//! # Idempotency keys
//!
//! Natural ids, scoped by the channel or account id (`<pnid>` = `metadata.phone_number_id`, or the
//! WABA id when a value has no metadata; `<waba>` = `entry.id`; `<acct>` = `entry.id` of an
//! Instagram account or Page; `_` stands for a missing scope id):
//!
//! | event | key |
//! |---|---|
//! | WA message (any type, incl. reaction, system, edit, revoke, unsupported) and WA `smb_message_echoes` | `wa:msg:<pnid>:<wamid>` |
//! | WA coexistence `history` message | `wa:hist:<pnid>:<wamid>`, `…:media:<media id>` when the item carries its media id (Meta sends recent media again with it) |
//! | WA coexistence `smb_app_state_sync` contact | `wa:sync:<pnid>:<phone_number>:<action>:<metadata.timestamp>` |
//! | WA status | `wa:status:<pnid>:<wamid>:<status>:<timestamp>` |
//! | WA value-level error | `wa:err:<pnid>:h:<hash>` |
//! | WA user preference | `wa:pref:<pnid>:h:<hash>` |
//! | WA template status | `wa:tpl:<waba>:<message_template_id>:<event>:<entry.time>` |
//! | WA template quality / phone quality / account update | `wa:tplq` / `wa:quality` / `wa:acct` `:<waba>[:<entry.time>]:h:<hash>` |
//! | IG / Messenger message and echo (`ig` / `fb`) | `ig:msg:<acct>:<mid>` (an echo IS the message with that mid) |
//! | deletion, edit | `ig:del:<acct>:<mid>`, `ig:edit:<acct>:<mid>:<num_edit>` |
//! | reaction | `ig:react:<acct>:<sender>:<target mid>:<action>:<timestamp>` |
//! | read | `ig:read:<acct>:<sender>:<mid>` (IG) / `fb:read:<acct>:<sender>:<watermark>` (Messenger) |
//! | delivery | `fb:delivery:<acct>:<sender>:<watermark>` |
//! | postback | `ig:postback:<acct>:<mid>`, else `ig:postback:<acct>:<sender>:<timestamp>` |
//! | standalone referral | `ig:referral:<acct>:h:<hash>` |
//! | lead | `lead:<leadgen_id>` |
//! | anything unsupported | `<ns>:unsupported:<scope>[:<entry.time>]:h:<hash>`; unknown object: `meta:unsupported:h:<hash>` |
//!
//! `<hash>` is the lowercase hex SHA-256 of the item serialized as compact JSON with object keys
//! sorted (exactly `serde_json::to_string` with serde_json's default sorted map; computed by
//! [`canonical_json`] so that a `preserve_order` feature switched on elsewhere cannot change it).
//! Whenever a component of a derived key is missing, the key falls back to
//! `<same prefix>:h:<hash of the item>`. Channel-level `changes[]` values carry no timestamp of
//! their own, so `entry.time` (when present) is put into the prefix: the same event sent again
//! has the same key, the same content reported at another time does not. Keys may repeat inside
//! one body (two identical value-level errors, the same mid under `messaging` and `standby`):
//! the store's unique insert treats the second as a duplicate.
//!
//! # Instagram on `object: "page"`
//!
//! On the Facebook-Login path Instagram events may arrive with `object: "page"`. An entry of a
//! `page` body any of whose `messaging`/`standby` items carries an Instagram mid (mids starting
//! with `aWdf`, base64 of `ig_`) is treated as Instagram: `channel_kind` Instagram, `ig:` keys,
//! `igsid:` conversations. Routing is on `entry.id` either way.
//!
//! # Conversation keys
//!
//! WhatsApp: `group:<group_id>` for group messages and group statuses (the participant is kept in
//! `contact`), else `user:<BSUID>` when a business-scoped user id is known (from the message, the
//! status, or the matching `contacts[]` entry) and passes [`crate::meta::bsuid`]'s rule (the one
//! the send API checks `to` against), else `wa:<phone>`; `unknown` when the item names
//! nobody. Instagram: `igsid:<id>`, Messenger: `psid:<id>` (always the customer side, also for
//! echoes). Leads: `lead:<leadgen_id>`. Template status/quality, phone quality, account updates,
//! value-level errors and unsupported changes/entries: `channel`.
//!
//! # Order
//!
//! Events are produced in array order, then reordered only inside each conversation (same
//! `channel_kind`, `route` and `conversation_key`): that conversation's events are stably sorted
//! by `occurred_at_ms` and put back into the positions the conversation occupied, so the
//! interleaving of different conversations stays as Meta sent it. An event without a timestamp
//! sorts as if it had the timestamp of the event before it in the same conversation (array
//! order), i.e. it stays right behind the event it followed; one with no timestamped predecessor
//! stays in front.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::channels::ChannelKind;

/// The conversation key of channel-level events (template, quality and account updates,
/// value-level errors, and the bridge's own `channel.*` events): they are ordered together.
pub const CHANNEL_CONVERSATION: &str = "channel";

/// How the event finds its channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// The channel's own Meta id: WhatsApp phone_number_id, Instagram account id (entry.id),
    /// Facebook page id (entry.id).
    Channel(String),
    /// A WhatsApp Business Account id, for WABA-level fields without metadata.phone_number_id
    /// (template status, account_update, ...).
    Waba(String),
    /// Nothing usable to route on (e.g. entry without id); always recorded as unroutable.
    None,
}

/// Stable event type names (these strings leave the process).
///
/// Every `data` below is a JSON object with snake_case keys; `?` marks a key that is present only
/// when Meta sent the value. IG/Messenger events always carry `"standby": bool` (true for items of
/// `entry.standby[]`, i.e. threads owned by another app).
pub mod types {
    /// A customer's message. WhatsApp: `{"message_id", "type", "context"?, "referral"?,
    /// "errors"?, "group_id"?}` plus by type: text `"text"`; image/audio/video/document/sticker
    /// `"media": {"id","mime_type","sha256","caption"?,"filename"?,"voice"?,"animated"?,"url"?}`;
    /// location `"location": {"latitude","longitude","name"?,"address"?,"url"?}`; contacts
    /// `"contacts": [as given]`; interactive `"interactive": {"type","id","title","description"?}`
    /// (button_reply/list_reply), `{"type":"nfm_reply","name"?,"body"?,"response","response_json"}`
    /// (`response` = parsed `response_json`, null when it does not parse), other subtypes
    /// `{"type","payload"}`; button `"button": {"payload","text"}`; order `"order":
    /// {"catalog_id","text"?,"product_items"}`; request_welcome nothing more. `context` is
    /// `{"reply_to"?, "reply_to_from"?, "forwarded"?, "frequently_forwarded"?,
    /// "referred_product"?}`. IG/Messenger: `{"message_id", "type": "text"|"attachments"|"empty",
    /// "text"?, "attachments"?: [{"type","url"?,"payload"}], "reply_to"?,
    /// "quick_reply_payload"?, "referral"?, "is_echo": false, "standby"}`.
    pub const MESSAGE_RECEIVED: &str = "message.received";
    /// A message sent by the business (IG/Messenger `is_echo`, WA `smb_message_echoes`): same
    /// `data` as `message.received` with `"is_echo": true` (IG/Messenger also `"app_id"?`,
    /// `"metadata"?`). Conversation and contact are the customer's.
    pub const MESSAGE_ECHO: &str = "message.echo";
    /// WA: `{"message_id" (the reaction's own wamid), "type":"reaction", "target_message_id",
    /// "emoji"?, "removed"}` (removed when emoji is "" or missing). IG/Messenger:
    /// `{"type":"reaction", "target_message_id", "action", "reaction"?, "emoji"?, "removed"
    /// (action == "unreact"), "standby"}`.
    pub const MESSAGE_REACTION: &str = "message.reaction";
    /// WA: `{"message_id", "status", "recipient": {contact or group}, "errors"?:
    /// [{"code","title","message","details","href"?}], "biz_opaque_callback_data"?, "pricing"?,
    /// "conversation"?}`. IG read `{"status":"read","message_id"}`; Messenger read
    /// `{"status":"read","watermark"}`; Messenger delivery `{"status":"delivered","message_ids"?,
    /// "watermark"?}` (all with "standby").
    pub const MESSAGE_STATUS: &str = "message.status";
    /// IG/Messenger `message_edit`: `{"type":"message_edit","message_id","text"?,"num_edit"?}`.
    /// WA `edit`: `{"message_id","type":"edit","target_message_id"?,"message"?}`.
    pub const MESSAGE_EDITED: &str = "message.edited";
    /// IG/Messenger `is_deleted`: `{"message_id","type":"deleted","is_echo","standby"}`.
    /// WA `revoke`: `{"message_id","type":"revoke","target_message_id"?}`.
    pub const MESSAGE_DELETED: &str = "message.deleted";
    /// `{"type":"postback","message_id"?,"title"?,"payload"?,"referral"?,"standby"}`.
    pub const MESSAGE_POSTBACK: &str = "message.postback";
    /// Standalone IG/Messenger referral: `{"type":"referral","referral": as given,"standby"}`.
    pub const MESSAGE_REFERRAL: &str = "message.referral";
    /// A customer message whose content cannot be shown (WA `unsupported`/`unknown`, any WA type
    /// this module does not know, a known WA type without its payload object, IG
    /// `is_unsupported`): `{"message_id","type": the wire type,"unsupported_type"?,"payload"?,
    /// "reason"?,"errors"?}`. Surface it as an "unreadable message" placeholder.
    pub const MESSAGE_UNSUPPORTED: &str = "message.unsupported";
    /// WA `system` message: `{"message_id","type":"system","system_type","body"?,"new_wa_id"?,
    /// "new_user_id"?,"customer"?,"identity"?}`; conversation/contact are the old identity.
    pub const CONTACT_CHANGED: &str = "contact.changed";
    /// WA `user_preferences` item: `{"category"?,"value"?,"detail"?,"wa_id"?,"user_id"?}`.
    pub const CONTACT_PREFERENCES: &str = "contact.preferences";
    /// WA coexistence `history` (chat history of a number that keeps using the WhatsApp
    /// Business app, shared once at onboarding): one event per message, `data` as
    /// `message.received` plus `"direction": "inbound"|"outbound"` and `"history":
    /// {"phase"?,"chunk_order"?,"progress"?,"status"?}`. Conversation and contact are the
    /// customer's (the thread).
    pub const MESSAGE_HISTORY: &str = "message.history";
    /// WA coexistence `smb_app_state_sync` contact item (the business's app address book):
    /// `{"type":"contact","action" (add/remove as sent, null if missing),"full_name"?,
    /// "first_name"?,"phone_number"?}`. Conversation and contact are that phone's.
    pub const CONTACT_SYNCED: &str = "contact.synced";
    /// WA value-level `errors[]` item (one event per item): `{"code","title","message",
    /// "details","href"?}`. Conversation `channel`.
    pub const CHANNEL_ERROR: &str = "channel.error";
    /// `phone_number_quality_update`: the value as given (`event`, `display_phone_number`,
    /// `current_limit`?, ...), `event` always present (null if missing).
    pub const CHANNEL_QUALITY: &str = "channel.quality";
    /// `account_update`: the value as given (`event`, `waba_info`?, `ban_info`?, ...).
    pub const ACCOUNT_UPDATED: &str = "account.updated";
    /// `message_template_status_update`: `{"template_id","template_name","language","event",
    /// "reason"?,"category"?,"rejection_info"?,"other_info"?}`.
    pub const TEMPLATE_STATUS: &str = "template.status";
    /// `message_template_quality_update`: `{"template_id","template_name","language",
    /// "previous_quality_score","new_quality_score"}`.
    pub const TEMPLATE_QUALITY: &str = "template.quality";
    /// `leadgen`: `{"leadgen_id","form_id","ad_id"?,"adgroup_id"?,"page_id","created_time_ms"}`,
    /// delivered only once the lead's data was fetched from the Graph API, which adds
    /// `"field_data"` (Meta's `[{name, values}]`), `"fields"` (`{name: values}`) and, when
    /// Meta gives them, `"created_time"`, `"adset_id"`, `"campaign_id"`, `"is_organic"`,
    /// `"platform"`.
    pub const LEAD_RECEIVED: &str = "lead.received";
    /// Anything else: `{"reason" (see `reasons`), "object"?, "field"?, "kind"?, "type"?}`.
    pub const META_UNSUPPORTED: &str = "meta.unsupported";

    /// Bridge-originated: Meta accepted a send. `{"bridge_message_id","meta_message_id",
    /// "channel_id","to","type","client_reference"}`.
    pub const MESSAGE_SENT: &str = "message.sent";
    /// Bridge-originated: a send failed for good. Same as `message.sent` plus `"error":
    /// {"code" (Meta's code as text, or the bridge's: unknown_outcome, retries_exhausted,
    /// channel_disconnected), "meta_code"?, "meta_subcode"?, "reason"}`.
    pub const MESSAGE_FAILED: &str = "message.failed";
    /// Bridge-originated: a channel's sending changed (`paused`, `token_invalid`, `sending`;
    /// its connection is unchanged): `{"channel_id","status","previous_status","reason",
    /// "connection","send_state","previous_send_state","send_paused_until"?}`.
    pub const CHANNEL_UPDATED: &str = "channel.updated";
    /// Bridge-originated: a channel was disconnected (its token deleted): `{"channel_id","reason"}`.
    pub const CHANNEL_DISCONNECTED: &str = "channel.disconnected";

    /// Bridge-originated: a channel was connected through a connect session:
    /// `{"channel_id","kind","external_id","waba_id","name","status","reason","connect_session_id","reconnected"}`.
    pub const CHANNEL_CONNECTED: &str = "channel.connected";
    /// Bridge-originated: a token expires soon and cannot be refreshed automatically:
    /// `{"channel_id","expires_at","reason"}`.
    pub const CHANNEL_TOKEN_EXPIRING: &str = "channel.token_expiring";
    /// Bridge-originated: Meta had dropped the channel's webhook subscription and the bridge
    /// restored it: `{"channel_id","reason"}`.
    pub const CHANNEL_SUBSCRIPTION_RESTORED: &str = "channel.subscription_restored";

    /// The types the bridge itself originates.
    pub const BRIDGE: &[&str] = &[
        MESSAGE_SENT,
        MESSAGE_FAILED,
        CHANNEL_UPDATED,
        CHANNEL_DISCONNECTED,
        CHANNEL_CONNECTED,
        CHANNEL_TOKEN_EXPIRING,
        CHANNEL_SUBSCRIPTION_RESTORED,
    ];

    /// Every type parsed from Meta's webhooks.
    pub const ALL: &[&str] = &[
        MESSAGE_RECEIVED,
        MESSAGE_ECHO,
        MESSAGE_REACTION,
        MESSAGE_STATUS,
        MESSAGE_EDITED,
        MESSAGE_DELETED,
        MESSAGE_POSTBACK,
        MESSAGE_REFERRAL,
        MESSAGE_UNSUPPORTED,
        CONTACT_CHANGED,
        CONTACT_PREFERENCES,
        MESSAGE_HISTORY,
        CONTACT_SYNCED,
        CHANNEL_ERROR,
        CHANNEL_QUALITY,
        ACCOUNT_UPDATED,
        TEMPLATE_STATUS,
        TEMPLATE_QUALITY,
        LEAD_RECEIVED,
        META_UNSUPPORTED,
    ];
}

/// Values of `data.reason` on [`types::META_UNSUPPORTED`] (and `message.unsupported` for
/// [`reasons::MISSING_PAYLOAD`]).
pub mod reasons {
    /// `object` missing or not one of whatsapp_business_account / instagram / page.
    pub const UNKNOWN_OBJECT: &str = "unknown_object";
    /// A `changes[]` field this module does not handle.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// An `entry[]`, `changes[]`, `messages[]`, `statuses[]`, `errors[]`, `messaging[]`, ... item
    /// that is not a JSON object.
    pub const NOT_AN_OBJECT: &str = "not_an_object";
    /// A container (`changes`, `messages`, `messaging`, ...) that is not an array.
    pub const CONTAINER_NOT_ARRAY: &str = "container_not_array";
    /// An entry with no container this object uses.
    pub const EMPTY_ENTRY: &str = "empty_entry";
    /// A `changes[]` value that is not an object, or a known change with nothing in it.
    pub const EMPTY_VALUE: &str = "empty_value";
    /// A message or status without its id (`id` / `mid`), or a status without `status`.
    pub const MISSING_ID: &str = "missing_id";
    /// A lead without `leadgen_id`.
    pub const MISSING_LEADGEN_ID: &str = "missing_leadgen_id";
    /// A known WhatsApp message type whose payload object is absent or malformed.
    pub const MISSING_PAYLOAD: &str = "missing_payload";
    /// A `messaging[]` item of a kind this module does not handle (`optin`, ...).
    pub const UNKNOWN_MESSAGING_ITEM: &str = "unknown_messaging_item";
    /// Handover protocol events (`pass_thread_control`, ...).
    pub const HANDOVER: &str = "handover";
    /// The Instagram dashboard "Test" body (`changes[]` with field `messages`).
    pub const INSTAGRAM_TEST_PAYLOAD: &str = "instagram_test_payload";
}

/// One thing Meta told us about, ready for the idempotency log and the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub event_type: &'static str,
    /// From `object`: whatsapp_business_account→Whatsapp, instagram→Instagram, page→Messenger
    /// (Instagram when a `page` entry carries Instagram mids, see the module doc); None for
    /// unknown objects.
    pub channel_kind: Option<ChannelKind>,
    pub route: Route,
    /// Stable idempotency key, identical every time Meta (re)sends the same item; scoped by the
    /// channel/account id (formats in the module doc).
    pub idempotency_key: String,
    /// Identifies the conversation inside the channel for ordering (formats in the module doc).
    pub conversation_key: String,
    /// The contact, when the event concerns one. WhatsApp: `{"id": user_id else wa_id,
    /// "user_id"?, "parent_user_id"?, "wa_id"?, "phone"? (= wa_id), "name"?, "username"?,
    /// "identity_key_hash"?}`; WhatsApp groups: `{"group_id", "participant": {...}|null}`;
    /// IG/Messenger: `{"id": "<igsid|psid>"}`. None otherwise.
    pub contact: Option<Value>,
    /// Meta's own timestamp in unix milliseconds (strings or numbers; below 100_000_000_000 it is
    /// seconds and is multiplied by 1000).
    pub occurred_at_ms: Option<i64>,
    /// Normalized per type (see [`types`]).
    pub data: Value,
    /// The original Meta item (message / status / error / messaging item / change value / entry)
    /// as received.
    pub raw: Value,
}

impl ParsedEvent {
    /// `data` as the store keeps and delivers it (JSON text).
    pub fn data_json(&self) -> String {
        self.data.to_string()
    }
}

/// Why a body could not be split at all (everything else yields events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedBody {
    /// serde_json's error text (position and category only, never body content).
    NotJson(String),
    NotAnObject,
    NoEntries,
}

impl fmt::Display for MalformedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedBody::NotJson(e) => write!(f, "webhook body is not JSON: {e}"),
            MalformedBody::NotAnObject => f.write_str("webhook body is not a JSON object"),
            MalformedBody::NoEntries => f.write_str("webhook body has no `entry` array"),
        }
    }
}

impl std::error::Error for MalformedBody {}

/// Split a verified webhook body into events, ordered per conversation (see the module doc).
pub fn parse_webhook(body: &[u8]) -> Result<Vec<ParsedEvent>, MalformedBody> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| MalformedBody::NotJson(e.to_string()))?;
    let Value::Object(root) = root else {
        return Err(MalformedBody::NotAnObject);
    };
    let Some(entries) = root.get("entry").and_then(Value::as_array) else {
        return Err(MalformedBody::NoEntries);
    };
    let object = root.get("object").and_then(Value::as_str);
    let mut out = Vec::new();
    for entry in entries {
        match object {
            Some("whatsapp_business_account") => whatsapp_entry(entry, &mut out),
            Some(o @ ("instagram" | "page")) => social_entry(o, entry, &mut out),
            _ => out.push(unknown_object_event(root.get("object"), entry)),
        }
    }
    Ok(order_by_conversation(out))
}

// ---------------------------------------------------------------------------------------------
// Small readers: never panic, accept strings and numbers alike.

/// An id as Meta sent it: a non-empty string unchanged, or a number in decimal.
fn id_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(number_string(n)),
        _ => None,
    }
}

fn number_string(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        // Integral floats (e.g. 1.6e15 written with a fraction part) as plain integers.
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => (f as i64).to_string(),
        _ => n.to_string(),
    }
}

fn str_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

fn bool_of(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        _ => None,
    }
}

/// An integer from a number or a numeric string (for `code`, `num_edit`, ...); else None.
fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A number from a number or a numeric string (coordinates); other values as given.
fn number_value(v: &Value) -> Value {
    if let Value::String(s) = v
        && let Ok(f) = s.trim().parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    v.clone()
}

/// Meta timestamp → unix ms. Strings or numbers; below 100_000_000_000 means seconds.
fn ts_ms(v: Option<&Value>) -> Option<i64> {
    let n: i64 = match v? {
        Value::Number(n) => match n.as_i64() {
            Some(i) => i,
            None => n.as_f64().map(|f| f as i64)?,
        },
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => i,
                Err(_) => t
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)?,
            }
        }
        _ => return None,
    };
    if n < 0 {
        None
    } else if n < 100_000_000_000 {
        n.checked_mul(1000)
    } else {
        Some(n)
    }
}

fn put(map: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        map.insert(key.to_owned(), v);
    }
}

fn put_str(map: &mut Map<String, Value>, key: &str, v: Option<String>) {
    put(map, key, v.map(Value::String));
}

/// Copy `key` from `src` when present and not null.
fn copy(map: &mut Map<String, Value>, src: &Value, key: &str) {
    if let Some(v) = src.get(key).filter(|v| !v.is_null()) {
        map.insert(key.to_owned(), v.clone());
    }
}

fn scope_or_placeholder(s: Option<&String>) -> &str {
    s.map(String::as_str).unwrap_or("_")
}

// ---------------------------------------------------------------------------------------------
// Hash fallback keys.

/// Compact JSON with object keys sorted: byte-identical to `serde_json::to_string` with
/// serde_json's default (sorted) map, whatever map features are enabled elsewhere.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, val)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
    }
}

/// `<prefix>:h:<sha256 hex of the canonical JSON of item>`.
pub fn hash_key(prefix: &str, item: &Value) -> String {
    let digest = Sha256::digest(canonical_json(item).as_bytes());
    format!("{prefix}:h:{}", hex::encode(digest))
}

// ---------------------------------------------------------------------------------------------
// Event assembly.

/// What every event of one item shares before its type-specific part is known.
struct Draft {
    kind: Option<ChannelKind>,
    route: Route,
    conversation_key: String,
    contact: Option<Value>,
    occurred_at_ms: Option<i64>,
}

impl Draft {
    fn channel_level(kind: Option<ChannelKind>, route: Route, at: Option<i64>) -> Self {
        Draft {
            kind,
            route,
            conversation_key: CHANNEL_CONVERSATION.to_owned(),
            contact: None,
            occurred_at_ms: at,
        }
    }

    fn finish(
        self,
        event_type: &'static str,
        idempotency_key: String,
        data: Map<String, Value>,
        raw: &Value,
    ) -> ParsedEvent {
        ParsedEvent {
            event_type,
            channel_kind: self.kind,
            route: self.route,
            idempotency_key,
            conversation_key: self.conversation_key,
            contact: self.contact,
            occurred_at_ms: self.occurred_at_ms,
            data: Value::Object(data),
            raw: raw.clone(),
        }
    }

    /// A `meta.unsupported` event keyed by the hash of `item`.
    fn unsupported(
        self,
        key_prefix: &str,
        reason: &str,
        extra: Map<String, Value>,
        item: &Value,
    ) -> ParsedEvent {
        let mut data = Map::new();
        data.insert("reason".to_owned(), Value::String(reason.to_owned()));
        data.extend(extra);
        let key = hash_key(key_prefix, item);
        self.finish(types::META_UNSUPPORTED, key, data, item)
    }
}

fn extra(pairs: &[(&str, Option<&Value>)]) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert((*k).to_owned(), (*v).clone());
        }
    }
    m
}

fn unknown_object_event(object: Option<&Value>, entry: &Value) -> ParsedEvent {
    let item = json!({ "object": object.cloned().unwrap_or(Value::Null), "entry": entry });
    let draft = Draft::channel_level(None, Route::None, ts_ms(entry.get("time")));
    let mut ev = draft.unsupported(
        "meta:unsupported",
        reasons::UNKNOWN_OBJECT,
        extra(&[("object", object), ("entry_id", entry.get("id"))]),
        &item,
    );
    ev.raw = entry.clone();
    ev
}

/// Per-conversation stable timestamp order; see the module doc.
fn order_by_conversation(events: Vec<ParsedEvent>) -> Vec<ParsedEvent> {
    let mut groups: HashMap<(Option<ChannelKind>, Route, String), Vec<usize>> = HashMap::new();
    for (i, ev) in events.iter().enumerate() {
        groups
            .entry((
                ev.channel_kind,
                ev.route.clone(),
                ev.conversation_key.clone(),
            ))
            .or_default()
            .push(i);
    }
    let mut target: Vec<usize> = (0..events.len()).collect();
    for positions in groups.values() {
        if positions.len() < 2 {
            continue;
        }
        let mut last = i64::MIN;
        let mut keyed: Vec<(i64, usize)> = positions
            .iter()
            .map(|&i| {
                if let Some(t) = events[i].occurred_at_ms {
                    last = t;
                }
                (last, i)
            })
            .collect();
        keyed.sort_by_key(|&(t, _)| t); // stable: ties keep array order
        for (slot, (_, source)) in positions.iter().zip(keyed) {
            target[*slot] = source;
        }
    }
    let mut slots: Vec<Option<ParsedEvent>> = events.into_iter().map(Some).collect();
    target
        .into_iter()
        .filter_map(|source| slots.get_mut(source).and_then(Option::take))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// WhatsApp.

/// Where a WhatsApp change lives: `phone_number_id` when the value has metadata, else the WABA.
struct WaChange<'a> {
    waba: Option<String>,
    pnid: Option<String>,
    entry_time: Option<&'a Value>,
    field: Option<&'a str>,
}

impl WaChange<'_> {
    fn route(&self) -> Route {
        match (&self.pnid, &self.waba) {
            (Some(p), _) => Route::Channel(p.clone()),
            (None, Some(w)) => Route::Waba(w.clone()),
            (None, None) => Route::None,
        }
    }

    /// Scope for message-level keys: phone_number_id, else WABA id, else `_`.
    fn scope(&self) -> &str {
        scope_or_placeholder(self.pnid.as_ref().or(self.waba.as_ref()))
    }

    fn waba_scope(&self) -> &str {
        scope_or_placeholder(self.waba.as_ref())
    }

    /// `wa:<ns>:<waba>[:<entry.time>]` for channel-level changes.
    fn change_prefix(&self, ns: &str) -> String {
        match id_str(self.entry_time) {
            Some(t) => format!("wa:{ns}:{}:{t}", self.waba_scope()),
            None => format!("wa:{ns}:{}", self.waba_scope()),
        }
    }

    fn channel_draft(&self, at: Option<i64>) -> Draft {
        Draft::channel_level(Some(ChannelKind::Whatsapp), self.route(), at)
    }

    fn item_draft(
        &self,
        conversation_key: String,
        contact: Option<Value>,
        at: Option<i64>,
    ) -> Draft {
        Draft {
            kind: Some(ChannelKind::Whatsapp),
            route: self.route(),
            conversation_key,
            contact,
            occurred_at_ms: at,
        }
    }

    fn unsupported_prefix(&self) -> String {
        format!("wa:unsupported:{}", self.scope())
    }
}

fn whatsapp_entry(entry: &Value, out: &mut Vec<ParsedEvent>) {
    let waba = id_str(entry.get("id"));
    let entry_time = entry.get("time");
    let base = WaChange {
        waba,
        pnid: None,
        entry_time,
        field: None,
    };
    if !entry.is_object() {
        let ev = base.channel_draft(None).unsupported(
            "wa:unsupported:_",
            reasons::NOT_AN_OBJECT,
            Map::new(),
            entry,
        );
        out.push(ev);
        return;
    }
    let changes = match entry.get("changes") {
        Some(Value::Array(changes)) => changes,
        other => {
            let reason = if other.is_some() {
                reasons::CONTAINER_NOT_ARRAY
            } else {
                reasons::EMPTY_ENTRY
            };
            let prefix = base.change_prefix("unsupported");
            out.push(base.channel_draft(ts_ms(entry_time)).unsupported(
                &prefix,
                reason,
                Map::new(),
                entry,
            ));
            return;
        }
    };
    for change in changes {
        let value = change.get("value").unwrap_or(&Value::Null);
        let ctx = WaChange {
            waba: base.waba.clone(),
            pnid: id_str(value.get("metadata").and_then(|m| m.get("phone_number_id"))),
            entry_time,
            field: str_of(change.get("field")),
        };
        whatsapp_change(&ctx, change, value, out);
    }
}

fn whatsapp_change(ctx: &WaChange<'_>, change: &Value, value: &Value, out: &mut Vec<ParsedEvent>) {
    let entry_at = ts_ms(ctx.entry_time);
    let field_extra = || extra(&[("field", change.get("field"))]);
    if !change.is_object() {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            reasons::NOT_AN_OBJECT,
            Map::new(),
            change,
        ));
        return;
    }
    let known = matches!(
        ctx.field,
        Some(
            "messages"
                | "smb_message_echoes"
                | "history"
                | "smb_app_state_sync"
                | "user_preferences"
                | "message_template_status_update"
                | "message_template_quality_update"
                | "phone_number_quality_update"
                | "account_update"
        )
    );
    if !known {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            reasons::UNKNOWN_FIELD,
            field_extra(),
            change,
        ));
        return;
    }
    if !value.is_object() {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            reasons::EMPTY_VALUE,
            field_extra(),
            change,
        ));
        return;
    }
    let before = out.len();
    match ctx.field {
        Some("messages") => wa_messages_value(ctx, value, out),
        Some("smb_message_echoes") => {
            let contacts = contacts_of(value);
            for_each_item(ctx, value, "message_echoes", out, |item, out| {
                wa_message(ctx, item, contacts, true, out);
            });
        }
        Some("history") => {
            for_each_item(ctx, value, "history", out, |item, out| {
                wa_history_chunk(ctx, item, out);
            });
        }
        Some("smb_app_state_sync") => {
            for_each_item(ctx, value, "state_sync", out, |item, out| {
                wa_state_sync(ctx, item, out);
            });
        }
        Some("user_preferences") => {
            let contacts = contacts_of(value);
            for_each_item(ctx, value, "user_preferences", out, |item, out| {
                wa_user_preference(ctx, item, contacts, out);
            });
        }
        Some("message_template_status_update") => out.push(wa_template_status(ctx, value)),
        Some("message_template_quality_update") => {
            let mut data = Map::new();
            put_str(
                &mut data,
                "template_id",
                id_str(value.get("message_template_id")),
            );
            for (to, from) in [
                ("template_name", "message_template_name"),
                ("language", "message_template_language"),
                ("previous_quality_score", "previous_quality_score"),
                ("new_quality_score", "new_quality_score"),
            ] {
                put(&mut data, to, value.get(from).cloned());
            }
            let key = hash_key(&ctx.change_prefix("tplq"), value);
            out.push(
                ctx.channel_draft(entry_at)
                    .finish(types::TEMPLATE_QUALITY, key, data, value),
            );
        }
        Some("phone_number_quality_update") => {
            let key = hash_key(&ctx.change_prefix("quality"), value);
            out.push(ctx.channel_draft(entry_at).finish(
                types::CHANNEL_QUALITY,
                key,
                value_with_event(value),
                value,
            ));
        }
        Some("account_update") => {
            let key = hash_key(&ctx.change_prefix("acct"), value);
            out.push(ctx.channel_draft(entry_at).finish(
                types::ACCOUNT_UPDATED,
                key,
                value_with_event(value),
                value,
            ));
        }
        _ => {}
    }
    if out.len() == before {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            reasons::EMPTY_VALUE,
            field_extra(),
            change,
        ));
    }
}

fn value_with_event(value: &Value) -> Map<String, Value> {
    let mut data = value.as_object().cloned().unwrap_or_default();
    data.entry("event").or_insert(Value::Null);
    data
}

fn contacts_of(value: &Value) -> &[Value] {
    value
        .get("contacts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Run `f` on each item of `value[container]`; a non-array container is one unsupported event.
fn for_each_item(
    ctx: &WaChange<'_>,
    value: &Value,
    container: &str,
    out: &mut Vec<ParsedEvent>,
    mut f: impl FnMut(&Value, &mut Vec<ParsedEvent>),
) {
    match value.get(container) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                f(item, out);
            }
        }
        Some(other) => out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::CONTAINER_NOT_ARRAY,
            extra(&[("container", Some(&Value::String(container.to_owned())))]),
            other,
        )),
    }
}

fn wa_messages_value(ctx: &WaChange<'_>, value: &Value, out: &mut Vec<ParsedEvent>) {
    let contacts = contacts_of(value);
    for_each_item(ctx, value, "messages", out, |item, out| {
        wa_message(ctx, item, contacts, false, out);
    });
    for_each_item(ctx, value, "statuses", out, |item, out| {
        wa_status(ctx, item, contacts, out);
    });
    for_each_item(ctx, value, "errors", out, |item, out| {
        if !item.is_object() {
            out.push(ctx.channel_draft(None).unsupported(
                &ctx.unsupported_prefix(),
                reasons::NOT_AN_OBJECT,
                Map::new(),
                item,
            ));
            return;
        }
        let key = hash_key(&format!("wa:err:{}", ctx.scope()), item);
        let data = normalize_error(item);
        out.push(
            ctx.channel_draft(None)
                .finish(types::CHANNEL_ERROR, key, data, item),
        );
    });
}

/// A WhatsApp user as named by a message/status, completed from `contacts[]`.
#[derive(Default)]
struct Ident {
    wa_id: Option<String>,
    user_id: Option<String>,
    parent_user_id: Option<String>,
}

impl Ident {
    fn from(item: &Value, wa: &str, user: &str, parent: &str) -> Self {
        Ident {
            wa_id: id_str(item.get(wa)),
            user_id: id_str(item.get(user)),
            parent_user_id: id_str(item.get(parent)),
        }
    }
}

/// The `contacts[]` entry for this user: `wa_id` equal to the phone, or `user_id` equal to the
/// BSUID.
fn find_contact<'a>(contacts: &'a [Value], ident: &Ident) -> Option<&'a Value> {
    contacts.iter().find(|c| {
        (ident.wa_id.is_some() && id_str(c.get("wa_id")) == ident.wa_id)
            || (ident.user_id.is_some() && id_str(c.get("user_id")) == ident.user_id)
    })
}

/// Contact object keyed on the BSUID when known, phone beside it. None when nobody is named.
fn wa_person(ident: Ident, contacts: &[Value]) -> Option<Map<String, Value>> {
    let found = find_contact(contacts, &ident);
    let from_contact = |k: &str| found.and_then(|c| id_str(c.get(k)));
    // Only an id that passes the bridge's one BSUID rule (src/meta/bsuid.rs) is handed out as
    // a BSUID (contact id, `user:` conversation): the send API accepts exactly those back as
    // `to`. Anything else stays in `raw` only.
    let bsuid = |v: Option<String>| v.filter(|s| crate::meta::bsuid::is_bsuid(s));
    let user_id = bsuid(ident.user_id).or_else(|| bsuid(from_contact("user_id")));
    let parent_user_id =
        bsuid(ident.parent_user_id).or_else(|| bsuid(from_contact("parent_user_id")));
    let wa_id = ident.wa_id.or_else(|| from_contact("wa_id"));
    let id = user_id.clone().or_else(|| wa_id.clone())?;
    let mut m = Map::new();
    m.insert("id".to_owned(), Value::String(id));
    put_str(&mut m, "user_id", user_id);
    put_str(&mut m, "parent_user_id", parent_user_id);
    put_str(&mut m, "wa_id", wa_id.clone());
    put_str(&mut m, "phone", wa_id);
    if let Some(c) = found {
        let profile = c.get("profile");
        put(
            &mut m,
            "name",
            profile
                .and_then(|p| p.get("name"))
                .filter(|v| v.is_string())
                .cloned(),
        );
        put(
            &mut m,
            "username",
            profile
                .and_then(|p| p.get("username"))
                .filter(|v| v.is_string())
                .cloned(),
        );
        put(
            &mut m,
            "identity_key_hash",
            c.get("identity_key_hash")
                .filter(|v| v.is_string())
                .cloned(),
        );
    }
    Some(m)
}

fn person_conversation(person: Option<&Map<String, Value>>) -> String {
    let get = |k: &str| person.and_then(|p| p.get(k)).and_then(Value::as_str);
    match (get("user_id"), get("wa_id")) {
        (Some(u), _) => format!("user:{u}"),
        (None, Some(w)) => format!("wa:{w}"),
        (None, None) => "unknown".to_owned(),
    }
}

/// Conversation and contact of a WhatsApp item: the group when there is one, else the person.
fn wa_conversation(
    group_id: Option<String>,
    person: Option<Map<String, Value>>,
) -> (String, Option<Value>) {
    match group_id {
        Some(g) => {
            let contact = json!({
                "group_id": g,
                "participant": person.map(Value::Object).unwrap_or(Value::Null),
            });
            (format!("group:{g}"), Some(contact))
        }
        None => (
            person_conversation(person.as_ref()),
            person.map(Value::Object),
        ),
    }
}

fn normalize_error(e: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    let code = match int_of(e.get("code")) {
        Some(c) => Value::from(c),
        None => e.get("code").cloned().unwrap_or(Value::Null),
    };
    m.insert("code".to_owned(), code);
    for k in ["title", "message"] {
        m.insert(k.to_owned(), e.get(k).cloned().unwrap_or(Value::Null));
    }
    m.insert(
        "details".to_owned(),
        e.get("error_data")
            .and_then(|d| d.get("details"))
            .cloned()
            .unwrap_or(Value::Null),
    );
    copy(&mut m, e, "href");
    m
}

fn normalize_errors(v: Option<&Value>) -> Option<Value> {
    let items = v?.as_array()?;
    Some(Value::Array(
        items
            .iter()
            .map(|e| Value::Object(normalize_error(e)))
            .collect(),
    ))
}

fn wa_message(
    ctx: &WaChange<'_>,
    msg: &Value,
    contacts: &[Value],
    echo: bool,
    out: &mut Vec<ParsedEvent>,
) {
    if !msg.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            Map::new(),
            msg,
        ));
        return;
    }
    // The customer: the sender of an inbound message, the addressee of an echo.
    let ident = if echo {
        Ident::from(msg, "to", "to_user_id", "to_parent_user_id")
    } else {
        Ident::from(msg, "from", "from_user_id", "from_parent_user_id")
    };
    let group_id = id_str(msg.get("group_id"));
    let (conversation, contact) = wa_conversation(group_id.clone(), wa_person(ident, contacts));
    let draft = ctx.item_draft(conversation, contact, ts_ms(msg.get("timestamp")));
    let Some(id) = id_str(msg.get("id")) else {
        let ev = draft.unsupported(
            &ctx.unsupported_prefix(),
            reasons::MISSING_ID,
            extra(&[("type", msg.get("type"))]),
            msg,
        );
        out.push(ev);
        return;
    };
    let (mut event_type, mut data) = normalize_wa_message(msg, &id);
    put_str(&mut data, "group_id", group_id);
    if echo {
        event_type = types::MESSAGE_ECHO;
        data.insert("is_echo".to_owned(), Value::Bool(true));
    }
    let key = format!("wa:msg:{}:{id}", ctx.scope());
    out.push(draft.finish(event_type, key, data, msg));
}

// WhatsApp coexistence (numbers that keep using the WhatsApp Business app): `history` and
// `smb_app_state_sync`; `smb_message_echoes` is handled as `message.echo` above. Shapes from
// Meta's webhook references (read 2026-12-02):
// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/>,
// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync>,
// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes>.

/// One `history[]` chunk: `{"metadata": {"phase", "chunk_order", "progress"}, "threads":
/// [{"id": <customer phone>, "messages": [..]}]}`, or `{"errors": [..]}` when the business
/// declined to share its chat history. Each message becomes a `message.history` event, each
/// error a `channel.error`.
fn wa_history_chunk(ctx: &WaChange<'_>, chunk: &Value, out: &mut Vec<ParsedEvent>) {
    if !chunk.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            Map::new(),
            chunk,
        ));
        return;
    }
    let meta = chunk.get("metadata");
    let mut sync = Map::new();
    for k in ["phase", "chunk_order", "progress"] {
        put(
            &mut sync,
            k,
            meta.and_then(|m| m.get(k))
                .filter(|v| !v.is_null())
                .cloned(),
        );
    }
    for_each_item(ctx, chunk, "errors", out, |item, out| {
        let key = hash_key(&format!("wa:err:{}", ctx.scope()), item);
        out.push(ctx.channel_draft(None).finish(
            types::CHANNEL_ERROR,
            key,
            normalize_error(item),
            item,
        ));
    });
    for_each_item(ctx, chunk, "threads", out, |thread, out| {
        let thread_id = id_str(thread.get("id"));
        for_each_item(ctx, thread, "messages", out, |msg, out| {
            wa_history_message(ctx, thread_id.as_deref(), &sync, msg, out);
        });
    });
}

fn wa_history_message(
    ctx: &WaChange<'_>,
    thread_id: Option<&str>,
    sync: &Map<String, Value>,
    msg: &Value,
    out: &mut Vec<ParsedEvent>,
) {
    if !msg.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            Map::new(),
            msg,
        ));
        return;
    }
    // The thread is the customer's: a message from the thread's id is the customer's, anything
    // else was sent by the business (from the app or the API).
    let from = id_str(msg.get("from"));
    let inbound = match (thread_id, from.as_deref()) {
        (Some(t), Some(f)) => t == f,
        _ => true,
    };
    let mut ident = if inbound {
        Ident::from(msg, "from", "from_user_id", "from_parent_user_id")
    } else {
        Ident::from(msg, "to", "to_user_id", "to_parent_user_id")
    };
    if ident.wa_id.is_none() {
        ident.wa_id = thread_id.map(str::to_owned);
    }
    let group_id = id_str(msg.get("group_id"));
    let (conversation, contact) = wa_conversation(group_id.clone(), wa_person(ident, &[]));
    let draft = ctx.item_draft(conversation, contact, ts_ms(msg.get("timestamp")));
    let Some(id) = id_str(msg.get("id")) else {
        out.push(draft.unsupported(
            &ctx.unsupported_prefix(),
            reasons::MISSING_ID,
            extra(&[("type", msg.get("type"))]),
            msg,
        ));
        return;
    };
    let (_, mut data) = normalize_wa_message(msg, &id);
    put_str(&mut data, "group_id", group_id);
    data.insert(
        "direction".to_owned(),
        Value::String(if inbound { "inbound" } else { "outbound" }.to_owned()),
    );
    let mut history = sync.clone();
    put(
        &mut history,
        "status",
        msg.get("history_context")
            .and_then(|h| h.get("status"))
            .filter(|v| !v.is_null())
            .cloned(),
    );
    data.insert("history".to_owned(), Value::Object(history));
    // Meta sends media messages of the last 14 days again, later, with their media id: that
    // second item is a new event (the first had no id to fetch the media with).
    let media_id = str_of(msg.get("type"))
        .and_then(|t| msg.get(t))
        .and_then(|p| id_str(p.get("id")));
    let key = match media_id {
        Some(m) => format!("wa:hist:{}:{id}:media:{m}", ctx.scope()),
        None => format!("wa:hist:{}:{id}", ctx.scope()),
    };
    out.push(draft.finish(types::MESSAGE_HISTORY, key, data, msg));
}

/// One `state_sync[]` item: `{"type": "contact", "contact": {"full_name"?, "first_name"?,
/// "phone_number"}, "action": "add" | "remove", "metadata": {"timestamp"}}` — a contact of the
/// business's WhatsApp Business app address book was added, changed or removed.
fn wa_state_sync(ctx: &WaChange<'_>, item: &Value, out: &mut Vec<ParsedEvent>) {
    if !item.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            Map::new(),
            item,
        ));
        return;
    }
    let at = ts_ms(item.get("metadata").and_then(|m| m.get("timestamp")));
    if str_of(item.get("type")) != Some("contact") {
        out.push(ctx.channel_draft(at).unsupported(
            &ctx.unsupported_prefix(),
            reasons::UNKNOWN_FIELD,
            extra(&[("type", item.get("type"))]),
            item,
        ));
        return;
    }
    let card = item.get("contact");
    let phone = card.and_then(|c| id_str(c.get("phone_number")));
    let ident = Ident {
        wa_id: phone.clone(),
        ..Ident::default()
    };
    let mut person = wa_person(ident, &[]);
    if let (Some(p), Some(name)) = (
        person.as_mut(),
        card.and_then(|c| c.get("full_name"))
            .filter(|v| v.is_string()),
    ) {
        p.insert("name".to_owned(), name.clone());
    }
    let (conversation, contact) = wa_conversation(None, person);
    let mut data = Map::new();
    data.insert("type".to_owned(), Value::String("contact".to_owned()));
    data.insert(
        "action".to_owned(),
        item.get("action").cloned().unwrap_or(Value::Null),
    );
    for k in ["full_name", "first_name", "phone_number"] {
        put(
            &mut data,
            k,
            card.and_then(|c| c.get(k))
                .filter(|v| !v.is_null())
                .cloned(),
        );
    }
    let prefix = format!("wa:sync:{}", ctx.scope());
    let action = str_of(item.get("action"));
    let stamp = id_str(item.get("metadata").and_then(|m| m.get("timestamp")));
    let key = match (&phone, action, stamp) {
        (Some(p), Some(a), Some(t)) => format!("{prefix}:{p}:{a}:{t}"),
        _ => hash_key(&prefix, item),
    };
    out.push(ctx.item_draft(conversation, contact, at).finish(
        types::CONTACT_SYNCED,
        key,
        data,
        item,
    ));
}

/// Type-specific normalization of a WhatsApp message: (event type, data).
fn normalize_wa_message(msg: &Value, id: &str) -> (&'static str, Map<String, Value>) {
    let wire_type = msg.get("type");
    let type_name = str_of(wire_type).unwrap_or("");
    let payload = msg.get(type_name).filter(|_| !type_name.is_empty());
    let mut data = Map::new();
    data.insert("message_id".to_owned(), Value::String(id.to_owned()));
    data.insert("type".to_owned(), wire_type.cloned().unwrap_or(Value::Null));
    if let Some(ctx) = msg.get("context").and_then(normalize_context) {
        data.insert("context".to_owned(), ctx);
    }
    copy(&mut data, msg, "referral");
    put(&mut data, "errors", normalize_errors(msg.get("errors")));

    let object_payload = payload.filter(|p| p.is_object());
    let event_type = match (type_name, object_payload) {
        ("text", _) => {
            let body = match payload {
                Some(Value::String(s)) => Some(Value::String(s.clone())),
                Some(p) => p.get("body").filter(|b| b.is_string()).cloned(),
                None => None,
            };
            match body {
                Some(b) => {
                    data.insert("text".to_owned(), b);
                    types::MESSAGE_RECEIVED
                }
                None => missing_payload(&mut data),
            }
        }
        ("image" | "audio" | "video" | "document" | "sticker", Some(p)) => {
            let mut media = Map::new();
            for k in ["id", "mime_type", "sha256", "caption", "filename", "url"] {
                put(&mut media, k, id_str(p.get(k)).map(Value::String));
            }
            for k in ["voice", "animated"] {
                put(&mut media, k, bool_of(p.get(k)).map(Value::Bool));
            }
            data.insert("media".to_owned(), Value::Object(media));
            types::MESSAGE_RECEIVED
        }
        ("location", Some(p)) => {
            let mut loc = Map::new();
            for k in ["latitude", "longitude"] {
                put(
                    &mut loc,
                    k,
                    Some(p.get(k).map(number_value).unwrap_or(Value::Null)),
                );
            }
            for k in ["name", "address", "url"] {
                copy(&mut loc, p, k);
            }
            data.insert("location".to_owned(), Value::Object(loc));
            types::MESSAGE_RECEIVED
        }
        ("contacts", _) => match payload {
            Some(Value::Array(cards)) => {
                data.insert("contacts".to_owned(), Value::Array(cards.clone()));
                types::MESSAGE_RECEIVED
            }
            _ => missing_payload(&mut data),
        },
        ("interactive", Some(p)) => {
            data.insert("interactive".to_owned(), normalize_interactive(p));
            types::MESSAGE_RECEIVED
        }
        ("button", Some(p)) => {
            let mut b = Map::new();
            for k in ["payload", "text"] {
                b.insert(k.to_owned(), p.get(k).cloned().unwrap_or(Value::Null));
            }
            data.insert("button".to_owned(), Value::Object(b));
            types::MESSAGE_RECEIVED
        }
        ("order", Some(p)) => {
            let mut o = Map::new();
            put_str(&mut o, "catalog_id", id_str(p.get("catalog_id")));
            copy(&mut o, p, "text");
            o.insert(
                "product_items".to_owned(),
                p.get("product_items")
                    .filter(|v| v.is_array())
                    .cloned()
                    .unwrap_or_else(|| Value::Array(Vec::new())),
            );
            data.insert("order".to_owned(), Value::Object(o));
            types::MESSAGE_RECEIVED
        }
        ("request_welcome", _) => types::MESSAGE_RECEIVED,
        ("reaction", Some(p)) => {
            put_str(&mut data, "target_message_id", id_str(p.get("message_id")));
            let emoji = p
                .get("emoji")
                .and_then(Value::as_str)
                .filter(|e| !e.is_empty());
            put_str(&mut data, "emoji", emoji.map(str::to_owned));
            data.insert("removed".to_owned(), Value::Bool(emoji.is_none()));
            types::MESSAGE_REACTION
        }
        ("system", Some(p)) => {
            data.insert(
                "system_type".to_owned(),
                p.get("type").cloned().unwrap_or(Value::Null),
            );
            copy(&mut data, p, "body");
            put_str(&mut data, "new_wa_id", id_str(p.get("wa_id")));
            put_str(&mut data, "new_user_id", id_str(p.get("user_id")));
            copy(&mut data, p, "customer");
            copy(&mut data, msg, "identity");
            types::CONTACT_CHANGED
        }
        ("edit", Some(p)) => {
            put_str(
                &mut data,
                "target_message_id",
                id_str(p.get("original_message_id")),
            );
            copy(&mut data, p, "message");
            types::MESSAGE_EDITED
        }
        ("revoke", Some(p)) => {
            put_str(
                &mut data,
                "target_message_id",
                id_str(p.get("original_message_id")),
            );
            types::MESSAGE_DELETED
        }
        (
            "image" | "audio" | "video" | "document" | "sticker" | "location" | "interactive"
            | "button" | "order" | "reaction" | "system" | "edit" | "revoke",
            None,
        ) => missing_payload(&mut data),
        _ => {
            // `unsupported`, the older `unknown`, or a type this module does not know.
            put(
                &mut data,
                "unsupported_type",
                msg.get("unsupported")
                    .and_then(|u| u.get("type"))
                    .filter(|t| t.is_string())
                    .cloned(),
            );
            if !matches!(type_name, "unsupported" | "unknown") {
                put(&mut data, "payload", payload.cloned());
            }
            types::MESSAGE_UNSUPPORTED
        }
    };
    (event_type, data)
}

fn missing_payload(data: &mut Map<String, Value>) -> &'static str {
    data.insert(
        "reason".to_owned(),
        Value::String(reasons::MISSING_PAYLOAD.to_owned()),
    );
    types::MESSAGE_UNSUPPORTED
}

fn normalize_context(c: &Value) -> Option<Value> {
    let c = c.as_object()?;
    let mut m = Map::new();
    put_str(&mut m, "reply_to", id_str(c.get("id")));
    put_str(&mut m, "reply_to_from", id_str(c.get("from")));
    for k in ["forwarded", "frequently_forwarded"] {
        put(&mut m, k, bool_of(c.get(k)).map(Value::Bool));
    }
    if let Some(p) = c.get("referred_product").filter(|v| !v.is_null()) {
        m.insert("referred_product".to_owned(), p.clone());
    }
    Some(Value::Object(m))
}

fn normalize_interactive(p: &Value) -> Value {
    let sub = p.get("type").cloned().unwrap_or(Value::Null);
    let sub_name = sub.as_str().unwrap_or("");
    let inner = p.get(sub_name).filter(|_| !sub_name.is_empty());
    let mut m = Map::new();
    m.insert("type".to_owned(), sub.clone());
    match (sub_name, inner) {
        ("button_reply" | "list_reply", Some(r)) => {
            put_str(&mut m, "id", id_str(r.get("id")));
            copy(&mut m, r, "title");
            copy(&mut m, r, "description");
        }
        ("nfm_reply", Some(r)) => {
            copy(&mut m, r, "name");
            copy(&mut m, r, "body");
            let raw = r.get("response_json");
            let parsed = match raw {
                Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
                Some(v @ Value::Object(_)) => Some(v.clone()),
                _ => None,
            };
            m.insert("response".to_owned(), parsed.unwrap_or(Value::Null));
            m.insert(
                "response_json".to_owned(),
                raw.cloned().unwrap_or(Value::Null),
            );
        }
        _ => {
            put(&mut m, "payload", inner.cloned());
        }
    }
    Value::Object(m)
}

fn wa_status(ctx: &WaChange<'_>, st: &Value, contacts: &[Value], out: &mut Vec<ParsedEvent>) {
    if !st.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            Map::new(),
            st,
        ));
        return;
    }
    let is_group = str_of(st.get("recipient_type")) == Some("group");
    let (conversation, contact) = if is_group {
        let participant = Ident::from(
            st,
            "recipient_participant_id",
            "recipient_participant_user_id",
            "parent_recipient_participant_user_id",
        );
        let person = wa_person(participant, contacts);
        wa_conversation(id_str(st.get("recipient_id")), person)
    } else {
        let ident = Ident::from(
            st,
            "recipient_id",
            "recipient_user_id",
            "parent_recipient_user_id",
        );
        wa_conversation(None, wa_person(ident, contacts))
    };
    let draft = ctx.item_draft(conversation, contact.clone(), ts_ms(st.get("timestamp")));
    let id = id_str(st.get("id"));
    let status = id_str(st.get("status"));
    let (Some(id), Some(status)) = (id, status) else {
        out.push(draft.unsupported(
            &ctx.unsupported_prefix(),
            reasons::MISSING_ID,
            extra(&[("status", st.get("status"))]),
            st,
        ));
        return;
    };
    let scope = ctx.scope();
    let key = match id_str(st.get("timestamp")) {
        Some(ts) => format!("wa:status:{scope}:{id}:{status}:{ts}"),
        None => hash_key(&format!("wa:status:{scope}"), st),
    };
    let mut data = Map::new();
    data.insert("message_id".to_owned(), Value::String(id));
    data.insert("status".to_owned(), Value::String(status));
    data.insert("recipient".to_owned(), contact.unwrap_or(Value::Null));
    put(&mut data, "errors", normalize_errors(st.get("errors")));
    for k in ["biz_opaque_callback_data", "pricing", "conversation"] {
        copy(&mut data, st, k);
    }
    out.push(draft.finish(types::MESSAGE_STATUS, key, data, st));
}

fn wa_user_preference(
    ctx: &WaChange<'_>,
    item: &Value,
    contacts: &[Value],
    out: &mut Vec<ParsedEvent>,
) {
    if !item.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            Map::new(),
            item,
        ));
        return;
    }
    let ident = Ident::from(item, "wa_id", "user_id", "parent_user_id");
    let (conversation, contact) = wa_conversation(None, wa_person(ident, contacts));
    let mut data = Map::new();
    for k in ["category", "value", "detail"] {
        copy(&mut data, item, k);
    }
    put_str(&mut data, "wa_id", id_str(item.get("wa_id")));
    put_str(&mut data, "user_id", id_str(item.get("user_id")));
    let key = hash_key(&format!("wa:pref:{}", ctx.scope()), item);
    out.push(
        ctx.item_draft(conversation, contact, ts_ms(item.get("timestamp")))
            .finish(types::CONTACT_PREFERENCES, key, data, item),
    );
}

fn wa_template_status(ctx: &WaChange<'_>, value: &Value) -> ParsedEvent {
    let template_id = id_str(value.get("message_template_id"));
    let event = id_str(value.get("event"));
    let mut data = Map::new();
    data.insert(
        "template_id".to_owned(),
        template_id
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    for (to, from) in [
        ("template_name", "message_template_name"),
        ("language", "message_template_language"),
        ("event", "event"),
    ] {
        data.insert(
            to.to_owned(),
            value.get(from).cloned().unwrap_or(Value::Null),
        );
    }
    for (to, from) in [
        ("reason", "reason"),
        ("category", "message_template_category"),
        ("rejection_info", "rejection_info"),
        ("other_info", "other_info"),
    ] {
        put(
            &mut data,
            to,
            value.get(from).filter(|v| !v.is_null()).cloned(),
        );
    }
    let key = match (template_id, event, id_str(ctx.entry_time)) {
        (Some(t), Some(e), Some(time)) => format!("wa:tpl:{}:{t}:{e}:{time}", ctx.waba_scope()),
        _ => hash_key(&ctx.change_prefix("tpl"), value),
    };
    ctx.channel_draft(ts_ms(ctx.entry_time))
        .finish(types::TEMPLATE_STATUS, key, data, value)
}

// ---------------------------------------------------------------------------------------------
// Instagram, Messenger and Lead Ads.

/// One Instagram / Page entry.
struct SocialEntry<'a> {
    object: &'a str,
    kind: ChannelKind,
    /// `ig` or `fb`.
    ns: &'static str,
    account: Option<String>,
    entry_time: Option<&'a Value>,
}

impl SocialEntry<'_> {
    fn route(&self) -> Route {
        self.account
            .clone()
            .map(Route::Channel)
            .unwrap_or(Route::None)
    }

    fn scope(&self) -> &str {
        scope_or_placeholder(self.account.as_ref())
    }

    fn unsupported_prefix(&self) -> String {
        format!("{}:unsupported:{}", self.ns, self.scope())
    }

    fn change_prefix(&self, ns_kind: &str) -> String {
        match id_str(self.entry_time) {
            Some(t) => format!("{}:{ns_kind}:{}:{t}", self.ns, self.scope()),
            None => format!("{}:{ns_kind}:{}", self.ns, self.scope()),
        }
    }

    fn channel_draft(&self, at: Option<i64>) -> Draft {
        Draft::channel_level(Some(self.kind), self.route(), at)
    }
}

const MESSAGING_CONTAINERS: [(&str, bool); 2] = [("messaging", false), ("standby", true)];

/// The mid of a messaging item, wherever its kind keeps it.
fn item_mid(item: &Value) -> Option<&str> {
    ["message", "reaction", "read", "postback", "message_edit"]
        .iter()
        .find_map(|k| {
            item.get(*k)
                .and_then(|v| v.get("mid"))
                .and_then(Value::as_str)
        })
}

/// Instagram mids are base64 of `ig_...`.
fn is_instagram_mid(mid: &str) -> bool {
    mid.starts_with("aWdf")
}

fn social_entry(object: &str, entry: &Value, out: &mut Vec<ParsedEvent>) {
    let instagram = object == "instagram"
        || MESSAGING_CONTAINERS.iter().any(|(c, _)| {
            entry
                .get(*c)
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().filter_map(item_mid).any(is_instagram_mid))
        });
    let (kind, ns) = if instagram {
        (ChannelKind::Instagram, "ig")
    } else {
        (ChannelKind::Messenger, "fb")
    };
    let ctx = SocialEntry {
        object,
        kind,
        ns,
        account: id_str(entry.get("id")),
        entry_time: entry.get("time"),
    };
    if !entry.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            extra(&[("object", Some(&Value::String(object.to_owned())))]),
            entry,
        ));
        return;
    }
    let mut seen_container = false;
    for (container, standby) in MESSAGING_CONTAINERS {
        match entry.get(container) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                seen_container = true;
                for item in items {
                    messaging_item(&ctx, item, standby, out);
                }
            }
            Some(other) => {
                seen_container = true;
                out.push(ctx.channel_draft(None).unsupported(
                    &ctx.unsupported_prefix(),
                    reasons::CONTAINER_NOT_ARRAY,
                    extra(&[("container", Some(&Value::String(container.to_owned())))]),
                    other,
                ));
            }
        }
    }
    match entry.get("changes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(changes)) => {
            seen_container = true;
            for change in changes {
                social_change(&ctx, change, out);
            }
        }
        Some(other) => {
            seen_container = true;
            out.push(ctx.channel_draft(None).unsupported(
                &ctx.unsupported_prefix(),
                reasons::CONTAINER_NOT_ARRAY,
                extra(&[("container", Some(&Value::String("changes".to_owned())))]),
                other,
            ));
        }
    }
    if !seen_container {
        out.push(ctx.channel_draft(ts_ms(ctx.entry_time)).unsupported(
            &ctx.change_prefix("unsupported"),
            reasons::EMPTY_ENTRY,
            extra(&[("object", Some(&Value::String(object.to_owned())))]),
            entry,
        ));
    }
}

const HANDOVER_KINDS: [&str; 4] = [
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
];

fn messaging_item(ctx: &SocialEntry<'_>, item: &Value, standby: bool, out: &mut Vec<ParsedEvent>) {
    let standby_extra = || extra(&[("standby", Some(&Value::Bool(standby)))]);
    if !item.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            reasons::NOT_AN_OBJECT,
            standby_extra(),
            item,
        ));
        return;
    }
    let sender = id_str(item.get("sender").and_then(|s| s.get("id")));
    let recipient = id_str(item.get("recipient").and_then(|r| r.get("id")));
    let message = item.get("message");
    let is_echo = message
        .and_then(|m| bool_of(m.get("is_echo")))
        .unwrap_or(false);
    // The customer is the side that is not the account.
    let customer = match (&ctx.account, &sender, &recipient) {
        (Some(a), Some(s), _) if a == s => recipient.clone(),
        (Some(a), _, Some(r)) if a == r => sender.clone(),
        _ if is_echo => recipient.clone(),
        _ => sender.clone(),
    };
    let user_prefix = match ctx.kind {
        ChannelKind::Instagram => "igsid",
        _ => "psid",
    };
    let draft = Draft {
        kind: Some(ctx.kind),
        route: ctx.route(),
        conversation_key: customer
            .as_ref()
            .map(|c| format!("{user_prefix}:{c}"))
            .unwrap_or_else(|| "unknown".to_owned()),
        contact: customer.as_ref().map(|c| json!({ "id": c })),
        occurred_at_ms: ts_ms(item.get("timestamp")),
    };
    let ts = id_str(item.get("timestamp"));
    let acct = ctx.scope().to_owned();
    let ns = ctx.ns;
    let mut data = Map::new();

    let kind = [
        "message",
        "message_edit",
        "reaction",
        "postback",
        "read",
        "delivery",
        "referral",
    ]
    .into_iter()
    .find(|k| item.get(*k).is_some_and(|v| !v.is_null()));
    let Some(kind) = kind else {
        let other = item
            .as_object()
            .and_then(|m| {
                m.keys()
                    .find(|k| !matches!(k.as_str(), "sender" | "recipient" | "timestamp"))
            })
            .cloned();
        let reason = match other.as_deref() {
            Some(k) if HANDOVER_KINDS.contains(&k) => reasons::HANDOVER,
            _ => reasons::UNKNOWN_MESSAGING_ITEM,
        };
        let mut ex = standby_extra();
        put_str(&mut ex, "kind", other);
        out.push(draft.unsupported(&ctx.unsupported_prefix(), reason, ex, item));
        return;
    };
    let payload = item.get(kind).unwrap_or(&Value::Null);
    if !payload.is_object() {
        let mut ex = standby_extra();
        ex.insert("kind".to_owned(), Value::String(kind.to_owned()));
        out.push(draft.unsupported(
            &ctx.unsupported_prefix(),
            reasons::MISSING_PAYLOAD,
            ex,
            item,
        ));
        return;
    }
    let mid = id_str(payload.get("mid"));

    let (event_type, key) = match kind {
        "message" => {
            let Some(mid) = mid else {
                let mut ex = standby_extra();
                ex.insert("kind".to_owned(), Value::String(kind.to_owned()));
                out.push(draft.unsupported(
                    &ctx.unsupported_prefix(),
                    reasons::MISSING_ID,
                    ex,
                    item,
                ));
                return;
            };
            data.insert("message_id".to_owned(), Value::String(mid.clone()));
            let deleted = bool_of(payload.get("is_deleted")).unwrap_or(false);
            let unsupported = bool_of(payload.get("is_unsupported")).unwrap_or(false);
            let attachments = payload.get("attachments").and_then(Value::as_array);
            let text = payload.get("text").filter(|t| t.is_string());
            let type_name = if deleted {
                "deleted"
            } else if attachments.is_some_and(|a| !a.is_empty()) {
                "attachments"
            } else if text.is_some() {
                "text"
            } else if unsupported {
                "unsupported"
            } else {
                "empty"
            };
            data.insert("type".to_owned(), Value::String(type_name.to_owned()));
            put(&mut data, "text", text.cloned());
            if let Some(list) = attachments {
                let norm = list.iter().map(normalize_attachment).collect();
                data.insert("attachments".to_owned(), Value::Array(norm));
            }
            copy(&mut data, payload, "reply_to");
            put(
                &mut data,
                "quick_reply_payload",
                payload
                    .get("quick_reply")
                    .and_then(|q| q.get("payload"))
                    .cloned(),
            );
            copy(&mut data, payload, "referral");
            data.insert("is_echo".to_owned(), Value::Bool(is_echo));
            if is_echo {
                put_str(&mut data, "app_id", id_str(payload.get("app_id")));
                copy(&mut data, payload, "metadata");
            }
            if deleted {
                (types::MESSAGE_DELETED, format!("{ns}:del:{acct}:{mid}"))
            } else if is_echo {
                (types::MESSAGE_ECHO, format!("{ns}:msg:{acct}:{mid}"))
            } else if unsupported {
                (types::MESSAGE_UNSUPPORTED, format!("{ns}:msg:{acct}:{mid}"))
            } else {
                (types::MESSAGE_RECEIVED, format!("{ns}:msg:{acct}:{mid}"))
            }
        }
        "message_edit" => {
            data.insert("type".to_owned(), Value::String(kind.to_owned()));
            put_str(&mut data, "message_id", mid.clone());
            copy(&mut data, payload, "text");
            let num_edit = int_of(payload.get("num_edit"));
            put(
                &mut data,
                "num_edit",
                num_edit
                    .map(Value::from)
                    .or_else(|| payload.get("num_edit").cloned()),
            );
            let key = match (mid, id_str(payload.get("num_edit"))) {
                (Some(mid), Some(n)) => format!("{ns}:edit:{acct}:{mid}:{n}"),
                _ => hash_key(&format!("{ns}:edit:{acct}"), item),
            };
            (types::MESSAGE_EDITED, key)
        }
        "reaction" => {
            data.insert("type".to_owned(), Value::String(kind.to_owned()));
            put_str(&mut data, "target_message_id", mid.clone());
            let action = id_str(payload.get("action"));
            put_str(&mut data, "action", action.clone());
            copy(&mut data, payload, "reaction");
            copy(&mut data, payload, "emoji");
            data.insert(
                "removed".to_owned(),
                Value::Bool(action.as_deref() == Some("unreact")),
            );
            let key = match (&sender, mid, action, &ts) {
                (Some(s), Some(m), Some(a), Some(t)) => {
                    format!("{ns}:react:{acct}:{s}:{m}:{a}:{t}")
                }
                _ => hash_key(&format!("{ns}:react:{acct}"), item),
            };
            (types::MESSAGE_REACTION, key)
        }
        "postback" => {
            data.insert("type".to_owned(), Value::String(kind.to_owned()));
            put_str(&mut data, "message_id", mid.clone());
            for k in ["title", "payload", "referral"] {
                copy(&mut data, payload, k);
            }
            let key = match (mid, &sender, &ts) {
                (Some(m), _, _) => format!("{ns}:postback:{acct}:{m}"),
                (None, Some(s), Some(t)) => format!("{ns}:postback:{acct}:{s}:{t}"),
                _ => hash_key(&format!("{ns}:postback:{acct}"), item),
            };
            (types::MESSAGE_POSTBACK, key)
        }
        "read" => {
            data.insert("status".to_owned(), Value::String("read".to_owned()));
            put_str(&mut data, "message_id", mid.clone());
            copy(&mut data, payload, "watermark");
            let mark = mid.or_else(|| id_str(payload.get("watermark")));
            let key = match (&sender, mark) {
                (Some(s), Some(m)) => format!("{ns}:read:{acct}:{s}:{m}"),
                _ => hash_key(&format!("{ns}:read:{acct}"), item),
            };
            (types::MESSAGE_STATUS, key)
        }
        "delivery" => {
            data.insert("status".to_owned(), Value::String("delivered".to_owned()));
            put(
                &mut data,
                "message_ids",
                payload.get("mids").filter(|m| m.is_array()).cloned(),
            );
            copy(&mut data, payload, "watermark");
            let key = match (&sender, id_str(payload.get("watermark"))) {
                (Some(s), Some(w)) => format!("{ns}:delivery:{acct}:{s}:{w}"),
                _ => hash_key(&format!("{ns}:delivery:{acct}"), item),
            };
            (types::MESSAGE_STATUS, key)
        }
        _ => {
            // "referral"
            data.insert("type".to_owned(), Value::String("referral".to_owned()));
            data.insert("referral".to_owned(), payload.clone());
            let key = hash_key(&format!("{ns}:referral:{acct}"), item);
            (types::MESSAGE_REFERRAL, key)
        }
    };
    data.insert("standby".to_owned(), Value::Bool(standby));
    out.push(draft.finish(event_type, key, data, item));
}

fn normalize_attachment(a: &Value) -> Value {
    let payload = a.get("payload").cloned().unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert(
        "type".to_owned(),
        a.get("type").cloned().unwrap_or(Value::Null),
    );
    put(
        &mut m,
        "url",
        payload.get("url").filter(|u| u.is_string()).cloned(),
    );
    m.insert("payload".to_owned(), payload);
    Value::Object(m)
}

fn social_change(ctx: &SocialEntry<'_>, change: &Value, out: &mut Vec<ParsedEvent>) {
    let entry_at = ts_ms(ctx.entry_time);
    let field = change.get("field");
    let value = change.get("value").unwrap_or(&Value::Null);
    let object_extra = || {
        extra(&[
            ("object", Some(&Value::String(ctx.object.to_owned()))),
            ("field", field),
        ])
    };
    if !change.is_object() {
        out.push(ctx.channel_draft(entry_at).unsupported(
            &ctx.change_prefix("unsupported"),
            reasons::NOT_AN_OBJECT,
            object_extra(),
            change,
        ));
        return;
    }
    match str_of(field) {
        Some("leadgen") if ctx.object == "page" => out.push(leadgen(ctx, change, value)),
        Some("messages")
            if ctx.kind == ChannelKind::Instagram
                && (value.get("sender").is_some() || value.get("message").is_some()) =>
        {
            out.push(ctx.channel_draft(entry_at).unsupported(
                &ctx.change_prefix("unsupported"),
                reasons::INSTAGRAM_TEST_PAYLOAD,
                object_extra(),
                change,
            ));
        }
        _ => out.push(ctx.channel_draft(entry_at).unsupported(
            &ctx.change_prefix("unsupported"),
            reasons::UNKNOWN_FIELD,
            object_extra(),
            change,
        )),
    }
}

fn leadgen(ctx: &SocialEntry<'_>, change: &Value, value: &Value) -> ParsedEvent {
    let page_id = id_str(value.get("page_id")).or_else(|| ctx.account.clone());
    let route = page_id.clone().map(Route::Channel).unwrap_or(Route::None);
    let created_ms = ts_ms(value.get("created_time"));
    let Some(leadgen_id) = id_str(value.get("leadgen_id")) else {
        let draft =
            Draft::channel_level(Some(ChannelKind::Messenger), route, ts_ms(ctx.entry_time));
        return draft.unsupported(
            &ctx.change_prefix("unsupported"),
            reasons::MISSING_LEADGEN_ID,
            extra(&[("field", change.get("field"))]),
            change,
        );
    };
    let mut data = Map::new();
    data.insert("leadgen_id".to_owned(), Value::String(leadgen_id.clone()));
    data.insert(
        "form_id".to_owned(),
        id_str(value.get("form_id"))
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    put_str(&mut data, "ad_id", id_str(value.get("ad_id")));
    put_str(&mut data, "adgroup_id", id_str(value.get("adgroup_id")));
    data.insert(
        "page_id".to_owned(),
        page_id.map(Value::String).unwrap_or(Value::Null),
    );
    data.insert(
        "created_time_ms".to_owned(),
        created_ms.map(Value::from).unwrap_or(Value::Null),
    );
    let draft = Draft {
        kind: Some(ChannelKind::Messenger),
        route,
        conversation_key: format!("lead:{leadgen_id}"),
        contact: None,
        occurred_at_ms: created_ms.or_else(|| ts_ms(ctx.entry_time)),
    };
    draft.finish(
        types::LEAD_RECEIVED,
        format!("lead:{leadgen_id}"),
        data,
        value,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");
    const PN1: &str = "106000000000001";
    const PN2: &str = "106000000000002";
    const WABA: &str = "102000000000001";
    const IG: &str = "17841400000000001";
    const PAGE: &str = "105000000000001";
    const ANA: &str = "user:US.100000000000000001";
    const IGSID_CONV: &str = "igsid:6120000000000001";
    const MID1: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMQZDZD";
    const MID2: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMgZDZD";
    const MID3: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMwZDZD";

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{FIXTURES}{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    fn parse_ok(body: &[u8]) -> Vec<ParsedEvent> {
        parse_webhook(body).expect("body should parse")
    }

    fn parse_json(v: &Value) -> Vec<ParsedEvent> {
        parse_ok(&serde_json::to_vec(v).expect("serialize"))
    }

    /// The webhook fixtures (the README's API responses and browser events are not webhooks).
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

    fn ch(id: &str) -> Route {
        Route::Channel(id.to_owned())
    }

    fn waba(id: &str) -> Route {
        Route::Waba(id.to_owned())
    }

    /// One expected event. `key` ending in `:h:` means "this prefix plus a sha256 hex".
    /// `checks` are (JSON pointer into {"data","contact","raw"}, expected JSON text).
    struct Exp {
        t: &'static str,
        kind: ChannelKind,
        key: String,
        route: Route,
        conv: String,
        at: Option<i64>,
        checks: Vec<(&'static str, &'static str)>,
    }

    fn exp(
        t: &'static str,
        kind: ChannelKind,
        key: impl Into<String>,
        route: Route,
        conv: impl Into<String>,
        at: Option<i64>,
        checks: &[(&'static str, &'static str)],
    ) -> Exp {
        Exp {
            t,
            kind,
            key: key.into(),
            route,
            conv: conv.into(),
            at,
            checks: checks.to_vec(),
        }
    }

    use ChannelKind::{Instagram, Messenger, Whatsapp};

    fn wa_msg(
        t: &'static str,
        wamid: &str,
        at_s: i64,
        checks: &[(&'static str, &'static str)],
    ) -> Vec<Exp> {
        let mut all = vec![
            ("/contact/id", r#""US.100000000000000001""#),
            ("/contact/user_id", r#""US.100000000000000001""#),
            ("/contact/wa_id", r#""15550001234""#),
            ("/contact/phone", r#""15550001234""#),
            ("/contact/name", r#""Ana Pereira""#),
        ];
        all.extend_from_slice(checks);
        vec![exp(
            t,
            Whatsapp,
            format!("wa:msg:{PN1}:{wamid}"),
            ch(PN1),
            ANA,
            Some(at_s * 1000),
            &all,
        )]
    }

    fn wa_status(status: &str, at_s: i64, checks: &[(&'static str, &'static str)]) -> Vec<Exp> {
        let wamid = "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=";
        let mut all = vec![
            (
                "/data/message_id",
                r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=""#,
            ),
            ("/data/recipient/wa_id", r#""15550001234""#),
            ("/data/recipient/user_id", r#""US.100000000000000001""#),
            ("/data/biz_opaque_callback_data", r#""bridge-msg-0007f3a""#),
            ("/data/pricing/pricing_model", r#""PMP""#),
            (
                "/data/conversation/id",
                r#""c0ffee0000000000000000000000a11c""#,
            ),
            ("/contact/phone", r#""15550001234""#),
        ];
        all.extend_from_slice(checks);
        vec![exp(
            types::MESSAGE_STATUS,
            Whatsapp,
            format!("wa:status:{PN1}:{wamid}:{status}:{at_s}"),
            ch(PN1),
            ANA,
            Some(at_s * 1000),
            &all,
        )]
    }

    fn ig(
        t: &'static str,
        key: String,
        at: i64,
        checks: &[(&'static str, &'static str)],
    ) -> Vec<Exp> {
        let mut all = vec![
            ("/contact/id", r#""6120000000000001""#),
            ("/data/standby", "false"),
        ];
        all.extend_from_slice(checks);
        vec![exp(t, Instagram, key, ch(IG), IGSID_CONV, Some(at), &all)]
    }

    fn expectations(name: &str) -> Option<Vec<Exp>> {
        use types::*;
        Some(match name {
            "wa-text.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDE=",
                1763380800,
                &[
                    ("/data/type", r#""text""#),
                    (
                        "/data/text",
                        r#""Ol\u00e1! Voc\u00eas t\u00eam o t\u00eanis tamanho 42?""#,
                    ),
                    (
                        "/data/message_id",
                        r#""wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDE=""#,
                    ),
                    (
                        "/raw/text/body",
                        r#""Ol\u00e1! Voc\u00eas t\u00eam o t\u00eanis tamanho 42?""#,
                    ),
                ],
            ),
            "wa-text-reply.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDI=",
                1763380860,
                &[
                    ("/data/text", r#""Pode reservar esse, por favor""#),
                    (
                        "/data/context/reply_to",
                        r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMDE=""#,
                    ),
                    ("/data/context/reply_to_from", r#""15559990000""#),
                ],
            ),
            "wa-text-forwarded.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDM=",
                1763380870,
                &[("/data/context", r#"{"forwarded": true}"#)],
            ),
            "wa-image.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRJTUcwMDE=",
                1763380920,
                &[
                    ("/data/type", r#""image""#),
                    ("/data/media/id", r#""1480000000000001""#),
                    ("/data/media/mime_type", r#""image/jpeg""#),
                    ("/data/media/caption", r#""Foto do defeito na sola""#),
                    (
                        "/data/media/sha256",
                        r#""Jh2ij6PzUvJ2ygrrtegrZMzRxkEPwc24Oyib4s03w9Jc=""#,
                    ),
                    (
                        "/data/media/url",
                        r#""https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1480000000000001&source=webhook&ext=1763384400&hash=ARfakeHash001""#,
                    ),
                ],
            ),
            "wa-audio-voice.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRBVUQwMDE=",
                1763380930,
                &[
                    ("/data/type", r#""audio""#),
                    ("/data/media/voice", "true"),
                    ("/data/media/mime_type", r#""audio/ogg; codecs=opus""#),
                    ("/data/media/id", r#""1480000000000002""#),
                ],
            ),
            "wa-video.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRWSUQwMDE=",
                1763380940,
                &[
                    ("/data/type", r#""video""#),
                    ("/data/media/caption", r#""Video do produto chegando""#),
                    ("/data/media/id", r#""1480000000000003""#),
                ],
            ),
            "wa-document.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRET0MwMDE=",
                1763380950,
                &[
                    ("/data/type", r#""document""#),
                    ("/data/media/filename", r#""NF-2026-4411.pdf""#),
                    ("/data/media/caption", r#""Nota fiscal""#),
                    ("/data/media/mime_type", r#""application/pdf""#),
                ],
            ),
            "wa-sticker.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRTVEswMDE=",
                1763380960,
                &[
                    ("/data/type", r#""sticker""#),
                    ("/data/media/animated", "false"),
                    ("/data/media/mime_type", r#""image/webp""#),
                ],
            ),
            "wa-location.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRMT0MwMDE=",
                1763380970,
                &[
                    ("/data/type", r#""location""#),
                    ("/data/location/latitude", "-23.561414"),
                    ("/data/location/longitude", "-46.655881"),
                    ("/data/location/name", r#""Loja Paulista""#),
                    (
                        "/data/location/address",
                        r#""Av. Paulista, 1000 - S\u00e3o Paulo""#,
                    ),
                    (
                        "/data/location/url",
                        r#""https://maps.google.com/?cid=1000000000000000001""#,
                    ),
                ],
            ),
            "wa-contacts.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRWQ0YwMDE=",
                1763380980,
                &[
                    ("/data/type", r#""contacts""#),
                    ("/data/contacts/0/name/formatted_name", r#""Bruno Lima""#),
                    ("/data/contacts/0/phones/0/wa_id", r#""15550005678""#),
                    ("/data/contacts/0/org/company", r#""Lima Transportes""#),
                ],
            ),
            "wa-interactive-button-reply.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRCVE4wMDE=",
                1763380990,
                &[
                    ("/data/type", r#""interactive""#),
                    (
                        "/data/interactive",
                        r#"{"type":"button_reply","id":"confirm_yes","title":"Sim, confirmar"}"#,
                    ),
                    (
                        "/data/context/reply_to",
                        r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMDI=""#,
                    ),
                ],
            ),
            "wa-interactive-list-reply.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRMU1QwMDE=",
                1763381000,
                &[(
                    "/data/interactive",
                    r#"{"type":"list_reply","id":"slot_2026-11-18T14:00","title":"Ter 14:00","description":"Loja Paulista"}"#,
                )],
            ),
            "wa-interactive-nfm-reply.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRORk0wMDE=",
                1763381010,
                &[
                    ("/data/interactive/type", r#""nfm_reply""#),
                    ("/data/interactive/name", r#""flow""#),
                    ("/data/interactive/body", r#""Sent""#),
                    (
                        "/data/interactive/response",
                        r#"{"flow_token":"ft-ticket-4411","rating":"4","comment":"Entrega r\u00e1pida"}"#,
                    ),
                ],
            ),
            "wa-button-template-reply.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRRUkIwMDE=",
                1763381020,
                &[
                    ("/data/type", r#""button""#),
                    (
                        "/data/button",
                        r#"{"payload":"TRACK_4411","text":"Rastrear pedido"}"#,
                    ),
                    (
                        "/data/context/reply_to",
                        r#""wamid.HBgLMTU1NTAwMDEyMzRUUEwwMDE=""#,
                    ),
                ],
            ),
            "wa-reaction.json" => wa_msg(
                MESSAGE_REACTION,
                "wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=",
                1763381030,
                &[
                    (
                        "/data/message_id",
                        r#""wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=""#,
                    ),
                    (
                        "/data/target_message_id",
                        r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMDE=""#,
                    ),
                    ("/data/emoji", r#""\ud83d\udc4d""#),
                    ("/data/removed", "false"),
                    ("/data/type", r#""reaction""#),
                ],
            ),
            "wa-order.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRPUkQwMDE=",
                1763381040,
                &[
                    ("/data/type", r#""order""#),
                    ("/data/order/catalog_id", r#""900000000000001""#),
                    ("/data/order/text", r#""Entregar depois das 18h""#),
                    (
                        "/data/order/product_items/0/product_retailer_id",
                        r#""SKU-TENIS-42""#,
                    ),
                    ("/data/order/product_items/1/quantity", "2"),
                    ("/data/order/product_items/0/item_price", "349.9"),
                ],
            ),
            "wa-system-number-change.json" => wa_msg(
                CONTACT_CHANGED,
                "wamid.HBgLMTU1NTAwMDEyMzRTWVMwMDE=",
                1763381050,
                &[
                    ("/data/type", r#""system""#),
                    ("/data/system_type", r#""user_changed_number""#),
                    ("/data/new_wa_id", r#""15550004321""#),
                    ("/data/new_user_id", r#""US.100000000000000001""#),
                ],
            ),
            "wa-referral-ctwa.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRSRUYwMDE=",
                1763381060,
                &[
                    ("/data/type", r#""text""#),
                    ("/data/referral/source_type", r#""ad""#),
                    ("/data/referral/source_id", r#""120210000000000001""#),
                    (
                        "/data/referral/ctwa_clid",
                        r#""AffK3nQ9tR2w-Lx8pZc4Vb7Ym1Nd6Hs0Jq5Ue3Tg8Wk2Rf9Oa4Ci7Xe1Mh6Pl0Gz5Bv3Sy8Dn2Kq_uW""#,
                    ),
                ],
            ),
            "wa-unsupported.json" => wa_msg(
                MESSAGE_UNSUPPORTED,
                "wamid.HBgLMTU1NTAwMDEyMzRVTlMwMDE=",
                1763381070,
                &[
                    ("/data/type", r#""unsupported""#),
                    ("/data/unsupported_type", r#""poll""#),
                    ("/data/errors/0/code", "131051"),
                    ("/data/errors/0/title", r#""Message type unknown""#),
                    (
                        "/data/errors/0/details",
                        r#""This message type is not supported yet.""#,
                    ),
                ],
            ),
            "wa-request-welcome.json" => wa_msg(
                MESSAGE_RECEIVED,
                "wamid.HBgLMTU1NTAwMDEyMzRXRUwwMDE=",
                1763381080,
                &[("/data/type", r#""request_welcome""#)],
            ),
            "wa-status-sent.json" => wa_status(
                "sent",
                1763381400,
                &[
                    ("/data/status", r#""sent""#),
                    ("/data/conversation/expiration_timestamp", r#""1763467800""#),
                ],
            ),
            "wa-status-delivered.json" => wa_status(
                "delivered",
                1763381402,
                &[("/data/status", r#""delivered""#)],
            ),
            "wa-status-read.json" => {
                wa_status("read", 1763381440, &[("/data/status", r#""read""#)])
            }
            "wa-status-failed.json" => vec![exp(
                MESSAGE_STATUS,
                Whatsapp,
                format!("wa:status:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTE=:failed:1763381500"),
                ch(PN1),
                "wa:15550005678",
                Some(1763381500000),
                &[
                    ("/data/status", r#""failed""#),
                    (
                        "/data/recipient",
                        r#"{"id":"15550005678","wa_id":"15550005678","phone":"15550005678"}"#,
                    ),
                    ("/data/errors/0/code", "131047"),
                    ("/data/errors/0/title", r#""Re-engagement message""#),
                    ("/data/biz_opaque_callback_data", r#""bridge-msg-0007f3b""#),
                    ("/contact/id", r#""15550005678""#),
                ],
            )],
            "wa-errors-value-level.json" => vec![exp(
                CHANNEL_ERROR,
                Whatsapp,
                format!("wa:err:{PN1}:h:"),
                ch(PN1),
                "channel",
                None,
                &[
                    ("/data/code", "130429"),
                    ("/data/title", r#""Rate limit hit""#),
                    ("/data/message", r#""Rate limit hit""#),
                    ("/contact", "null"),
                ],
            )],
            "wa-batched-2-entries.json" => batched_expectations(),
            "wa-template-status-update.json" => vec![exp(
                TEMPLATE_STATUS,
                Whatsapp,
                format!("wa:tpl:{WABA}:1689556908129835:REJECTED:1763381800"),
                waba(WABA),
                "channel",
                Some(1763381800000),
                &[
                    ("/data/template_id", r#""1689556908129835""#),
                    ("/data/template_name", r#""promo_black_friday""#),
                    ("/data/language", r#""pt_BR""#),
                    ("/data/event", r#""REJECTED""#),
                    ("/data/reason", r#""INVALID_FORMAT""#),
                    ("/data/category", r#""MARKETING""#),
                    (
                        "/data/rejection_info/recommendation",
                        r#""Separate variables with descriptive text.""#,
                    ),
                ],
            )],
            "wa-phone-number-quality-update.json" => vec![exp(
                CHANNEL_QUALITY,
                Whatsapp,
                format!("wa:quality:{WABA}:1763381900:h:"),
                waba(WABA),
                "channel",
                Some(1763381900000),
                &[
                    ("/data/event", r#""THROUGHPUT_UPGRADE""#),
                    ("/data/current_limit", r#""TIER_UNLIMITED""#),
                    ("/data/display_phone_number", r#""15559990000""#),
                ],
            )],
            "wa-account-update.json" => vec![exp(
                ACCOUNT_UPDATED,
                Whatsapp,
                format!("wa:acct:{WABA}:1763382000:h:"),
                waba(WABA),
                "channel",
                Some(1763382000000),
                &[
                    ("/data/event", r#""PARTNER_APP_UNINSTALLED""#),
                    ("/data/waba_info/partner_app_id", r#""5731000000000001""#),
                ],
            )],
            // Coexistence webhooks (Meta's webhook references, read 2026-12-02).
            "wa-smb-message-echoes.json" => vec![exp(
                MESSAGE_ECHO,
                Whatsapp,
                format!("wa:msg:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRFQ0gwMDE="),
                ch(PN1),
                "wa:15550001234",
                Some(1763381000000),
                &[
                    ("/data/is_echo", "true"),
                    ("/data/type", r#""text""#),
                    ("/data/text", r#""Temos sim, no 42 e no 43.""#),
                    ("/contact/id", r#""15550001234""#),
                    ("/contact/phone", r#""15550001234""#),
                ],
            )],
            "wa-history.json" => vec![
                exp(
                    MESSAGE_HISTORY,
                    Whatsapp,
                    format!("wa:hist:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRISVMwMDE="),
                    ch(PN1),
                    "wa:15550001234",
                    Some(1762000000000),
                    &[
                        ("/data/direction", r#""inbound""#),
                        ("/data/text", r#""Vocês abrem sábado?""#),
                        (
                            "/data/history",
                            r#"{"phase": 1, "chunk_order": 1, "progress": 40, "status": "READ"}"#,
                        ),
                        ("/contact/id", r#""15550001234""#),
                    ],
                ),
                exp(
                    MESSAGE_HISTORY,
                    Whatsapp,
                    format!("wa:hist:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRISVMwMDI="),
                    ch(PN1),
                    "wa:15550001234",
                    Some(1762000300000),
                    &[
                        ("/data/direction", r#""outbound""#),
                        ("/data/history/status", r#""DELIVERED""#),
                        ("/contact/wa_id", r#""15550001234""#),
                    ],
                ),
            ],
            "wa-history-declined.json" => vec![exp(
                CHANNEL_ERROR,
                Whatsapp,
                format!("wa:err:{PN1}:h:"),
                ch(PN1),
                CHANNEL_CONVERSATION,
                None,
                &[
                    ("/data/code", "2593109"),
                    ("/data/title", r#""History sharing is turned off by user""#),
                ],
            )],
            "wa-smb-app-state-sync.json" => vec![
                exp(
                    CONTACT_SYNCED,
                    Whatsapp,
                    format!("wa:sync:{PN1}:15550001234:add:1763380700"),
                    ch(PN1),
                    "wa:15550001234",
                    Some(1763380700000),
                    &[
                        ("/data/action", r#""add""#),
                        ("/data/full_name", r#""Ana Pereira""#),
                        ("/data/first_name", r#""Ana""#),
                        ("/contact/name", r#""Ana Pereira""#),
                        ("/contact/id", r#""15550001234""#),
                    ],
                ),
                exp(
                    CONTACT_SYNCED,
                    Whatsapp,
                    format!("wa:sync:{PN1}:15550005678:remove:1763380760"),
                    ch(PN1),
                    "wa:15550005678",
                    Some(1763380760000),
                    &[
                        ("/data/action", r#""remove""#),
                        ("/data/phone_number", r#""15550005678""#),
                    ],
                ),
            ],
            "wa-user-preferences.json" => vec![exp(
                CONTACT_PREFERENCES,
                Whatsapp,
                format!("wa:pref:{PN1}:h:"),
                ch(PN1),
                "wa:15550005678",
                Some(1763382100000),
                &[
                    ("/data/category", r#""marketing_messages""#),
                    ("/data/value", r#""stop""#),
                    ("/data/wa_id", r#""15550005678""#),
                    ("/contact/id", r#""15550005678""#),
                ],
            )],
            "ig-text.json" => ig(
                MESSAGE_RECEIVED,
                format!("ig:msg:{IG}:{MID1}"),
                1763380801000,
                &[
                    ("/data/type", r#""text""#),
                    ("/data/text", r#""Oi! Esse vestido ainda tem no M?""#),
                    ("/data/is_echo", "false"),
                ],
            ),
            "ig-attachment-image.json" => ig(
                MESSAGE_RECEIVED,
                format!("ig:msg:{IG}:{MID2}"),
                1763380802000,
                &[
                    ("/data/type", r#""attachments""#),
                    ("/data/attachments/0/type", r#""image""#),
                    (
                        "/data/attachments/0/url",
                        r#""https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18000000000000001&signature=AbFakeSignature001""#,
                    ),
                    (
                        "/data/attachments/0/payload/url",
                        r#""https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18000000000000001&signature=AbFakeSignature001""#,
                    ),
                ],
            ),
            "ig-echo.json" => ig(
                MESSAGE_ECHO,
                format!("ig:msg:{IG}:{MID3}"),
                1763380803000,
                &[
                    ("/data/is_echo", "true"),
                    ("/data/text", r#""Tem sim! Quer que eu separe?""#),
                    ("/data/type", r#""text""#),
                    ("/contact", r#"{"id":"6120000000000001"}"#),
                ],
            ),
            "ig-reaction.json" => ig(
                MESSAGE_REACTION,
                format!("ig:react:{IG}:6120000000000001:{MID3}:react:1763380804000"),
                1763380804000,
                &[
                    ("/data/action", r#""react""#),
                    ("/data/reaction", r#""love""#),
                    ("/data/emoji", r#""\u2764\ufe0f""#),
                    ("/data/removed", "false"),
                ],
            ),
            "ig-postback.json" => ig(
                MESSAGE_POSTBACK,
                format!("ig:postback:{IG}:aWdfZAG1faXRlbToxOkpostbackMid0001"),
                1763380805000,
                &[
                    ("/data/title", r#""Falar com atendente""#),
                    ("/data/payload", r#""HANDOFF_HUMAN""#),
                    (
                        "/data/message_id",
                        r#""aWdfZAG1faXRlbToxOkpostbackMid0001""#,
                    ),
                ],
            ),
            "ig-read.json" => ig(
                MESSAGE_STATUS,
                format!("ig:read:{IG}:6120000000000001:{MID3}"),
                1763380806000,
                &[("/data/status", r#""read""#)],
            ),
            "ig-deleted.json" => ig(
                MESSAGE_DELETED,
                format!("ig:del:{IG}:{MID1}"),
                1763380807000,
                &[("/data/type", r#""deleted""#)],
            ),
            "ig-story-reply.json" => ig(
                MESSAGE_RECEIVED,
                format!("ig:msg:{IG}:aWdfZAG1faXRlbToxOkStoryReplyMid0001"),
                1763380808000,
                &[
                    ("/data/text", r#""Que lindo! Quanto custa?""#),
                    ("/data/reply_to/story/id", r#""18100000000000001""#),
                ],
            ),
            "messenger-text.json" => vec![exp(
                MESSAGE_RECEIVED,
                Messenger,
                format!("fb:msg:{PAGE}:m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
                ch(PAGE),
                "psid:7010000000000001",
                Some(1763380808900),
                &[
                    ("/data/type", r#""text""#),
                    ("/data/text", r#""Oi, voc\u00eas abrem s\u00e1bado?""#),
                    ("/contact", r#"{"id":"7010000000000001"}"#),
                ],
            )],
            "messenger-delivery-read.json" => vec![
                exp(
                    MESSAGE_STATUS,
                    Messenger,
                    format!("fb:delivery:{PAGE}:7010000000000001:1763380809300"),
                    ch(PAGE),
                    "psid:7010000000000001",
                    Some(1763380809400),
                    &[
                        ("/data/status", r#""delivered""#),
                        (
                            "/data/message_ids",
                            r#"["m_BbCdEfGhIjKlMnOpQrStUvWxYz0123456789"]"#,
                        ),
                        ("/data/watermark", "1763380809300"),
                    ],
                ),
                exp(
                    MESSAGE_STATUS,
                    Messenger,
                    format!("fb:read:{PAGE}:7010000000000001:1763380809300"),
                    ch(PAGE),
                    "psid:7010000000000001",
                    Some(1763380809450),
                    &[
                        ("/data/status", r#""read""#),
                        ("/data/watermark", "1763380809300"),
                    ],
                ),
            ],
            "leadgen.json" => vec![exp(
                LEAD_RECEIVED,
                Messenger,
                "lead:1234567890123456",
                ch(PAGE),
                "lead:1234567890123456",
                Some(1763382795000),
                &[(
                    "/data",
                    r#"{"leadgen_id":"1234567890123456","form_id":"990000000000001","ad_id":"120210000000000101","adgroup_id":"120210000000000101","page_id":"105000000000001","created_time_ms":1763382795000}"#,
                )],
            )],
            _ => return None,
        })
    }

    fn batched_expectations() -> Vec<Exp> {
        use types::*;
        let m = |wamid: &str, pn: &str, conv: &str, at: i64, text: &'static str| {
            exp(
                MESSAGE_RECEIVED,
                Whatsapp,
                format!("wa:msg:{pn}:{wamid}"),
                ch(pn),
                conv,
                Some(at * 1000),
                &[("/data/text", text)],
            )
        };
        let s = |wamid: &str, pn: &str, conv: &str, status: &str, at: i64| {
            exp(
                MESSAGE_STATUS,
                Whatsapp,
                format!("wa:status:{pn}:{wamid}:{status}:{at}"),
                ch(pn),
                conv,
                Some(at * 1000),
                &[],
            )
        };
        let carla = "user:US.100000000000000003";
        vec![
            m(
                "wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDE=",
                PN1,
                ANA,
                1763381700,
                r#""primeira mensagem""#,
            ),
            m(
                "wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDI=",
                PN1,
                "user:US.100000000000000002",
                1763381701,
                r#""Bom dia!""#,
            ),
            exp(
                MESSAGE_RECEIVED,
                Whatsapp,
                format!("wa:msg:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDM="),
                ch(PN1),
                ANA,
                Some(1763381702000),
                &[
                    ("/data/type", r#""image""#),
                    ("/data/media/id", r#""1480000000000010""#),
                ],
            ),
            s(
                "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMjA=",
                PN1,
                carla,
                "delivered",
                1763381703,
            ),
            s(
                "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMjE=",
                PN1,
                ANA,
                "read",
                1763381704,
            ),
            m(
                "wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDQ=",
                PN2,
                carla,
                1763381705,
                r#""Mensagem para o segundo n\u00famero""#,
            ),
            s(
                "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMzA=",
                PN2,
                "wa:15550009876",
                "sent",
                1763381706,
            ),
        ]
    }

    fn check_event(file: &str, i: usize, ev: &ParsedEvent, e: &Exp) {
        let ctx = format!("{file} event {i}");
        assert_eq!(ev.event_type, e.t, "{ctx}: type");
        assert_eq!(ev.channel_kind, Some(e.kind), "{ctx}: kind");
        if let Some(prefix) = e.key.strip_suffix(":h:") {
            let rest = ev
                .idempotency_key
                .strip_prefix(&format!("{prefix}:h:"))
                .unwrap_or_else(|| panic!("{ctx}: key {} lacks {prefix}:h:", ev.idempotency_key));
            assert!(
                rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()),
                "{ctx}: hash part {rest}"
            );
        } else {
            assert_eq!(ev.idempotency_key, e.key, "{ctx}: key");
        }
        assert_eq!(ev.route, e.route, "{ctx}: route");
        assert_eq!(ev.conversation_key, e.conv, "{ctx}: conversation");
        assert_eq!(ev.occurred_at_ms, e.at, "{ctx}: occurred_at_ms");
        let whole = json!({ "data": ev.data, "contact": ev.contact, "raw": ev.raw });
        for (pointer, expected) in &e.checks {
            let expected: Value = serde_json::from_str(expected)
                .unwrap_or_else(|err| panic!("{ctx}: bad expectation {expected}: {err}"));
            assert_eq!(
                whole.pointer(pointer),
                Some(&expected),
                "{ctx}: {pointer} in {whole:#}"
            );
        }
    }

    fn webhook_fixture_names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
            .expect("fixtures dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_webhook_fixture(n))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_webhook_fixture_matches_its_table_row() {
        let names = webhook_fixture_names();
        assert_eq!(names.len(), 45, "webhook fixtures found: {names:?}");
        for name in &names {
            let expected =
                expectations(name).unwrap_or_else(|| panic!("no expectations for {name}"));
            let events = parse_ok(&fixture(name));
            let got: Vec<_> = events
                .iter()
                .map(|e| (e.event_type, &e.idempotency_key))
                .collect();
            assert_eq!(events.len(), expected.len(), "{name}: count, got {got:?}");
            for (i, (ev, e)) in events.iter().zip(&expected).enumerate() {
                check_event(name, i, ev, e);
            }
        }
    }

    #[test]
    fn every_event_type_is_listed_and_distinct() {
        let mut all = types::ALL.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), types::ALL.len());
        for kind in [Whatsapp, Instagram, Messenger] {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChannelKind::parse("WhatsApp"), None);
    }

    #[test]
    fn raw_is_the_original_item() {
        let events = parse_ok(&fixture("wa-text.json"));
        let body: Value = serde_json::from_slice(&fixture("wa-text.json")).expect("json");
        assert_eq!(
            events[0].raw,
            body["entry"][0]["changes"][0]["value"]["messages"][0]
        );
        let events = parse_ok(&fixture("ig-echo.json"));
        let body: Value = serde_json::from_slice(&fixture("ig-echo.json")).expect("json");
        assert_eq!(events[0].raw, body["entry"][0]["messaging"][0]);
    }

    #[test]
    fn batched_fixture_keeps_per_conversation_timestamp_order() {
        let events = parse_ok(&fixture("wa-batched-2-entries.json"));
        assert_eq!(events.len(), 7);
        let mut last: HashMap<(Route, String), i64> = HashMap::new();
        for ev in &events {
            let t = ev.occurred_at_ms.expect("timestamp");
            let prev = last.insert((ev.route.clone(), ev.conversation_key.clone()), t);
            assert!(prev.is_none_or(|p| p <= t), "out of order: {ev:?}");
        }
    }

    fn wa_body(value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": value}]}]
        })
    }

    fn text_msg(id: &str, from: &str, ts: Value) -> Value {
        json!({"from": from, "id": id, "timestamp": ts, "type": "text", "text": {"body": id}})
    }

    #[test]
    fn out_of_order_messages_of_one_conversation_come_back_sorted() {
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "messages": [
                text_msg("c", "111", json!("1763380300")),
                text_msg("x", "222", json!("1763380050")),
                text_msg("a", "111", json!("1763380100")),
                {"from": "111", "id": "n", "type": "text", "text": {"body": "no time"}},
                text_msg("b", "111", json!(1763380200)),
                text_msg("y", "222", json!("1763380010")),
            ]
        }));
        let events = parse_json(&body);
        let order: Vec<(&str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e.conversation_key.as_str(),
                    e.data["message_id"].as_str().unwrap_or("?"),
                )
            })
            .collect();
        // Conversation wa:111 occupies slots 0, 2, 3, 4 and wa:222 slots 1, 5. "n" has no
        // timestamp and stays behind "a", which it followed in the array.
        assert_eq!(
            order,
            vec![
                ("wa:111", "a"),
                ("wa:222", "y"),
                ("wa:111", "n"),
                ("wa:111", "b"),
                ("wa:111", "c"),
                ("wa:222", "x"),
            ]
        );
    }

    #[test]
    fn group_message_goes_to_the_group_conversation() {
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15550001234", "user_id": "US.1"}],
            "messages": [{
                "from": "15550001234", "from_user_id": "US.1", "group_id": "120363000000000001",
                "id": "wamid.G1", "timestamp": "1763380800", "type": "text", "text": {"body": "oi grupo"}
            }]
        }));
        let events = parse_json(&body);
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!(ev.event_type, types::MESSAGE_RECEIVED);
        assert_eq!(ev.conversation_key, "group:120363000000000001");
        assert_eq!(ev.idempotency_key, format!("wa:msg:{PN1}:wamid.G1"));
        assert_eq!(
            ev.contact,
            Some(json!({
                "group_id": "120363000000000001",
                "participant": {"id": "US.1", "user_id": "US.1", "wa_id": "15550001234",
                                "phone": "15550001234", "name": "Ana"}
            }))
        );
        assert_eq!(ev.data["group_id"], json!("120363000000000001"));
    }

    #[test]
    fn bsuid_only_message_without_phone() {
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "contacts": [{"profile": {"name": "Ana", "username": "ana.p"},
                          "user_id": "BR.13491208655302741918",
                          "parent_user_id": "BR.ENT.11815799212886844830"}],
            "messages": [{
                "from_user_id": "BR.13491208655302741918",
                "id": "wamid.U1", "timestamp": "1763380800", "type": "text", "text": {"body": "oi"}
            }]
        }));
        let events = parse_json(&body);
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!(ev.conversation_key, "user:BR.13491208655302741918");
        assert_eq!(
            ev.contact,
            Some(json!({
                "id": "BR.13491208655302741918",
                "user_id": "BR.13491208655302741918",
                "parent_user_id": "BR.ENT.11815799212886844830",
                "name": "Ana",
                "username": "ana.p"
            }))
        );
        // Phone-only (older payload): keyed on the phone.
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "contacts": [{"profile": {"name": "Bia"}, "wa_id": "5511988887777"}],
            "messages": [text_msg("wamid.P1", "5511988887777", json!("1763380800"))]
        }));
        let ev = &parse_json(&body)[0];
        assert_eq!(ev.conversation_key, "wa:5511988887777");
        assert_eq!(
            ev.contact.as_ref().and_then(|c| c.get("id")),
            Some(&json!("5511988887777"))
        );
    }

    /// The parser hands out as a BSUID exactly what the send API takes back as `to`
    /// (src/meta/bsuid.rs): alphanumeric ids are BSUIDs; a `user_id` breaking the rule is not
    /// used as the contact id or conversation (it stays in `raw`), the phone is.
    #[test]
    fn bsuid_rule_shared_with_sender() {
        use crate::channels::ChannelKind as SendKind;
        use crate::messages::model::{SendMessageRequest, render};
        let alnum = "US.13491208655302741918aBc";
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "contacts": [{"profile": {"name": "Ana"}, "user_id": alnum}],
            "messages": [{"from_user_id": alnum, "id": "wamid.U2", "timestamp": "1763380800",
                          "type": "text", "text": {"body": "oi"}}]
        }));
        let ev = &parse_json(&body)[0];
        assert_eq!(ev.conversation_key, format!("user:{alnum}"));
        let id = ev
            .contact
            .as_ref()
            .and_then(|c| c["id"].as_str())
            .unwrap_or_default();
        assert_eq!(id, alnum);
        // The DSK answers to the contact id it was given: the sender accepts it as a BSUID.
        let req: SendMessageRequest = poem_openapi::types::ParseFromJSON::parse_from_json(Some(
            json!({"channel_id": "ch_1", "to": id, "message": {"type": "text", "body": "oi"}}),
        ))
        .expect("request");
        let r = render(SendKind::Whatsapp, &req, "msg_1").expect("renders");
        assert_eq!(r.body["recipient"], json!(alnum));

        for bad in ["US.1-2", "not a bsuid", "us.123"] {
            let body = wa_body(json!({
                "metadata": {"phone_number_id": PN1},
                "contacts": [{"profile": {"name": "Bia"}, "wa_id": "5511988887777",
                              "user_id": bad}],
                "messages": [{"from": "5511988887777", "from_user_id": bad, "id": "wamid.U3",
                              "timestamp": "1763380800", "type": "text", "text": {"body": "oi"}}]
            }));
            let ev = &parse_json(&body)[0];
            assert_eq!(ev.conversation_key, "wa:5511988887777", "{bad}");
            let contact = ev.contact.as_ref().expect("contact");
            assert_eq!(contact["id"], json!("5511988887777"));
            assert!(contact.get("user_id").is_none(), "{bad}");
            assert_eq!(ev.raw["from_user_id"], json!(bad));
        }
    }

    #[test]
    fn status_for_bsuid_and_group_recipients() {
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "statuses": [
                {"id": "wamid.O1", "status": "delivered", "timestamp": "1763380900",
                 "recipient_user_id": "US.13491208655302741918",
                 "parent_recipient_user_id": "US.ENT.1"},
                {"id": "wamid.O2", "status": "read", "timestamp": 1763380901,
                 "recipient_type": "group", "recipient_id": "120363000000000001",
                 "recipient_participant_id": "15550001234"},
                {"id": "wamid.O3", "status": "played", "timestamp": "1763380902",
                 "recipient_id": "15550001234"}
            ]
        }));
        let events = parse_json(&body);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].conversation_key, "user:US.13491208655302741918");
        assert_eq!(
            events[0].idempotency_key,
            format!("wa:status:{PN1}:wamid.O1:delivered:1763380900")
        );
        assert_eq!(
            events[0].data["recipient"],
            json!({"id": "US.13491208655302741918", "user_id": "US.13491208655302741918",
                   "parent_user_id": "US.ENT.1"})
        );
        assert_eq!(events[1].conversation_key, "group:120363000000000001");
        assert_eq!(events[1].occurred_at_ms, Some(1763380901000));
        assert_eq!(
            events[1].contact,
            Some(json!({"group_id": "120363000000000001",
                        "participant": {"id": "15550001234", "wa_id": "15550001234", "phone": "15550001234"}}))
        );
        assert_eq!(events[2].conversation_key, "wa:15550001234");
        assert_eq!(events[2].data["status"], json!("played"));
    }

    #[test]
    fn instagram_on_object_page_routes_and_keys_as_instagram() {
        let mut body: Value = serde_json::from_slice(&fixture("ig-text.json")).expect("json");
        body["object"] = json!("page");
        let events = parse_json(&body);
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!(ev.channel_kind, Some(Instagram));
        assert_eq!(ev.route, ch(IG));
        assert_eq!(ev.idempotency_key, format!("ig:msg:{IG}:{MID1}"));
        assert_eq!(ev.conversation_key, IGSID_CONV);
        // Same key as the `instagram` path: one message, deduplicated whichever way it came.
        assert_eq!(
            ev.idempotency_key,
            parse_ok(&fixture("ig-text.json"))[0].idempotency_key
        );
    }

    #[test]
    fn unknown_field_and_unknown_object_become_meta_unsupported() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "time": 1763380000, "changes": [
                {"field": "flows", "value": {"event": "FLOW_STATUS_CHANGE", "flow_id": "1"}},
                {"field": "messages", "value": {"metadata": {"phone_number_id": PN1},
                    "messages": [text_msg("wamid.K", "111", json!("1763380001"))]}}
            ]}]
        });
        let events = parse_json(&body);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, types::META_UNSUPPORTED);
        assert_eq!(events[0].data["reason"], json!(reasons::UNKNOWN_FIELD));
        assert_eq!(events[0].data["field"], json!("flows"));
        assert_eq!(events[0].route, waba(WABA));
        assert_eq!(events[0].conversation_key, "channel");
        assert!(
            events[0]
                .idempotency_key
                .starts_with(&format!("wa:unsupported:{WABA}:1763380000:h:"))
        );
        assert_eq!(events[1].event_type, types::MESSAGE_RECEIVED);

        let body = json!({"object": "user", "entry": [{"id": "1", "time": 1, "changes": []}, 7]});
        let events = parse_json(&body);
        assert_eq!(events.len(), 2);
        for ev in &events {
            assert_eq!(ev.event_type, types::META_UNSUPPORTED);
            assert_eq!(ev.channel_kind, None);
            assert_eq!(ev.route, Route::None);
            assert_eq!(ev.data["reason"], json!(reasons::UNKNOWN_OBJECT));
            assert!(ev.idempotency_key.starts_with("meta:unsupported:h:"));
        }
        assert_ne!(events[0].idempotency_key, events[1].idempotency_key);
        // No `object` at all.
        let events = parse_json(&json!({"entry": [{"id": "1"}]}));
        assert_eq!(events[0].data["reason"], json!(reasons::UNKNOWN_OBJECT));
    }

    #[test]
    fn unknown_wa_message_type_is_message_unsupported() {
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "messages": [
                {"from": "111", "id": "wamid.PV", "timestamp": "1763380800", "type": "poll_vote",
                 "poll_vote": {"option": 2}},
                {"from": "111", "id": "wamid.UK", "timestamp": "1763380801", "type": "unknown",
                 "errors": [{"code": "131051", "title": "Message type unknown"}]},
                {"from": "111", "id": "wamid.NT", "timestamp": "1763380802"}
            ]
        }));
        let events = parse_json(&body);
        assert_eq!(events.len(), 3);
        assert!(
            events
                .iter()
                .all(|e| e.event_type == types::MESSAGE_UNSUPPORTED)
        );
        assert_eq!(
            events[0].data,
            json!({"message_id": "wamid.PV", "type": "poll_vote", "payload": {"option": 2}})
        );
        assert_eq!(events[0].idempotency_key, format!("wa:msg:{PN1}:wamid.PV"));
        assert_eq!(events[1].data["errors"][0]["code"], json!(131051));
        assert_eq!(events[2].data["type"], Value::Null);
    }

    #[test]
    fn item_that_is_not_an_object_does_not_hide_its_neighbours() {
        let body = wa_body(json!({
            "metadata": {"phone_number_id": PN1},
            "messages": [42, text_msg("wamid.OK", "111", json!("1763380800")), null],
            "statuses": ["x"],
            "errors": [[]]
        }));
        let events = parse_json(&body);
        let got: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(
            got,
            vec![
                types::META_UNSUPPORTED,
                types::MESSAGE_RECEIVED,
                types::META_UNSUPPORTED,
                types::META_UNSUPPORTED,
                types::META_UNSUPPORTED
            ]
        );
        for ev in events
            .iter()
            .filter(|e| e.event_type == types::META_UNSUPPORTED)
        {
            assert_eq!(ev.data["reason"], json!(reasons::NOT_AN_OBJECT));
            assert!(
                ev.idempotency_key
                    .starts_with(&format!("wa:unsupported:{PN1}:h:"))
            );
        }
        let body = json!({"object": "instagram", "entry": [{"id": IG, "messaging": [
            "oops",
            {"sender": {"id": "1"}, "recipient": {"id": IG}, "timestamp": 1763380801000_i64,
             "message": {"mid": "aWdfM1", "text": "ok"}},
            {"sender": {"id": "1"}, "recipient": {"id": IG}, "timestamp": 1763380802000_i64,
             "message": {"text": "no mid"}}
        ]}]});
        let events = parse_json(&body);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event_type, types::META_UNSUPPORTED);
        assert_eq!(events[1].event_type, types::MESSAGE_RECEIVED);
        assert_eq!(events[2].event_type, types::META_UNSUPPORTED);
        assert_eq!(events[2].data["reason"], json!(reasons::MISSING_ID));
        assert_eq!(events[2].conversation_key, "igsid:1");
    }

    #[test]
    fn reparsing_gives_the_same_keys_even_with_other_key_order() {
        for name in webhook_fixture_names() {
            let body = fixture(&name);
            let first = parse_ok(&body);
            assert_eq!(first, parse_ok(&body), "{name}");
            // Same content, other key order and whitespace.
            let v: Value = serde_json::from_slice(&body).expect("json");
            let again = parse_ok(serde_json::to_string_pretty(&v).expect("ser").as_bytes());
            let keys = |evs: &[ParsedEvent]| {
                evs.iter()
                    .map(|e| e.idempotency_key.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(&first), keys(&again), "{name}");
        }
    }

    #[test]
    fn canonical_json_matches_serde_json_default_output() {
        for name in webhook_fixture_names() {
            let v: Value = serde_json::from_slice(&fixture(&name)).expect("json");
            assert_eq!(canonical_json(&v), serde_json::to_string(&v).expect("ser"));
        }
        let v = json!({"b": [1.5, -2, 1e300, "\u{1f44d}\"\\/\n"], "a": {"z": null, "y": true}});
        assert_eq!(canonical_json(&v), serde_json::to_string(&v).expect("ser"));
    }

    /// Found by the `webhook_parse` fuzz target: serde_json's default float parsing is
    /// best-effort, so `7e81` was read as 6.999999999999999e81, which canonical_json wrote
    /// and which read back as 6.999999999999998e81. The canonical form was not a fixed point,
    /// the same number written two ways hashed to two keys, and the relayed `raw` carried a
    /// number Meta never sent. Cargo.toml enables serde_json's `float_roundtrip`.
    #[test]
    fn floats_are_read_exactly_so_hash_keys_do_not_depend_on_formatting() {
        for text in [
            "7e81",
            "4.313525284013258e-96",
            "70e80",
            "0.7e82",
            "1.7976931348623157e308",
        ] {
            let v: Value = serde_json::from_str(text).expect("number");
            let c = canonical_json(&v);
            let back: Value = serde_json::from_str(&c).expect("canonical is JSON");
            assert_eq!(canonical_json(&back), c, "{text}");
        }
        let key = |n: &str| {
            let body = format!(r#"{{"object":"x","entry":[{{"id":"1","n":{n}}}]}}"#);
            parse_ok(body.as_bytes())[0].idempotency_key.clone()
        };
        assert_eq!(key("7e81"), key("7.0e81"));
        assert_eq!(key("7e81"), key("70e80"));
        let v: Value = serde_json::from_str("7e81").expect("number");
        assert_eq!(v.as_f64(), Some(7e81));
    }

    #[test]
    fn wa_reaction_removal_edit_revoke_and_echoes() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [
                {"field": "messages", "value": {"metadata": {"phone_number_id": PN1}, "messages": [
                    {"from": "111", "id": "wamid.R1", "timestamp": "1763380800", "type": "reaction",
                     "reaction": {"message_id": "wamid.OUT1", "emoji": ""}},
                    {"from": "111", "id": "wamid.R2", "timestamp": "1763380801", "type": "reaction",
                     "reaction": {"message_id": "wamid.OUT1"}},
                    {"from": "111", "id": "wamid.E1", "timestamp": "1763380802", "type": "edit",
                     "edit": {"original_message_id": "wamid.IN1", "message": {"type": "text", "text": {"body": "novo"}}}},
                    {"from": "111", "id": "wamid.D1", "timestamp": "1763380803", "type": "revoke",
                     "revoke": {"original_message_id": "wamid.IN1"}},
                    {"from": "111", "id": "wamid.I1", "timestamp": "1763380804", "type": "interactive"}
                ]}},
                {"field": "smb_message_echoes", "value": {"metadata": {"phone_number_id": PN1},
                    "message_echoes": [{"from": "15559990000", "to": "111", "id": "wamid.SMB1",
                        "timestamp": "1763380805", "type": "text", "text": {"body": "do app"}}]}}
            ]}]
        });
        let events = parse_json(&body);
        let types_got: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(
            types_got,
            vec![
                types::MESSAGE_REACTION,
                types::MESSAGE_REACTION,
                types::MESSAGE_EDITED,
                types::MESSAGE_DELETED,
                types::MESSAGE_UNSUPPORTED,
                types::MESSAGE_ECHO
            ]
        );
        assert_eq!(events[0].data["removed"], json!(true));
        assert_eq!(events[0].data.get("emoji"), None);
        assert_eq!(events[1].data["removed"], json!(true));
        assert_eq!(events[2].data["target_message_id"], json!("wamid.IN1"));
        assert_eq!(events[3].data["target_message_id"], json!("wamid.IN1"));
        assert_eq!(events[4].data["reason"], json!(reasons::MISSING_PAYLOAD));
        assert_eq!(events[4].data["type"], json!("interactive"));
        assert_eq!(events[5].conversation_key, "wa:111");
        assert_eq!(events[5].data["is_echo"], json!(true));
        assert_eq!(events[5].data["text"], json!("do app"));
        assert_eq!(
            events[5].idempotency_key,
            format!("wa:msg:{PN1}:wamid.SMB1")
        );
    }

    fn ig_item(extra: Value) -> Value {
        let mut item = json!({"sender": {"id": "6120000000000001"}, "recipient": {"id": IG},
                              "timestamp": 1763380801000_i64});
        if let (Some(m), Some(e)) = (item.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        item
    }

    #[test]
    fn ig_and_messenger_items_of_every_kind() {
        let body = json!({"object": "instagram", "entry": [{"id": IG, "time": 1763380801500_i64,
            "messaging": [
                ig_item(json!({"reaction": {"mid": "aWdfT", "action": "unreact"}})),
                ig_item(json!({"message_edit": {"mid": "aWdfE", "text": "editado", "num_edit": "2"}})),
                ig_item(json!({"referral": {"ref": "promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}})),
                ig_item(json!({"message": {"mid": "aWdfU", "is_unsupported": true}})),
                ig_item(json!({"message": {"mid": "aWdfQ", "text": "Sim", "quick_reply": {"payload": "YES"}}})),
                ig_item(json!({"optin": {"ref": "x"}})),
                ig_item(json!({"postback": {"title": "Menu", "payload": "MENU"}}))
            ],
            "standby": [ig_item(json!({"message": {"mid": "aWdfS", "text": "em standby"}}))]
        }]});
        let events = parse_json(&body);
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.event_type, e.idempotency_key.as_str()))
            .collect();
        assert_eq!(events.len(), 8, "{got:?}");
        assert_eq!(events[0].event_type, types::MESSAGE_REACTION);
        assert_eq!(events[0].data["removed"], json!(true));
        assert_eq!(
            events[0].idempotency_key,
            format!("ig:react:{IG}:6120000000000001:aWdfT:unreact:1763380801000")
        );
        assert_eq!(events[1].event_type, types::MESSAGE_EDITED);
        assert_eq!(events[1].data["num_edit"], json!(2));
        assert_eq!(events[1].idempotency_key, format!("ig:edit:{IG}:aWdfE:2"));
        assert_eq!(events[2].event_type, types::MESSAGE_REFERRAL);
        assert!(
            events[2]
                .idempotency_key
                .starts_with(&format!("ig:referral:{IG}:h:"))
        );
        assert_eq!(events[2].data["referral"]["ref"], json!("promo"));
        assert_eq!(events[3].event_type, types::MESSAGE_UNSUPPORTED);
        assert_eq!(events[3].idempotency_key, format!("ig:msg:{IG}:aWdfU"));
        assert_eq!(events[4].data["quick_reply_payload"], json!("YES"));
        assert_eq!(events[5].event_type, types::META_UNSUPPORTED);
        assert_eq!(events[5].data["kind"], json!("optin"));
        assert_eq!(events[5].conversation_key, IGSID_CONV);
        assert_eq!(events[6].event_type, types::MESSAGE_POSTBACK);
        assert_eq!(
            events[6].idempotency_key,
            format!("ig:postback:{IG}:6120000000000001:1763380801000")
        );
        assert_eq!(events[7].data["standby"], json!(true));
        assert_eq!(events[7].idempotency_key, format!("ig:msg:{IG}:aWdfS"));
        assert!(
            events[..7]
                .iter()
                .all(|e| e.data["standby"] == json!(false)
                    || e.event_type == types::META_UNSUPPORTED)
        );

        // Messenger echo of a page message: the customer is the recipient.
        let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
            {"sender": {"id": PAGE}, "recipient": {"id": "7010000000000001"}, "timestamp": "1763380805000",
             "message": {"mid": "m_E1", "text": "ok", "is_echo": true, "app_id": 5731000000000001_i64, "metadata": "bridge-1"}},
            {"sender": {"id": "7010000000000001"}, "recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
             "pass_thread_control": {"new_owner_app_id": "1"}}
        ]}]});
        let events = parse_json(&body);
        assert_eq!(events[0].event_type, types::MESSAGE_ECHO);
        assert_eq!(events[0].channel_kind, Some(Messenger));
        assert_eq!(events[0].conversation_key, "psid:7010000000000001");
        assert_eq!(events[0].idempotency_key, format!("fb:msg:{PAGE}:m_E1"));
        assert_eq!(events[0].occurred_at_ms, Some(1763380805000));
        assert_eq!(events[0].data["app_id"], json!("5731000000000001"));
        assert_eq!(events[0].data["metadata"], json!("bridge-1"));
        assert_eq!(events[1].data["reason"], json!(reasons::HANDOVER));
    }

    #[test]
    fn instagram_dashboard_test_shape_is_meta_unsupported() {
        let body = json!({"object": "instagram", "entry": [{"id": "0", "time": 1763380801_i64,
            "changes": [{"field": "messages", "value": {
                "sender": {"id": "12334"}, "recipient": {"id": "23245"}, "timestamp": "1527459824",
                "message": {"mid": "random_mid", "text": "random_text"}}}]}]});
        let events = parse_json(&body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, types::META_UNSUPPORTED);
        assert_eq!(
            events[0].data["reason"],
            json!(reasons::INSTAGRAM_TEST_PAYLOAD)
        );
        assert_eq!(events[0].route, ch("0"));
    }

    #[test]
    fn leadgen_without_page_id_routes_on_entry_and_without_id_is_unsupported() {
        let body = json!({"object": "page", "entry": [{"id": PAGE, "time": 1763382800, "changes": [
            {"field": "leadgen", "value": {"leadgen_id": 1234, "form_id": "9", "created_time": "1763382795"}},
            {"field": "leadgen", "value": {"form_id": "9"}},
            {"field": "feed", "value": {"item": "status"}}
        ]}]});
        let events = parse_json(&body);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event_type, types::LEAD_RECEIVED);
        assert_eq!(events[0].route, ch(PAGE));
        assert_eq!(events[0].idempotency_key, "lead:1234");
        assert_eq!(events[0].data["created_time_ms"], json!(1763382795000_i64));
        assert_eq!(events[0].data.get("ad_id"), None);
        assert_eq!(events[1].data["reason"], json!(reasons::MISSING_LEADGEN_ID));
        assert_eq!(events[2].data["reason"], json!(reasons::UNKNOWN_FIELD));
    }

    #[test]
    fn nfm_reply_that_does_not_parse_keeps_the_string() {
        let body = wa_body(json!({"metadata": {"phone_number_id": PN1}, "messages": [
            {"from": "111", "id": "wamid.F", "timestamp": "1", "type": "interactive",
             "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{not json"}}}]}));
        let ev = &parse_json(&body)[0];
        assert_eq!(ev.data["interactive"]["response"], Value::Null);
        assert_eq!(ev.data["interactive"]["response_json"], json!("{not json"));
    }

    #[test]
    fn timestamps_from_strings_and_numbers() {
        assert_eq!(ts_ms(Some(&json!("1763380800"))), Some(1763380800000));
        assert_eq!(ts_ms(Some(&json!(1763380800))), Some(1763380800000));
        assert_eq!(ts_ms(Some(&json!(1763380800123_i64))), Some(1763380800123));
        assert_eq!(ts_ms(Some(&json!("1763380800123"))), Some(1763380800123));
        assert_eq!(
            ts_ms(Some(&json!(99_999_999_999_i64))),
            Some(99_999_999_999_000)
        );
        assert_eq!(
            ts_ms(Some(&json!(100_000_000_000_i64))),
            Some(100_000_000_000)
        );
        assert_eq!(ts_ms(Some(&json!("1763380800.5"))), Some(1763380800000));
        assert_eq!(ts_ms(Some(&json!(-5))), None);
        assert_eq!(ts_ms(Some(&json!("soon"))), None);
        assert_eq!(ts_ms(Some(&json!("NaN"))), None);
        assert_eq!(ts_ms(Some(&json!(1e300))), Some(i64::MAX));
        assert_eq!(ts_ms(Some(&json!(u64::MAX))), Some(i64::MAX));
        assert_eq!(ts_ms(Some(&json!(null))), None);
        assert_eq!(ts_ms(None), None);
        assert_eq!(
            id_str(Some(&json!(1689556908129835_i64))).as_deref(),
            Some("1689556908129835")
        );
        assert_eq!(
            id_str(Some(&json!(1.0e15))).as_deref(),
            Some("1000000000000000")
        );
        assert_eq!(id_str(Some(&json!(""))), None);
        assert_eq!(id_str(Some(&json!(" US.1 "))).as_deref(), Some(" US.1 "));
    }

    #[test]
    fn malformed_bodies_are_errors_and_empty_entries_are_not() {
        assert!(matches!(
            parse_webhook(b"not json"),
            Err(MalformedBody::NotJson(_))
        ));
        assert!(matches!(parse_webhook(b""), Err(MalformedBody::NotJson(_))));
        assert!(matches!(
            parse_webhook(b"\xff\xfe"),
            Err(MalformedBody::NotJson(_))
        ));
        assert_eq!(parse_webhook(b"[]"), Err(MalformedBody::NotAnObject));
        assert_eq!(parse_webhook(b"\"x\""), Err(MalformedBody::NotAnObject));
        assert_eq!(parse_webhook(b"{}"), Err(MalformedBody::NoEntries));
        assert_eq!(
            parse_webhook(br#"{"object":"page","entry":{}}"#),
            Err(MalformedBody::NoEntries)
        );
        assert_eq!(
            parse_webhook(br#"{"object":"page","entry":[]}"#),
            Ok(vec![])
        );
        let secret = br#"{"object":"page","entry":[{"text":"s3cr3t-body-content"#;
        let Err(MalformedBody::NotJson(msg)) = parse_webhook(secret) else {
            panic!("expected NotJson");
        };
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(MalformedBody::NoEntries.to_string().contains("entry"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse_webhook(deep.as_bytes()),
            Err(MalformedBody::NotJson(_))
        ));
        let deep = format!(r#"{{"object":"page","entry":[{}"#, "{\"a\":".repeat(10_000));
        assert!(matches!(
            parse_webhook(deep.as_bytes()),
            Err(MalformedBody::NotJson(_))
        ));
        // Nesting below the limit inside an item is kept as raw data.
        let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":"1","messaging":[{{"sender":{{"id":"2"}},"x":{nested}}}]}}]}}"#
        );
        let events = parse_ok(body.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, types::META_UNSUPPORTED);
    }

    /// Every JSON pointer in `v` (root excluded), escaped per RFC 6901.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    pointers(child, p, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    pointers(child, p, out);
                }
            }
            _ => {}
        }
    }

    fn assert_sane(body: &[u8]) {
        if let Ok(events) = parse_webhook(body) {
            for ev in events {
                assert!(types::ALL.contains(&ev.event_type));
                assert!(!ev.idempotency_key.is_empty());
                assert!(!ev.conversation_key.is_empty());
                assert!(ev.data.is_object());
            }
        }
    }

    #[test]
    fn mutilated_fixtures_never_panic() {
        let nested = {
            let mut v = json!(1);
            for _ in 0..60 {
                v = json!([v]);
            }
            v
        };
        let replacements = [
            Value::Null,
            json!(0),
            json!(-1),
            json!(1.5),
            json!(1e300),
            json!(u64::MAX),
            json!(""),
            json!("x"),
            json!("aWdf"),
            json!(true),
            json!([]),
            json!({}),
            json!([null, 1, "a"]),
            json!({"id": {}, "mid": [], "type": 5}),
            nested,
        ];
        let mut bodies = 0usize;
        for name in webhook_fixture_names() {
            let bytes = fixture(&name);
            // Truncations.
            for cut in (0..bytes.len()).step_by(7) {
                assert_sane(&bytes[..cut]);
                bodies += 1;
            }
            let root: Value = serde_json::from_slice(&bytes).expect("json");
            let mut ptrs = Vec::new();
            pointers(&root, String::new(), &mut ptrs);
            for p in &ptrs {
                // Replace the node.
                for r in &replacements {
                    let mut v = root.clone();
                    if let Some(slot) = v.pointer_mut(p) {
                        *slot = r.clone();
                    }
                    assert_sane(&serde_json::to_vec(&v).expect("ser"));
                    bodies += 1;
                }
                // Remove it.
                let (parent, last) = p.rsplit_once('/').expect("pointer has a slash");
                let mut v = root.clone();
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
                assert_sane(&serde_json::to_vec(&v).expect("ser"));
                bodies += 1;
            }
            // Byte flips from a fixed-seed generator.
            let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64;
            for _ in 0..200 {
                let mut b = bytes.clone();
                for _ in 0..3 {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let pos = (seed >> 33) as usize % b.len();
                    b[pos] = (seed >> 13) as u8;
                }
                assert_sane(&b);
                bodies += 1;
            }
        }
        assert!(bodies > 10_000, "only {bodies} bodies tried");
    }
}
