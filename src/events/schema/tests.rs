use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;
use crate::events::parse::{ParsedEvent, parse_webhook, types};
use crate::messages::lifecycle::ErrorInfo;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");

/// The same filter as the parser's tests: webhook bodies only.
fn is_webhook_fixture(name: &str) -> bool {
    let webhook_prefix = ["wa-", "ig-", "messenger-"]
        .iter()
        .any(|p| name.starts_with(p))
        || name == "leadgen.json";
    webhook_prefix
        && name.ends_with(".json")
        && !name.ends_with("-response.json")
        && name != "wa-media-metadata.json"
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_webhook_fixture(n))
        .collect();
    names.sort();
    names
}

fn lead_response() -> Value {
    serde_json::from_slice(&fixture("lead-retrieve-response.json")).expect("lead json")
}

/// The data as delivered: leads only after the Graph API fetch.
fn delivered_data(ev: &ParsedEvent) -> Value {
    if ev.event_type() == types::LEAD_RECEIVED {
        let EventData::LeadWebhook(webhook) = ev.data.clone() else {
            panic!("a parsed lead is the webhook's lead");
        };
        let lead = LeadReceivedData::from_webhook(*webhook, &lead_response()).expect("merge");
        serde_json::to_value(lead).expect("json")
    } else {
        ev.data_value()
    }
}

/// The body `render_envelope` sends for a stored event.
fn body(event_type: &str, contact: Option<&Value>, data: &Value, raw: &Value) -> Value {
    let (contact, data, raw) = (
        contact.map(Value::to_string),
        data.to_string(),
        raw.to_string(),
    );
    let stored = crate::events::StoredEvent {
        id: "evt_0197a0c6a1b27c3d8e4f5a6b7c8d9e0f",
        event_type,
        instance_id: EX_INSTANCE,
        channel_id: Some(EX_CHANNEL),
        channel_kind: Some("whatsapp"),
        channel_external_id: EX_PNID,
        conversation_id: "conv_5b1f0c2a9d7e4f3a8c6b2d1e",
        occurred_at: None,
        received_at: 1_763_380_801_250,
        contact: contact.as_deref(),
        data: Some(&data),
        raw: Some(&raw),
    };
    let bytes = crate::events::render_envelope(&stored).expect("render");
    serde_json::from_slice(&bytes).expect("envelope json")
}

#[test]
fn every_event_type_has_one_schema() {
    let listed: Vec<&str> = types::ALL.iter().chain(types::BRIDGE).copied().collect();
    for t in &listed {
        assert!(data_schema_name(t).is_some(), "{t} has no data schema");
    }
    let names = event_schema_names();
    assert_eq!(
        names.len(),
        listed.len(),
        "a schema for a type that is not listed"
    );
    let distinct: HashSet<_> = names.iter().map(|(_, e)| *e).collect();
    assert_eq!(distinct.len(), names.len());
    let docs = event_docs();
    assert_eq!(docs.len(), listed.len());
    for (d, t) in docs.iter().zip(EVENT_SCHEMAS) {
        assert_eq!(d.event_type, t.0);
        let op = format!("events.{}", t.0.replace('.', "_"));
        assert_eq!(d.operation_id, op.as_str());
        assert!(d.request.is_some(), "{} has no request body", t.0);
    }
}

#[test]
fn every_parsed_fixture_event_fits_its_schema() {
    let names = fixture_names();
    assert_eq!(names.len(), 46, "webhook fixtures: {names:?}");
    let mut seen = HashSet::new();
    let mut checked = 0;
    for name in &names {
        let events = parse_webhook(&fixture(name)).expect("fixture parses");
        for (i, ev) in events.iter().enumerate() {
            let data = delivered_data(ev);
            if let Err(e) = check_data(ev.event_type(), data.clone()) {
                panic!("{name}[{i}] {}: {e}\n{data:#}", ev.event_type());
            }
            let body = body(ev.event_type(), ev.contact.as_ref(), &data, &ev.raw);
            if let Err(e) = check_envelope(ev.event_type(), body.clone()) {
                panic!("{name}[{i}] {} envelope: {e}\n{body:#}", ev.event_type());
            }
            seen.insert(ev.event_type());
            checked += 1;
        }
    }
    assert!(checked >= 41, "{checked}");
    // The fixtures cover most types; the others are checked with hand-built items below.
    assert!(seen.len() >= 14, "{seen:?}");
}

/// Items of the types the fixtures do not cover, and odd shapes the parser passes on.
#[test]
fn hand_built_items_fit_their_schemas() {
    let wa = |value: Value| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102000000000001",
            "time": 1763380800, "changes": [{"field": "messages", "value": value}]}]})
    };
    let meta = json!({"display_phone_number": "15559990000", "phone_number_id": EX_PNID});
    let msg = |extra: Value| {
        let mut m = json!({"from": "15550001234", "id": "wamid.X", "timestamp": "1763380800"});
        if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        wa(json!({"messaging_product": "whatsapp", "metadata": meta, "messages": [m]}))
    };
    let ig = |item: Value| {
        let mut m = json!({"sender": {"id": "6120000000000001"},
            "recipient": {"id": "17841400000000001"}, "timestamp": 1763380800000_i64});
        if let (Some(m), Some(e)) = (m.as_object_mut(), item.as_object()) {
            m.extend(e.clone());
        }
        json!({"object": "instagram", "entry": [{"id": "17841400000000001",
            "time": 1763380800000_i64, "messaging": [m]}]})
    };
    let bodies = vec![
        msg(
            json!({"type": "edit", "edit": {"original_message_id": "wamid.O",
            "message": {"type": "text", "text": {"body": "x"}}}}),
        ),
        msg(json!({"type": "revoke", "revoke": {"original_message_id": "wamid.O"}})),
        msg(json!({"type": "reaction", "reaction": {"message_id": "wamid.O", "emoji": ""}})),
        msg(json!({"type": "image"})),
        msg(json!({"type": "text", "text": {"body": 5}})),
        msg(json!({"type": "poll", "poll": {"q": 1}})),
        msg(json!({"id": 7, "type": null})),
        msg(json!({"type": "location", "location": {"latitude": "x"}})),
        msg(
            json!({"type": "interactive", "interactive": {"type": "nfm_reply",
            "nfm_reply": {"response_json": "{not json"}}}),
        ),
        msg(json!({"type": "interactive", "interactive": {"type": "other", "other": {}}})),
        msg(json!({"type": "button", "button": {}})),
        msg(json!({"type": "order", "order": {"catalog_id": 1}})),
        msg(
            json!({"type": "system", "system": {"type": "user_changed_user_id",
            "user_id": "US.2"}}),
        ),
        msg(
            json!({"type": "text", "text": {"body": "hi"}, "errors": [{"code": "x"}, {}],
            "context": {"id": "wamid.C", "forwarded": "true", "referred_product": {}}}),
        ),
        msg(json!({"id": null, "type": "text"})),
        wa(
            json!({"metadata": meta, "statuses": [{"id": "wamid.S", "status": "failed",
            "timestamp": "1763380800", "errors": [{"code": 131047}]}]}),
        ),
        wa(
            json!({"metadata": meta, "statuses": [{"id": "wamid.S", "status": "sent",
            "recipient_type": "group", "recipient_id": "G1"}]}),
        ),
        wa(json!({"metadata": meta, "errors": [{"code": 1, "title": "t"}, 5]})),
        wa(json!({"metadata": meta, "messages": "nope"})),
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102000000000001",
            "changes": [{"field": "message_template_quality_update", "value": {
            "message_template_id": 1, "new_quality_score": "RED"}}, {"field":
            "template_category_update", "value": {"message_template_id": 2,
            "new_category": "MARKETING"}}, {"field":
            "message_template_status_update", "value": {}}, {"field": "account_update",
            "value": {"ban_info": {}}}, {"field": "phone_number_quality_update",
            "value": {}}, {"field": "user_preferences", "value": {"user_preferences":
            [{"user_id": "US.1", "category": "marketing_messages", "value": "resume"}]}},
            {"field": "smb_message_echoes", "value": {"metadata": meta, "message_echoes":
            [{"from": "15559990000", "to": "15550001234", "id": "wamid.E",
            "type": "reaction", "reaction": {"message_id": "wamid.O", "emoji": "x"}}]}},
            {"field": "history", "value": {"metadata": meta, "history": [{"metadata":
            {"phase": 0}, "threads": [{"id": "15550001234", "messages": [{"from":
            "15550001234", "id": "wamid.H", "type": "image", "image": {"id": "7",
            "mime_type": "image/jpeg"}}, {"from": "15559990000", "id": "wamid.H2",
            "type": "reaction", "reaction": {"message_id": "wamid.H", "emoji": ""}},
            {"id": "wamid.H3", "type": "future_type", "future_type": {}}]}]},
            {"errors": [{"code": 2593109}]}]}},
            {"field": "smb_app_state_sync", "value": {"metadata": meta, "state_sync": [
            {"type": "contact", "contact": {"phone_number": "15550001234"}},
            {"type": "contact", "action": "remove", "contact": {"full_name": "A"}}]}},
            {"field": "flows", "value": {}}]}]}),
        ig(json!({"message": {"mid": "aWdf1", "is_unsupported": true}})),
        ig(
            json!({"message": {"mid": "aWdf1", "text": "t", "is_echo": true,
            "app_id": 1, "metadata": "msg_1"}}),
        ),
        ig(
            json!({"message": {"mid": "aWdf1", "attachments": [{"type": "image",
            "payload": {"url": "https://x"}}, {}], "quick_reply": {"payload": "Q"},
            "reply_to": {"mid": "aWdf0"}}}),
        ),
        ig(json!({"message": {"mid": "aWdf1"}})),
        ig(json!({"message_edit": {"mid": "aWdf1", "num_edit": "two"}})),
        ig(json!({"reaction": {"mid": "aWdf1", "action": "unreact"}})),
        ig(json!({"postback": {"title": "T", "payload": "P"}})),
        ig(json!({"read": {"mid": "aWdf1"}})),
        ig(json!({"referral": {"ref": "r", "source": "ADS"}})),
        ig(json!({"optin": {}})),
        ig(json!({"pass_thread_control": {}})),
        ig(json!({"message": "x"})),
        json!({"object": "page", "entry": [{"id": "105000000000001", "time": 1,
            "messaging": [{"sender": {"id": "7010000000000001"}, "recipient": {"id":
            "105000000000001"}, "delivery": {"watermark": 1763380800000_i64, "mids": ["m"]}},
            {"sender": {"id": "7010000000000001"}, "read": {"watermark": 1}}],
            "changes": [{"field": "leadgen", "value": {"leadgen_id": 9}}, {"field":
            "leadgen", "value": {}}, {"field": "feed", "value": {}}]}]}),
        json!({"object": "instagram", "entry": [{"id": "1", "changes": [{"field":
            "messages", "value": {"sender": {"id": "2"}}}]}, {"id": "1"}, 3]}),
        json!({"object": "unknown", "entry": [{"id": 4}]}),
    ];
    let mut seen = HashSet::new();
    for (n, b) in bodies.iter().enumerate() {
        let events = parse_webhook(&serde_json::to_vec(b).expect("json")).expect("parses");
        for ev in &events {
            let data = delivered_data(ev);
            if let Err(e) = check_data(ev.event_type(), data.clone()) {
                panic!("body {n} {}: {e}\n{data:#}", ev.event_type());
            }
            seen.insert(ev.event_type());
        }
    }
    for t in types::ALL {
        if *t != types::LEAD_RECEIVED {
            assert!(seen.contains(t), "no hand-built item produced {t}");
        }
    }
}

/// `message.status` and `message.echo` of the bridge's sends gain `bridge_message_id`
/// (store/ingest.rs `outbound_effects`).
#[test]
fn bridge_linkage_fits() {
    for name in ["wa-status-failed.json", "ig-echo.json"] {
        for ev in parse_webhook(&fixture(name)).expect("parses") {
            let mut data = ev.data.clone();
            data.set_bridge_message_id("msg_1");
            let data = data.to_value().expect("json");
            assert_eq!(data["bridge_message_id"], "msg_1");
            check_data(ev.event_type(), data).expect(name);
        }
    }
}

/// `data` of the bridge's own events as the store serialises them (with every nullable key
/// null as well as set) fits its schema, and so do their envelopes (contact null, raw
/// null) as `insert_event_row` stores them.
#[test]
fn bridge_event_data_fits() {
    let sent = |meta_id: Option<&str>, reference: Option<&str>| MessageSentData {
        bridge_message_id: "msg_1".into(),
        meta_message_id: meta_id.map(str::to_owned),
        channel_id: "ch_1".into(),
        to: "15550001234".into(),
        r#type: "text".into(),
        client_reference: reference.map(str::to_owned),
    };
    let failed = |meta_id: Option<&str>, e: ErrorInfo| MessageFailedData {
        bridge_message_id: "msg_1".into(),
        meta_message_id: meta_id.map(str::to_owned),
        channel_id: "ch_1".into(),
        to: "15550001234".into(),
        r#type: "text".into(),
        client_reference: None,
        error: SendError {
            code: e.kind,
            meta_code: e.code,
            meta_subcode: e.subcode,
            reason: e.reason,
        },
    };
    let meta_error = ErrorInfo {
        code: Some(131047),
        subcode: Some(2494010),
        kind: "131047".into(),
        reason: "window closed".into(),
    };
    let connected =
        |waba: Option<&str>, name: Option<&str>, reason: Option<&str>| ChannelConnectedData {
            channel_id: "ch_1".into(),
            kind: "whatsapp".into(),
            external_id: EX_PNID.into(),
            waba_id: waba.map(str::to_owned),
            name: name.map(str::to_owned),
            status: "pending".into(),
            reason: reason.map(str::to_owned),
            connect_session_id: "cs_1".into(),
            reconnected: true,
            missing_permissions: vec!["whatsapp_business_messaging".into()],
        };
    let updated = |until: Option<&str>| ChannelUpdatedData {
        channel_id: "ch_1".into(),
        status: "paused".into(),
        previous_status: "active".into(),
        reason: "spam".into(),
        connection: "connected".into(),
        send_state: "paused".into(),
        previous_send_state: "sending".into(),
        send_paused_until: until.map(str::to_owned),
    };
    let cases: Vec<EventData> = vec![
        sent(Some("wamid.1"), Some("r")).into(),
        sent(None, None).into(),
        failed(None, ErrorInfo::channel_disconnected()).into(),
        failed(Some("wamid.1"), meta_error).into(),
        updated(None).into(),
        updated(Some("2026-12-02T10:15:00.000Z")).into(),
        ChannelDisconnectedData {
            channel_id: "ch_1".into(),
            reason: "removed".into(),
        }
        .into(),
        connected(None, None, None).into(),
        connected(
            Some("102000000000001"),
            Some("Loja"),
            Some("not registered yet"),
        )
        .into(),
        ChannelTokenExpiringData {
            channel_id: "ch_1".into(),
            expires_at: crate::ms_to_rfc3339(1_763_380_800_000),
            reason: "the access token expires".into(),
        }
        .into(),
        ChannelSubscriptionRestoredData {
            channel_id: "ch_1".into(),
            reason: "restored".into(),
        }
        .into(),
        ChannelBackfillData {
            channel_id: "ch_1".into(),
            trigger: "api".into(),
            ..Default::default()
        }
        .into(),
    ];
    let mut seen = HashSet::new();
    for case in cases {
        let t = case.event_type();
        let data = case.to_value().expect("json");
        check_data(t, data.clone()).unwrap_or_else(|e| panic!("{t}: {e}\n{data:#}"));
        let body = body(t, None, &data, &Value::Null);
        check_envelope(t, body.clone()).unwrap_or_else(|e| panic!("{t}: {e}\n{body:#}"));
        seen.insert(t);
    }
    for t in types::BRIDGE {
        assert!(seen.contains(t), "{t} not checked");
    }
}

/// What serde writes is what the schema describes: for every `data` type's example and
/// default value, serde's JSON equals poem-openapi's (same keys, same nulls, same absent
/// keys); the `#[oai(skip)]` keys (`other`) are empty in the examples and defaults.
#[test]
fn serde_and_the_schema_agree_on_every_data_type() {
    let pairs = data_serde_and_schema_json();
    assert_eq!(pairs.len(), 2 * EVENT_SCHEMAS.len());
    for (name, which, serde, schema) in pairs {
        assert_eq!(serde, schema, "{name} ({which})");
    }
}

#[test]
fn lead_ad_fields_serialise_as_documented() {
    use poem_openapi::types::ToJSON;
    for (v, s) in [
        (LeadAdFields::Read, "read"),
        (LeadAdFields::NotPermitted, "not_permitted"),
        (LeadAdFields::Failed, "failed"),
    ] {
        assert_eq!(v.to_json(), Some(json!(s)));
        assert_eq!(serde_json::to_value(v).expect("json"), json!(s));
    }
}

#[test]
fn leads_without_field_data_do_not_fit() {
    // The parser's lead data alone is not what is delivered (field_data is added first).
    let ev = parse_webhook(&fixture("leadgen.json")).expect("parses");
    assert!(check_data(types::LEAD_RECEIVED, ev[0].data_value()).is_err());
    let webhook = LeadWebhookData {
        leadgen_id: "1".into(),
        ..Default::default()
    };
    let merged =
        LeadReceivedData::from_webhook(webhook, &json!({"field_data": []})).expect("merge");
    check_data(
        types::LEAD_RECEIVED,
        serde_json::to_value(merged).expect("json"),
    )
    .expect("minimal lead");
}

#[test]
fn examples_fit_their_own_schemas() {
    let examples = examples();
    assert_eq!(examples.len(), EVENT_SCHEMAS.len());
    for (t, example) in examples {
        assert_eq!(example["type"], json!(t));
        check_envelope(t, example.clone()).unwrap_or_else(|e| panic!("{t}: {e}"));
        check_data(t, example["data"].clone()).unwrap_or_else(|e| panic!("{t}: {e}"));
    }
}

#[test]
fn fixture_examples_match_the_parser() {
    // The envelope examples of parsed types carry a `raw` item; parsing it as Meta's item
    // gives the same event type (so the examples stay realistic).
    let ex = examples();
    let get = |t: &str| ex.iter().find(|(n, _)| *n == t).map(|(_, v)| v.clone());
    let msg = get(types::MESSAGE_RECEIVED).expect("example");
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
        "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": EX_PNID},
        "messages": [msg["raw"]]}}]}]});
    let events = parse_webhook(&serde_json::to_vec(&body).expect("json")).expect("parses");
    assert_eq!(events[0].event_type(), types::MESSAGE_RECEIVED);
    assert_eq!(events[0].data_value()["text"], msg["data"]["text"]);
}
