//! The `data` of every event type, described once.
//!
//! Each type's `data` is one struct below: the parser ([`super::parse`]) builds the ones of
//! Meta's events, the store and the lead worker the bridge's own; serde serialises them into
//! what an instance receives, and poem-openapi documents the same declarations
//! ([`super::schema`] registers them). So a field is added in one place: its struct.
//!
//! Per field:
//! - `Option<T>` with `#[serde(skip_serializing_if = "Option::is_none")]` and
//!   `#[oai(skip_serializing_if_is_none)]`: the key is present only when there is a value (the
//!   `?` of the descriptions);
//! - `Option<T>` with `#[oai(nullable)]` (and no serde skip): always present, null when unset;
//! - `Value`: what Meta defines loosely, passed on as sent;
//! - `#[oai(skip)]` (`other`): keys the bridge passes on that the schema does not list (the
//!   schema says every `data` may carry more keys).
//!
//! [`EventData`] is the one sum of them; its [`EventData::event_type`] is the event's type, so
//! a type and its `data` cannot disagree. Keys are written in sorted order (the JSON the bridge
//! has always sent, from serde_json's sorted map), see [`EventData::to_json`].

mod account;
mod bridge;
mod lead;
mod message;
mod parts;
mod thread;

pub use account::*;
pub use bridge::*;
pub use lead::*;
pub use message::*;
pub use parts::*;
pub use thread::*;

use serde::Serialize;
use serde_json::Value;

use super::parse::types;

macro_rules! event_data {
    ($($variant:ident($data:ident) = $type_const:ident,)*) => {
        /// The `data` of one event, typed by its event type. Boxed: some of these structs are
        /// over a kilobyte, and events are moved several times between the parser and the
        /// store (an unboxed `ParsedEvent` was 1.5 KB, against 216 bytes with a `Value`).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum EventData {
            $($variant(Box<$data>),)*
        }

        impl EventData {
            /// The event type (one of [`types`]).
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(EventData::$variant(_) => types::$type_const,)*
                }
            }
        }

        $(
            impl From<$data> for EventData {
                fn from(d: $data) -> Self {
                    EventData::$variant(Box::new(d))
                }
            }
        )*
    };
}

event_data! {
    MessageReceived(MessageReceivedData) = MESSAGE_RECEIVED,
    MessageEcho(MessageEchoData) = MESSAGE_ECHO,
    MessageReaction(MessageReactionData) = MESSAGE_REACTION,
    MessageStatus(MessageStatusData) = MESSAGE_STATUS,
    MessageEdited(MessageEditedData) = MESSAGE_EDITED,
    MessageDeleted(MessageDeletedData) = MESSAGE_DELETED,
    MessagePostback(MessagePostbackData) = MESSAGE_POSTBACK,
    MessageReferral(MessageReferralData) = MESSAGE_REFERRAL,
    MessageUnsupported(MessageUnsupportedData) = MESSAGE_UNSUPPORTED,
    ContactChanged(ContactChangedData) = CONTACT_CHANGED,
    ContactPreferences(ContactPreferencesData) = CONTACT_PREFERENCES,
    MessageHistory(MessageHistoryData) = MESSAGE_HISTORY,
    ContactSynced(ContactSyncedData) = CONTACT_SYNCED,
    ChannelError(ChannelErrorData) = CHANNEL_ERROR,
    ChannelQuality(ChannelQualityData) = CHANNEL_QUALITY,
    AccountUpdated(AccountUpdatedData) = ACCOUNT_UPDATED,
    TemplateStatus(TemplateStatusData) = TEMPLATE_STATUS,
    TemplateQuality(TemplateQualityData) = TEMPLATE_QUALITY,
    TemplateCategory(TemplateCategoryData) = TEMPLATE_CATEGORY,
    ThreadControl(ThreadControlData) = THREAD_CONTROL,
    LeadReceived(LeadReceivedData) = LEAD_RECEIVED,
    // A lead before the lead worker fetched it (stored, not delivered).
    LeadWebhook(LeadWebhookData) = LEAD_RECEIVED,
    MetaUnsupported(MetaUnsupportedData) = META_UNSUPPORTED,
    MessageSent(MessageSentData) = MESSAGE_SENT,
    MessageFailed(MessageFailedData) = MESSAGE_FAILED,
    ChannelUpdated(ChannelUpdatedData) = CHANNEL_UPDATED,
    ChannelDisconnected(ChannelDisconnectedData) = CHANNEL_DISCONNECTED,
    ChannelConnected(ChannelConnectedData) = CHANNEL_CONNECTED,
    ChannelTokenExpiring(ChannelTokenExpiringData) = CHANNEL_TOKEN_EXPIRING,
    ChannelSubscriptionRestored(ChannelSubscriptionRestoredData) = CHANNEL_SUBSCRIPTION_RESTORED,
    ChannelBackfill(ChannelBackfillData) = CHANNEL_BACKFILL,
}

impl EventData {
    /// `data` as a JSON value (objects are serde_json's sorted maps).
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }

    /// `data` as the store keeps and delivers it: compact JSON with every object's keys
    /// sorted, byte for byte what the bridge sent before `data` was typed (and what
    /// `to_value()?.to_string()` gives), written without building a `Value`.
    pub fn to_json(&self) -> Result<String, crate::crypto::canonical::Error> {
        crate::crypto::canonical::to_sorted_json(self)
    }

    /// Links a `message.status` or `message.echo` to the bridge's send it concerns; other
    /// types have no such link and are left as they are.
    pub fn set_bridge_message_id(&mut self, id: &str) {
        match self {
            EventData::MessageStatus(d) => d.bridge_message_id = Some(id.to_owned()),
            EventData::MessageEcho(d) => d.bridge_message_id = Some(id.to_owned()),
            _ => {}
        }
    }
}
