//! Events: what the bridge delivers to instances. [`parse`] turns a verified Meta webhook
//! body into events with stable idempotency and conversation keys (pure, no I/O); this module
//! holds the envelope an instance receives.

pub mod conversation;
pub mod data;
pub mod effects;
pub mod media;
pub mod parse;
pub mod schema;
pub mod threads;

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
    render_envelope_with(ev, None)
}

/// [`render_envelope`] with the contact's profile, when the bridge knows it (Instagram /
/// Messenger: the fields Meta's User Profile API answered, a JSON object), added to the
/// contact as `contact.profile`. Without a contact object the profile is left out.
pub fn render_envelope_with(
    ev: &StoredEvent<'_>,
    profile: Option<&str>,
) -> Result<Vec<u8>, EnvelopeError> {
    let data = ev.data.ok_or(EnvelopeError)?;
    let raw = ev.raw.ok_or(EnvelopeError)?;
    let data: &RawValue = serde_json::from_str(data).map_err(|_| EnvelopeError)?;
    let raw: &RawValue = serde_json::from_str(raw).map_err(|_| EnvelopeError)?;
    let with_profile: Option<Box<RawValue>> = match (ev.contact, profile) {
        (Some(c), Some(p)) => with_profile(c, p),
        _ => None,
    };
    let contact: Option<&RawValue> = match (&with_profile, ev.contact) {
        (Some(c), _) => Some(c.as_ref()),
        (None, Some(c)) => Some(serde_json::from_str(c).map_err(|_| EnvelopeError)?),
        (None, None) => None,
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

/// The contact object with `profile` added (both JSON object texts); `None` when either is not
/// an object (the contact is then sent as stored).
fn with_profile(contact: &str, profile: &str) -> Option<Box<RawValue>> {
    let mut contact: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(contact).ok()?;
    let profile: serde_json::Value = serde_json::from_str(profile).ok()?;
    if !profile.is_object() {
        return None;
    }
    contact.insert("profile".into(), profile);
    serde_json::value::to_raw_value(&contact).ok()
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    fn stored(contact: Option<&'static str>) -> StoredEvent<'static> {
        StoredEvent {
            id: "evt_1",
            event_type: "message.received",
            instance_id: "ins_1",
            channel_id: Some("ch_1"),
            channel_kind: Some("instagram"),
            channel_external_id: "178",
            conversation_id: "conv_1",
            occurred_at: Some(0),
            received_at: 0,
            contact,
            data: Some(r#"{"text":"oi"}"#),
            raw: Some("{}"),
        }
    }

    fn body(bytes: Vec<u8>) -> serde_json::Value {
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn a_known_profile_joins_the_contact() {
        let ev = stored(Some(r#"{"id":"61"}"#));
        let with = body(render_envelope_with(&ev, Some(r#"{"name":"Ana"}"#)).expect("render"));
        assert_eq!(
            with["contact"],
            serde_json::json!({"id": "61", "profile": {"name": "Ana"}})
        );
        // Without a profile, the envelope is byte for byte the one without enrichment.
        assert_eq!(
            render_envelope_with(&ev, None).expect("render"),
            render_envelope(&ev).expect("render")
        );
    }

    #[test]
    fn a_profile_without_a_contact_object_is_left_out() {
        let none = body(render_envelope_with(&stored(None), Some(r#"{"name":"Ana"}"#)).expect("r"));
        assert!(none["contact"].is_null());
        let odd = body(
            render_envelope_with(&stored(Some(r#"{"id":"61"}"#)), Some("[1]")).expect("render"),
        );
        assert_eq!(odd["contact"], serde_json::json!({"id": "61"}));
    }
}
