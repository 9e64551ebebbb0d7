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
//!   id, handover `app_roles` items, the Instagram dashboard test shape, ...) becomes a
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
//! | WA template quality / category / phone quality / account update | `wa:tplq` / `wa:tplc` / `wa:quality` / `wa:acct` `:<waba>[:<entry.time>]:h:<hash>` |
//! | IG / Messenger message and echo (`ig` / `fb`) | `ig:msg:<acct>:<mid>` (an echo IS the message with that mid) |
//! | deletion, edit | `ig:del:<acct>:<mid>`, `ig:edit:<acct>:<mid>:<num_edit>` |
//! | reaction | `ig:react:<acct>:<sender>:<target mid>:<action>:<timestamp>` |
//! | read | `ig:read:<acct>:<sender>:<mid>` (IG) / `fb:read:<acct>:<sender>:<watermark>` (Messenger) |
//! | delivery | `fb:delivery:<acct>:<sender>:<watermark>` |
//! | postback | `ig:postback:<acct>:<mid>`, else `ig:postback:<acct>:<sender>:<timestamp>` |
//! | standalone referral | `ig:referral:<acct>:h:<hash>` |
//! | handover (`thread.control`) | `ig:handover:<acct>:<customer>:<pass\|take\|request>:<timestamp>:<app id>` (the new owner's, else the requesting or previous app's, else `_`) |
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
use std::fmt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::crypto::canonical::canonical_json;

use crate::channels::ChannelKind;
use crate::events::data::*;

mod social;
mod wa_message;
mod whatsapp;

use social::social_entry;
use whatsapp::whatsapp_entry;

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

/// Stable event type names (these strings leave the process). Each type's `data` is its struct
/// in [`crate::events::data`] (one declaration builds the JSON and documents it), named in
/// [`crate::events::data::EventData`].
pub mod types {
    /// A customer's message (`MessageReceivedData`).
    pub const MESSAGE_RECEIVED: &str = "message.received";
    /// A message sent by the business (IG/Messenger `is_echo`, WA `smb_message_echoes`;
    /// `MessageEchoData`). Conversation and contact are the customer's.
    pub const MESSAGE_ECHO: &str = "message.echo";
    /// A reaction added or removed (`MessageReactionData`).
    pub const MESSAGE_REACTION: &str = "message.reaction";
    /// A delivery status: WA statuses, IG read, Messenger read / delivery
    /// (`MessageStatusData`).
    pub const MESSAGE_STATUS: &str = "message.status";
    /// IG/Messenger `message_edit`, WA `edit` (`MessageEditedData`).
    pub const MESSAGE_EDITED: &str = "message.edited";
    /// IG/Messenger `is_deleted`, WA `revoke` (`MessageDeletedData`).
    pub const MESSAGE_DELETED: &str = "message.deleted";
    /// An IG/Messenger postback (`MessagePostbackData`).
    pub const MESSAGE_POSTBACK: &str = "message.postback";
    /// A standalone IG/Messenger referral (`MessageReferralData`).
    pub const MESSAGE_REFERRAL: &str = "message.referral";
    /// A customer message whose content cannot be shown (WA `unsupported`/`unknown`, any WA type
    /// this module does not know, a known WA type without its payload object, IG
    /// `is_unsupported`; `MessageUnsupportedData`). Surface it as an "unreadable message"
    /// placeholder.
    pub const MESSAGE_UNSUPPORTED: &str = "message.unsupported";
    /// A WA `system` message (`ContactChangedData`); conversation/contact are the old identity.
    pub const CONTACT_CHANGED: &str = "contact.changed";
    /// A WA `user_preferences` item (`ContactPreferencesData`).
    pub const CONTACT_PREFERENCES: &str = "contact.preferences";
    /// WA coexistence `history` (chat history of a number that keeps using the WhatsApp
    /// Business app, shared once at onboarding): one event per message
    /// (`MessageHistoryData`). Conversation and contact are the customer's (the thread).
    pub const MESSAGE_HISTORY: &str = "message.history";
    /// WA coexistence `smb_app_state_sync` contact item (the business's app address book;
    /// `ContactSyncedData`). Conversation and contact are that phone's.
    pub const CONTACT_SYNCED: &str = "contact.synced";
    /// A WA value-level `errors[]` item, one event per item (`ChannelErrorData`).
    /// Conversation `channel`.
    pub const CHANNEL_ERROR: &str = "channel.error";
    /// `phone_number_quality_update`, the value as given (`ChannelQualityData`).
    pub const CHANNEL_QUALITY: &str = "channel.quality";
    /// `account_update`, the value as given (`AccountUpdatedData`).
    pub const ACCOUNT_UPDATED: &str = "account.updated";
    /// `message_template_status_update` (`TemplateStatusData`).
    pub const TEMPLATE_STATUS: &str = "template.status";
    /// `message_template_quality_update` (`TemplateQualityData`).
    pub const TEMPLATE_QUALITY: &str = "template.quality";
    /// `template_category_update` (`TemplateCategoryData`).
    pub const TEMPLATE_CATEGORY: &str = "template.category";
    /// `leadgen`: parsed as `LeadWebhookData`, delivered only once the lead was fetched from the
    /// Graph API (`LeadReceivedData`).
    pub const LEAD_RECEIVED: &str = "lead.received";
    /// Control of an Instagram / Messenger conversation moved between Meta apps, or another
    /// app asked for it (`ThreadControlData`).
    pub const THREAD_CONTROL: &str = "thread.control";
    /// Anything else (`MetaUnsupportedData`; `reason` from [`super::reasons`]).
    pub const META_UNSUPPORTED: &str = "meta.unsupported";

    /// Bridge-originated: Meta accepted a send (`MessageSentData`).
    pub const MESSAGE_SENT: &str = "message.sent";
    /// Bridge-originated: a send failed for good (`MessageFailedData`).
    pub const MESSAGE_FAILED: &str = "message.failed";
    /// Bridge-originated: a channel's sending changed (`paused`, `token_invalid`, `sending`;
    /// its connection is unchanged; `ChannelUpdatedData`).
    pub const CHANNEL_UPDATED: &str = "channel.updated";
    /// Bridge-originated: a channel was disconnected, its token deleted
    /// (`ChannelDisconnectedData`).
    pub const CHANNEL_DISCONNECTED: &str = "channel.disconnected";
    /// Bridge-originated: a channel was connected through a connect session
    /// (`ChannelConnectedData`).
    pub const CHANNEL_CONNECTED: &str = "channel.connected";
    /// Bridge-originated: a token expires soon and cannot be refreshed automatically
    /// (`ChannelTokenExpiringData`).
    pub const CHANNEL_TOKEN_EXPIRING: &str = "channel.token_expiring";
    /// Bridge-originated: Meta had dropped the channel's webhook subscription and the bridge
    /// restored it (`ChannelSubscriptionRestoredData`).
    pub const CHANNEL_SUBSCRIPTION_RESTORED: &str = "channel.subscription_restored";
    /// Bridge-originated: a Page's leads of a window were read from Meta and the missing ones
    /// relayed (`ChannelBackfillData`).
    pub const CHANNEL_BACKFILL: &str = "channel.backfill";

    /// The types the bridge itself originates.
    pub const BRIDGE: &[&str] = &[
        MESSAGE_SENT,
        MESSAGE_FAILED,
        CHANNEL_UPDATED,
        CHANNEL_DISCONNECTED,
        CHANNEL_CONNECTED,
        CHANNEL_TOKEN_EXPIRING,
        CHANNEL_SUBSCRIPTION_RESTORED,
        CHANNEL_BACKFILL,
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
        TEMPLATE_CATEGORY,
        LEAD_RECEIVED,
        THREAD_CONTROL,
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
    /// Handover protocol items the bridge does not turn into events (`app_roles`); pass, take
    /// and request are `thread.control`.
    pub const HANDOVER: &str = "handover";
    /// The Instagram dashboard "Test" body (`changes[]` with field `messages`).
    pub const INSTAGRAM_TEST_PAYLOAD: &str = "instagram_test_payload";
}

/// One thing Meta told us about, ready for the idempotency log and the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
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
    /// Normalized per type: the type's struct in [`crate::events::data`].
    pub data: EventData,
    /// The original Meta item (message / status / error / messaging item / change value / entry)
    /// as received.
    pub raw: Value,
}

impl ParsedEvent {
    /// The event's type: its data's (one source, [`EventData::event_type`]).
    pub fn event_type(&self) -> &'static str {
        self.data.event_type()
    }

    /// `data` as a JSON value, for tests.
    #[cfg(test)]
    pub(crate) fn data_value(&self) -> Value {
        self.data.to_value().expect("data serialises")
    }

    /// `data` as the store keeps and delivers it (JSON text).
    pub fn data_json(&self) -> Result<String, crate::crypto::canonical::Error> {
        self.data.to_json()
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

/// `key` of `src` as sent, when present and not null.
fn non_null(src: &Value, key: &str) -> Option<Value> {
    src.get(key).filter(|v| !v.is_null()).cloned()
}

fn put(map: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        map.insert(key.to_owned(), v);
    }
}

fn put_str(map: &mut Map<String, Value>, key: &str, v: Option<String>) {
    put(map, key, v.map(Value::String));
}

fn scope_or_placeholder(s: Option<&String>) -> &str {
    s.map(String::as_str).unwrap_or("_")
}

// ---------------------------------------------------------------------------------------------
// Hash fallback keys.

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
        idempotency_key: String,
        data: impl Into<EventData>,
        raw: &Value,
    ) -> ParsedEvent {
        let data = data.into();
        ParsedEvent {
            channel_kind: self.kind,
            route: self.route,
            idempotency_key,
            conversation_key: self.conversation_key,
            contact: self.contact,
            occurred_at_ms: self.occurred_at_ms,
            data,
            raw: raw.clone(),
        }
    }

    /// A `meta.unsupported` event keyed by the hash of `item`.
    fn unsupported(self, key_prefix: &str, data: MetaUnsupportedData, item: &Value) -> ParsedEvent {
        let key = hash_key(key_prefix, item);
        self.finish(key, data, item)
    }
}

/// The `meta.unsupported` data of `reason` alone.
fn why(reason: &str) -> MetaUnsupportedData {
    MetaUnsupportedData {
        reason: reason.to_owned(),
        ..Default::default()
    }
}

fn unknown_object_event(object: Option<&Value>, entry: &Value) -> ParsedEvent {
    let item = json!({ "object": object.cloned().unwrap_or(Value::Null), "entry": entry });
    let draft = Draft::channel_level(None, Route::None, ts_ms(entry.get("time")));
    let mut ev = draft.unsupported(
        "meta:unsupported",
        MetaUnsupportedData {
            object: object.cloned(),
            entry_id: entry.get("id").cloned(),
            ..why(reasons::UNKNOWN_OBJECT)
        },
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

#[cfg(test)]
mod tests;
