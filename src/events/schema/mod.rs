//! The events an instance receives, as OpenAPI schemas.
//!
//! Each type's `data` is the struct of [`super::data`] that builds it (the parser for
//! Meta-originated types, the store and the lead worker for the bridge's own); one `…Event`
//! object per type here is the whole body POSTed to the callback URL (built by
//! [`super::render_envelope`]). [`EventWebhooks`] lists one webhook per type for the
//! OpenAPI document, with [`RECEIVER_GUIDE`] (how to authenticate, acknowledge and deduplicate
//! a callback) as the shared description.
//!
//! Typing rule: a field is typed (string, integer, boolean, object) when the bridge guarantees
//! that type; a field the bridge passes on as Meta sent it is free-form (any JSON), with the
//! type Meta documents in its description. Keys that are always present but may be null are
//! marked nullable; keys present only when Meta sent the value are optional. Every `data` may
//! carry keys not listed here (Meta adds fields; `channel.quality` and `account.updated` relay
//! Meta's value as given).

use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaRequest, Registry};
use poem_openapi::types::Example;
use poem_openapi::{ApiExtractor, ApiResponse, Enum, Object};
use serde_json::{Value, json};

use super::data::*;

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
clock skew), `jti` unique per attempt, and `body_sha256` = the lowercase hex SHA-256 of the \
exact bytes of the request body. **Check `body_sha256`** against the SHA-256 you compute over \
the raw body bytes as received (before any JSON parsing or re-serialization) and refuse the \
request (401) when the claim is missing or differs: the token is proof only for the body it \
was signed with.

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

// ---------------------------------------------------------------------------------------------
// `data` of the types parsed from Meta's webhooks.

// ---------------------------------------------------------------------------------------------
// `data` of the bridge's own types.

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
        contact: Some(
            json!({"id": "6120000000000001", "profile": {"name": "Ana Souza",
            "username": "ana.souza", "profile_pic": "https://scontent.cdninstagram.com/v/t51/ana.jpg",
            "follower_count": 1234, "is_user_follow_business": true, "is_business_follow_user": false}}),
        ),
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
                /// Instagram / Messenger: `{id, profile?}` (IGSID / PSID; `profile` is what
                /// Meta's User Profile API gave, when this bridge already holds it: Instagram
                /// `name?, username?, profile_pic?, follower_count?, is_user_follow_business?,
                /// is_business_follow_user?`, Messenger `first_name?, last_name?,
                /// profile_pic?`. It is read in the background after the contact's first
                /// message, so that message usually arrives without it; an event never waits
                /// for it). Null otherwise (always null for the bridge's own events).
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

        /// Each `data` type's example and default value as serde and as poem-openapi write them.
        #[cfg(test)]
        fn data_serde_and_schema_json() -> Vec<(&'static str, &'static str, Value, Value)> {
            use poem_openapi::types::ToJSON;
            let mut out = Vec::new();
            $(
                for (which, v) in [
                    ("example", <$data as Example>::example()),
                    ("default", <$data as Default>::default()),
                ] {
                    let serde = serde_json::to_value(&v).expect("serde");
                    out.push((stringify!($data), which, serde, v.to_json().unwrap_or_default()));
                }
            )*
            out
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
    TemplateCategoryEvent, TemplateCategoryData, TemplateCategoryType, "template.category",
        "events.template_category", "Meta changed, or will change, a message template's category",
        wa_channel_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e2c", json!({
            "message_template_id": 1689556908129835_i64,
            "message_template_name": "order_update", "message_template_language": "en_US",
            "previous_category": "UTILITY", "new_category": "MARKETING"}));
    ThreadControlEvent, ThreadControlData, ThreadControlType, "thread.control",
        "events.thread_control",
        "Control of an Instagram / Messenger conversation moved between Meta apps (handover)",
        ig_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e29", json!({
            "sender": {"id": "6120000000000001"}, "recipient": {"id": "17841400000000001"},
            "timestamp": 1763380800000_i64, "take_thread_control": {
            "previous_owner_app_id": "5731000000000001", "new_owner_app_id": "263902037430900",
            "metadata": "agent took over"}}));
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
    ChannelBackfillEvent, ChannelBackfillData, ChannelBackfillType, "channel.backfill",
        "events.channel_backfill",
        "The bridge read a Page's leads of a time window from Meta and relayed the missing ones",
        bridge_envelope("evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e28", false);
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

mod examples;

#[cfg(test)]
mod tests;
