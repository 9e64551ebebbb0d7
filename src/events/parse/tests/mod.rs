use super::*;

mod social;
mod table;
mod whatsapp;

use ChannelKind::{Instagram, Messenger, Whatsapp};
use table::{check_event, expectations};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");
const PN1: &str = "106000000000001";
const PN2: &str = "106000000000002";
const WABA: &str = "102000000000001";
const IG: &str = "17841400000000001";
const PAGE: &str = "105000000000001";
const ANA: &str = "user:US.100000000000000001";
const IGSID_CONV: &str = "igsid:6120000000000001";
const MID1: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMQZDZD";
const MID2: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMgZDZD";
const MID3: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMTkxMjE5NDA3MDAwMwZDZD";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn parse_ok(body: &[u8]) -> Vec<ParsedEvent> {
    parse_webhook(body).expect("body should parse")
}

fn parse_json(v: &Value) -> Vec<ParsedEvent> {
    parse_ok(&serde_json::to_vec(v).expect("serialize"))
}

/// The webhook fixtures (the README's API responses and browser events are not webhooks).
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

fn ch(id: &str) -> Route {
    Route::Channel(id.to_owned())
}

fn waba(id: &str) -> Route {
    Route::Waba(id.to_owned())
}

fn webhook_fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_webhook_fixture(n))
        .collect();
    names.sort();
    names
}

#[test]
fn every_webhook_fixture_matches_its_table_row() {
    let names = webhook_fixture_names();
    assert_eq!(names.len(), 46, "webhook fixtures found: {names:?}");
    for name in &names {
        let expected = expectations(name).unwrap_or_else(|| panic!("no expectations for {name}"));
        let events = parse_ok(&fixture(name));
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.event_type(), &e.idempotency_key))
            .collect();
        assert_eq!(events.len(), expected.len(), "{name}: count, got {got:?}");
        for (i, (ev, e)) in events.iter().zip(&expected).enumerate() {
            check_event(name, i, ev, e);
        }
    }
}

#[test]
fn every_event_type_is_listed_and_distinct() {
    let mut all = types::ALL.to_vec();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), types::ALL.len());
    for kind in [Whatsapp, Instagram, Messenger] {
        assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(ChannelKind::parse("WhatsApp"), None);
}

#[test]
fn raw_is_the_original_item() {
    let events = parse_ok(&fixture("wa-text.json"));
    let body: Value = serde_json::from_slice(&fixture("wa-text.json")).expect("json");
    assert_eq!(
        events[0].raw,
        body["entry"][0]["changes"][0]["value"]["messages"][0]
    );
    let events = parse_ok(&fixture("ig-echo.json"));
    let body: Value = serde_json::from_slice(&fixture("ig-echo.json")).expect("json");
    assert_eq!(events[0].raw, body["entry"][0]["messaging"][0]);
}

#[test]
fn batched_fixture_keeps_per_conversation_timestamp_order() {
    let events = parse_ok(&fixture("wa-batched-2-entries.json"));
    assert_eq!(events.len(), 7);
    let mut last: HashMap<(Route, String), i64> = HashMap::new();
    for ev in &events {
        let t = ev.occurred_at_ms.expect("timestamp");
        let prev = last.insert((ev.route.clone(), ev.conversation_key.clone()), t);
        assert!(prev.is_none_or(|p| p <= t), "out of order: {ev:?}");
    }
}

fn wa_body(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": "messages", "value": value}]}]
    })
}

fn text_msg(id: &str, from: &str, ts: Value) -> Value {
    json!({"from": from, "id": id, "timestamp": ts, "type": "text", "text": {"body": id}})
}

#[test]
fn instagram_on_object_page_routes_and_keys_as_instagram() {
    let mut body: Value = serde_json::from_slice(&fixture("ig-text.json")).expect("json");
    body["object"] = json!("page");
    let events = parse_json(&body);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.channel_kind, Some(Instagram));
    assert_eq!(ev.route, ch(IG));
    assert_eq!(ev.idempotency_key, format!("ig:msg:{IG}:{MID1}"));
    assert_eq!(ev.conversation_key, IGSID_CONV);
    // Same key as the `instagram` path: one message, deduplicated whichever way it came.
    assert_eq!(
        ev.idempotency_key,
        parse_ok(&fixture("ig-text.json"))[0].idempotency_key
    );
}

#[test]
fn unknown_field_and_unknown_object_become_meta_unsupported() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "time": 1763380000, "changes": [
            {"field": "flows", "value": {"event": "FLOW_STATUS_CHANGE", "flow_id": "1"}},
            {"field": "messages", "value": {"metadata": {"phone_number_id": PN1},
                "messages": [text_msg("wamid.K", "111", json!("1763380001"))]}}
        ]}]
    });
    let events = parse_json(&body);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_type(), types::META_UNSUPPORTED);
    assert_eq!(
        events[0].data_value()["reason"],
        json!(reasons::UNKNOWN_FIELD)
    );
    assert_eq!(events[0].data_value()["field"], json!("flows"));
    assert_eq!(events[0].route, waba(WABA));
    assert_eq!(events[0].conversation_key, "channel");
    assert!(
        events[0]
            .idempotency_key
            .starts_with(&format!("wa:unsupported:{WABA}:1763380000:h:"))
    );
    assert_eq!(events[1].event_type(), types::MESSAGE_RECEIVED);

    let body = json!({"object": "user", "entry": [{"id": "1", "time": 1, "changes": []}, 7]});
    let events = parse_json(&body);
    assert_eq!(events.len(), 2);
    for ev in &events {
        assert_eq!(ev.event_type(), types::META_UNSUPPORTED);
        assert_eq!(ev.channel_kind, None);
        assert_eq!(ev.route, Route::None);
        assert_eq!(ev.data_value()["reason"], json!(reasons::UNKNOWN_OBJECT));
        assert!(ev.idempotency_key.starts_with("meta:unsupported:h:"));
    }
    assert_ne!(events[0].idempotency_key, events[1].idempotency_key);
    // No `object` at all.
    let events = parse_json(&json!({"entry": [{"id": "1"}]}));
    assert_eq!(
        events[0].data_value()["reason"],
        json!(reasons::UNKNOWN_OBJECT)
    );
}

#[test]
fn unknown_wa_message_type_is_message_unsupported() {
    let body = wa_body(json!({
        "metadata": {"phone_number_id": PN1},
        "messages": [
            {"from": "111", "id": "wamid.PV", "timestamp": "1763380800", "type": "poll_vote",
             "poll_vote": {"option": 2}},
            {"from": "111", "id": "wamid.UK", "timestamp": "1763380801", "type": "unknown",
             "errors": [{"code": "131051", "title": "Message type unknown"}]},
            {"from": "111", "id": "wamid.NT", "timestamp": "1763380802"}
        ]
    }));
    let events = parse_json(&body);
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e.event_type() == types::MESSAGE_UNSUPPORTED)
    );
    assert_eq!(
        events[0].data_value(),
        json!({"message_id": "wamid.PV", "type": "poll_vote", "payload": {"option": 2}})
    );
    assert_eq!(events[0].idempotency_key, format!("wa:msg:{PN1}:wamid.PV"));
    assert_eq!(events[1].data_value()["errors"][0]["code"], json!(131051));
    assert_eq!(events[2].data_value()["type"], Value::Null);
}

#[test]
fn item_that_is_not_an_object_does_not_hide_its_neighbours() {
    let body = wa_body(json!({
        "metadata": {"phone_number_id": PN1},
        "messages": [42, text_msg("wamid.OK", "111", json!("1763380800")), null],
        "statuses": ["x"],
        "errors": [[]]
    }));
    let events = parse_json(&body);
    let got: Vec<_> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        got,
        vec![
            types::META_UNSUPPORTED,
            types::MESSAGE_RECEIVED,
            types::META_UNSUPPORTED,
            types::META_UNSUPPORTED,
            types::META_UNSUPPORTED
        ]
    );
    for ev in events
        .iter()
        .filter(|e| e.event_type() == types::META_UNSUPPORTED)
    {
        assert_eq!(ev.data_value()["reason"], json!(reasons::NOT_AN_OBJECT));
        assert!(
            ev.idempotency_key
                .starts_with(&format!("wa:unsupported:{PN1}:h:"))
        );
    }
    let body = json!({"object": "instagram", "entry": [{"id": IG, "messaging": [
        "oops",
        {"sender": {"id": "1"}, "recipient": {"id": IG}, "timestamp": 1763380801000_i64,
         "message": {"mid": "aWdfM1", "text": "ok"}},
        {"sender": {"id": "1"}, "recipient": {"id": IG}, "timestamp": 1763380802000_i64,
         "message": {"text": "no mid"}}
    ]}]});
    let events = parse_json(&body);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].event_type(), types::META_UNSUPPORTED);
    assert_eq!(events[1].event_type(), types::MESSAGE_RECEIVED);
    assert_eq!(events[2].event_type(), types::META_UNSUPPORTED);
    assert_eq!(events[2].data_value()["reason"], json!(reasons::MISSING_ID));
    assert_eq!(events[2].conversation_key, "igsid:1");
}

#[test]
fn reparsing_gives_the_same_keys_even_with_other_key_order() {
    for name in webhook_fixture_names() {
        let body = fixture(&name);
        let first = parse_ok(&body);
        assert_eq!(first, parse_ok(&body), "{name}");
        // Same content, other key order and whitespace.
        let v: Value = serde_json::from_slice(&body).expect("json");
        let again = parse_ok(serde_json::to_string_pretty(&v).expect("ser").as_bytes());
        let keys = |evs: &[ParsedEvent]| {
            evs.iter()
                .map(|e| e.idempotency_key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&first), keys(&again), "{name}");
    }
}

#[test]
fn canonical_json_matches_serde_json_default_output() {
    for name in webhook_fixture_names() {
        let v: Value = serde_json::from_slice(&fixture(&name)).expect("json");
        assert_eq!(canonical_json(&v), serde_json::to_string(&v).expect("ser"));
    }
    let v = json!({"b": [1.5, -2, 1e300, "\u{1f44d}\"\\/\n"], "a": {"z": null, "y": true}});
    assert_eq!(canonical_json(&v), serde_json::to_string(&v).expect("ser"));
}

/// Found by the `webhook_parse` fuzz target: serde_json's default float parsing is
/// best-effort, so `7e81` was read as 6.999999999999999e81, which canonical_json wrote
/// and which read back as 6.999999999999998e81. The canonical form was not a fixed point,
/// the same number written two ways hashed to two keys, and the relayed `raw` carried a
/// number Meta never sent. Cargo.toml enables serde_json's `float_roundtrip`.
#[test]
fn floats_are_read_exactly_so_hash_keys_do_not_depend_on_formatting() {
    for text in [
        "7e81",
        "4.313525284013258e-96",
        "70e80",
        "0.7e82",
        "1.7976931348623157e308",
    ] {
        let v: Value = serde_json::from_str(text).expect("number");
        let c = canonical_json(&v);
        let back: Value = serde_json::from_str(&c).expect("canonical is JSON");
        assert_eq!(canonical_json(&back), c, "{text}");
    }
    let key = |n: &str| {
        let body = format!(r#"{{"object":"x","entry":[{{"id":"1","n":{n}}}]}}"#);
        parse_ok(body.as_bytes())[0].idempotency_key.clone()
    };
    assert_eq!(key("7e81"), key("7.0e81"));
    assert_eq!(key("7e81"), key("70e80"));
    let v: Value = serde_json::from_str("7e81").expect("number");
    assert_eq!(v.as_f64(), Some(7e81));
}

#[test]
fn timestamps_from_strings_and_numbers() {
    assert_eq!(ts_ms(Some(&json!("1763380800"))), Some(1763380800000));
    assert_eq!(ts_ms(Some(&json!(1763380800))), Some(1763380800000));
    assert_eq!(ts_ms(Some(&json!(1763380800123_i64))), Some(1763380800123));
    assert_eq!(ts_ms(Some(&json!("1763380800123"))), Some(1763380800123));
    assert_eq!(
        ts_ms(Some(&json!(99_999_999_999_i64))),
        Some(99_999_999_999_000)
    );
    assert_eq!(
        ts_ms(Some(&json!(100_000_000_000_i64))),
        Some(100_000_000_000)
    );
    assert_eq!(ts_ms(Some(&json!("1763380800.5"))), Some(1763380800000));
    assert_eq!(ts_ms(Some(&json!(-5))), None);
    assert_eq!(ts_ms(Some(&json!("soon"))), None);
    assert_eq!(ts_ms(Some(&json!("NaN"))), None);
    assert_eq!(ts_ms(Some(&json!(1e300))), Some(i64::MAX));
    assert_eq!(ts_ms(Some(&json!(u64::MAX))), Some(i64::MAX));
    assert_eq!(ts_ms(Some(&json!(null))), None);
    assert_eq!(ts_ms(None), None);
    assert_eq!(
        id_str(Some(&json!(1689556908129835_i64))).as_deref(),
        Some("1689556908129835")
    );
    assert_eq!(
        id_str(Some(&json!(1.0e15))).as_deref(),
        Some("1000000000000000")
    );
    assert_eq!(id_str(Some(&json!(""))), None);
    assert_eq!(id_str(Some(&json!(" US.1 "))).as_deref(), Some(" US.1 "));
}

#[test]
fn malformed_bodies_are_errors_and_empty_entries_are_not() {
    assert!(matches!(
        parse_webhook(b"not json"),
        Err(MalformedBody::NotJson(_))
    ));
    assert!(matches!(parse_webhook(b""), Err(MalformedBody::NotJson(_))));
    assert!(matches!(
        parse_webhook(b"\xff\xfe"),
        Err(MalformedBody::NotJson(_))
    ));
    assert_eq!(parse_webhook(b"[]"), Err(MalformedBody::NotAnObject));
    assert_eq!(parse_webhook(b"\"x\""), Err(MalformedBody::NotAnObject));
    assert_eq!(parse_webhook(b"{}"), Err(MalformedBody::NoEntries));
    assert_eq!(
        parse_webhook(br#"{"object":"page","entry":{}}"#),
        Err(MalformedBody::NoEntries)
    );
    assert_eq!(
        parse_webhook(br#"{"object":"page","entry":[]}"#),
        Ok(vec![])
    );
    let secret = br#"{"object":"page","entry":[{"text":"s3cr3t-body-content"#;
    let Err(MalformedBody::NotJson(msg)) = parse_webhook(secret) else {
        panic!("expected NotJson");
    };
    assert!(!msg.contains("s3cr3t"), "{msg}");
    assert!(MalformedBody::NoEntries.to_string().contains("entry"));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(10_000);
    assert!(matches!(
        parse_webhook(deep.as_bytes()),
        Err(MalformedBody::NotJson(_))
    ));
    let deep = format!(r#"{{"object":"page","entry":[{}"#, "{\"a\":".repeat(10_000));
    assert!(matches!(
        parse_webhook(deep.as_bytes()),
        Err(MalformedBody::NotJson(_))
    ));
    // Nesting below the limit inside an item is kept as raw data.
    let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let body = format!(
        r#"{{"object":"page","entry":[{{"id":"1","messaging":[{{"sender":{{"id":"2"}},"x":{nested}}}]}}]}}"#
    );
    let events = parse_ok(body.as_bytes());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type(), types::META_UNSUPPORTED);
}

/// Every JSON pointer in `v` (root excluded), escaped per RFC 6901.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

fn assert_sane(body: &[u8]) {
    if let Ok(events) = parse_webhook(body) {
        for ev in events {
            assert!(types::ALL.contains(&ev.event_type()));
            assert!(!ev.idempotency_key.is_empty());
            assert!(!ev.conversation_key.is_empty());
            assert!(ev.data_value().is_object());
            assert_eq!(ev.event_type(), ev.data.event_type());
        }
    }
}

#[test]
fn mutilated_fixtures_never_panic() {
    let nested = {
        let mut v = json!(1);
        for _ in 0..60 {
            v = json!([v]);
        }
        v
    };
    let replacements = [
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!("aWdf"),
        json!(true),
        json!([]),
        json!({}),
        json!([null, 1, "a"]),
        json!({"id": {}, "mid": [], "type": 5}),
        nested,
    ];
    let mut bodies = 0usize;
    for name in webhook_fixture_names() {
        let bytes = fixture(&name);
        // Truncations.
        for cut in (0..bytes.len()).step_by(7) {
            assert_sane(&bytes[..cut]);
            bodies += 1;
        }
        let root: Value = serde_json::from_slice(&bytes).expect("json");
        let mut ptrs = Vec::new();
        pointers(&root, String::new(), &mut ptrs);
        for p in &ptrs {
            // Replace the node.
            for r in &replacements {
                let mut v = root.clone();
                if let Some(slot) = v.pointer_mut(p) {
                    *slot = r.clone();
                }
                assert_sane(&serde_json::to_vec(&v).expect("ser"));
                bodies += 1;
            }
            // Remove it.
            let (parent, last) = p.rsplit_once('/').expect("pointer has a slash");
            let mut v = root.clone();
            match v.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        a.remove(i);
                    }
                }
                _ => {}
            }
            assert_sane(&serde_json::to_vec(&v).expect("ser"));
            bodies += 1;
        }
        // Byte flips from a fixed-seed generator.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64;
        for _ in 0..200 {
            let mut b = bytes.clone();
            for _ in 0..3 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pos = (seed >> 33) as usize % b.len();
                b[pos] = (seed >> 13) as u8;
            }
            assert_sane(&b);
            bodies += 1;
        }
    }
    assert!(bodies > 10_000, "only {bodies} bodies tried");
}
