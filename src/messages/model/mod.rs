//! Outbound messages: the request body of `POST /v1/messages` (as OpenAPI types), its
//! validation against Meta's per-channel rules, and the exact Graph API body it becomes.
//!
//! Pure code: no I/O, no clock, no configuration. [`render`] either returns the JSON to POST to
//! `/{phone-number-id}/messages` (WhatsApp) or `/{page-or-ig-id}/messages` (Instagram,
//! Messenger), or the first [`Violation`] found, in a fixed order (request fields in declaration
//! order, then nested fields in document order). Violations name the field and the limit, never
//! the caller's content.

mod checks;
pub mod content;
mod social;
mod template;
mod whatsapp;

use poem_openapi::Object;
use poem_openapi::types::Example;
use serde_json::Value;

use crate::channels::ChannelKind;

use checks::{Check, label, not_for_channel, over_chars, violation};
use content::{MessageTag, OutboundMessage, TextMessage};
use social::render_social;
use whatsapp::render_whatsapp;

// ---------------------------------------------------------------------------------------------
// Request types
// ---------------------------------------------------------------------------------------------

/// A message to send to a customer through one of the bridge's channels.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SendMessageRequest {
    /// Id of the bridge channel to send through (`ch_…`). Its kind (WhatsApp, Instagram or
    /// Messenger) decides which message types and fields are accepted.
    pub channel_id: String,
    /// Recipient.
    ///
    /// - WhatsApp: a phone number with country code (digits; a leading `+`, spaces, dashes and
    ///   parentheses are ignored), a business-scoped user id (a two-letter country code, a dot
    ///   and 1 to 128 letters or digits, e.g. `BR.13491208655302741918`; `CC.ENT.…` for a parent
    ///   id) exactly as received in webhooks, or `group:<group id>` for a group.
    /// - Instagram / Messenger: the customer's scoped id (IGSID / PSID) as received in webhooks.
    pub to: String,
    /// The message; its `type` selects the variant.
    pub message: OutboundMessage,
    /// Id of a message to quote (WhatsApp `wamid…`, Instagram/Messenger `mid`). Not allowed for
    /// `reaction`, `mark_read` and sender actions.
    pub reply_to: Option<String>,
    /// Instagram / Messenger only: message tag that allows sending outside the 24-hour window.
    /// Instagram accepts only `human_agent`.
    pub tag: Option<MessageTag>,
    /// Send even if the bridge considers the customer-service window closed (Meta may still
    /// reject the message).
    pub ignore_window: Option<bool>,
    /// Instagram / Messenger only: when another Meta app controls the conversation (Meta's
    /// handover protocol; see `GET /v1/channels/{id}/threads/{contact}`), take control first
    /// (`take_thread_control`) and then send. Without it such a send is refused with
    /// `409 thread_not_owned`.
    pub take_thread_control: Option<bool>,
    /// Free text of your own (at most 256 characters), echoed back in the response and in status
    /// events. Never sent to Meta.
    pub client_reference: Option<String>,
}

impl Example for SendMessageRequest {
    fn example() -> Self {
        SendMessageRequest {
            channel_id: "ch_0198f3a2b4c57d8e9f0a1b2c3d4e5f60".into(),
            to: "+55 11 98888-7777".into(),
            message: OutboundMessage::Text(TextMessage {
                body: "Temos sim! Quer que eu reserve?".into(),
                preview_url: None,
                quick_replies: None,
            }),
            reply_to: None,
            tag: None,
            ignore_window: None,
            take_thread_control: None,
            client_reference: Some("crm-ticket-4411".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channel kinds, violations, rendered bodies
// ---------------------------------------------------------------------------------------------

/// Whether `message` can be sent on a channel of `kind`.
pub fn kind_allows(kind: ChannelKind, message: &OutboundMessage) -> bool {
    use OutboundMessage as M;
    match kind {
        ChannelKind::Whatsapp => {
            !matches!(message, M::TypingOn(_) | M::TypingOff(_) | M::MarkSeen(_))
        }
        ChannelKind::Instagram | ChannelKind::Messenger => matches!(
            message,
            M::Text(_)
                | M::Image(_)
                | M::Video(_)
                | M::Audio(_)
                | M::Document(_)
                | M::Reaction(_)
                | M::TypingOn(_)
                | M::TypingOff(_)
                | M::MarkSeen(_)
        ),
    }
}

/// Machine codes of [`Violation::rule`].
pub mod rule {
    /// A required field is missing or empty.
    pub const REQUIRED: &str = "required";
    /// A string is longer than allowed.
    pub const MAX_LENGTH: &str = "max_length";
    /// A list has more items than allowed (the field names the first item too many).
    pub const TOO_MANY: &str = "too_many";
    /// A list has fewer items than required.
    pub const TOO_FEW: &str = "too_few";
    /// The message type or field cannot be used on this kind of channel.
    pub const NOT_ALLOWED_FOR_CHANNEL: &str = "not_allowed_for_channel";
    /// The field does not apply to this message or component.
    pub const NOT_ALLOWED: &str = "not_allowed";
    /// Exactly one of two alternative fields must be given.
    pub const ONE_OF_REQUIRED: &str = "one_of_required";
    /// The value does not have the expected shape.
    pub const INVALID_FORMAT: &str = "invalid_format";
    /// A number is outside its allowed range.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// A value that must be unique appears twice.
    pub const DUPLICATE: &str = "duplicate";
    /// A URL must use `https://`.
    pub const HTTPS_REQUIRED: &str = "https_required";
}

/// Why a request cannot be sent: the first broken rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path of the offending field in the request, e.g. `message.sections[0].rows[2].title`.
    pub field: String,
    /// Machine code, one of [`rule`].
    pub rule: &'static str,
    /// Human sentence stating the rule (never echoes the caller's content).
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Violation {}

/// A validated request, ready to POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Exactly the JSON body to POST to `/{id}/messages`.
    pub body: Value,
    /// The request's message type (`text`, `template`, `mark_read`, …).
    pub message_type: &'static str,
    /// Meta accepts this only inside the customer-service window (24 h; 7 days with the
    /// `human_agent` tag). False for WhatsApp templates, read receipts and typing/seen actions.
    pub free_form: bool,
    /// Meta's answer carries a message id (false for read receipts, sender actions and
    /// Instagram/Messenger reactions).
    pub expects_message_id: bool,
    /// WhatsApp: `to` is a business-scoped user id, sent as `"recipient"` instead of `"to"`
    /// (the send response then carries `user_id` rather than `wa_id`).
    pub recipient_is_user_id: bool,
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

const MAX_BRIDGE_ID: usize = 512;
const MAX_CHANNEL_ID: usize = 64;
/// Longest `to`: a parent BSUID (`CC.ENT.` and 128 alphanumerics) fits.
const MAX_WA_TO: usize = 140;
const MAX_SCOPED_ID: usize = 64;
const MAX_MESSAGE_ID: usize = 512;
const MAX_CLIENT_REFERENCE: usize = 256;
const MAX_WA_TEXT: usize = 4096;
const MAX_MESSENGER_TEXT: usize = 2000;
const MAX_INSTAGRAM_TEXT_BYTES: usize = 1000;
const MAX_QUICK_REPLIES: usize = 13;
const MAX_QUICK_REPLY_TITLE: usize = 20;
const MAX_QUICK_REPLY_PAYLOAD: usize = 1000;
const MAX_CAPTION: usize = 1024;
const MAX_FILENAME: usize = 255;
const MAX_MEDIA_ID: usize = 64;

/// Whether `id` has the shape of a WhatsApp media id: what `POST /{phone-number-id}/media`
/// answers and inbound media carry, 1–64 ASCII digits (e.g. `1480000000000001`). Nothing
/// else is accepted, so no id can carry a path (`../`, `/`, `?`, `#`, `%2e`) or a query
/// towards Meta.
pub fn is_media_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MEDIA_ID && id.bytes().all(|b| b.is_ascii_digit())
}
const MAX_URL: usize = 2048;
const MAX_PLACE_TEXT: usize = 1000;
const MAX_CONTACT_FIELD: usize = 256;
const MAX_INTERACTIVE_BODY: usize = 1024;
const MAX_HEADER_TEXT: usize = 60;
const MAX_FOOTER: usize = 60;
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_BUTTON_ID: usize = 256;
const MAX_LIST_BUTTON: usize = 20;
const MAX_SECTIONS: usize = 10;
const MAX_ROWS: usize = 10;
const MAX_SECTION_TITLE: usize = 24;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_DESCRIPTION: usize = 72;
const MAX_ROW_ID: usize = 200;
const MAX_CTA_DISPLAY_TEXT: usize = 20;
const MAX_TEMPLATE_NAME: usize = 512;
const MAX_TEMPLATE_INDEX: u32 = 9;
const MAX_TEMPLATE_TEXT: usize = 32768;
const MAX_TEMPLATE_SHORT: usize = 1000;
const MAX_EMOJI: usize = 32;

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Validates `req` for a channel of `kind` and builds the Graph API body.
/// `bridge_message_id` is the bridge's id of the outbound message, sent as
/// `biz_opaque_callback_data` (WhatsApp) or `message.metadata` (Instagram/Messenger) so that
/// statuses and echoes can be correlated.
pub fn render(
    kind: ChannelKind,
    req: &SendMessageRequest,
    bridge_message_id: &str,
) -> Result<Rendered, Violation> {
    label("bridge_message_id", bridge_message_id, MAX_BRIDGE_ID)?;
    check_channel_id(&req.channel_id)?;
    match kind {
        ChannelKind::Whatsapp => render_whatsapp(req, bridge_message_id),
        ChannelKind::Instagram | ChannelKind::Messenger => {
            render_social(kind, req, bridge_message_id)
        }
    }
}

/// Canonical form of a JSON request (object keys sorted at every level, no whitespace), for
/// hashing into an idempotency fingerprint ([`crate::crypto::canonical`]).
pub fn request_fingerprint(req_json: &Value) -> String {
    crate::crypto::canonical::canonical_json(req_json)
}

fn check_channel_id(id: &str) -> Check {
    if id.is_empty() {
        return Err(violation("channel_id", rule::REQUIRED, "must not be empty"));
    }
    if over_chars(id, MAX_CHANNEL_ID) {
        return Err(violation(
            "channel_id",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_CHANNEL_ID} characters"),
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(violation(
            "channel_id",
            rule::INVALID_FORMAT,
            "must be a channel id (letters, digits and underscores)",
        ));
    }
    Ok(())
}

fn check_type_allowed(kind: ChannelKind, message: &OutboundMessage) -> Check {
    if kind_allows(kind, message) {
        Ok(())
    } else {
        Err(not_for_channel(
            "message.type",
            kind,
            &format!("`{}` messages", message.type_name()),
        ))
    }
}

fn check_client_reference(req: &SendMessageRequest) -> Check {
    match &req.client_reference {
        Some(r) if over_chars(r, MAX_CLIENT_REFERENCE) => Err(violation(
            "client_reference",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_CLIENT_REFERENCE} characters"),
        )),
        // Stored as given: no control characters (PostgreSQL cannot store a NUL, and one
        // bad row would fail the whole group commit it shares with other requests).
        Some(r) if r.chars().any(char::is_control) => Err(violation(
            "client_reference",
            rule::INVALID_FORMAT,
            "must not contain control characters",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
