//! Instagram and Messenger webhooks (`messaging[]`, `standby[]`, `changes[]`) and Lead Ads.

use super::*;

/// One Instagram / Page entry.
struct SocialEntry<'a> {
    object: &'a str,
    kind: ChannelKind,
    /// `ig` or `fb`.
    ns: &'static str,
    account: Option<String>,
    entry_time: Option<&'a Value>,
}

impl SocialEntry<'_> {
    fn route(&self) -> Route {
        self.account
            .clone()
            .map(Route::Channel)
            .unwrap_or(Route::None)
    }

    fn scope(&self) -> &str {
        scope_or_placeholder(self.account.as_ref())
    }

    fn unsupported_prefix(&self) -> String {
        format!("{}:unsupported:{}", self.ns, self.scope())
    }

    fn change_prefix(&self, ns_kind: &str) -> String {
        match id_str(self.entry_time) {
            Some(t) => format!("{}:{ns_kind}:{}:{t}", self.ns, self.scope()),
            None => format!("{}:{ns_kind}:{}", self.ns, self.scope()),
        }
    }

    fn channel_draft(&self, at: Option<i64>) -> Draft {
        Draft::channel_level(Some(self.kind), self.route(), at)
    }
}

const MESSAGING_CONTAINERS: [(&str, bool); 2] = [("messaging", false), ("standby", true)];

/// The mid of a messaging item, wherever its kind keeps it.
fn item_mid(item: &Value) -> Option<&str> {
    ["message", "reaction", "read", "postback", "message_edit"]
        .iter()
        .find_map(|k| {
            item.get(*k)
                .and_then(|v| v.get("mid"))
                .and_then(Value::as_str)
        })
}

/// Instagram mids are base64 of `ig_...`.
fn is_instagram_mid(mid: &str) -> bool {
    mid.starts_with("aWdf")
}

pub(super) fn social_entry(object: &str, entry: &Value, out: &mut Vec<ParsedEvent>) {
    let instagram = object == "instagram"
        || MESSAGING_CONTAINERS.iter().any(|(c, _)| {
            entry
                .get(*c)
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().filter_map(item_mid).any(is_instagram_mid))
        });
    let (kind, ns) = if instagram {
        (ChannelKind::Instagram, "ig")
    } else {
        (ChannelKind::Messenger, "fb")
    };
    let ctx = SocialEntry {
        object,
        kind,
        ns,
        account: id_str(entry.get("id")),
        entry_time: entry.get("time"),
    };
    if !entry.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            MetaUnsupportedData {
                object: Some(Value::String(object.to_owned())),
                ..why(reasons::NOT_AN_OBJECT)
            },
            entry,
        ));
        return;
    }
    let mut seen_container = false;
    for (container, standby) in MESSAGING_CONTAINERS {
        match entry.get(container) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                seen_container = true;
                for item in items {
                    messaging_item(&ctx, item, standby, out);
                }
            }
            Some(other) => {
                seen_container = true;
                out.push(ctx.channel_draft(None).unsupported(
                    &ctx.unsupported_prefix(),
                    MetaUnsupportedData {
                        container: Some(container.to_owned()),
                        ..why(reasons::CONTAINER_NOT_ARRAY)
                    },
                    other,
                ));
            }
        }
    }
    match entry.get("changes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(changes)) => {
            seen_container = true;
            for change in changes {
                social_change(&ctx, change, out);
            }
        }
        Some(other) => {
            seen_container = true;
            out.push(ctx.channel_draft(None).unsupported(
                &ctx.unsupported_prefix(),
                MetaUnsupportedData {
                    container: Some("changes".to_owned()),
                    ..why(reasons::CONTAINER_NOT_ARRAY)
                },
                other,
            ));
        }
    }
    if !seen_container {
        out.push(ctx.channel_draft(ts_ms(ctx.entry_time)).unsupported(
            &ctx.change_prefix("unsupported"),
            MetaUnsupportedData {
                object: Some(Value::String(object.to_owned())),
                ..why(reasons::EMPTY_ENTRY)
            },
            entry,
        ));
    }
}

/// Handover protocol items that stay `meta.unsupported` (the role change of an app).
const HANDOVER_KINDS: [&str; 1] = ["app_roles"];

/// The handover items that become `thread.control`, with their `action`.
///
/// Meta's "messaging_handovers Webhook Event Reference" (Messenger Platform,
/// <https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messaging_handovers>,
/// read 2026-12-04): `pass_thread_control {new_owner_app_id, previous_owner_app_id (null when
/// the thread was idle), metadata}`, sent "when thread ownership for a user has been passed to
/// your application"; `take_thread_control {previous_owner_app_id, new_owner_app_id, metadata}`,
/// sent "when thread ownership for a user has been taken away from your application";
/// `request_thread_control {requested_owner_app_id, metadata}`, sent to the app in control
/// when another app calls the Request Thread Control API. App ids are strings on the page;
/// numbers are accepted too (rendered as decimal strings).
const THREAD_CONTROL_KINDS: [(&str, &str); 3] = [
    ("pass_thread_control", "pass"),
    ("take_thread_control", "take"),
    ("request_thread_control", "request"),
];

fn messaging_item(ctx: &SocialEntry<'_>, item: &Value, standby: bool, out: &mut Vec<ParsedEvent>) {
    let standby_why = |reason: &str| MetaUnsupportedData {
        standby: Some(standby),
        ..why(reason)
    };
    if !item.is_object() {
        out.push(ctx.channel_draft(None).unsupported(
            &ctx.unsupported_prefix(),
            standby_why(reasons::NOT_AN_OBJECT),
            item,
        ));
        return;
    }
    let sender = id_str(item.get("sender").and_then(|s| s.get("id")));
    let recipient = id_str(item.get("recipient").and_then(|r| r.get("id")));
    let message = item.get("message");
    let is_echo = message
        .and_then(|m| bool_of(m.get("is_echo")))
        .unwrap_or(false);
    // The customer is the side that is not the account.
    let customer = match (&ctx.account, &sender, &recipient) {
        (Some(a), Some(s), _) if a == s => recipient.clone(),
        (Some(a), _, Some(r)) if a == r => sender.clone(),
        _ if is_echo => recipient.clone(),
        _ => sender.clone(),
    };
    let user_prefix = match ctx.kind {
        ChannelKind::Instagram => "igsid",
        _ => "psid",
    };
    let draft = Draft {
        kind: Some(ctx.kind),
        route: ctx.route(),
        conversation_key: customer
            .as_ref()
            .map(|c| format!("{user_prefix}:{c}"))
            .unwrap_or_else(|| "unknown".to_owned()),
        contact: customer.as_ref().map(|c| json!({ "id": c })),
        occurred_at_ms: ts_ms(item.get("timestamp")),
    };
    let ts = id_str(item.get("timestamp"));
    let acct = ctx.scope().to_owned();
    let ns = ctx.ns;

    if let Some((key, action)) = THREAD_CONTROL_KINDS
        .iter()
        .find(|(k, _)| item.get(*k).is_some_and(|v| !v.is_null()))
    {
        let payload = item.get(*key).unwrap_or(&Value::Null);
        if !payload.is_object() {
            let data = MetaUnsupportedData {
                kind: Some((*key).to_owned()),
                ..standby_why(reasons::MISSING_PAYLOAD)
            };
            out.push(draft.unsupported(&ctx.unsupported_prefix(), data, item));
            return;
        }
        let data = ThreadControlData {
            action: (*action).to_owned(),
            new_owner_app_id: id_str(payload.get("new_owner_app_id")),
            previous_owner_app_id: id_str(payload.get("previous_owner_app_id")),
            requested_owner_app_id: id_str(payload.get("requested_owner_app_id")),
            metadata: non_null(payload, "metadata"),
            owned_by_bridge: None,
            standby,
        };
        let app = data
            .new_owner_app_id
            .as_deref()
            .or(data.requested_owner_app_id.as_deref())
            .or(data.previous_owner_app_id.as_deref())
            .unwrap_or("_")
            .to_owned();
        let key = match (&customer, &ts) {
            (Some(c), Some(t)) => format!("{ns}:handover:{acct}:{c}:{action}:{t}:{app}"),
            _ => hash_key(&format!("{ns}:handover:{acct}"), item),
        };
        out.push(draft.finish(key, data, item));
        return;
    }

    let kind = [
        "message",
        "message_edit",
        "reaction",
        "postback",
        "read",
        "delivery",
        "referral",
    ]
    .into_iter()
    .find(|k| item.get(*k).is_some_and(|v| !v.is_null()));
    let Some(kind) = kind else {
        let other = item
            .as_object()
            .and_then(|m| {
                m.keys()
                    .find(|k| !matches!(k.as_str(), "sender" | "recipient" | "timestamp"))
            })
            .cloned();
        let reason = match other.as_deref() {
            Some(k) if HANDOVER_KINDS.contains(&k) => reasons::HANDOVER,
            _ => reasons::UNKNOWN_MESSAGING_ITEM,
        };
        let data = MetaUnsupportedData {
            kind: other,
            ..standby_why(reason)
        };
        out.push(draft.unsupported(&ctx.unsupported_prefix(), data, item));
        return;
    };
    let payload = item.get(kind).unwrap_or(&Value::Null);
    if !payload.is_object() {
        let data = MetaUnsupportedData {
            kind: Some(kind.to_owned()),
            ..standby_why(reasons::MISSING_PAYLOAD)
        };
        out.push(draft.unsupported(&ctx.unsupported_prefix(), data, item));
        return;
    }
    let mid = id_str(payload.get("mid"));

    let (data, key): (EventData, String) = match kind {
        "message" => {
            let Some(mid) = mid else {
                let data = MetaUnsupportedData {
                    kind: Some(kind.to_owned()),
                    ..standby_why(reasons::MISSING_ID)
                };
                out.push(draft.unsupported(&ctx.unsupported_prefix(), data, item));
                return;
            };
            let deleted = bool_of(payload.get("is_deleted")).unwrap_or(false);
            let unsupported = bool_of(payload.get("is_unsupported")).unwrap_or(false);
            let attachments = payload.get("attachments").and_then(Value::as_array);
            let text = payload
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let type_name = if deleted {
                "deleted"
            } else if attachments.is_some_and(|a| !a.is_empty()) {
                "attachments"
            } else if text.is_some() {
                "text"
            } else if unsupported {
                "unsupported"
            } else {
                "empty"
            };
            let attachments =
                attachments.map(|list| list.iter().map(normalize_attachment).collect());
            let reply_to = non_null(payload, "reply_to");
            let quick_reply_payload = payload
                .get("quick_reply")
                .and_then(|q| q.get("payload"))
                .cloned();
            let referral = non_null(payload, "referral");
            let (app_id, metadata) = if is_echo {
                (id_str(payload.get("app_id")), non_null(payload, "metadata"))
            } else {
                (None, None)
            };
            if deleted {
                let data = MessageDeletedData {
                    message_id: mid.clone(),
                    r#type: type_name.to_owned(),
                    is_echo: Some(is_echo),
                    text,
                    attachments,
                    reply_to,
                    quick_reply_payload,
                    app_id,
                    metadata,
                    referral,
                    standby: Some(standby),
                    ..Default::default()
                };
                (data.into(), format!("{ns}:del:{acct}:{mid}"))
            } else if is_echo {
                let data = MessageEchoData {
                    message_id: mid.clone(),
                    r#type: Value::String(type_name.to_owned()),
                    is_echo: true,
                    app_id,
                    metadata,
                    text,
                    attachments,
                    reply_to,
                    quick_reply_payload,
                    referral,
                    standby: Some(standby),
                    ..Default::default()
                };
                (data.into(), format!("{ns}:msg:{acct}:{mid}"))
            } else if unsupported {
                let data = MessageUnsupportedData {
                    message_id: mid.clone(),
                    r#type: Value::String(type_name.to_owned()),
                    text,
                    attachments,
                    reply_to,
                    quick_reply_payload,
                    referral,
                    is_echo: Some(false),
                    standby: Some(standby),
                    ..Default::default()
                };
                (data.into(), format!("{ns}:msg:{acct}:{mid}"))
            } else {
                let data = MessageReceivedData {
                    message_id: mid.clone(),
                    r#type: type_name.to_owned(),
                    text,
                    attachments,
                    reply_to,
                    quick_reply_payload,
                    referral,
                    is_echo: Some(false),
                    standby: Some(standby),
                    ..Default::default()
                };
                (data.into(), format!("{ns}:msg:{acct}:{mid}"))
            }
        }
        "message_edit" => {
            let num_edit = int_of(payload.get("num_edit"));
            let data = MessageEditedData {
                r#type: kind.to_owned(),
                message_id: mid.clone(),
                text: non_null(payload, "text"),
                num_edit: num_edit
                    .map(Value::from)
                    .or_else(|| payload.get("num_edit").cloned()),
                standby: Some(standby),
                ..Default::default()
            };
            let key = match (mid, id_str(payload.get("num_edit"))) {
                (Some(mid), Some(n)) => format!("{ns}:edit:{acct}:{mid}:{n}"),
                _ => hash_key(&format!("{ns}:edit:{acct}"), item),
            };
            (data.into(), key)
        }
        "reaction" => {
            let action = id_str(payload.get("action"));
            let data = MessageReactionData {
                r#type: kind.to_owned(),
                target_message_id: mid.clone(),
                action: action.clone(),
                reaction: non_null(payload, "reaction"),
                emoji: non_null(payload, "emoji"),
                removed: action.as_deref() == Some("unreact"),
                standby: Some(standby),
                ..Default::default()
            };
            let key = match (&sender, mid, action, &ts) {
                (Some(s), Some(m), Some(a), Some(t)) => {
                    format!("{ns}:react:{acct}:{s}:{m}:{a}:{t}")
                }
                _ => hash_key(&format!("{ns}:react:{acct}"), item),
            };
            (data.into(), key)
        }
        "postback" => {
            let data = MessagePostbackData {
                r#type: kind.to_owned(),
                message_id: mid.clone(),
                title: non_null(payload, "title"),
                payload: non_null(payload, "payload"),
                referral: non_null(payload, "referral"),
                standby,
            };
            let key = match (mid, &sender, &ts) {
                (Some(m), _, _) => format!("{ns}:postback:{acct}:{m}"),
                (None, Some(s), Some(t)) => format!("{ns}:postback:{acct}:{s}:{t}"),
                _ => hash_key(&format!("{ns}:postback:{acct}"), item),
            };
            (data.into(), key)
        }
        "read" => {
            let data = MessageStatusData {
                status: "read".to_owned(),
                message_id: mid.clone(),
                watermark: non_null(payload, "watermark"),
                standby: Some(standby),
                ..Default::default()
            };
            let mark = mid.or_else(|| id_str(payload.get("watermark")));
            let key = match (&sender, mark) {
                (Some(s), Some(m)) => format!("{ns}:read:{acct}:{s}:{m}"),
                _ => hash_key(&format!("{ns}:read:{acct}"), item),
            };
            (data.into(), key)
        }
        "delivery" => {
            let data = MessageStatusData {
                status: "delivered".to_owned(),
                message_ids: payload.get("mids").and_then(Value::as_array).cloned(),
                watermark: non_null(payload, "watermark"),
                standby: Some(standby),
                ..Default::default()
            };
            let key = match (&sender, id_str(payload.get("watermark"))) {
                (Some(s), Some(w)) => format!("{ns}:delivery:{acct}:{s}:{w}"),
                _ => hash_key(&format!("{ns}:delivery:{acct}"), item),
            };
            (data.into(), key)
        }
        _ => {
            // "referral"
            let data = MessageReferralData {
                r#type: "referral".to_owned(),
                referral: payload.clone(),
                standby,
            };
            let key = hash_key(&format!("{ns}:referral:{acct}"), item);
            (data.into(), key)
        }
    };
    out.push(draft.finish(key, data, item));
}

fn normalize_attachment(a: &Value) -> MessageAttachment {
    let payload = a.get("payload").cloned().unwrap_or(Value::Null);
    MessageAttachment {
        r#type: a.get("type").cloned().unwrap_or(Value::Null),
        url: payload
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned),
        payload,
        cache: None,
    }
}

fn social_change(ctx: &SocialEntry<'_>, change: &Value, out: &mut Vec<ParsedEvent>) {
    let entry_at = ts_ms(ctx.entry_time);
    let field = change.get("field");
    let value = change.get("value").unwrap_or(&Value::Null);
    let object_why = |reason: &str| MetaUnsupportedData {
        object: Some(Value::String(ctx.object.to_owned())),
        field: field.cloned(),
        ..why(reason)
    };
    if !change.is_object() {
        out.push(ctx.channel_draft(entry_at).unsupported(
            &ctx.change_prefix("unsupported"),
            object_why(reasons::NOT_AN_OBJECT),
            change,
        ));
        return;
    }
    match str_of(field) {
        Some("leadgen") if ctx.object == "page" => out.push(leadgen(ctx, change, value)),
        Some("messages")
            if ctx.kind == ChannelKind::Instagram
                && (value.get("sender").is_some() || value.get("message").is_some()) =>
        {
            out.push(ctx.channel_draft(entry_at).unsupported(
                &ctx.change_prefix("unsupported"),
                object_why(reasons::INSTAGRAM_TEST_PAYLOAD),
                change,
            ));
        }
        _ => out.push(ctx.channel_draft(entry_at).unsupported(
            &ctx.change_prefix("unsupported"),
            object_why(reasons::UNKNOWN_FIELD),
            change,
        )),
    }
}

fn leadgen(ctx: &SocialEntry<'_>, change: &Value, value: &Value) -> ParsedEvent {
    let page_id = id_str(value.get("page_id")).or_else(|| ctx.account.clone());
    let route = page_id.clone().map(Route::Channel).unwrap_or(Route::None);
    let created_ms = ts_ms(value.get("created_time"));
    let Some(leadgen_id) = id_str(value.get("leadgen_id")) else {
        let draft =
            Draft::channel_level(Some(ChannelKind::Messenger), route, ts_ms(ctx.entry_time));
        return draft.unsupported(
            &ctx.change_prefix("unsupported"),
            MetaUnsupportedData {
                field: change.get("field").cloned(),
                ..why(reasons::MISSING_LEADGEN_ID)
            },
            change,
        );
    };
    let data = LeadWebhookData {
        leadgen_id: leadgen_id.clone(),
        form_id: id_str(value.get("form_id")),
        ad_id: id_str(value.get("ad_id")),
        adgroup_id: id_str(value.get("adgroup_id")),
        page_id,
        created_time_ms: created_ms,
    };
    let draft = Draft {
        kind: Some(ChannelKind::Messenger),
        route,
        conversation_key: format!("lead:{leadgen_id}"),
        contact: None,
        occurred_at_ms: created_ms.or_else(|| ts_ms(ctx.entry_time)),
    };
    draft.finish(format!("lead:{leadgen_id}"), data, value)
}
