//! Meta-shaped webhook bodies from fuzzer bytes (the `webhook_json` target).
//!
//! Random bytes rarely spell `{"object":"whatsapp_business_account","entry":[{"changes":[...`,
//! so the byte-level target spends most of its time in serde_json. This generator builds the
//! skeleton Meta sends (object, entry[], changes[] with field/value, messaging[]/standby[]
//! items, WhatsApp messages/statuses/contacts/errors, leads) and fills it with values drawn
//! from the vocabulary the parser looks at (keys, message types, statuses, Instagram mids,
//! timestamps as numbers and strings) mixed with arbitrary JSON, wrong types and missing
//! fields, so that the fuzzer reaches the per-type code in a few thousand runs.

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use serde_json::{Map, Number, Value};

/// Keys the parser reads (from src/events/parse.rs).
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "id", "time", "changes", "field", "value", "messaging", "standby", "object", "entry",
    "metadata", "phone_number_id", "display_phone_number", "contacts", "messages", "statuses",
    "errors", "message_echoes", "user_preferences", "wa_id", "user_id", "parent_user_id", "profile",
    "name", "username", "from", "to", "from_user_id", "to_user_id", "from_parent_user_id",
    "to_parent_user_id", "group_id", "timestamp", "type", "text", "body", "context", "forwarded",
    "frequently_forwarded", "referred_product", "referral", "image", "audio", "video", "document",
    "sticker", "media", "mime_type", "sha256", "caption", "filename", "voice", "animated", "url",
    "location", "latitude", "longitude", "address", "interactive", "button_reply", "list_reply",
    "nfm_reply", "response_json", "title", "description", "button", "payload", "order",
    "catalog_id", "product_items", "reaction", "message_id", "emoji", "system", "identity",
    "customer", "new_wa_id", "new_user_id", "edit", "revoke", "original_message_id", "message",
    "unsupported", "status", "recipient_id", "recipient_user_id", "recipient_type",
    "recipient_participant_id", "recipient_participant_user_id", "parent_recipient_user_id",
    "parent_recipient_participant_user_id", "biz_opaque_callback_data", "pricing", "conversation",
    "code", "message", "details", "error_data", "href", "category", "detail", "event",
    "message_template_id", "message_template_name", "message_template_language",
    "message_template_category", "reason", "rejection_info", "other_info", "previous_quality_score",
    "new_quality_score", "previous_category", "new_category", "correct_category",
    "category_update_timestamp", "waba_info", "ban_info", "current_limit", "sender", "recipient", "mid",
    "is_echo", "is_deleted", "is_unsupported", "attachments", "reply_to", "quick_reply", "app_id",
    "message_edit", "num_edit", "action", "read", "delivery", "mids", "watermark", "postback",
    "optin", "pass_thread_control", "take_thread_control", "request_thread_control", "app_roles",
    "leadgen_id", "form_id", "ad_id", "adgroup_id", "page_id", "created_time", "story", "product",
    "ads_context_data",
];

/// Values the parser compares against, and typical id and timestamp shapes.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "", "whatsapp_business_account", "instagram", "page", "whatsapp", "messages",
    "smb_message_echoes", "user_preferences", "message_template_status_update",
    "message_template_quality_update", "template_category_update", "phone_number_quality_update", "account_update", "leadgen",
    "text", "image", "audio", "video", "document", "sticker", "location", "contacts", "interactive",
    "button", "order", "reaction", "system", "request_welcome", "unsupported", "unknown", "edit",
    "revoke", "button_reply", "list_reply", "nfm_reply", "sent", "delivered", "read", "failed",
    "deleted", "played", "react", "unreact", "customer_changed_number", "customer_identity_changed",
    "user_changed_user_id", "APPROVED", "REJECTED", "true", "false", "1", "0", "-1", "1763380800",
    "1763380800000", "1763380800.5", " 1763380800 ", "1e3", "NaN", "aWdf", "aWdfZAG1faXRlbToxOk",
    "m_AbC", "wamid.HBgL", "ins_", "US.1", "15550001234", "106000000000001", "17841400000000001",
    "105000000000001", "group", "individual", "{}", "{\"a\":1}", "[", "null", "\u{0}", "\u{feff}",
    "é", "😀",
];

#[derive(Arbitrary, Debug)]
enum Key {
    Known(u8),
    Other(String),
}

impl Key {
    fn render(&self) -> String {
        match self {
            Key::Known(i) => KEYS[usize::from(*i) % KEYS.len()].to_owned(),
            Key::Other(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Word(u8);

impl Word {
    fn render(&self) -> String {
        WORDS[usize::from(self.0) % WORDS.len()].to_owned()
    }
}

/// Any JSON, with keys and strings mostly from the vocabulary.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Word(Word),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(Key, Json)>),
}

/// Nesting beyond this becomes `null` (serde_json refuses more than 128 levels anyway).
const MAX_DEPTH: usize = 24;

fn float(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl Json {
    fn render(&self, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::UInt(u) => Value::from(*u),
            Json::Float(f) => float(*f),
            Json::Word(w) => Value::String(w.render()),
            Json::Str(s) => Value::String(s.clone()),
            Json::Arr(items) => Value::Array(items.iter().map(|j| j.render(depth + 1)).collect()),
            Json::Obj(fields) => {
                let mut m = Map::new();
                add_fields(&mut m, fields, depth + 1);
                Value::Object(m)
            }
        }
    }
}

fn add_fields(m: &mut Map<String, Value>, fields: &[(Key, Json)], depth: usize) {
    for (k, v) in fields.iter().take(12) {
        m.insert(k.render(), v.render(depth));
    }
}

/// An id: Meta's ids are strings of digits, wamids, mids; sometimes numbers.
#[derive(Arbitrary, Debug)]
enum Id {
    Str(String),
    Num(u64),
    Word(Word),
    IgMid(String),
    Empty,
    Any(Json),
}

impl Id {
    fn render(&self, depth: usize) -> Value {
        match self {
            Id::Str(s) => Value::String(s.clone()),
            Id::Num(n) => Value::from(*n),
            Id::Word(w) => Value::String(w.render()),
            Id::IgMid(s) => Value::String(format!("aWdf{s}")),
            Id::Empty => Value::String(String::new()),
            Id::Any(j) => j.render(depth),
        }
    }
}

/// Timestamps: seconds or milliseconds, as numbers or strings, and the odd ones.
#[derive(Arbitrary, Debug)]
enum Ts {
    Secs(u32),
    Millis(u64),
    SecsStr(u32),
    Str(String),
    Float(f64),
    Neg(i64),
    Any(Json),
}

impl Ts {
    fn render(&self, depth: usize) -> Value {
        match self {
            Ts::Secs(s) => Value::from(*s),
            Ts::Millis(ms) => Value::from(*ms),
            Ts::SecsStr(s) => Value::String(s.to_string()),
            Ts::Str(s) => Value::String(s.clone()),
            Ts::Float(f) => float(*f),
            Ts::Neg(n) => Value::from(*n),
            Ts::Any(j) => j.render(depth),
        }
    }
}

/// An array of items, or something that is not an array where one is expected.
#[derive(Arbitrary, Debug)]
enum Container<T> {
    Items(Vec<T>),
    Null,
    Other(Json),
}

trait Render {
    fn render(&self, depth: usize) -> Value;
}

impl<T: Render> Container<T> {
    fn render(&self, depth: usize) -> Value {
        match self {
            Container::Items(items) => {
                Value::Array(items.iter().take(16).map(|i| i.render(depth + 1)).collect())
            }
            Container::Null => Value::Null,
            Container::Other(j) => j.render(depth),
        }
    }
}

impl Render for Json {
    fn render(&self, depth: usize) -> Value {
        Json::render(self, depth)
    }
}

fn put<T>(m: &mut Map<String, Value>, key: &str, v: &Option<T>, f: impl Fn(&T) -> Value) {
    if let Some(v) = v {
        m.insert(key.to_owned(), f(v));
    }
}

/// The top level.
#[derive(Arbitrary, Debug)]
pub struct Body {
    object: Object,
    entries: Container<Entry>,
    extra: Vec<(Key, Json)>,
    pretty: bool,
}

#[derive(Arbitrary, Debug)]
enum Object {
    Whatsapp,
    Instagram,
    Page,
    Missing,
    Other(Json),
}

#[derive(Arbitrary, Debug)]
struct Entry {
    id: Option<Id>,
    time: Option<Ts>,
    changes: Option<Container<Change>>,
    messaging: Option<Container<Messaging>>,
    standby: Option<Container<Messaging>>,
    extra: Vec<(Key, Json)>,
    /// The whole entry replaced by something that is not an object.
    replaced: Option<Json>,
}

impl Render for Entry {
    fn render(&self, depth: usize) -> Value {
        if let Some(j) = &self.replaced {
            return j.render(depth);
        }
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        put(&mut m, "id", &self.id, |v| v.render(depth + 1));
        put(&mut m, "time", &self.time, |v| v.render(depth + 1));
        put(&mut m, "changes", &self.changes, |v| v.render(depth + 1));
        put(&mut m, "messaging", &self.messaging, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "standby", &self.standby, |v| v.render(depth + 1));
        Value::Object(m)
    }
}

#[derive(Arbitrary, Debug)]
enum Field {
    Known(Word),
    Messages,
    Leadgen,
    Any(Json),
}

#[derive(Arbitrary, Debug)]
struct Change {
    field: Option<Field>,
    value: Option<ChangeValue>,
    extra: Vec<(Key, Json)>,
    replaced: Option<Json>,
}

#[derive(Arbitrary, Debug)]
enum ChangeValue {
    Wa(Box<WaValue>),
    Lead(Lead),
    Any(Json),
}

impl Render for Change {
    fn render(&self, depth: usize) -> Value {
        if let Some(j) = &self.replaced {
            return j.render(depth);
        }
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        put(&mut m, "field", &self.field, |f| match f {
            Field::Known(w) => Value::String(w.render()),
            Field::Messages => Value::String("messages".to_owned()),
            Field::Leadgen => Value::String("leadgen".to_owned()),
            Field::Any(j) => j.render(depth + 1),
        });
        put(&mut m, "value", &self.value, |v| match v {
            ChangeValue::Wa(w) => w.render(depth + 1),
            ChangeValue::Lead(l) => l.render(depth + 1),
            ChangeValue::Any(j) => j.render(depth + 1),
        });
        Value::Object(m)
    }
}

#[derive(Arbitrary, Debug)]
struct WaValue {
    messaging_product: bool,
    phone_number_id: Option<Id>,
    contacts: Option<Container<Contact>>,
    messages: Option<Container<WaMessage>>,
    statuses: Option<Container<Status>>,
    errors: Option<Container<Json>>,
    message_echoes: Option<Container<WaMessage>>,
    user_preferences: Option<Container<Json>>,
    event: Option<Word>,
    template_id: Option<Id>,
    extra: Vec<(Key, Json)>,
}

impl WaValue {
    fn render(&self, depth: usize) -> Value {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        if self.messaging_product {
            m.insert("messaging_product".to_owned(), "whatsapp".into());
        }
        put(&mut m, "metadata", &self.phone_number_id, |id| {
            let mut md = Map::new();
            md.insert("display_phone_number".to_owned(), "15550001234".into());
            md.insert("phone_number_id".to_owned(), id.render(depth + 2));
            Value::Object(md)
        });
        put(&mut m, "contacts", &self.contacts, |c| c.render(depth + 1));
        put(&mut m, "messages", &self.messages, |c| c.render(depth + 1));
        put(&mut m, "statuses", &self.statuses, |c| c.render(depth + 1));
        put(&mut m, "errors", &self.errors, |c| c.render(depth + 1));
        put(&mut m, "message_echoes", &self.message_echoes, |c| {
            c.render(depth + 1)
        });
        put(&mut m, "user_preferences", &self.user_preferences, |c| {
            c.render(depth + 1)
        });
        put(&mut m, "event", &self.event, |w| Value::String(w.render()));
        put(&mut m, "message_template_id", &self.template_id, |i| {
            i.render(depth + 1)
        });
        Value::Object(m)
    }
}

#[derive(Arbitrary, Debug)]
struct Contact {
    wa_id: Option<Id>,
    user_id: Option<Id>,
    parent_user_id: Option<Id>,
    name: Option<Json>,
    extra: Vec<(Key, Json)>,
}

impl Render for Contact {
    fn render(&self, depth: usize) -> Value {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        put(&mut m, "wa_id", &self.wa_id, |v| v.render(depth + 1));
        put(&mut m, "user_id", &self.user_id, |v| v.render(depth + 1));
        put(&mut m, "parent_user_id", &self.parent_user_id, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "profile", &self.name, |v| {
            let mut p = Map::new();
            p.insert("name".to_owned(), v.render(depth + 2));
            Value::Object(p)
        });
        Value::Object(m)
    }
}

#[derive(Arbitrary, Debug)]
struct WaMessage {
    id: Option<Id>,
    from: Option<Id>,
    to: Option<Id>,
    user_id: Option<Id>,
    group_id: Option<Id>,
    timestamp: Option<Ts>,
    /// `type` from the vocabulary; the payload goes under a key of the same name.
    kind: Option<Word>,
    payload: Option<Json>,
    context: Option<Json>,
    extra: Vec<(Key, Json)>,
}

impl Render for WaMessage {
    fn render(&self, depth: usize) -> Value {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        put(&mut m, "id", &self.id, |v| v.render(depth + 1));
        put(&mut m, "from", &self.from, |v| v.render(depth + 1));
        put(&mut m, "to", &self.to, |v| v.render(depth + 1));
        put(&mut m, "from_user_id", &self.user_id, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "group_id", &self.group_id, |v| v.render(depth + 1));
        put(&mut m, "timestamp", &self.timestamp, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "context", &self.context, |v| v.render(depth + 1));
        if let Some(kind) = &self.kind {
            let kind = kind.render();
            if let Some(p) = &self.payload {
                m.insert(kind.clone(), p.render(depth + 1));
            }
            m.insert("type".to_owned(), Value::String(kind));
        }
        Value::Object(m)
    }
}

#[derive(Arbitrary, Debug)]
struct Status {
    id: Option<Id>,
    status: Option<Word>,
    timestamp: Option<Ts>,
    recipient_id: Option<Id>,
    recipient_user_id: Option<Id>,
    group: Option<Id>,
    callback: Option<Json>,
    errors: Option<Json>,
    extra: Vec<(Key, Json)>,
}

impl Render for Status {
    fn render(&self, depth: usize) -> Value {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        put(&mut m, "id", &self.id, |v| v.render(depth + 1));
        put(&mut m, "status", &self.status, |w| {
            Value::String(w.render())
        });
        put(&mut m, "timestamp", &self.timestamp, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "recipient_id", &self.recipient_id, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "recipient_user_id", &self.recipient_user_id, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "recipient_participant_id", &self.group, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "biz_opaque_callback_data", &self.callback, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "errors", &self.errors, |v| v.render(depth + 1));
        Value::Object(m)
    }
}

#[derive(Arbitrary, Debug)]
struct Lead {
    leadgen_id: Option<Id>,
    form_id: Option<Id>,
    page_id: Option<Id>,
    ad_id: Option<Id>,
    created_time: Option<Ts>,
    extra: Vec<(Key, Json)>,
}

impl Lead {
    fn render(&self, depth: usize) -> Value {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        put(&mut m, "leadgen_id", &self.leadgen_id, |v| {
            v.render(depth + 1)
        });
        put(&mut m, "form_id", &self.form_id, |v| v.render(depth + 1));
        put(&mut m, "page_id", &self.page_id, |v| v.render(depth + 1));
        put(&mut m, "ad_id", &self.ad_id, |v| v.render(depth + 1));
        put(&mut m, "created_time", &self.created_time, |v| {
            v.render(depth + 1)
        });
        Value::Object(m)
    }
}

/// One `messaging[]` / `standby[]` item.
#[derive(Arbitrary, Debug)]
struct Messaging {
    sender: Option<Id>,
    recipient: Option<Id>,
    timestamp: Option<Ts>,
    /// Which key holds the payload: message, reaction, read, ... or any other.
    kind: Key,
    payload: Option<SocialPayload>,
    extra: Vec<(Key, Json)>,
}

#[derive(Arbitrary, Debug)]
enum SocialPayload {
    Fields {
        mid: Option<Id>,
        is_echo: Option<Json>,
        is_deleted: Option<Json>,
        text: Option<Json>,
        attachments: Option<Json>,
        extra: Vec<(Key, Json)>,
    },
    Any(Json),
}

impl Render for Messaging {
    fn render(&self, depth: usize) -> Value {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, depth + 1);
        let party = |id: &Id| {
            let mut p = Map::new();
            p.insert("id".to_owned(), id.render(depth + 2));
            Value::Object(p)
        };
        put(&mut m, "sender", &self.sender, &party);
        put(&mut m, "recipient", &self.recipient, &party);
        put(&mut m, "timestamp", &self.timestamp, |v| {
            v.render(depth + 1)
        });
        if let Some(p) = &self.payload {
            let v = match p {
                SocialPayload::Fields {
                    mid,
                    is_echo,
                    is_deleted,
                    text,
                    attachments,
                    extra,
                } => {
                    let mut pm = Map::new();
                    add_fields(&mut pm, extra, depth + 2);
                    put(&mut pm, "mid", mid, |v| v.render(depth + 2));
                    put(&mut pm, "is_echo", is_echo, |v| v.render(depth + 2));
                    put(&mut pm, "is_deleted", is_deleted, |v| v.render(depth + 2));
                    put(&mut pm, "text", text, |v| v.render(depth + 2));
                    put(&mut pm, "attachments", attachments, |v| v.render(depth + 2));
                    Value::Object(pm)
                }
                SocialPayload::Any(j) => j.render(depth + 1),
            };
            m.insert(self.kind.render(), v);
        }
        Value::Object(m)
    }
}

impl Body {
    /// Whether the body's `entry` is an array (else the parser must refuse it: `NoEntries`).
    pub fn has_entry_array(&self) -> bool {
        matches!(
            self.entries,
            Container::Items(_) | Container::Other(Json::Arr(_))
        )
    }

    /// The body as JSON bytes (compact or pretty, as the input says).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut m = Map::new();
        add_fields(&mut m, &self.extra, 1);
        match &self.object {
            Object::Whatsapp => {
                m.insert("object".to_owned(), "whatsapp_business_account".into());
            }
            Object::Instagram => {
                m.insert("object".to_owned(), "instagram".into());
            }
            Object::Page => {
                m.insert("object".to_owned(), "page".into());
            }
            Object::Missing => {
                m.remove("object");
            }
            Object::Other(j) => {
                m.insert("object".to_owned(), j.render(1));
            }
        }
        m.insert("entry".to_owned(), self.entries.render(1));
        let v = Value::Object(m);
        let out = if self.pretty {
            serde_json::to_vec_pretty(&v)
        } else {
            serde_json::to_vec(&v)
        };
        out.expect("a Value always serializes")
    }
}
