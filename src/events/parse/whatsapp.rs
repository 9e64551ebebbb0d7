//! WhatsApp Business Account webhooks: messages, statuses, value-level errors, coexistence
//! (`history`, `smb_app_state_sync`, `smb_message_echoes`), user preferences, template,
//! quality and account updates.

use super::wa_message::WaMessage;
use super::*;

/// Where a WhatsApp change lives: `phone_number_id` when the value has metadata, else the WABA.
struct WaChange<'a> {
    waba: Option<String>,
    pnid: Option<String>,
    entry_time: Option<&'a Value>,
    field: Option<&'a str>,
}

impl WaChange<'_> {
    fn route(&self) -> Route {
        match (&self.pnid, &self.waba) {
            (Some(p), _) => Route::Channel(p.clone()),
            (None, Some(w)) => Route::Waba(w.clone()),
            (None, None) => Route::None,
        }
    }

    /// Scope for message-level keys: phone_number_id, else WABA id, else `_`.
    fn scope(&self) -> &str {
        scope_or_placeholder(self.pnid.as_ref().or(self.waba.as_ref()))
    }

    fn waba_scope(&self) -> &str {
        scope_or_placeholder(self.waba.as_ref())
    }

    /// `wa:<ns>:<waba>[:<entry.time>]` for channel-level changes.
    fn change_prefix(&self, ns: &str) -> String {
        match id_str(self.entry_time) {
            Some(t) => format!("wa:{ns}:{}:{t}", self.waba_scope()),
            None => format!("wa:{ns}:{}", self.waba_scope()),
        }
    }

    fn channel_draft(&self, at: Option<i64>) -> Draft {
        Draft::channel_level(Some(ChannelKind::Whatsapp), self.route(), at)
    }

    fn item_draft(
        &self,
        conversation_key: String,
        contact: Option<Value>,
        at: Option<i64>,
    ) -> Draft {
        Draft {
            kind: Some(ChannelKind::Whatsapp),
            route: self.route(),
            conversation_key,
            contact,
            occurred_at_ms: at,
        }
    }

    fn unsupported_prefix(&self) -> String {
        format!("wa:unsupported:{}", self.scope())
    }
}

pub(super) fn whatsapp_entry(entry: &Value, out: &mut Vec<ParsedEvent>) {
    let waba = id_str(entry.get("id"));
    let entry_time = entry.get("time");
    let base = WaChange {
        waba,
        pnid: None,
        entry_time,
        field: None,
    };
    if !entry.is_object() {
        let ev = base.channel_draft(None).unsupported(
            "wa:unsupported:_",
            why(reasons::NOT_AN_OBJECT),
            entry,
        );
        out.push(ev);
        return;
    }
    let changes = match entry.get("changes") {
        Some(Value::Array(changes)) => changes,
        other => {
            let reason = if other.is_some() {
                reasons::CONTAINER_NOT_ARRAY
            } else {
                reasons::EMPTY_ENTRY
            };
            let prefix = base.change_prefix("unsupported");
            out.push(base.channel_draft(ts_ms(entry_time)).unsupported(
                &prefix,
                why(reason),
                entry,
            ));
            return;
        }
    };
    for change in changes {
        let value = change.get("value").unwrap_or(&Value::Null);
        let ctx = WaChange {
            waba: base.waba.clone(),
            pnid: id_str(value.get("metadata").and_then(|m| m.get("phone_number_id"))),
            entry_time,
            field: str_of(change.get("field")),
        };
        whatsapp_change(&ctx, change, value, out);
    }
}

fn whatsapp_change(ctx: &WaChange<'_>, change: &Value, value: &Value, out: &mut Vec<ParsedEvent>) {
    let entry_at = ts_ms(ctx.entry_time);
    if !change.is_object() {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            why(reasons::NOT_AN_OBJECT),
            change,
        ));
        return;
    }
    let known = matches!(
        ctx.field,
        Some(
            "messages"
                | "smb_message_echoes"
                | "history"
                | "smb_app_state_sync"
                | "user_preferences"
                | "message_template_status_update"
                | "message_template_quality_update"
                | "template_category_update"
                | "phone_number_quality_update"
                | "account_update"
        )
    );
    if !known {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            MetaUnsupportedData {
                field: change.get("field").cloned(),
                ..why(reasons::UNKNOWN_FIELD)
            },
            change,
        ));
        return;
    }
    if !value.is_object() {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            MetaUnsupportedData {
                field: change.get("field").cloned(),
                ..why(reasons::EMPTY_VALUE)
            },
            change,
        ));
        return;
    }
    let before = out.len();
    match ctx.field {
        Some("messages") => wa_messages_value(ctx, value, out),
        Some("smb_message_echoes") => {
            let contacts = contacts_of(value);
            for_each_item(ctx, value, "message_echoes", out, |item, out| {
                wa_message(ctx, item, contacts, true, out);
            });
        }
        Some("history") => {
            for_each_item(ctx, value, "history", out, |item, out| {
                wa_history_chunk(ctx, item, out);
            });
        }
        Some("smb_app_state_sync") => {
            for_each_item(ctx, value, "state_sync", out, |item, out| {
                wa_state_sync(ctx, item, out);
            });
        }
        Some("user_preferences") => {
            let contacts = contacts_of(value);
            for_each_item(ctx, value, "user_preferences", out, |item, out| {
                wa_user_preference(ctx, item, contacts, out);
            });
        }
        Some("message_template_status_update") => out.push(wa_template_status(ctx, value)),
        Some("message_template_quality_update") => {
            let data = TemplateQualityData {
                template_id: id_str(value.get("message_template_id")),
                template_name: value.get("message_template_name").cloned(),
                language: value.get("message_template_language").cloned(),
                previous_quality_score: value.get("previous_quality_score").cloned(),
                new_quality_score: value.get("new_quality_score").cloned(),
            };
            let key = hash_key(&ctx.change_prefix("tplq"), value);
            out.push(ctx.channel_draft(entry_at).finish(key, data, value));
        }
        Some("template_category_update") => {
            let sent = |k: &str| non_null(value, k);
            let change = if value.get("previous_category").is_some() {
                "changed"
            } else {
                "impending"
            };
            let data = TemplateCategoryData {
                template_id: id_str(value.get("message_template_id")),
                template_name: sent("message_template_name"),
                language: sent("message_template_language"),
                change: change.to_owned(),
                previous_category: sent("previous_category"),
                new_category: sent("new_category"),
                correct_category: sent("correct_category"),
                category_update_timestamp: sent("category_update_timestamp"),
            };
            let key = hash_key(&ctx.change_prefix("tplc"), value);
            out.push(ctx.channel_draft(entry_at).finish(key, data, value));
        }
        Some("phone_number_quality_update") => {
            let key = hash_key(&ctx.change_prefix("quality"), value);
            let mut other = value.as_object().cloned().unwrap_or_default();
            let data = ChannelQualityData {
                event: other.remove("event").unwrap_or(Value::Null),
                display_phone_number: other.remove("display_phone_number"),
                current_limit: other.remove("current_limit"),
                old_limit: other.remove("old_limit"),
                max_daily_conversations_per_business: other
                    .remove("max_daily_conversations_per_business"),
                other,
            };
            out.push(ctx.channel_draft(entry_at).finish(key, data, value));
        }
        Some("account_update") => {
            let key = hash_key(&ctx.change_prefix("acct"), value);
            let mut other = value.as_object().cloned().unwrap_or_default();
            let data = AccountUpdatedData {
                event: other.remove("event").unwrap_or(Value::Null),
                waba_info: other.remove("waba_info"),
                ban_info: other.remove("ban_info"),
                violation_info: other.remove("violation_info"),
                lock_info: other.remove("lock_info"),
                restriction_info: other.remove("restriction_info"),
                phone_number: other.remove("phone_number"),
                other,
            };
            out.push(ctx.channel_draft(entry_at).finish(key, data, value));
        }
        _ => {}
    }
    if out.len() == before {
        let prefix = ctx.change_prefix("unsupported");
        out.push(ctx.channel_draft(entry_at).unsupported(
            &prefix,
            MetaUnsupportedData {
                field: change.get("field").cloned(),
                ..why(reasons::EMPTY_VALUE)
            },
            change,
        ));
    }
}

fn contacts_of(value: &Value) -> &[Value] {
    value
        .get("contacts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Run `f` on each item of `value[container]`; a non-array container is one unsupported event.
fn for_each_item(
    ctx: &WaChange<'_>,
    value: &Value,
    container: &str,
    out: &mut Vec<ParsedEvent>,
    mut f: impl FnMut(&Value, &mut Vec<ParsedEvent>),
) {
    match value.get(container) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                f(item, out);
            }
        }
        Some(other) => out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            MetaUnsupportedData {
                container: Some(container.to_owned()),
                ..why(reasons::CONTAINER_NOT_ARRAY)
            },
            other,
        )),
    }
}

fn wa_messages_value(ctx: &WaChange<'_>, value: &Value, out: &mut Vec<ParsedEvent>) {
    let contacts = contacts_of(value);
    for_each_item(ctx, value, "messages", out, |item, out| {
        wa_message(ctx, item, contacts, false, out);
    });
    for_each_item(ctx, value, "statuses", out, |item, out| {
        wa_status(ctx, item, contacts, out);
    });
    for_each_item(ctx, value, "errors", out, |item, out| {
        if !item.is_object() {
            out.push(ctx.channel_draft(None).unsupported(
                &ctx.unsupported_prefix(),
                why(reasons::NOT_AN_OBJECT),
                item,
            ));
            return;
        }
        let key = hash_key(&format!("wa:err:{}", ctx.scope()), item);
        let data = ChannelErrorData::from(normalize_error(item));
        out.push(ctx.channel_draft(None).finish(key, data, item));
    });
}

/// A WhatsApp user as named by a message/status, completed from `contacts[]`.
#[derive(Default)]
struct Ident {
    wa_id: Option<String>,
    user_id: Option<String>,
    parent_user_id: Option<String>,
}

impl Ident {
    fn from(item: &Value, wa: &str, user: &str, parent: &str) -> Self {
        Ident {
            wa_id: id_str(item.get(wa)),
            user_id: id_str(item.get(user)),
            parent_user_id: id_str(item.get(parent)),
        }
    }
}

/// The `contacts[]` entry for this user: `wa_id` equal to the phone, or `user_id` equal to the
/// BSUID.
fn find_contact<'a>(contacts: &'a [Value], ident: &Ident) -> Option<&'a Value> {
    contacts.iter().find(|c| {
        (ident.wa_id.is_some() && id_str(c.get("wa_id")) == ident.wa_id)
            || (ident.user_id.is_some() && id_str(c.get("user_id")) == ident.user_id)
    })
}

/// Contact object keyed on the BSUID when known, phone beside it. None when nobody is named.
fn wa_person(ident: Ident, contacts: &[Value]) -> Option<Map<String, Value>> {
    let found = find_contact(contacts, &ident);
    let from_contact = |k: &str| found.and_then(|c| id_str(c.get(k)));
    // Only an id that passes the bridge's one BSUID rule (src/meta/bsuid.rs) is handed out as
    // a BSUID (contact id, `user:` conversation): the send API accepts exactly those back as
    // `to`. Anything else stays in `raw` only.
    let bsuid = |v: Option<String>| v.filter(|s| crate::meta::bsuid::is_bsuid(s));
    let user_id = bsuid(ident.user_id).or_else(|| bsuid(from_contact("user_id")));
    let parent_user_id =
        bsuid(ident.parent_user_id).or_else(|| bsuid(from_contact("parent_user_id")));
    let wa_id = ident.wa_id.or_else(|| from_contact("wa_id"));
    let id = user_id.clone().or_else(|| wa_id.clone())?;
    let mut m = Map::new();
    m.insert("id".to_owned(), Value::String(id));
    put_str(&mut m, "user_id", user_id);
    put_str(&mut m, "parent_user_id", parent_user_id);
    put_str(&mut m, "wa_id", wa_id.clone());
    put_str(&mut m, "phone", wa_id);
    if let Some(c) = found {
        let profile = c.get("profile");
        put(
            &mut m,
            "name",
            profile
                .and_then(|p| p.get("name"))
                .filter(|v| v.is_string())
                .cloned(),
        );
        put(
            &mut m,
            "username",
            profile
                .and_then(|p| p.get("username"))
                .filter(|v| v.is_string())
                .cloned(),
        );
        put(
            &mut m,
            "identity_key_hash",
            c.get("identity_key_hash")
                .filter(|v| v.is_string())
                .cloned(),
        );
    }
    Some(m)
}

fn person_conversation(person: Option<&Map<String, Value>>) -> String {
    let get = |k: &str| person.and_then(|p| p.get(k)).and_then(Value::as_str);
    match (get("user_id"), get("wa_id")) {
        (Some(u), _) => format!("user:{u}"),
        (None, Some(w)) => format!("wa:{w}"),
        (None, None) => "unknown".to_owned(),
    }
}

/// Conversation and contact of a WhatsApp item: the group when there is one, else the person.
fn wa_conversation(
    group_id: Option<String>,
    person: Option<Map<String, Value>>,
) -> (String, Option<Value>) {
    match group_id {
        Some(g) => {
            let contact = json!({
                "group_id": g,
                "participant": person.map(Value::Object).unwrap_or(Value::Null),
            });
            (format!("group:{g}"), Some(contact))
        }
        None => (
            person_conversation(person.as_ref()),
            person.map(Value::Object),
        ),
    }
}

fn normalize_error(e: &Value) -> MetaError {
    let code = match int_of(e.get("code")) {
        Some(c) => Value::from(c),
        None => e.get("code").cloned().unwrap_or(Value::Null),
    };
    MetaError {
        code,
        title: e.get("title").cloned().unwrap_or(Value::Null),
        message: e.get("message").cloned().unwrap_or(Value::Null),
        details: e
            .get("error_data")
            .and_then(|d| d.get("details"))
            .cloned()
            .unwrap_or(Value::Null),
        href: non_null(e, "href"),
    }
}

pub(super) fn normalize_errors(v: Option<&Value>) -> Option<Vec<MetaError>> {
    let items = v?.as_array()?;
    Some(items.iter().map(normalize_error).collect())
}

fn wa_message(
    ctx: &WaChange<'_>,
    msg: &Value,
    contacts: &[Value],
    echo: bool,
    out: &mut Vec<ParsedEvent>,
) {
    if !msg.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            why(reasons::NOT_AN_OBJECT),
            msg,
        ));
        return;
    }
    // The customer: the sender of an inbound message, the addressee of an echo.
    let ident = if echo {
        Ident::from(msg, "to", "to_user_id", "to_parent_user_id")
    } else {
        Ident::from(msg, "from", "from_user_id", "from_parent_user_id")
    };
    let group_id = id_str(msg.get("group_id"));
    let (conversation, contact) = wa_conversation(group_id.clone(), wa_person(ident, contacts));
    let draft = ctx.item_draft(conversation, contact, ts_ms(msg.get("timestamp")));
    let Some(id) = id_str(msg.get("id")) else {
        let ev = draft.unsupported(
            &ctx.unsupported_prefix(),
            MetaUnsupportedData {
                r#type: msg.get("type").cloned(),
                ..why(reasons::MISSING_ID)
            },
            msg,
        );
        out.push(ev);
        return;
    };
    let key = format!("wa:msg:{}:{id}", ctx.scope());
    let message = WaMessage::normalize(msg, id, group_id);
    let data = if echo {
        EventData::from(message.into_echo())
    } else {
        message.into_event()
    };
    out.push(draft.finish(key, data, msg));
}

// WhatsApp coexistence (numbers that keep using the WhatsApp Business app): `history` and
// `smb_app_state_sync`; `smb_message_echoes` is handled as `message.echo` above. Shapes from
// Meta's webhook references (read 2026-12-02):
// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/>,
// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync>,
// <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes>.

/// One `history[]` chunk: `{"metadata": {"phase", "chunk_order", "progress"}, "threads":
/// [{"id": <customer phone>, "messages": [..]}]}`, or `{"errors": [..]}` when the business
/// declined to share its chat history. Each message becomes a `message.history` event, each
/// error a `channel.error`.
fn wa_history_chunk(ctx: &WaChange<'_>, chunk: &Value, out: &mut Vec<ParsedEvent>) {
    if !chunk.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            why(reasons::NOT_AN_OBJECT),
            chunk,
        ));
        return;
    }
    let meta = chunk.get("metadata").unwrap_or(&Value::Null);
    let sync = HistorySync {
        phase: non_null(meta, "phase"),
        chunk_order: non_null(meta, "chunk_order"),
        progress: non_null(meta, "progress"),
        status: None,
    };
    for_each_item(ctx, chunk, "errors", out, |item, out| {
        let key = hash_key(&format!("wa:err:{}", ctx.scope()), item);
        let data = ChannelErrorData::from(normalize_error(item));
        out.push(ctx.channel_draft(None).finish(key, data, item));
    });
    for_each_item(ctx, chunk, "threads", out, |thread, out| {
        let thread_id = id_str(thread.get("id"));
        for_each_item(ctx, thread, "messages", out, |msg, out| {
            wa_history_message(ctx, thread_id.as_deref(), &sync, msg, out);
        });
    });
}

fn wa_history_message(
    ctx: &WaChange<'_>,
    thread_id: Option<&str>,
    sync: &HistorySync,
    msg: &Value,
    out: &mut Vec<ParsedEvent>,
) {
    if !msg.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            why(reasons::NOT_AN_OBJECT),
            msg,
        ));
        return;
    }
    // The thread is the customer's: a message from the thread's id is the customer's, anything
    // else was sent by the business (from the app or the API).
    let from = id_str(msg.get("from"));
    let inbound = match (thread_id, from.as_deref()) {
        (Some(t), Some(f)) => t == f,
        _ => true,
    };
    let mut ident = if inbound {
        Ident::from(msg, "from", "from_user_id", "from_parent_user_id")
    } else {
        Ident::from(msg, "to", "to_user_id", "to_parent_user_id")
    };
    if ident.wa_id.is_none() {
        ident.wa_id = thread_id.map(str::to_owned);
    }
    let group_id = id_str(msg.get("group_id"));
    let (conversation, contact) = wa_conversation(group_id.clone(), wa_person(ident, &[]));
    let draft = ctx.item_draft(conversation, contact, ts_ms(msg.get("timestamp")));
    let Some(id) = id_str(msg.get("id")) else {
        out.push(draft.unsupported(
            &ctx.unsupported_prefix(),
            MetaUnsupportedData {
                r#type: msg.get("type").cloned(),
                ..why(reasons::MISSING_ID)
            },
            msg,
        ));
        return;
    };
    let history = HistorySync {
        status: msg
            .get("history_context")
            .and_then(|h| non_null(h, "status")),
        ..sync.clone()
    };
    let direction = if inbound { "inbound" } else { "outbound" };
    // Meta sends media messages of the last 14 days again, later, with their media id: that
    // second item is a new event (the first had no id to fetch the media with).
    let media_id = str_of(msg.get("type"))
        .and_then(|t| msg.get(t))
        .and_then(|p| id_str(p.get("id")));
    let key = match media_id {
        Some(m) => format!("wa:hist:{}:{id}:media:{m}", ctx.scope()),
        None => format!("wa:hist:{}:{id}", ctx.scope()),
    };
    let data = WaMessage::normalize(msg, id, group_id).into_history(direction, history);
    out.push(draft.finish(key, data, msg));
}

/// One `state_sync[]` item: `{"type": "contact", "contact": {"full_name"?, "first_name"?,
/// "phone_number"}, "action": "add" | "remove", "metadata": {"timestamp"}}` — a contact of the
/// business's WhatsApp Business app address book was added, changed or removed.
fn wa_state_sync(ctx: &WaChange<'_>, item: &Value, out: &mut Vec<ParsedEvent>) {
    if !item.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            why(reasons::NOT_AN_OBJECT),
            item,
        ));
        return;
    }
    let at = ts_ms(item.get("metadata").and_then(|m| m.get("timestamp")));
    if str_of(item.get("type")) != Some("contact") {
        out.push(ctx.channel_draft(at).unsupported(
            &ctx.unsupported_prefix(),
            MetaUnsupportedData {
                r#type: item.get("type").cloned(),
                ..why(reasons::UNKNOWN_FIELD)
            },
            item,
        ));
        return;
    }
    let card = item.get("contact");
    let phone = card.and_then(|c| id_str(c.get("phone_number")));
    let ident = Ident {
        wa_id: phone.clone(),
        ..Ident::default()
    };
    let mut person = wa_person(ident, &[]);
    if let (Some(p), Some(name)) = (
        person.as_mut(),
        card.and_then(|c| c.get("full_name"))
            .filter(|v| v.is_string()),
    ) {
        p.insert("name".to_owned(), name.clone());
    }
    let (conversation, contact) = wa_conversation(None, person);
    let card_value = |k: &str| card.and_then(|c| non_null(c, k));
    let data = ContactSyncedData {
        r#type: "contact".to_owned(),
        action: item.get("action").cloned().unwrap_or(Value::Null),
        full_name: card_value("full_name"),
        first_name: card_value("first_name"),
        // A number is rendered in decimal; other non-strings are not a phone number.
        phone_number: card
            .and_then(|c| c.get("phone_number"))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(number_string(n)),
                _ => None,
            }),
    };
    let prefix = format!("wa:sync:{}", ctx.scope());
    let action = str_of(item.get("action"));
    let stamp = id_str(item.get("metadata").and_then(|m| m.get("timestamp")));
    let key = match (&phone, action, stamp) {
        (Some(p), Some(a), Some(t)) => format!("{prefix}:{p}:{a}:{t}"),
        _ => hash_key(&prefix, item),
    };
    out.push(
        ctx.item_draft(conversation, contact, at)
            .finish(key, data, item),
    );
}

fn wa_status(ctx: &WaChange<'_>, st: &Value, contacts: &[Value], out: &mut Vec<ParsedEvent>) {
    if !st.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            why(reasons::NOT_AN_OBJECT),
            st,
        ));
        return;
    }
    let is_group = str_of(st.get("recipient_type")) == Some("group");
    let (conversation, contact) = if is_group {
        let participant = Ident::from(
            st,
            "recipient_participant_id",
            "recipient_participant_user_id",
            "parent_recipient_participant_user_id",
        );
        let person = wa_person(participant, contacts);
        wa_conversation(id_str(st.get("recipient_id")), person)
    } else {
        let ident = Ident::from(
            st,
            "recipient_id",
            "recipient_user_id",
            "parent_recipient_user_id",
        );
        wa_conversation(None, wa_person(ident, contacts))
    };
    let draft = ctx.item_draft(conversation, contact.clone(), ts_ms(st.get("timestamp")));
    let id = id_str(st.get("id"));
    let status = id_str(st.get("status"));
    let (Some(id), Some(status)) = (id, status) else {
        out.push(draft.unsupported(
            &ctx.unsupported_prefix(),
            MetaUnsupportedData {
                status: st.get("status").cloned(),
                ..why(reasons::MISSING_ID)
            },
            st,
        ));
        return;
    };
    let scope = ctx.scope();
    let key = match id_str(st.get("timestamp")) {
        Some(ts) => format!("wa:status:{scope}:{id}:{status}:{ts}"),
        None => hash_key(&format!("wa:status:{scope}"), st),
    };
    let data = MessageStatusData {
        message_id: Some(id),
        status,
        recipient: Some(contact.unwrap_or(Value::Null)),
        errors: normalize_errors(st.get("errors")),
        biz_opaque_callback_data: non_null(st, "biz_opaque_callback_data"),
        pricing: non_null(st, "pricing"),
        conversation: non_null(st, "conversation"),
        ..Default::default()
    };
    out.push(draft.finish(key, data, st));
}

fn wa_user_preference(
    ctx: &WaChange<'_>,
    item: &Value,
    contacts: &[Value],
    out: &mut Vec<ParsedEvent>,
) {
    if !item.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            why(reasons::NOT_AN_OBJECT),
            item,
        ));
        return;
    }
    let ident = Ident::from(item, "wa_id", "user_id", "parent_user_id");
    let (conversation, contact) = wa_conversation(None, wa_person(ident, contacts));
    let data = ContactPreferencesData {
        category: non_null(item, "category"),
        value: non_null(item, "value"),
        detail: non_null(item, "detail"),
        wa_id: id_str(item.get("wa_id")),
        user_id: id_str(item.get("user_id")),
    };
    let key = hash_key(&format!("wa:pref:{}", ctx.scope()), item);
    out.push(
        ctx.item_draft(conversation, contact, ts_ms(item.get("timestamp")))
            .finish(key, data, item),
    );
}

fn wa_template_status(ctx: &WaChange<'_>, value: &Value) -> ParsedEvent {
    let template_id = id_str(value.get("message_template_id"));
    let event = id_str(value.get("event"));
    let sent = |k: &str| value.get(k).cloned().unwrap_or(Value::Null);
    let data = TemplateStatusData {
        template_id: template_id.clone(),
        template_name: sent("message_template_name"),
        language: sent("message_template_language"),
        event: sent("event"),
        reason: non_null(value, "reason"),
        category: non_null(value, "message_template_category"),
        rejection_info: non_null(value, "rejection_info"),
        other_info: non_null(value, "other_info"),
    };
    let key = match (template_id, event, id_str(ctx.entry_time)) {
        (Some(t), Some(e), Some(time)) => format!("wa:tpl:{}:{t}:{e}:{time}", ctx.waba_scope()),
        _ => hash_key(&ctx.change_prefix("tpl"), value),
    };
    ctx.channel_draft(ts_ms(ctx.entry_time))
        .finish(key, data, value)
}
