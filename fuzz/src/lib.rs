//! What the fuzz targets check, shared by them (`fuzz_targets/*.rs` are thin entry points).
//!
//! - [`check_webhook`]: the properties every `parse_webhook` result must have, whatever the bytes.
//! - [`meta_json`]: a generator of Meta-shaped webhook bodies for the structure-aware target.
//! - [`check_signature`]: `verify` against an independent model of what it must accept.
//! - [`check_claimed_instance`]: unverified JWT parsing.

use std::collections::HashMap;

use metabridge::channels::ChannelKind;
use metabridge::crypto::canonical::canonical_json;
use metabridge::events::parse::{
    CHANNEL_CONVERSATION, MalformedBody, ParsedEvent, Route, parse_webhook, reasons, types,
};
use serde_json::Value;

pub mod meta_json;

pub mod oracle;
pub use oracle::{check_claimed_instance, check_signature};

/// Every `data.reason` a `meta.unsupported` event may carry.
const REASONS: &[&str] = &[
    reasons::UNKNOWN_OBJECT,
    reasons::UNKNOWN_FIELD,
    reasons::NOT_AN_OBJECT,
    reasons::CONTAINER_NOT_ARRAY,
    reasons::EMPTY_ENTRY,
    reasons::EMPTY_VALUE,
    reasons::MISSING_ID,
    reasons::MISSING_LEADGEN_ID,
    reasons::MISSING_PAYLOAD,
    reasons::UNKNOWN_MESSAGING_ITEM,
    reasons::HANDOVER,
    reasons::INSTAGRAM_TEST_PAYLOAD,
];

/// Types whose events belong to the channel, not to a person.
const CHANNEL_LEVEL: &[&str] = &[
    types::CHANNEL_ERROR,
    types::CHANNEL_QUALITY,
    types::ACCOUNT_UPDATED,
    types::TEMPLATE_STATUS,
    types::TEMPLATE_QUALITY,
];

/// Types keyed by the message's own id: the key ends with `:<data.message_id>`.
const KEYED_BY_MESSAGE_ID: &[&str] = &[
    types::MESSAGE_RECEIVED,
    types::MESSAGE_ECHO,
    types::MESSAGE_DELETED,
];

/// Parses `body` and asserts the properties that hold for any input (see docs/reliability.md,
/// "Fuzzing"). Returns the events for callers that check more.
pub fn check_webhook(body: &[u8]) -> Option<Vec<ParsedEvent>> {
    let parsed = parse_webhook(body);
    // Deterministic: the same bytes give the same events, keys and order.
    assert_eq!(parsed, parse_webhook(body), "two parses of one body differ");

    let root: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            assert!(
                matches!(parsed, Err(MalformedBody::NotJson(_))),
                "not JSON but parsed: {parsed:?}"
            );
            return None;
        }
    };
    check_canonical(&root);
    // Formatting, key order and duplicate keys (the last wins, as in serde_json) do not matter:
    // the canonical form of the body gives the same events.
    let canonical = canonical_json(&root);
    assert_eq!(
        parsed,
        parse_webhook(canonical.as_bytes()),
        "canonical form of the body parses differently"
    );

    let Some(obj) = root.as_object() else {
        assert_eq!(parsed, Err(MalformedBody::NotAnObject));
        return None;
    };
    let Some(entries) = obj.get("entry").and_then(Value::as_array) else {
        assert_eq!(parsed, Err(MalformedBody::NoEntries));
        return None;
    };
    let events = parsed.expect("a JSON object with an entry array always parses");
    let object = obj.get("object").and_then(Value::as_str);

    // Nothing is dropped: each entry, and each item of its containers, gives at least one event.
    let floor: usize = entries.iter().map(|e| min_events(object, e)).sum();
    assert!(
        events.len() >= floor,
        "{} events for a body that names at least {floor} items",
        events.len()
    );
    if !matches!(
        object,
        Some("whatsapp_business_account" | "instagram" | "page")
    ) {
        assert_eq!(
            events.len(),
            entries.len(),
            "unknown object: one event per entry"
        );
    }

    for ev in &events {
        check_event(ev);
    }
    check_order(&events);
    // Items with a natural id get the documented natural key.
    for key in natural_keys(object, entries) {
        assert!(
            events.iter().any(|e| e.idempotency_key == key),
            "no event with key {key:?}"
        );
    }
    Some(events)
}

/// An id as the module doc says it is kept: a non-empty string, or an integer in decimal.
/// None for anything else (floats included: this model does not follow them).
fn plain_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Keys that must appear, written from the table in the module doc of events::parse: every
/// WhatsApp message or echo object with an id is `wa:msg:<pnid or waba or _>:<wamid>`; every
/// `leadgen` change of a `page` body with a leadgen_id is `lead:<leadgen_id>`.
fn natural_keys(object: Option<&str>, entries: &[Value]) -> Vec<String> {
    let mut keys = Vec::new();
    for entry in entries {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            continue;
        };
        let entry_id = entry.get("id");
        if entry_id.is_some_and(|v| plain_id(Some(v)).is_none() && !v.is_null()) {
            continue; // an id this model does not render
        }
        for change in changes {
            let (field, value) = (change.get("field"), change.get("value"));
            let Some(value) = value.filter(|v| v.is_object()) else {
                continue;
            };
            match (object, field.and_then(Value::as_str)) {
                (
                    Some("whatsapp_business_account"),
                    Some(f @ ("messages" | "smb_message_echoes")),
                ) => {
                    let pnid = value.get("metadata").and_then(|m| m.get("phone_number_id"));
                    if pnid.is_some_and(|v| plain_id(Some(v)).is_none() && !v.is_null()) {
                        continue;
                    }
                    let scope = plain_id(pnid)
                        .or_else(|| plain_id(entry_id))
                        .unwrap_or_else(|| "_".to_owned());
                    let container = if f == "messages" {
                        "messages"
                    } else {
                        "message_echoes"
                    };
                    for msg in value
                        .get(container)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(id) = plain_id(msg.get("id")) {
                            keys.push(format!("wa:msg:{scope}:{id}"));
                        }
                    }
                }
                (Some("page"), Some("leadgen")) => {
                    if let Some(id) = plain_id(value.get("leadgen_id")) {
                        keys.push(format!("lead:{id}"));
                    }
                }
                _ => {}
            }
        }
    }
    keys
}

/// `canonical_json` is valid JSON, stable under a round trip, and independent of key order.
pub fn check_canonical(v: &Value) {
    let c1 = canonical_json(v);
    let back: Value = serde_json::from_str(&c1)
        .unwrap_or_else(|e| panic!("canonical_json output is not JSON ({e}): {c1}"));
    let c2 = canonical_json(&back);
    assert_eq!(c1, c2, "canonical_json is not idempotent");
}

/// Lower bound on the number of events of one entry (see the module doc of events::parse).
fn min_events(object: Option<&str>, entry: &Value) -> usize {
    let Some(e) = entry.as_object() else {
        return 1;
    };
    match object {
        Some("whatsapp_business_account") => match e.get("changes") {
            Some(Value::Array(changes)) => changes.len(),
            _ => 1,
        },
        Some("instagram" | "page") => {
            let mut n = 0;
            let mut seen = false;
            for c in ["messaging", "standby", "changes"] {
                match e.get(c) {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(items)) => {
                        seen = true;
                        n += items.len();
                    }
                    Some(_) => {
                        seen = true;
                        n += 1;
                    }
                }
            }
            if seen { n } else { 1 }
        }
        _ => 1,
    }
}

fn is_hash_key(key: &str) -> bool {
    key.rsplit_once(":h:").is_some_and(|(prefix, hash)| {
        !prefix.is_empty()
            && hash.len() == 64
            && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn check_event(ev: &ParsedEvent) {
    let key = ev.idempotency_key.as_str();
    let conv = ev.conversation_key.as_str();
    let ctx = || format!("{} key={key:?} conv={conv:?}", ev.event_type());

    assert!(types::ALL.contains(&ev.event_type()), "{}", ctx());
    assert!(!types::BRIDGE.contains(&ev.event_type()), "{}", ctx());
    let data = ev.data.to_value().expect("data serialises");
    assert!(data.is_object(), "data is not an object: {}", ctx());
    if let Some(t) = ev.occurred_at_ms {
        assert!(t >= 0, "negative timestamp {t}: {}", ctx());
    }

    // The key's namespace follows the channel kind.
    let ns_ok = match ev.channel_kind {
        None => key.starts_with("meta:"),
        Some(ChannelKind::Whatsapp) => key.starts_with("wa:"),
        Some(ChannelKind::Instagram) => key.starts_with("ig:"),
        Some(ChannelKind::Messenger) => key.starts_with("fb:") || key.starts_with("lead:"),
    };
    assert!(
        ns_ok,
        "key namespace vs kind {:?}: {}",
        ev.channel_kind,
        ctx()
    );

    // Routes name something, WABA routes only for WhatsApp, no route without a kind.
    match &ev.route {
        Route::Channel(id) => assert!(!id.is_empty(), "empty channel route: {}", ctx()),
        Route::Waba(id) => {
            assert!(!id.is_empty(), "empty WABA route: {}", ctx());
            assert_eq!(ev.channel_kind, Some(ChannelKind::Whatsapp), "{}", ctx());
        }
        Route::None => {}
    }
    if ev.channel_kind.is_none() {
        assert_eq!(ev.route, Route::None, "{}", ctx());
        assert_eq!(ev.event_type(), types::META_UNSUPPORTED, "{}", ctx());
    }

    // Conversation keys have the documented shapes.
    let conv_ok = conv == CHANNEL_CONVERSATION
        || conv == "unknown"
        || match ev.channel_kind {
            Some(ChannelKind::Whatsapp) => ["group:", "user:", "wa:"]
                .iter()
                .any(|p| conv.starts_with(p)),
            Some(ChannelKind::Instagram) => conv.starts_with("igsid:"),
            Some(ChannelKind::Messenger) => conv.starts_with("psid:") || conv.starts_with("lead:"),
            None => false,
        };
    assert!(conv_ok, "conversation key shape: {}", ctx());

    if let Some(c) = &ev.contact {
        let names = ["id", "group_id"].iter().any(|k| {
            c.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
        assert!(names, "contact names nobody: {c}: {}", ctx());
    }

    let t = ev.event_type();
    if CHANNEL_LEVEL.contains(&t) {
        assert_eq!(conv, CHANNEL_CONVERSATION, "{}", ctx());
        assert!(ev.contact.is_none(), "{}", ctx());
    }
    if t == types::CHANNEL_ERROR {
        assert!(key.starts_with("wa:err:") && is_hash_key(key), "{}", ctx());
    }
    if t == types::META_UNSUPPORTED {
        let reason = data.get("reason").and_then(Value::as_str);
        assert!(
            reason.is_some_and(|r| REASONS.contains(&r)),
            "reason {reason:?}: {}",
            ctx()
        );
        assert!(
            is_hash_key(key),
            "unsupported key is not a hash key: {}",
            ctx()
        );
    }
    if t == types::LEAD_RECEIVED {
        let id = key.strip_prefix("lead:").expect("lead key prefix");
        assert!(!id.is_empty(), "{}", ctx());
        assert_eq!(conv, key, "{}", ctx());
        assert_eq!(data.get("leadgen_id").and_then(Value::as_str), Some(id));
    }
    if KEYED_BY_MESSAGE_ID.contains(&t) {
        let id = data.get("message_id").and_then(Value::as_str);
        let id = id.unwrap_or_else(|| panic!("no message_id: {}", ctx()));
        assert!(!id.is_empty(), "{}", ctx());
        assert!(
            key.ends_with(&format!(":{id}")),
            "key vs message_id {id:?}: {}",
            ctx()
        );
    }
    if t == types::MESSAGE_STATUS && ev.channel_kind == Some(ChannelKind::Whatsapp) {
        // wa:status:<scope>:<wamid>:<status>:<timestamp>, else the hash fallback.
        let id = data.get("message_id").and_then(Value::as_str);
        let status = data.get("status").and_then(Value::as_str);
        assert!(key.starts_with("wa:status:"), "{}", ctx());
        if !is_hash_key(key) {
            let (Some(id), Some(status)) = (id, status) else {
                panic!("natural status key without id/status: {}", ctx());
            };
            assert!(key.contains(&format!(":{id}:{status}:")), "{}", ctx());
        }
    }
}

/// Inside a conversation, events with a timestamp come out in non-decreasing time order.
fn check_order(events: &[ParsedEvent]) {
    let mut last: HashMap<(Option<ChannelKind>, &Route, &str), i64> = HashMap::new();
    for ev in events {
        let Some(t) = ev.occurred_at_ms else { continue };
        let k = (ev.channel_kind, &ev.route, ev.conversation_key.as_str());
        if let Some(prev) = last.insert(k, t) {
            assert!(
                prev <= t,
                "conversation {:?} goes back in time: {prev} then {t}",
                ev.conversation_key
            );
        }
    }
}
