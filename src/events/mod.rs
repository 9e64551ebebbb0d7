//! Events: what the bridge delivers to instances. [`parse`] turns a verified Meta webhook
//! body into events with stable idempotency and conversation keys (pure, no I/O); this module
//! holds the envelope an instance receives.

pub mod conversation;
pub mod data;
pub mod effects;
pub mod parse;
pub mod schema;

#[cfg(test)]
mod golden_tests;

use serde::Serialize;
use serde_json::value::RawValue;

/// The channel an event belongs to.
#[derive(Debug, Serialize)]
pub struct EnvelopeChannel<'a> {
    pub id: Option<&'a str>,
    pub kind: Option<&'a str>,
    /// Meta's id of the channel: phone_number_id, Instagram account id or page id.
    pub external_id: &'a str,
}

/// The JSON body POSTed to an instance's callback URL. `id` is stable across retries: the
/// receiver deduplicates on it.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub instance_id: &'a str,
    pub channel: EnvelopeChannel<'a>,
    pub conversation_id: &'a str,
    pub contact: Option<&'a RawValue>,
    /// Meta's own timestamp (RFC 3339), when the item carried one.
    pub occurred_at: Option<String>,
    /// When the bridge received the webhook (RFC 3339).
    pub received_at: String,
    pub data: &'a RawValue,
    pub raw: &'a RawValue,
}

/// Why an event cannot be turned into a request body.
#[derive(Debug, thiserror::Error)]
#[error("event content is missing or unreadable")]
pub struct EnvelopeError;

/// A stored event as the envelope needs it: content columns are JSON text, times unix ms.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub instance_id: &'a str,
    pub channel_id: Option<&'a str>,
    pub channel_kind: Option<&'a str>,
    pub channel_external_id: &'a str,
    pub conversation_id: &'a str,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    /// `None` once the content was purged.
    pub contact: Option<&'a str>,
    pub data: Option<&'a str>,
    pub raw: Option<&'a str>,
}

/// Serialises the envelope of a stored event.
pub fn render_envelope(ev: &StoredEvent<'_>) -> Result<Vec<u8>, EnvelopeError> {
    let data = ev.data.ok_or(EnvelopeError)?;
    let raw = ev.raw.ok_or(EnvelopeError)?;
    let data: &RawValue = serde_json::from_str(data).map_err(|_| EnvelopeError)?;
    let raw: &RawValue = serde_json::from_str(raw).map_err(|_| EnvelopeError)?;
    let contact: Option<&RawValue> = match ev.contact {
        Some(c) => Some(serde_json::from_str(c).map_err(|_| EnvelopeError)?),
        None => None,
    };
    let env = Envelope {
        id: ev.id,
        event_type: ev.event_type,
        instance_id: ev.instance_id,
        channel: EnvelopeChannel {
            id: ev.channel_id,
            kind: ev.channel_kind,
            external_id: ev.channel_external_id,
        },
        conversation_id: ev.conversation_id,
        contact,
        occurred_at: ev.occurred_at.map(crate::ms_to_rfc3339),
        received_at: crate::ms_to_rfc3339(ev.received_at),
        data,
        raw,
    };
    serde_json::to_vec(&env).map_err(|_| EnvelopeError)
}
