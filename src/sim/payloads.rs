//! Webhook bodies shaped like Meta's (see `tests/fixtures/meta/`), with distinct ids.

use serde_json::{Value, json};

/// The time (Unix seconds) the payloads of this process count from: a week before the first
/// payload it builds. Recent, as Meta's are (the service acknowledges items older than its
/// idempotency retention without delivering them), and fixed for the process, so the same
/// `seq` gives the same body every time (a retry is the same webhook).
fn base_secs() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1_763_380_800, |d| d.as_secs().saturating_sub(7 * 86_400))
    })
}

/// A WhatsApp `messages` webhook with `n` text messages from `contacts` users (round robin).
/// `seq` makes the wamids unique; timestamps increase with the message index.
pub fn whatsapp_text_batch(
    waba_id: &str,
    phone_number_id: &str,
    seq: u64,
    n: usize,
    contacts: u64,
) -> Value {
    let contacts = contacts.max(1);
    let mut messages = Vec::with_capacity(n);
    let mut contact_list = Vec::new();
    for i in 0..n {
        let user = (seq + i as u64) % contacts;
        let wa_id = format!("1555{:07}", user);
        let user_id = format!("US.{:018}", 100_000_000_000_000_000u64 + user);
        if !contact_list.iter().any(|c: &Value| c["wa_id"] == wa_id) {
            contact_list.push(json!({"profile": {"name": format!("Sim User {user}")}, "wa_id": wa_id, "user_id": user_id}));
        }
        messages.push(json!({
            "from": wa_id,
            "from_user_id": user_id,
            "id": format!("wamid.SIM{seq:012}X{i:04}"),
            "timestamp": (base_secs() + seq + i as u64).to_string(),
            "type": "text",
            "text": {"body": format!("Ol\u{e1}! message {seq}/{i}")}
        }));
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15559990000", "phone_number_id": phone_number_id},
                    "contacts": contact_list,
                    "messages": messages
                },
                "field": "messages"
            }]
        }]
    })
}

/// A WhatsApp status webhook (`delivered`) for an outbound wamid.
pub fn whatsapp_status(waba_id: &str, phone_number_id: &str, seq: u64) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15559990000", "phone_number_id": phone_number_id},
                    "statuses": [{
                        "id": format!("wamid.SIMOUT{seq:012}"),
                        "status": "delivered",
                        "timestamp": (base_secs() + seq).to_string(),
                        "recipient_id": format!("1555{:07}", seq % 500),
                        "pricing": {"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}
                    }]
                },
                "field": "messages"
            }]
        }]
    })
}

/// Serialises a body the way Meta transmits it: non-ASCII escaped as `\uXXXX`, `/` as `\/`.
pub fn meta_bytes(body: &Value) -> Vec<u8> {
    let text = body.to_string();
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_bytes_escape_like_meta_and_stay_valid_json() {
        let body = json!({"t": "a/b \u{e7}"});
        let bytes = meta_bytes(&body);
        assert_eq!(
            std::str::from_utf8(&bytes).expect("ascii"),
            r#"{"t":"a\/b \u00e7"}"#
        );
        let back: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(back, body);
    }

    #[test]
    fn batches_have_distinct_ids_and_parse_into_events() {
        let a = whatsapp_text_batch("1", "2", 0, 10, 3);
        let events = crate::events::parse::parse_webhook(&meta_bytes(&a)).expect("parse");
        assert_eq!(events.len(), 10);
        let keys: std::collections::HashSet<_> =
            events.iter().map(|e| e.idempotency_key.clone()).collect();
        assert_eq!(keys.len(), 10);
    }
}
