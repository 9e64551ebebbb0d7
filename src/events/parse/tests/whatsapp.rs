//! WhatsApp shapes the fixtures do not cover.

use super::*;

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
    let ids: Vec<String> = events
        .iter()
        .map(|e| {
            e.data_value()["message_id"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    let order: Vec<(&str, &str)> = events
        .iter()
        .zip(&ids)
        .map(|(e, id)| (e.conversation_key.as_str(), id.as_str()))
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
    assert_eq!(ev.event_type(), types::MESSAGE_RECEIVED);
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
    assert_eq!(ev.data_value()["group_id"], json!("120363000000000001"));
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
        events[0].data_value()["recipient"],
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
    assert_eq!(events[2].data_value()["status"], json!("played"));
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
    let types_got: Vec<_> = events.iter().map(|e| e.event_type()).collect();
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
    assert_eq!(events[0].data_value()["removed"], json!(true));
    assert_eq!(events[0].data_value().get("emoji"), None);
    assert_eq!(events[1].data_value()["removed"], json!(true));
    assert_eq!(
        events[2].data_value()["target_message_id"],
        json!("wamid.IN1")
    );
    assert_eq!(
        events[3].data_value()["target_message_id"],
        json!("wamid.IN1")
    );
    assert_eq!(
        events[4].data_value()["reason"],
        json!(reasons::MISSING_PAYLOAD)
    );
    assert_eq!(events[4].data_value()["type"], json!("interactive"));
    assert_eq!(events[5].conversation_key, "wa:111");
    assert_eq!(events[5].data_value()["is_echo"], json!(true));
    assert_eq!(events[5].data_value()["text"], json!("do app"));
    assert_eq!(
        events[5].idempotency_key,
        format!("wa:msg:{PN1}:wamid.SMB1")
    );
}

#[test]
fn nfm_reply_that_does_not_parse_keeps_the_string() {
    let body = wa_body(json!({"metadata": {"phone_number_id": PN1}, "messages": [
        {"from": "111", "id": "wamid.F", "timestamp": "1", "type": "interactive",
         "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{not json"}}}]}));
    let ev = &parse_json(&body)[0];
    assert_eq!(ev.data_value()["interactive"]["response"], Value::Null);
    assert_eq!(
        ev.data_value()["interactive"]["response_json"],
        json!("{not json")
    );
}
