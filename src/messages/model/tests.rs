use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use serde_json::{Map, json};

use super::*;

const BID: &str = "bridge-msg-7f3a";
const PHONE: &str = "+55 11 98888-7777";
const PSID: &str = "6120000000000001";
const WA: ChannelKind = ChannelKind::Whatsapp;
const IG: ChannelKind = ChannelKind::Instagram;
const FB: ChannelKind = ChannelKind::Messenger;

fn parse(v: Value) -> Result<SendMessageRequest, String> {
    SendMessageRequest::parse_from_json(Some(v)).map_err(|e| e.into_message())
}

fn default_to(kind: ChannelKind) -> &'static str {
    if kind == WA { PHONE } else { PSID }
}

/// A request with `extra` top-level fields merged in.
fn request_with(kind: ChannelKind, message: Value, extra: Value) -> SendMessageRequest {
    let mut v = json!({"channel_id": "ch_1", "to": default_to(kind), "message": message});
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    parse(v).unwrap()
}

fn run(kind: ChannelKind, message: Value, extra: Value) -> Result<Rendered, Violation> {
    render(kind, &request_with(kind, message, extra), BID)
}

fn ok(kind: ChannelKind, message: Value) -> Rendered {
    run(kind, message, json!({})).unwrap()
}

fn body(kind: ChannelKind, message: Value) -> Value {
    ok(kind, message).body
}

#[track_caller]
fn fails(kind: ChannelKind, message: Value, field: &str, rule: &str) {
    fails_with(kind, message, json!({}), field, rule);
}

#[track_caller]
fn fails_with(kind: ChannelKind, message: Value, extra: Value, field: &str, rule: &str) {
    let v = run(kind, message, extra).unwrap_err();
    assert_eq!((v.field.as_str(), v.rule), (field, rule), "{}", v.message);
}

/// At `max` characters the message renders; at `max + 1` it fails on `field` with max_length.
#[track_caller]
fn limit(kind: ChannelKind, max: usize, field: &str, make: impl Fn(&str) -> Value) {
    let at = "é".repeat(max);
    if let Err(v) = run(kind, make(&at), json!({})) {
        panic!("at the limit: {v:?}");
    }
    fails(kind, make(&format!("{at}é")), field, rule::MAX_LENGTH);
}

fn wa_body(graph_type: &str, content: Value) -> Value {
    let mut v = json!({
        "messaging_product": "whatsapp", "recipient_type": "individual",
        "to": "5511988887777", "type": graph_type,
        "biz_opaque_callback_data": BID,
    });
    if let Some(obj) = v.as_object_mut() {
        obj.insert(graph_type.to_string(), content);
    }
    v
}

fn social_body(message: Value) -> Value {
    json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": message})
}

fn buttons(n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("b{i}"), "title": format!("Option {i}")}))
        .collect();
    json!({"type": "buttons", "body": "Choose", "buttons": list})
}

fn list_with(sections: Value) -> Value {
    json!({"type": "list", "body": "Pick a time", "button": "Times", "sections": sections})
}

fn rows(prefix: &str, n: usize) -> Value {
    let rows: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("{prefix}{i}"), "title": format!("Row {i}")}))
        .collect();
    Value::Array(rows)
}

fn template_with(components: Value) -> Value {
    json!({"type": "template", "name": "order_update", "language": "pt_BR", "components": components})
}

// --- wire format ------------------------------------------------------------------------

#[test]
fn unknown_or_missing_type_does_not_parse() {
    let base = |message: Value| json!({"channel_id": "ch_1", "to": PHONE, "message": message});
    assert!(parse(base(json!({"type": "carousel", "body": "x"}))).is_err());
    assert!(parse(base(json!({"body": "x"}))).is_err());
    assert!(parse(base(json!({"type": "text"}))).is_err());
    assert!(parse(json!({"channel_id": "ch_1", "message": {"type": "typing_on"}})).is_err());
    assert!(parse(base(json!({"type": "text", "body": "x"}))).is_ok());
    // Unknown tags and template parameter types are refused too.
    assert!(
        parse(json!({"channel_id": "ch_1", "to": PSID, "tag": "promo",
                "message": {"type": "typing_on"}}))
        .is_err()
    );
    assert!(
        parse(base(template_with(
            json!([{"type": "body", "parameters": [{"type": "poll"}]}])
        )))
        .is_err()
    );
}

#[test]
fn request_round_trips_through_json() {
    let v = json!({"channel_id": "ch_1", "to": PHONE, "reply_to": "wamid.A",
            "client_reference": "ref", "ignore_window": true,
            "message": {"type": "list", "body": "b", "button": "Go",
                "sections": [{"rows": [{"id": "r", "title": "t"}]}]}});
    let req = parse(v.clone()).unwrap();
    assert_eq!(req.to_json(), Some(v));
    let empty = json!({"channel_id": "ch_1", "to": PSID, "message": {"type": "mark_seen"}});
    assert_eq!(parse(empty.clone()).unwrap().to_json(), Some(empty));
}

#[test]
fn openapi_schemas_are_distinct_per_variant() {
    let mut registry = poem_openapi::registry::Registry::new();
    SendMessageRequest::register(&mut registry);
    for name in [
        "OutboundMessage_ImageMessage",
        "OutboundMessage_VideoMessage",
        "OutboundMessage_TypingOnAction",
        "OutboundMessage_MarkSeenAction",
        "InteractiveHeader_HeaderImage",
        "TemplateParameter_TemplateDocumentParameter",
        "MessageTag",
    ] {
        assert!(registry.schemas.contains_key(name), "{name}");
    }
    let example = SendMessageRequest::example();
    assert!(render(WA, &example, BID).is_ok());
}

#[test]
fn channel_kind_parses_known_names_only() {
    for kind in [WA, IG, FB] {
        assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(ChannelKind::parse("WhatsApp"), None);
    assert_eq!(ChannelKind::parse("telegram"), None);
}

// --- WhatsApp bodies --------------------------------------------------------------------

#[test]
fn wa_text_with_reply() {
    let r = run(
        WA,
        json!({"type": "text", "body": "Temos sim! Quer que eu reserve?", "preview_url": false}),
        json!({"reply_to": "wamid.of.the.message.being.quoted", "client_reference": "crm-1"}),
    )
    .unwrap();
    assert_eq!(
        r.body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "5511988887777", "type": "text",
                "text": {"preview_url": false, "body": "Temos sim! Quer que eu reserve?"},
                "context": {"message_id": "wamid.of.the.message.being.quoted"},
                "biz_opaque_callback_data": "bridge-msg-7f3a"})
    );
    assert_eq!(r.message_type, "text");
    assert!(r.free_form && r.expects_message_id && !r.recipient_is_user_id);
}

#[test]
fn wa_phone_numbers_are_normalised() {
    for to in [
        "+55 (11) 98888-7777",
        "5511988887777",
        "55-11-98888-7777",
        "+5511988887777",
    ] {
        let req = parse(json!({"channel_id": "ch_1", "to": to,
                "message": {"type": "text", "body": "hi"}}))
        .unwrap();
        let r = render(WA, &req, BID).unwrap();
        assert_eq!(r.body["to"], json!("5511988887777"), "{to}");
    }
}

#[test]
fn wa_phone_number_bounds() {
    let run_to = |to: &str| {
        let req = parse(json!({"channel_id": "ch_1", "to": to,
                "message": {"type": "text", "body": "hi"}}))
        .unwrap();
        render(WA, &req, BID)
    };
    assert!(run_to("12345").is_ok());
    assert!(run_to(&"1".repeat(20)).is_ok());
    for bad in [
        "1234",
        &"1".repeat(21),
        "55 11 9888a",
        "++5511988887777",
        "55+11988887777",
        "br.123",
    ] {
        let v = run_to(bad).unwrap_err();
        assert_eq!(
            (v.field.as_str(), v.rule),
            ("to", rule::INVALID_FORMAT),
            "{bad}"
        );
    }
    assert_eq!(run_to("").unwrap_err().rule, rule::REQUIRED);
    assert_eq!(run_to(&"1".repeat(200)).unwrap_err().rule, rule::MAX_LENGTH);
    assert_eq!(run_to("group:").unwrap_err().rule, rule::INVALID_FORMAT);
    assert_eq!(run_to("group:a b").unwrap_err().rule, rule::INVALID_FORMAT);
}

#[test]
fn wa_bsuid_is_sent_as_recipient() {
    // Meta's BSUID is a country code, a dot and alphanumerics (not only digits), up to 128
    // of them (src/meta/bsuid.rs): the same rule the webhook parser keys contacts on.
    let longest = format!("DE.{}", "a1".repeat(64));
    let longest_parent = format!("DE.ENT.{}", "Z".repeat(128));
    for id in [
        "BR.13491208655302741918",
        "BR.ENT.11815799212886844830",
        "US.13491208655302741918aBc",
        longest.as_str(),
        longest_parent.as_str(),
    ] {
        let req = parse(json!({"channel_id": "ch_1", "to": id,
                "message": {"type": "text", "body": "Oi"}}))
        .unwrap();
        let r = render(WA, &req, BID).unwrap();
        assert_eq!(
            r.body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                    "recipient": id, "type": "text", "text": {"body": "Oi"},
                    "biz_opaque_callback_data": BID})
        );
        assert!(r.recipient_is_user_id);
    }
    for bad in [
        format!("DE.{}", "a".repeat(129)),
        "us.123".to_string(),
        "US.12-3x".to_string(),
    ] {
        let req = parse(json!({"channel_id": "ch_1", "to": bad,
                "message": {"type": "text", "body": "Oi"}}))
        .unwrap();
        let v = render(WA, &req, BID).unwrap_err();
        assert_eq!(
            (v.field.as_str(), v.rule),
            ("to", rule::INVALID_FORMAT),
            "{bad}"
        );
    }
}

#[test]
fn wa_group_recipient() {
    let req = parse(
        json!({"channel_id": "ch_1", "to": "group:120363025555555555",
            "message": {"type": "text", "body": "Oi"}}),
    )
    .unwrap();
    let r = render(WA, &req, BID).unwrap();
    assert_eq!(
        r.body,
        json!({"messaging_product": "whatsapp", "recipient_type": "group",
                "to": "120363025555555555", "type": "text", "text": {"body": "Oi"},
                "biz_opaque_callback_data": BID})
    );
    assert!(!r.recipient_is_user_id);
}

#[test]
fn wa_image_and_video() {
    assert_eq!(
        body(
            WA,
            json!({"type": "image", "link": "https://cdn.example.com/p.jpg", "caption": "foto"})
        ),
        wa_body(
            "image",
            json!({"link": "https://cdn.example.com/p.jpg", "caption": "foto"})
        )
    );
    assert_eq!(
        body(WA, json!({"type": "video", "media_id": "1480000000000001"})),
        wa_body("video", json!({"id": "1480000000000001"}))
    );
}

#[test]
fn wa_audio_document_sticker() {
    assert_eq!(
        body(WA, json!({"type": "audio", "media_id": "1480000000000002"})),
        wa_body("audio", json!({"id": "1480000000000002"}))
    );
    assert_eq!(
        body(
            WA,
            json!({"type": "document", "link": "https://cdn.example.com/nf.pdf",
                "caption": "Nota fiscal", "filename": "nf-4411.pdf"})
        ),
        wa_body(
            "document",
            json!({"link": "https://cdn.example.com/nf.pdf",
                "caption": "Nota fiscal", "filename": "nf-4411.pdf"})
        )
    );
    assert_eq!(
        body(
            WA,
            json!({"type": "sticker", "link": "https://cdn.example.com/s.webp"})
        ),
        wa_body("sticker", json!({"link": "https://cdn.example.com/s.webp"}))
    );
}

#[test]
fn wa_location() {
    assert_eq!(
        body(
            WA,
            json!({"type": "location", "latitude": -23.5613, "longitude": -46.6565,
                "name": "Av. Paulista 1000", "address": "São Paulo - SP"})
        ),
        wa_body(
            "location",
            json!({"latitude": -23.5613, "longitude": -46.6565,
                "name": "Av. Paulista 1000", "address": "São Paulo - SP"})
        )
    );
    assert_eq!(
        body(
            WA,
            json!({"type": "location", "latitude": 0, "longitude": 10})
        ),
        wa_body("location", json!({"latitude": 0.0, "longitude": 10.0}))
    );
}

#[test]
fn wa_location_bounds() {
    let loc = |lat: f64, lon: f64| json!({"type": "location", "latitude": lat, "longitude": lon});
    for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0)] {
        assert!(run(WA, loc(lat, lon), json!({})).is_ok());
    }
    fails(WA, loc(90.01, 0.0), "message.latitude", rule::OUT_OF_RANGE);
    fails(WA, loc(-90.01, 0.0), "message.latitude", rule::OUT_OF_RANGE);
    fails(
        WA,
        loc(0.0, 180.01),
        "message.longitude",
        rule::OUT_OF_RANGE,
    );
    fails(
        WA,
        loc(0.0, -180.01),
        "message.longitude",
        rule::OUT_OF_RANGE,
    );
}

#[test]
fn wa_contacts() {
    let card = json!({
        "name": {"formatted_name": "Bruno Lima", "first_name": "Bruno", "last_name": "Lima"},
        "phones": [{"phone": "+1 555 000 9876", "type": "CELL", "wa_id": "15550009876"}],
        "emails": [{"email": "bruno@example.com", "type": "WORK"}],
        "org": {"company": "Lima & Filhos"},
        "urls": [{"url": "https://example.com"}]
    });
    assert_eq!(
        body(WA, json!({"type": "contacts", "contacts": [card.clone()]})),
        wa_body("contacts", json!([card]))
    );
}

#[test]
fn wa_contacts_validation() {
    fails(
        WA,
        json!({"type": "contacts", "contacts": []}),
        "message.contacts",
        rule::TOO_FEW,
    );
    fails(
        WA,
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": " "}}]}),
        "message.contacts[0].name.formatted_name",
        rule::REQUIRED,
    );
    fails(
        WA,
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "A", "first_name": "A"},
                "phones": [{"phone": "1"}, {"phone": "2", "wa_id": "+15"}]}]}),
        "message.contacts[0].phones[1].wa_id",
        rule::INVALID_FORMAT,
    );
    assert!(
        parse(json!({"channel_id": "ch_1", "to": PHONE,
            "message": {"type": "contacts", "contacts": [{"phones": []}]}}))
        .is_err()
    );
}

/// Meta (Contacts messages page): `formatted_name` plus at least one of first_name,
/// last_name, middle_name, suffix, prefix. A card with only `formatted_name` is refused
/// with 422 before it is queued.
#[test]
fn wa_contact_name_needs_a_part_besides_formatted_name() {
    fails(
        WA,
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana Pereira"}}]}),
        "message.contacts[0].name.first_name",
        rule::REQUIRED,
    );
    fails(
        WA,
        json!({"type": "contacts", "contacts": [
                {"name": {"formatted_name": "Ana", "last_name": "Pereira"}},
                {"name": {"formatted_name": "Bia"}}]}),
        "message.contacts[1].name.first_name",
        rule::REQUIRED,
    );
    fails(
        WA,
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana", "first_name": " "}}]}),
        "message.contacts[0].name.first_name",
        rule::REQUIRED,
    );
    for part in ["first_name", "middle_name", "last_name", "suffix", "prefix"] {
        let card = json!({"name": {"formatted_name": "Dr. Ana", part: "x"}});
        assert_eq!(
            body(WA, json!({"type": "contacts", "contacts": [card.clone()]})),
            wa_body("contacts", json!([card])),
            "{part}"
        );
    }
}

#[test]
fn wa_buttons_with_media_header() {
    let mut msg = buttons(2);
    msg["header"] = json!({"type": "image", "link": "https://cdn.example.com/p.jpg"});
    msg["footer"] = json!("Loja Centro");
    assert_eq!(
        body(WA, msg),
        wa_body(
            "interactive",
            json!({"type": "button",
                "header": {"type": "image", "image": {"link": "https://cdn.example.com/p.jpg"}},
                "body": {"text": "Choose"}, "footer": {"text": "Loja Centro"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "b0", "title": "Option 0"}},
                    {"type": "reply", "reply": {"id": "b1", "title": "Option 1"}}]}})
        )
    );
}

#[test]
fn wa_buttons_with_document_header() {
    let mut msg = buttons(1);
    msg["header"] = json!({"type": "document", "media_id": "42", "filename": "a.pdf"});
    let b = body(WA, msg);
    assert_eq!(
        b["interactive"]["header"],
        json!({"type": "document", "document": {"id": "42", "filename": "a.pdf"}})
    );
}

#[test]
fn wa_buttons_count_limits() {
    assert!(run(WA, buttons(3), json!({})).is_ok());
    fails(WA, buttons(4), "message.buttons[3]", rule::TOO_MANY);
    fails(WA, buttons(0), "message.buttons", rule::TOO_FEW);
    let v = run(WA, buttons(4), json!({})).unwrap_err();
    assert!(v.message.contains("at most 3 buttons"), "{}", v.message);
}

#[test]
fn wa_button_field_limits() {
    limit(
        WA,
        20,
        "message.buttons[0].title",
        |s| json!({"type": "buttons", "body": "b", "buttons": [{"id": "a", "title": s}]}),
    );
    limit(
        WA,
        256,
        "message.buttons[0].id",
        |s| json!({"type": "buttons", "body": "b", "buttons": [{"id": s, "title": "t"}]}),
    );
    fails(
        WA,
        json!({"type": "buttons", "body": "b", "buttons": [{"id": "", "title": "t"}]}),
        "message.buttons[0].id",
        rule::REQUIRED,
    );
}

#[test]
fn wa_button_ids_are_unique() {
    fails(
        WA,
        json!({"type": "buttons", "body": "b",
                "buttons": [{"id": "x", "title": "1"}, {"id": "y", "title": "2"}, {"id": "x", "title": "3"}]}),
        "message.buttons[2].id",
        rule::DUPLICATE,
    );
}

#[test]
fn wa_interactive_text_limits() {
    limit(
        WA,
        1024,
        "message.body",
        |s| json!({"type": "buttons", "body": s, "buttons": [{"id": "a", "title": "t"}]}),
    );
    limit(
        WA,
        60,
        "message.footer",
        |s| json!({"type": "buttons", "body": "b", "footer": s, "buttons": [{"id": "a", "title": "t"}]}),
    );
    limit(WA, 60, "message.header.text", |s| {
        json!({"type": "buttons", "body": "b", "header": {"type": "text", "text": s},
                "buttons": [{"id": "a", "title": "t"}]})
    });
    limit(WA, 60, "message.header", |s| {
        json!({"type": "list", "body": "b", "header": s, "button": "Go",
                "sections": [{"rows": [{"id": "r", "title": "t"}]}]})
    });
}

#[test]
fn wa_list() {
    let msg = json!({"type": "list", "body": "Pick a time", "header": "Agenda", "footer": "Loja",
            "button": "Times", "sections": [
                {"title": "Morning", "rows": [{"id": "slot_0900", "title": "09:00", "description": "Manhã"}]},
                {"title": "Afternoon", "rows": [{"id": "slot_1400", "title": "14:00"}]}]});
    assert_eq!(
        body(WA, msg),
        wa_body(
            "interactive",
            json!({"type": "list",
                "header": {"type": "text", "text": "Agenda"},
                "body": {"text": "Pick a time"}, "footer": {"text": "Loja"},
                "action": {"button": "Times", "sections": [
                    {"title": "Morning", "rows": [{"id": "slot_0900", "title": "09:00", "description": "Manhã"}]},
                    {"title": "Afternoon", "rows": [{"id": "slot_1400", "title": "14:00"}]}]}})
        )
    );
    // A single section needs no title.
    let single = body(WA, list_with(json!([{"rows": rows("r", 1)}])));
    assert_eq!(
        single["interactive"]["action"]["sections"],
        json!([{"rows": [{"id": "r0", "title": "Row 0"}]}])
    );
}

#[test]
fn wa_list_counts() {
    let sections = |n: usize| {
        let s: Vec<Value> = (0..n)
            .map(|i| json!({"title": format!("S{i}"), "rows": rows(&format!("s{i}r"), 1)}))
            .collect();
        Value::Array(s)
    };
    assert!(run(WA, list_with(sections(10)), json!({})).is_ok());
    fails(
        WA,
        list_with(sections(11)),
        "message.sections[10]",
        rule::TOO_MANY,
    );
    fails(WA, list_with(json!([])), "message.sections", rule::TOO_FEW);
    assert!(run(WA, list_with(json!([{"rows": rows("r", 10)}])), json!({})).is_ok());
    fails(
        WA,
        list_with(json!([{"rows": rows("r", 11)}])),
        "message.sections[0].rows[10]",
        rule::TOO_MANY,
    );
    fails(
        WA,
        list_with(
            json!([{"title": "A", "rows": rows("a", 6)}, {"title": "B", "rows": rows("b", 5)}]),
        ),
        "message.sections[1].rows[4]",
        rule::TOO_MANY,
    );
    fails(
        WA,
        list_with(json!([{"rows": []}])),
        "message.sections[0].rows",
        rule::TOO_FEW,
    );
}

#[test]
fn wa_list_field_limits() {
    let one_row = |row: Value| list_with(json!([{"rows": [row]}]));
    limit(WA, 24, "message.sections[0].rows[0].title", |s| {
        one_row(json!({"id": "r", "title": s}))
    });
    limit(WA, 72, "message.sections[0].rows[0].description", |s| {
        one_row(json!({"id": "r", "title": "t", "description": s}))
    });
    limit(WA, 200, "message.sections[0].rows[0].id", |s| {
        one_row(json!({"id": s, "title": "t"}))
    });
    limit(WA, 24, "message.sections[0].title", |s| {
        list_with(json!([{"title": s, "rows": rows("r", 1)}]))
    });
    limit(
        WA,
        20,
        "message.button",
        |s| json!({"type": "list", "body": "b", "button": s, "sections": [{"rows": rows("r", 1)}]}),
    );
}

#[test]
fn wa_list_section_titles_and_unique_rows() {
    fails(
        WA,
        list_with(json!([{"title": "A", "rows": rows("a", 1)}, {"rows": rows("b", 1)}])),
        "message.sections[1].title",
        rule::REQUIRED,
    );
    fails(
        WA,
        list_with(
            json!([{"title": "A", "rows": rows("x", 2)}, {"title": "B", "rows": rows("x", 1)}]),
        ),
        "message.sections[1].rows[0].id",
        rule::DUPLICATE,
    );
}

#[test]
fn wa_cta_url() {
    let msg = json!({"type": "cta_url", "body": "Veja o pedido", "footer": "Loja",
            "header": {"type": "text", "text": "Pedido 4411"},
            "display_text": "Abrir", "url": "https://example.com/o/4411"});
    assert_eq!(
        body(WA, msg),
        wa_body(
            "interactive",
            json!({"type": "cta_url",
                "header": {"type": "text", "text": "Pedido 4411"},
                "body": {"text": "Veja o pedido"}, "footer": {"text": "Loja"},
                "action": {"name": "cta_url",
                    "parameters": {"display_text": "Abrir", "url": "https://example.com/o/4411"}}})
        )
    );
}

#[test]
fn wa_cta_url_limits() {
    let cta = |text: &str, url: &str| json!({"type": "cta_url", "body": "b", "display_text": text, "url": url});
    limit(WA, 20, "message.display_text", |s| {
        cta(s, "https://example.com")
    });
    fails(
        WA,
        cta("Go", "http://example.com"),
        "message.url",
        rule::HTTPS_REQUIRED,
    );
    fails(
        WA,
        cta("Go", "https://"),
        "message.url",
        rule::INVALID_FORMAT,
    );
    fails(
        WA,
        cta("Go", "https://exa mple.com"),
        "message.url",
        rule::INVALID_FORMAT,
    );
    fails(WA, cta("Go", ""), "message.url", rule::REQUIRED);
    assert!(run(WA, cta("Go", "HTTPS://example.com/é"), json!({})).is_ok());
}

#[test]
fn wa_template_matches_meta_example() {
    let msg = template_with(json!([
            {"type": "header", "parameters": [{"type": "image", "link": "https://cdn.example.com/p.jpg"}]},
            {"type": "body", "parameters": [
                {"type": "text", "text": "Ana"},
                {"type": "currency", "fallback_value": "R$ 99,90", "code": "BRL", "amount_1000": 99900},
                {"type": "date_time", "fallback_value": "17 nov 2026"}]},
            {"type": "button", "sub_type": "quick_reply", "index": 0,
                "parameters": [{"type": "payload", "payload": "TRACK_4411"}]},
            {"type": "button", "sub_type": "url", "index": 1,
                "parameters": [{"type": "text", "text": "4411"}]}]));
    let r = ok(WA, msg);
    assert_eq!(
        r.body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "5511988887777", "type": "template",
                "template": {"name": "order_update", "language": {"code": "pt_BR"},
                    "components": [
                        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/p.jpg"}}]},
                        {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                            {"type": "currency", "currency": {"fallback_value": "R$ 99,90", "code": "BRL", "amount_1000": 99900}},
                            {"type": "date_time", "date_time": {"fallback_value": "17 nov 2026"}}]},
                        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK_4411"}]},
                        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "4411"}]}]},
                "biz_opaque_callback_data": BID})
    );
    assert_eq!(r.message_type, "template");
    assert!(!r.free_form && r.expects_message_id);
}

#[test]
fn wa_template_other_parameters() {
    let msg = template_with(json!([
            {"type": "header", "parameters": [{"type": "location", "latitude": 1.5, "longitude": 2.5, "name": "Loja"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]},
            {"type": "button", "sub_type": "copy_code", "index": 2, "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}]}]));
    assert_eq!(
        body(WA, msg)["template"]["components"],
        json!([
                {"type": "header", "parameters": [{"type": "location", "location": {"latitude": 1.5, "longitude": 2.5, "name": "Loja"}}]},
                {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]},
                {"type": "button", "sub_type": "copy_code", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}]}])
    );
    let doc = template_with(json!([{"type": "header", "parameters": [
            {"type": "document", "media_id": "77", "filename": "boleto.pdf"}]}]));
    assert_eq!(
        body(WA, doc)["template"]["components"][0]["parameters"][0],
        json!({"type": "document", "document": {"id": "77", "filename": "boleto.pdf"}})
    );
    let bare = body(
        WA,
        json!({"type": "template", "name": "hello_world", "language": "en_US"}),
    );
    assert_eq!(
        bare["template"],
        json!({"name": "hello_world", "language": {"code": "en_US"}})
    );
}

/// Flow, catalog and mpm buttons take one `action` parameter, rendered as Meta documents
/// it (conformance corpus: whatsapp.messages.template_flow_catalog_mpm.json). Before, the
/// request could not express it at all.
#[test]
fn wa_template_action_buttons() {
    let msg = template_with(json!([
            {"type": "button", "sub_type": "flow", "index": 0, "parameters": [
                {"type": "action", "flow_token": "tok-1", "flow_action_data": {"screen": "WELCOME", "data": {"n": 1}}}]},
            {"type": "button", "sub_type": "catalog", "index": 1, "parameters": [
                {"type": "action", "thumbnail_product_retailer_id": "SKU-1"}]},
            {"type": "button", "sub_type": "mpm", "index": 2, "parameters": [
                {"type": "action", "thumbnail_product_retailer_id": "SKU-1", "sections": [
                    {"title": "Tênis", "product_items": [{"product_retailer_id": "SKU-1"}, {"product_retailer_id": "SKU-2"}]}]}]}]));
    assert_eq!(
        body(WA, msg)["template"]["components"],
        json!([
                {"type": "button", "sub_type": "flow", "index": "0", "parameters": [
                    {"type": "action", "action": {"flow_token": "tok-1", "flow_action_data": {"screen": "WELCOME", "data": {"n": 1}}}}]},
                {"type": "button", "sub_type": "catalog", "index": "1", "parameters": [
                    {"type": "action", "action": {"thumbnail_product_retailer_id": "SKU-1"}}]},
                {"type": "button", "sub_type": "mpm", "index": "2", "parameters": [
                    {"type": "action", "action": {"thumbnail_product_retailer_id": "SKU-1", "sections": [
                        {"title": "Tênis", "product_items": [{"product_retailer_id": "SKU-1"}, {"product_retailer_id": "SKU-2"}]}]}}]}])
    );
    let one = |sub: &str, params: Value| {
        template_with(
            json!([{"type": "button", "sub_type": sub, "index": 0, "parameters": params}]),
        )
    };
    let p0 = "message.components[0].parameters[0]";
    for (sub, params, field, r) in [
        (
            "flow",
            json!([]),
            "message.components[0].parameters".to_string(),
            rule::REQUIRED,
        ),
        (
            "flow",
            json!([{"type": "payload", "payload": "P"}]),
            format!("{p0}.type"),
            rule::INVALID_FORMAT,
        ),
        (
            "catalog",
            json!([{"type": "text", "text": "x"}]),
            format!("{p0}.type"),
            rule::INVALID_FORMAT,
        ),
        (
            "flow",
            json!([{"type": "action"}, {"type": "action"}]),
            "message.components[0].parameters[1]".to_string(),
            rule::TOO_MANY,
        ),
        (
            "flow",
            json!([{"type": "action", "flow_action_data": [1]}]),
            format!("{p0}.flow_action_data"),
            rule::INVALID_FORMAT,
        ),
        (
            "flow",
            json!([{"type": "action", "thumbnail_product_retailer_id": "S"}]),
            format!("{p0}.thumbnail_product_retailer_id"),
            rule::NOT_ALLOWED,
        ),
        (
            "catalog",
            json!([{"type": "action", "flow_token": "t"}]),
            format!("{p0}.flow_token"),
            rule::NOT_ALLOWED,
        ),
        (
            "catalog",
            json!([{"type": "action", "sections": []}]),
            format!("{p0}.sections"),
            rule::NOT_ALLOWED,
        ),
        (
            "mpm",
            json!([{"type": "action", "sections": [{"title": "a", "product_items": [{"product_retailer_id": "1"}]}]}]),
            format!("{p0}.thumbnail_product_retailer_id"),
            rule::REQUIRED,
        ),
        (
            "mpm",
            json!([{"type": "action", "thumbnail_product_retailer_id": "S"}]),
            format!("{p0}.sections"),
            rule::REQUIRED,
        ),
        (
            "mpm",
            json!([{"type": "action", "thumbnail_product_retailer_id": "S", "sections": []}]),
            format!("{p0}.sections"),
            rule::TOO_FEW,
        ),
        (
            "mpm",
            json!([{"type": "action", "thumbnail_product_retailer_id": "S", "sections": [{"title": "a", "product_items": []}]}]),
            format!("{p0}.sections[0].product_items"),
            rule::TOO_FEW,
        ),
        (
            "quick_reply",
            json!([{"type": "action"}]),
            format!("{p0}.type"),
            rule::NOT_ALLOWED,
        ),
    ] {
        fails(WA, one(sub, params), &field, r);
    }
    let items: Vec<Value> = (0..31)
        .map(|i| json!({"product_retailer_id": format!("S{i}")}))
        .collect();
    fails(
        WA,
        one(
            "mpm",
            json!([{"type": "action", "thumbnail_product_retailer_id": "S", "sections": [
                {"title": "a", "product_items": items[..20]}, {"title": "b", "product_items": items[20..]}]}]),
        ),
        &format!("{p0}.sections[1].product_items[10]"),
        rule::TOO_MANY,
    );
    // A body component cannot carry an action.
    fails(
        WA,
        template_with(json!([{"type": "body", "parameters": [{"type": "action"}]}])),
        &format!("{p0}.type"),
        rule::NOT_ALLOWED,
    );
    // A flow button without token or data is what Meta's page shows as minimal.
    assert_eq!(
        body(WA, one("flow", json!([{"type": "action"}])))["template"]["components"][0]["parameters"],
        json!([{"type": "action", "action": {}}])
    );
}

#[test]
fn wa_template_button_rules() {
    let button = |extra: Value| {
        let mut c = json!({"type": "button", "parameters": [{"type": "payload", "payload": "P"}]});
        if let (Some(obj), Value::Object(extra)) = (c.as_object_mut(), extra) {
            obj.extend(extra);
        }
        template_with(json!([c]))
    };
    assert!(
        run(
            WA,
            button(json!({"sub_type": "quick_reply", "index": 9})),
            json!({})
        )
        .is_ok()
    );
    fails(
        WA,
        button(json!({"sub_type": "quick_reply", "index": 10})),
        "message.components[0].index",
        rule::OUT_OF_RANGE,
    );
    fails(
        WA,
        button(json!({"index": 0})),
        "message.components[0].sub_type",
        rule::REQUIRED,
    );
    fails(
        WA,
        button(json!({"sub_type": "url"})),
        "message.components[0].index",
        rule::REQUIRED,
    );
    fails(
        WA,
        template_with(json!([
                {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": []},
                {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": []}])),
        "message.components[1].index",
        rule::DUPLICATE,
    );
    fails(
        WA,
        template_with(json!([{"type": "body", "index": 0, "parameters": []}])),
        "message.components[0].index",
        rule::NOT_ALLOWED,
    );
    fails(
        WA,
        template_with(
            json!([{"type": "body", "parameters": []}, {"type": "body", "parameters": []}]),
        ),
        "message.components[1].type",
        rule::DUPLICATE,
    );
    assert!(
        parse(json!({"channel_id": "ch_1", "to": PHONE,
            "message": template_with(json!([{"type": "footer", "parameters": []}]))}))
        .is_err()
    );
}

#[test]
fn wa_template_name_language_and_parameters() {
    let named =
        |name: &str, lang: &str| json!({"type": "template", "name": name, "language": lang});
    for (name, lang, field, r) in [
        (
            "Order Update",
            "pt_BR",
            "message.name",
            rule::INVALID_FORMAT,
        ),
        ("", "pt_BR", "message.name", rule::REQUIRED),
        ("order_update", "", "message.language", rule::REQUIRED),
        (
            "order_update",
            "portuguese",
            "message.language",
            rule::INVALID_FORMAT,
        ),
        (
            "order_update",
            "pt-BR",
            "message.language",
            rule::INVALID_FORMAT,
        ),
    ] {
        fails(WA, named(name, lang), field, r);
    }
    assert!(run(WA, named("a1_b", "es"), json!({})).is_ok());
    limit(WA, 512, "message.name", |s| {
        named(&s.replace('é', "a"), "en")
    });
    let body_param = |p: Value| template_with(json!([{"type": "body", "parameters": [p]}]));
    fails(
        WA,
        body_param(
            json!({"type": "currency", "fallback_value": "$1", "code": "brl", "amount_1000": 1000}),
        ),
        "message.components[0].parameters[0].code",
        rule::INVALID_FORMAT,
    );
    fails(
        WA,
        body_param(json!({"type": "text", "text": ""})),
        "message.components[0].parameters[0].text",
        rule::REQUIRED,
    );
    fails(
        WA,
        body_param(json!({"type": "text", "text": "x", "parameter_name": "First"})),
        "message.components[0].parameters[0].parameter_name",
        rule::INVALID_FORMAT,
    );
    fails(
        WA,
        template_with(json!([{"type": "header", "parameters": [{"type": "image"}]}])),
        "message.components[0].parameters[0]",
        rule::ONE_OF_REQUIRED,
    );
}

#[test]
fn wa_reaction_and_removal() {
    let r = ok(
        WA,
        json!({"type": "reaction", "message_id": "wamid.OUT001", "emoji": "👍"}),
    );
    assert_eq!(
        r.body,
        wa_body(
            "reaction",
            json!({"message_id": "wamid.OUT001", "emoji": "👍"})
        )
    );
    assert!(r.free_form && r.expects_message_id);
    assert_eq!(
        body(
            WA,
            json!({"type": "reaction", "message_id": "wamid.OUT001", "emoji": ""})
        ),
        wa_body(
            "reaction",
            json!({"message_id": "wamid.OUT001", "emoji": ""})
        )
    );
    assert!(
        run(
            WA,
            json!({"type": "reaction", "message_id": "w", "emoji": "👨‍👩‍👧‍👦"}),
            json!({})
        )
        .is_ok()
    );
    fails(
        WA,
        json!({"type": "reaction", "message_id": "w", "emoji": "é".repeat(33)}),
        "message.emoji",
        rule::MAX_LENGTH,
    );
    fails(
        WA,
        json!({"type": "reaction", "message_id": "", "emoji": "👍"}),
        "message.message_id",
        rule::REQUIRED,
    );
}

#[test]
fn wa_mark_read() {
    let r = ok(WA, json!({"type": "mark_read", "message_id": "wamid.IN1"}));
    assert_eq!(
        r.body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})
    );
    assert_eq!(r.message_type, "mark_read");
    assert!(!r.free_form && !r.expects_message_id);
    assert_eq!(
        body(
            WA,
            json!({"type": "mark_read", "message_id": "wamid.IN1", "typing_indicator": true})
        ),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1",
                "typing_indicator": {"type": "text"}})
    );
    assert_eq!(
        body(
            WA,
            json!({"type": "mark_read", "message_id": "wamid.IN1", "typing_indicator": false})
        ),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})
    );
}

#[test]
fn wa_text_limit_counts_characters() {
    limit(
        WA,
        4096,
        "message.body",
        |s| json!({"type": "text", "body": s}),
    );
    fails(
        WA,
        json!({"type": "text", "body": "  \n "}),
        "message.body",
        rule::REQUIRED,
    );
}

#[test]
fn wa_caption_and_filename_limits() {
    for ty in ["image", "video", "document"] {
        limit(
            WA,
            1024,
            "message.caption",
            |s| json!({"type": ty, "media_id": "1", "caption": s}),
        );
    }
    limit(
        WA,
        255,
        "message.filename",
        |s| json!({"type": "document", "media_id": "1", "filename": s}),
    );
}

#[test]
fn wa_media_source_rules() {
    fails(
        WA,
        json!({"type": "image"}),
        "message",
        rule::ONE_OF_REQUIRED,
    );
    fails(
        WA,
        json!({"type": "audio", "media_id": "1", "link": "https://a.example/x.ogg"}),
        "message",
        rule::ONE_OF_REQUIRED,
    );
    fails(
        WA,
        json!({"type": "image", "link": "http://a.example/x.jpg"}),
        "message.link",
        rule::HTTPS_REQUIRED,
    );
    fails(
        WA,
        json!({"type": "image", "link": "ftp://a.example/x.jpg"}),
        "message.link",
        rule::HTTPS_REQUIRED,
    );
    fails(
        WA,
        json!({"type": "image", "media_id": "1 2"}),
        "message.media_id",
        rule::INVALID_FORMAT,
    );
    fails(
        WA,
        json!({"type": "sticker", "media_id": ""}),
        "message.media_id",
        rule::REQUIRED,
    );
    let mut header = buttons(1);
    header["header"] = json!({"type": "video"});
    fails(WA, header, "message.header", rule::ONE_OF_REQUIRED);
    limit(
        WA,
        2048,
        "message.link",
        |s| json!({"type": "image", "link": format!("https://{}", &s[..s.len() - 8 * 2])}),
    );
}

#[test]
fn wa_refuses_social_only_features() {
    for ty in ["typing_on", "typing_off", "mark_seen"] {
        fails(
            WA,
            json!({"type": ty}),
            "message.type",
            rule::NOT_ALLOWED_FOR_CHANNEL,
        );
    }
    fails(
        WA,
        json!({"type": "text", "body": "x", "quick_replies": [{"title": "a", "payload": "b"}]}),
        "message.quick_replies",
        rule::NOT_ALLOWED_FOR_CHANNEL,
    );
    fails_with(
        WA,
        json!({"type": "text", "body": "x"}),
        json!({"tag": "human_agent"}),
        "tag",
        rule::NOT_ALLOWED_FOR_CHANNEL,
    );
}

#[test]
fn reply_to_only_on_messages() {
    for (kind, msg) in [
        (
            WA,
            json!({"type": "reaction", "message_id": "w", "emoji": "👍"}),
        ),
        (WA, json!({"type": "mark_read", "message_id": "w"})),
        (
            IG,
            json!({"type": "reaction", "message_id": "m", "emoji": "❤"}),
        ),
        (FB, json!({"type": "typing_on"})),
    ] {
        fails_with(
            kind,
            msg,
            json!({"reply_to": "m1"}),
            "reply_to",
            rule::NOT_ALLOWED,
        );
    }
    fails_with(
        WA,
        json!({"type": "text", "body": "x"}),
        json!({"reply_to": ""}),
        "reply_to",
        rule::REQUIRED,
    );
    fails_with(
        WA,
        json!({"type": "text", "body": "x"}),
        json!({"reply_to": "a\u{0}b"}),
        "reply_to",
        rule::INVALID_FORMAT,
    );
    let text = json!({"type": "text", "body": "x"});
    assert!(run(FB, text.clone(), json!({"reply_to": "é".repeat(512)})).is_ok());
    fails_with(
        FB,
        text,
        json!({"reply_to": "é".repeat(513)}),
        "reply_to",
        rule::MAX_LENGTH,
    );
}

// --- Instagram / Messenger bodies -------------------------------------------------------

#[test]
fn social_text_with_quick_replies_and_reply() {
    for kind in [IG, FB] {
        let r = run(
                kind,
                json!({"type": "text", "body": "Oi! Posso ajudar?",
                    "quick_replies": [{"title": "Sim", "payload": "YES"}, {"title": "Não", "payload": "NO"}]}),
                json!({"reply_to": "aWdfZAG1faXRlbToxOklH"}),
            )
            .unwrap();
        assert_eq!(
            r.body,
            json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                    "message": {"text": "Oi! Posso ajudar?", "quick_replies": [
                        {"content_type": "text", "title": "Sim", "payload": "YES"},
                        {"content_type": "text", "title": "Não", "payload": "NO"}],
                        "metadata": BID},
                    "reply_to": {"message_id": "aWdfZAG1faXRlbToxOklH"}})
        );
        assert!(r.free_form && r.expects_message_id && !r.recipient_is_user_id);
    }
}

#[test]
fn social_tags() {
    let text = json!({"type": "text", "body": "Seu pedido saiu"});
    let r = run(FB, text.clone(), json!({"tag": "confirmed_event_update"})).unwrap();
    assert_eq!(
        r.body,
        json!({"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "CONFIRMED_EVENT_UPDATE",
                "message": {"text": "Seu pedido saiu", "metadata": BID}})
    );
    for (tag, graph) in [
        ("human_agent", "HUMAN_AGENT"),
        ("post_purchase_update", "POST_PURCHASE_UPDATE"),
        ("account_update", "ACCOUNT_UPDATE"),
    ] {
        let r = run(FB, text.clone(), json!({"tag": tag})).unwrap();
        assert_eq!(r.body["tag"], json!(graph));
    }
    let r = run(IG, text.clone(), json!({"tag": "human_agent"})).unwrap();
    assert_eq!(
        (&r.body["messaging_type"], &r.body["tag"]),
        (&json!("MESSAGE_TAG"), &json!("HUMAN_AGENT"))
    );
    for tag in [
        "confirmed_event_update",
        "post_purchase_update",
        "account_update",
    ] {
        fails_with(
            IG,
            text.clone(),
            json!({"tag": tag}),
            "tag",
            rule::NOT_ALLOWED_FOR_CHANNEL,
        );
    }
    fails_with(
        FB,
        json!({"type": "mark_seen"}),
        json!({"tag": "human_agent"}),
        "tag",
        rule::NOT_ALLOWED,
    );
}

#[test]
fn social_attachments() {
    for kind in [IG, FB] {
        for (ty, attachment_type) in [
            ("image", "image"),
            ("video", "video"),
            ("audio", "audio"),
            ("document", "file"),
        ] {
            let r = ok(
                kind,
                json!({"type": ty, "link": "https://cdn.example.com/f"}),
            );
            assert_eq!(
                r.body,
                social_body(json!({"attachment": {"type": attachment_type,
                        "payload": {"url": "https://cdn.example.com/f", "is_reusable": true}},
                        "metadata": BID}))
            );
            assert_eq!(r.message_type, ty);
        }
    }
}

#[test]
fn social_attachment_rules() {
    for kind in [IG, FB] {
        fails(
            kind,
            json!({"type": "image", "media_id": "1"}),
            "message.media_id",
            rule::NOT_ALLOWED_FOR_CHANNEL,
        );
        fails(
            kind,
            json!({"type": "image", "link": "https://a.example/x", "caption": "c"}),
            "message.caption",
            rule::NOT_ALLOWED_FOR_CHANNEL,
        );
        fails(
            kind,
            json!({"type": "document", "link": "https://a.example/x", "filename": "f"}),
            "message.filename",
            rule::NOT_ALLOWED_FOR_CHANNEL,
        );
        fails(
            kind,
            json!({"type": "video"}),
            "message.link",
            rule::REQUIRED,
        );
        fails(
            kind,
            json!({"type": "audio", "link": "http://a.example/x"}),
            "message.link",
            rule::HTTPS_REQUIRED,
        );
    }
}

#[test]
fn social_reactions() {
    for (kind, emoji, sent) in [
        (IG, "❤️", "love"),
        (IG, "❤", "love"),
        (IG, "love", "love"),
        (FB, "😊", "😊"),
    ] {
        let r = ok(
            kind,
            json!({"type": "reaction", "message_id": "m_1", "emoji": emoji}),
        );
        assert_eq!(
            r.body,
            json!({"recipient": {"id": PSID}, "sender_action": "react",
                    "payload": {"message_id": "m_1", "reaction": sent}})
        );
        assert!(r.free_form && !r.expects_message_id);
        assert_eq!(
            body(
                kind,
                json!({"type": "reaction", "message_id": "m_1", "emoji": ""})
            ),
            json!({"recipient": {"id": PSID}, "sender_action": "unreact", "payload": {"message_id": "m_1"}})
        );
    }
}

/// Instagram documents only `love` as a reaction: any other emoji is refused with 422
/// (`not_allowed_for_channel` on `message.emoji`) instead of failing at Meta.
#[test]
fn instagram_refuses_reactions_meta_refuses() {
    for emoji in ["😊", "👍", "like", "LOVE", "❤️❤️"] {
        fails(
            IG,
            json!({"type": "reaction", "message_id": "m_1", "emoji": emoji}),
            "message.emoji",
            rule::NOT_ALLOWED_FOR_CHANNEL,
        );
    }
    assert!(
        ok(
            FB,
            json!({"type": "reaction", "message_id": "m_1", "emoji": "👍"})
        )
        .free_form
    );
}

#[test]
fn social_sender_actions() {
    for kind in [IG, FB] {
        for action in ["typing_on", "typing_off", "mark_seen"] {
            let r = ok(kind, json!({"type": action}));
            assert_eq!(
                r.body,
                json!({"recipient": {"id": PSID}, "sender_action": action})
            );
            assert_eq!(r.message_type, action);
            assert!(!r.free_form && !r.expects_message_id);
        }
    }
}

#[test]
fn social_refuses_whatsapp_only_types() {
    let wa_only = [
        json!({"type": "sticker", "link": "https://a.example/s.webp"}),
        json!({"type": "location", "latitude": 1, "longitude": 2}),
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}}]}),
        buttons(1),
        list_with(json!([{"rows": rows("r", 1)}])),
        json!({"type": "cta_url", "body": "b", "display_text": "d", "url": "https://a.example"}),
        json!({"type": "template", "name": "t", "language": "en"}),
        json!({"type": "mark_read", "message_id": "m"}),
    ];
    for kind in [IG, FB] {
        for msg in &wa_only {
            fails(
                kind,
                msg.clone(),
                "message.type",
                rule::NOT_ALLOWED_FOR_CHANNEL,
            );
        }
    }
    fails(
        IG,
        json!({"type": "text", "body": "x", "preview_url": true}),
        "message.preview_url",
        rule::NOT_ALLOWED_FOR_CHANNEL,
    );
}

#[test]
fn instagram_text_limit_is_bytes() {
    assert!(
        run(
            IG,
            json!({"type": "text", "body": "é".repeat(500)}),
            json!({})
        )
        .is_ok()
    );
    fails(
        IG,
        json!({"type": "text", "body": format!("{}a", "é".repeat(500))}),
        "message.body",
        rule::MAX_LENGTH,
    );
    assert!(
        run(
            IG,
            json!({"type": "text", "body": "a".repeat(1000)}),
            json!({})
        )
        .is_ok()
    );
    // The same 1001 bytes are fine on Messenger (counted in characters there).
    assert!(
        run(
            FB,
            json!({"type": "text", "body": format!("{}a", "é".repeat(500))}),
            json!({})
        )
        .is_ok()
    );
}

#[test]
fn messenger_text_limit_is_characters() {
    limit(
        FB,
        2000,
        "message.body",
        |s| json!({"type": "text", "body": s}),
    );
}

#[test]
fn quick_reply_limits() {
    let qr = |n: usize| {
        let q: Vec<Value> = (0..n)
            .map(|i| json!({"title": format!("Q{i}"), "payload": "P"}))
            .collect();
        json!({"type": "text", "body": "x", "quick_replies": q})
    };
    for kind in [IG, FB] {
        assert!(run(kind, qr(13), json!({})).is_ok());
        fails(kind, qr(14), "message.quick_replies[13]", rule::TOO_MANY);
        limit(
            kind,
            20,
            "message.quick_replies[0].title",
            |s| json!({"type": "text", "body": "x", "quick_replies": [{"title": s, "payload": "p"}]}),
        );
        limit(
            kind,
            1000,
            "message.quick_replies[0].payload",
            |s| json!({"type": "text", "body": "x", "quick_replies": [{"title": "t", "payload": s}]}),
        );
    }
    // An empty list is the same as none.
    assert_eq!(
        body(IG, qr(0)),
        social_body(json!({"text": "x", "metadata": BID}))
    );
}

#[test]
fn social_recipient_rules() {
    let run_to = |kind: ChannelKind, to: &str| {
        let req = parse(json!({"channel_id": "ch_1", "to": to, "message": {"type": "typing_on"}}))
            .unwrap();
        render(kind, &req, BID)
    };
    assert!(run_to(IG, &"a".repeat(64)).is_ok());
    assert!(run_to(FB, "ab_-9").is_ok());
    let cases = [
        ("", rule::REQUIRED),
        (&*"a".repeat(65), rule::MAX_LENGTH),
        ("61 20", rule::INVALID_FORMAT),
        ("+5511", rule::INVALID_FORMAT),
        ("é", rule::INVALID_FORMAT),
    ];
    for (to, r) in cases {
        let v = run_to(FB, to).unwrap_err();
        assert_eq!((v.field.as_str(), v.rule), ("to", r), "{to}");
    }
}

#[test]
fn channel_kind_allows_matrix() {
    let samples = [
        (
            "text",
            json!({"type": "text", "body": "x"}),
            [true, true, true],
        ),
        (
            "image",
            json!({"type": "image", "link": "https://a.example/i"}),
            [true, true, true],
        ),
        (
            "sticker",
            json!({"type": "sticker", "media_id": "1"}),
            [true, false, false],
        ),
        (
            "location",
            json!({"type": "location", "latitude": 1, "longitude": 1}),
            [true, false, false],
        ),
        (
            "template",
            json!({"type": "template", "name": "t", "language": "en"}),
            [true, false, false],
        ),
        (
            "reaction",
            json!({"type": "reaction", "message_id": "m", "emoji": ""}),
            [true, true, true],
        ),
        (
            "mark_read",
            json!({"type": "mark_read", "message_id": "m"}),
            [true, false, false],
        ),
        (
            "typing_on",
            json!({"type": "typing_on"}),
            [false, true, true],
        ),
        (
            "mark_seen",
            json!({"type": "mark_seen"}),
            [false, true, true],
        ),
    ];
    for (name, msg, allowed) in samples {
        let req = request_with(IG, msg, json!({}));
        assert_eq!(req.message.type_name(), name);
        for (kind, expected) in [WA, IG, FB].into_iter().zip(allowed) {
            assert_eq!(
                kind_allows(kind, &req.message),
                expected,
                "{name} on {kind:?}"
            );
        }
    }
}

#[test]
fn window_and_message_id_flags() {
    // (kind, message, free_form, expects_message_id)
    let cases = [
        (WA, json!({"type": "text", "body": "x"}), true, true),
        (WA, json!({"type": "audio", "media_id": "1"}), true, true),
        (
            WA,
            json!({"type": "template", "name": "t", "language": "en"}),
            false,
            true,
        ),
        (
            WA,
            json!({"type": "reaction", "message_id": "m", "emoji": "👍"}),
            true,
            true,
        ),
        (
            WA,
            json!({"type": "mark_read", "message_id": "m"}),
            false,
            false,
        ),
        (IG, json!({"type": "text", "body": "x"}), true, true),
        (
            FB,
            json!({"type": "document", "link": "https://a.example/f.pdf"}),
            true,
            true,
        ),
        (
            FB,
            json!({"type": "reaction", "message_id": "m", "emoji": ""}),
            true,
            false,
        ),
        (IG, json!({"type": "typing_off"}), false, false),
    ];
    for (kind, msg, free_form, expects_id) in cases {
        let r = ok(kind, msg);
        assert_eq!(
            (r.free_form, r.expects_message_id),
            (free_form, expects_id),
            "{} on {kind:?}",
            r.message_type
        );
    }
}

#[test]
fn wa_video_header_and_template_video() {
    let mut msg =
        json!({"type": "cta_url", "body": "b", "display_text": "Ver", "url": "https://a.example"});
    msg["header"] = json!({"type": "video", "media_id": "55"});
    assert_eq!(
        body(WA, msg)["interactive"]["header"],
        json!({"type": "video", "video": {"id": "55"}})
    );
    let tpl = template_with(json!([{"type": "header", "parameters": [
            {"type": "video", "link": "https://cdn.example.com/v.mp4"}]}]));
    assert_eq!(
        body(WA, tpl)["template"]["components"],
        json!([{"type": "header", "parameters": [
                {"type": "video", "video": {"link": "https://cdn.example.com/v.mp4"}}]}])
    );
}

#[test]
fn wa_template_media_and_location_rules() {
    let header = |p: Value| template_with(json!([{"type": "header", "parameters": [p]}]));
    fails(
        WA,
        header(json!({"type": "image", "link": "http://a.example/i.jpg"})),
        "message.components[0].parameters[0].link",
        rule::HTTPS_REQUIRED,
    );
    fails(
        WA,
        header(json!({"type": "document", "media_id": "1", "link": "https://a.example/d"})),
        "message.components[0].parameters[0]",
        rule::ONE_OF_REQUIRED,
    );
    fails(
        WA,
        header(json!({"type": "location", "latitude": 91, "longitude": 0})),
        "message.components[0].parameters[0].latitude",
        rule::OUT_OF_RANGE,
    );
    fails(
        WA,
        template_with(
            json!([{"type": "button", "sub_type": "quick_reply", "index": 0,
                "parameters": [{"type": "payload", "payload": ""}]}]),
        ),
        "message.components[0].parameters[0].payload",
        rule::REQUIRED,
    );
}

// --- general rules ----------------------------------------------------------------------

#[test]
fn control_characters_in_labels_are_refused() {
    fails(
        WA,
        json!({"type": "buttons", "body": "b", "buttons": [{"id": "a", "title": "t\u{7}"}]}),
        "message.buttons[0].title",
        rule::INVALID_FORMAT,
    );
    fails(
        IG,
        json!({"type": "text", "body": "x", "quick_replies": [{"title": "t\r", "payload": "p"}]}),
        "message.quick_replies[0].title",
        rule::INVALID_FORMAT,
    );
    // Newlines and tabs are fine, also in bodies.
    assert!(run(WA, json!({"type": "buttons", "body": "a\nb\r\n", "buttons": [{"id": "a\tb", "title": "t\n"}]}), json!({})).is_ok());
}

#[test]
fn client_reference_and_channel_id() {
    let text = json!({"type": "text", "body": "x"});
    assert!(
        run(
            WA,
            text.clone(),
            json!({"client_reference": "é".repeat(256)})
        )
        .is_ok()
    );
    fails_with(
        WA,
        text.clone(),
        json!({"client_reference": "é".repeat(257)}),
        "client_reference",
        rule::MAX_LENGTH,
    );
    fails_with(
        IG,
        text.clone(),
        json!({"client_reference": "é".repeat(257)}),
        "client_reference",
        rule::MAX_LENGTH,
    );
    fails_with(
        FB,
        text.clone(),
        json!({"channel_id": ""}),
        "channel_id",
        rule::REQUIRED,
    );
    fails_with(
        FB,
        text.clone(),
        json!({"channel_id": "ch/../x"}),
        "channel_id",
        rule::INVALID_FORMAT,
    );
    fails_with(
        FB,
        text,
        json!({"channel_id": "c".repeat(65)}),
        "channel_id",
        rule::MAX_LENGTH,
    );
}

#[test]
fn bridge_message_id_limit() {
    let req = request_with(WA, json!({"type": "text", "body": "x"}), json!({}));
    assert!(render(WA, &req, &"b".repeat(512)).is_ok());
    let v = render(WA, &req, &"b".repeat(513)).unwrap_err();
    assert_eq!(
        (v.field.as_str(), v.rule),
        ("bridge_message_id", rule::MAX_LENGTH)
    );
}

#[test]
fn first_violation_wins_in_field_order() {
    let req = parse(
        json!({"channel_id": "ch_1", "to": "12", "client_reference": "é".repeat(300),
            "message": {"type": "buttons", "body": "", "buttons": []}}),
    )
    .unwrap();
    assert_eq!(render(WA, &req, BID).unwrap_err().field, "to");
    let req = parse(
        json!({"channel_id": "ch_1", "to": PHONE, "tag": "human_agent",
            "message": {"type": "buttons", "body": "", "buttons": []}}),
    )
    .unwrap();
    assert_eq!(render(WA, &req, BID).unwrap_err().field, "message.body");
    // The type check comes before the message's fields.
    fails(
        IG,
        json!({"type": "sticker"}),
        "message.type",
        rule::NOT_ALLOWED_FOR_CHANNEL,
    );
}

#[test]
fn violations_never_echo_content() {
    let secret = "SECRET-CPF-123.456.789-00";
    for (kind, msg) in [
        (WA, json!({"type": "text", "body": secret.repeat(400)})),
        (IG, json!({"type": "text", "body": secret.repeat(100)})),
        (
            WA,
            json!({"type": "buttons", "body": "b", "buttons": [{"id": secret, "title": secret}]}),
        ),
        (
            WA,
            json!({"type": "image", "link": format!("http://{secret}")}),
        ),
        (
            FB,
            json!({"type": "image", "link": "https://x", "caption": secret}),
        ),
    ] {
        let v = run(kind, msg, json!({})).unwrap_err();
        assert!(
            !v.message.contains("SECRET") && !v.field.contains("SECRET"),
            "{v:?}"
        );
    }
    let req = parse(json!({"channel_id": "ch_1", "to": secret, "message": {"type": "typing_on"}}))
        .unwrap();
    assert!(
        !render(IG, &req, BID)
            .unwrap_err()
            .message
            .contains("SECRET")
    );
}

#[test]
fn huge_and_odd_inputs_do_not_panic() {
    let huge = "🙂".repeat(300_000);
    let to_values = [huge.as_str(), "+", "group:", "BR.", ".", "BR.ENT.", "é"];
    for kind in [WA, IG, FB] {
        for to in to_values {
            let req = parse(
                json!({"channel_id": "ch_1", "to": to, "message": {"type": "text", "body": huge}}),
            )
            .unwrap();
            assert!(render(kind, &req, BID).is_err());
        }
        let _ = run(kind, json!({"type": "image", "link": "https:é"}), json!({}));
        let _ = run(
            kind,
            json!({"type": "image", "link": "é".repeat(5)}),
            json!({}),
        );
        let _ = run(
            kind,
            json!({"type": "reaction", "message_id": "m", "emoji": huge}),
            json!({}),
        );
    }
}

#[test]
fn fingerprint_ignores_key_order() {
    let a = json!({"channel_id": "ch_1", "to": "5511", "message": {"type": "text", "body": "é \"q\"", "n": [1, {"b": 2, "a": 1}]}});
    let mut reordered = Map::new();
    reordered.insert(
        "message".into(),
        json!({"n": [1, {"a": 1, "b": 2}], "body": "é \"q\"", "type": "text"}),
    );
    reordered.insert("to".into(), json!("5511"));
    reordered.insert("channel_id".into(), json!("ch_1"));
    let b = Value::Object(reordered);
    assert_eq!(request_fingerprint(&a), request_fingerprint(&b));
    assert_eq!(
        request_fingerprint(&a),
        r#"{"channel_id":"ch_1","message":{"body":"é \"q\"","n":[1,{"a":1,"b":2}],"type":"text"},"to":"5511"}"#
    );
    let c = json!({"channel_id": "ch_1", "to": "5511", "message": {"type": "text", "body": "é \"q\"", "n": [{"b": 2, "a": 1}, 1]}});
    assert_ne!(request_fingerprint(&a), request_fingerprint(&c));
}
