//! Instagram, Messenger and Lead Ads shapes the fixtures do not cover.

use super::*;

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
        .map(|e| (e.event_type(), e.idempotency_key.as_str()))
        .collect();
    assert_eq!(events.len(), 8, "{got:?}");
    assert_eq!(events[0].event_type(), types::MESSAGE_REACTION);
    assert_eq!(events[0].data_value()["removed"], json!(true));
    assert_eq!(
        events[0].idempotency_key,
        format!("ig:react:{IG}:6120000000000001:aWdfT:unreact:1763380801000")
    );
    assert_eq!(events[1].event_type(), types::MESSAGE_EDITED);
    assert_eq!(events[1].data_value()["num_edit"], json!(2));
    assert_eq!(events[1].idempotency_key, format!("ig:edit:{IG}:aWdfE:2"));
    assert_eq!(events[2].event_type(), types::MESSAGE_REFERRAL);
    assert!(
        events[2]
            .idempotency_key
            .starts_with(&format!("ig:referral:{IG}:h:"))
    );
    assert_eq!(events[2].data_value()["referral"]["ref"], json!("promo"));
    assert_eq!(events[3].event_type(), types::MESSAGE_UNSUPPORTED);
    assert_eq!(events[3].idempotency_key, format!("ig:msg:{IG}:aWdfU"));
    assert_eq!(events[4].data_value()["quick_reply_payload"], json!("YES"));
    assert_eq!(events[5].event_type(), types::META_UNSUPPORTED);
    assert_eq!(events[5].data_value()["kind"], json!("optin"));
    assert_eq!(events[5].conversation_key, IGSID_CONV);
    assert_eq!(events[6].event_type(), types::MESSAGE_POSTBACK);
    assert_eq!(
        events[6].idempotency_key,
        format!("ig:postback:{IG}:6120000000000001:1763380801000")
    );
    assert_eq!(events[7].data_value()["standby"], json!(true));
    assert_eq!(events[7].idempotency_key, format!("ig:msg:{IG}:aWdfS"));
    assert!(
        events[..7]
            .iter()
            .all(|e| e.data_value()["standby"] == json!(false)
                || e.event_type() == types::META_UNSUPPORTED)
    );

    // Messenger echo of a page message: the customer is the recipient.
    let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": PAGE}, "recipient": {"id": "7010000000000001"}, "timestamp": "1763380805000",
         "message": {"mid": "m_E1", "text": "ok", "is_echo": true, "app_id": 5731000000000001_i64, "metadata": "bridge-1"}},
        {"sender": {"id": "7010000000000001"}, "recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
         "pass_thread_control": {"new_owner_app_id": "1"}}
    ]}]});
    let events = parse_json(&body);
    assert_eq!(events[0].event_type(), types::MESSAGE_ECHO);
    assert_eq!(events[0].channel_kind, Some(Messenger));
    assert_eq!(events[0].conversation_key, "psid:7010000000000001");
    assert_eq!(events[0].idempotency_key, format!("fb:msg:{PAGE}:m_E1"));
    assert_eq!(events[0].occurred_at_ms, Some(1763380805000));
    assert_eq!(events[0].data_value()["app_id"], json!("5731000000000001"));
    assert_eq!(events[0].data_value()["metadata"], json!("bridge-1"));
    assert_eq!(events[1].event_type(), types::THREAD_CONTROL);
    assert_eq!(events[1].data_value()["action"], json!("pass"));
}

/// Meta's "messaging_handovers Webhook Event Reference" (read 2026-12-04): the three handover
/// items become `thread.control`; `app_roles` stays unsupported.
#[test]
fn handover_items_become_thread_control_with_distinct_keys() {
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": 1763380900000_i64,
    "messaging": [
    {"sender": {"id": "7010000000000001"}, "recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
     "pass_thread_control": {"previous_owner_app_id": null, "new_owner_app_id": "123456789",
        "metadata": "Additional content that the caller wants to set"}},
    {"sender": {"id": "7010000000000001"}, "recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
     "take_thread_control": {"previous_owner_app_id": "123456789", "new_owner_app_id": 263902037430900_i64,
        "metadata": "back to the inbox"}},
    {"sender": {"id": "7010000000000001"}, "recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
     "request_thread_control": {"requested_owner_app_id": "555", "metadata": "may I?"}},
    {"sender": {"id": "7010000000000001"}, "recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
     "take_thread_control": "not an object"},
    {"recipient": {"id": PAGE}, "timestamp": 1763380806000_i64,
     "app_roles": {"123456789": ["primary_receiver"]}}
    ],
    "standby": [
    {"sender": {"id": "7010000000000002"}, "recipient": {"id": PAGE}, "timestamp": 1763380807000_i64,
     "pass_thread_control": {"new_owner_app_id": "123456789"}}
    ]}]});
    let events = parse_json(&body);
    assert_eq!(events.len(), 6);
    let pass = &events[0];
    assert_eq!(pass.event_type(), types::THREAD_CONTROL);
    assert_eq!(pass.conversation_key, "psid:7010000000000001");
    assert_eq!(pass.route, ch(PAGE));
    assert_eq!(
        pass.data_value(),
        json!({"action": "pass", "new_owner_app_id": "123456789",
            "metadata": "Additional content that the caller wants to set", "standby": false})
    );
    assert_eq!(
        pass.idempotency_key,
        format!("fb:handover:{PAGE}:7010000000000001:pass:1763380806000:123456789")
    );
    let take = &events[1];
    assert_eq!(take.data_value()["action"], json!("take"));
    assert_eq!(
        take.data_value()["new_owner_app_id"],
        json!("263902037430900")
    );
    assert_eq!(
        take.data_value()["previous_owner_app_id"],
        json!("123456789")
    );
    let request = &events[2];
    assert_eq!(
        request.data_value(),
        json!({"action": "request", "requested_owner_app_id": "555", "metadata": "may I?",
            "standby": false})
    );
    assert_eq!(events[3].event_type(), types::META_UNSUPPORTED);
    assert_eq!(
        events[3].data_value()["reason"],
        json!(reasons::MISSING_PAYLOAD)
    );
    assert_eq!(events[4].data_value()["reason"], json!(reasons::HANDOVER));
    assert_eq!(events[5].data_value()["standby"], json!(true));
    assert_eq!(events[5].conversation_key, "psid:7010000000000002");
    // Same instant, same contact, different actions: different keys.
    let keys: std::collections::HashSet<&str> =
        events.iter().map(|e| e.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), events.len());
    // The same item sent again has the same key.
    assert_eq!(parse_json(&body)[0].idempotency_key, pass.idempotency_key);
}

#[test]
fn instagram_dashboard_test_shape_is_meta_unsupported() {
    let body = json!({"object": "instagram", "entry": [{"id": "0", "time": 1763380801_i64,
        "changes": [{"field": "messages", "value": {
            "sender": {"id": "12334"}, "recipient": {"id": "23245"}, "timestamp": "1527459824",
            "message": {"mid": "random_mid", "text": "random_text"}}}]}]});
    let events = parse_json(&body);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type(), types::META_UNSUPPORTED);
    assert_eq!(
        events[0].data_value()["reason"],
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
    assert_eq!(events[0].event_type(), types::LEAD_RECEIVED);
    assert_eq!(events[0].route, ch(PAGE));
    assert_eq!(events[0].idempotency_key, "lead:1234");
    assert_eq!(
        events[0].data_value()["created_time_ms"],
        json!(1763382795000_i64)
    );
    assert_eq!(events[0].data_value().get("ad_id"), None);
    assert_eq!(
        events[1].data_value()["reason"],
        json!(reasons::MISSING_LEADGEN_ID)
    );
    assert_eq!(
        events[2].data_value()["reason"],
        json!(reasons::UNKNOWN_FIELD)
    );
}
