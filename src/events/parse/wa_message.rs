//! WhatsApp messages: one normalization for every kind, taken apart per event type.

use super::whatsapp::normalize_errors;
use super::*;

/// What every WhatsApp message event carries.
pub(super) struct WaMessage {
    message_id: String,
    /// Meta's `type` as sent.
    wire_type: Value,
    context: Option<MessageContext>,
    referral: Option<Value>,
    errors: Option<Vec<MetaError>>,
    group_id: Option<String>,
    content: WaContent,
}

/// The kind-specific part of a WhatsApp message (short-lived: built, then moved once into the
/// event's data, so the size difference of its variants costs a copy, not memory).
#[allow(clippy::large_enum_variant)]
enum WaContent {
    /// `message.received`.
    Received(WaReceived),
    Reaction {
        target_message_id: Option<String>,
        emoji: Option<String>,
        removed: bool,
    },
    System {
        system_type: Value,
        body: Option<Value>,
        new_wa_id: Option<String>,
        new_user_id: Option<String>,
        customer: Option<Value>,
        identity: Option<Value>,
    },
    Edit {
        target_message_id: Option<String>,
        message: Option<Value>,
    },
    Revoke {
        target_message_id: Option<String>,
    },
    Unsupported {
        unsupported_type: Option<String>,
        payload: Option<Value>,
        reason: Option<String>,
    },
}

/// The content of a `message.received`: at most one of these (none for `request_welcome`).
#[derive(Default)]
struct WaReceived {
    text: Option<String>,
    media: Option<MessageMedia>,
    location: Option<MessageLocation>,
    contacts: Option<Vec<Value>>,
    interactive: Option<MessageInteractive>,
    button: Option<MessageButton>,
    order: Option<MessageOrder>,
}

impl WaContent {
    fn missing_payload() -> Self {
        WaContent::Unsupported {
            unsupported_type: None,
            payload: None,
            reason: Some(reasons::MISSING_PAYLOAD.to_owned()),
        }
    }
}

/// Moves a message's content into the content fields that the echo and history data types
/// share (`text`, `media`, …, `unsupported_type`); `$edit` places an edit's new message, which
/// only the echo type has a field for. A system message's fields go to `$other`.
macro_rules! fill_content {
    ($data:ident, $content:expr, $other:ident, |$message:ident| $edit:expr) => {
        match $content.system_into(&mut $other) {
            Some(WaContent::Received(WaReceived {
                text,
                media,
                location,
                contacts,
                interactive,
                button,
                order,
            })) => {
                $data.text = text;
                $data.media = media;
                $data.location = location;
                $data.contacts = contacts;
                $data.interactive = interactive;
                $data.button = button;
                $data.order = order;
            }
            Some(WaContent::Reaction {
                target_message_id,
                emoji,
                removed,
            }) => {
                $data.target_message_id = target_message_id;
                $data.emoji = emoji;
                $data.removed = Some(removed);
            }
            Some(WaContent::Edit {
                target_message_id,
                message: $message,
            }) => {
                $data.target_message_id = target_message_id;
                $edit;
            }
            Some(WaContent::Revoke { target_message_id }) => {
                $data.target_message_id = target_message_id;
            }
            Some(WaContent::Unsupported {
                unsupported_type,
                payload,
                reason,
            }) => {
                $data.unsupported_type = unsupported_type;
                $data.payload = payload;
                $data.reason = reason;
            }
            Some(WaContent::System { .. }) | None => {}
        }
    };
}

/// `key` of `map` as sent, when present (null included), for the keys a schema does not list.
fn put_other(map: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        map.insert(key.to_owned(), v);
    }
}

impl WaContent {
    /// A `system` message's keys, for the types whose schema does not list them.
    fn system_into(self, other: &mut Map<String, Value>) -> Option<Self> {
        let WaContent::System {
            system_type,
            body,
            new_wa_id,
            new_user_id,
            customer,
            identity,
        } = self
        else {
            return Some(self);
        };
        other.insert("system_type".to_owned(), system_type);
        put_other(other, "body", body);
        put_other(other, "new_wa_id", new_wa_id.map(Value::String));
        put_other(other, "new_user_id", new_user_id.map(Value::String));
        put_other(other, "customer", customer);
        put_other(other, "identity", identity);
        None
    }
}

impl WaMessage {
    /// Type-specific normalization of a WhatsApp message with an id.
    pub(super) fn normalize(msg: &Value, message_id: String, group_id: Option<String>) -> Self {
        let wire_type = msg.get("type");
        let type_name = str_of(wire_type).unwrap_or("");
        let payload = msg.get(type_name).filter(|_| !type_name.is_empty());
        let object_payload = payload.filter(|p| p.is_object());
        let content = match (type_name, object_payload) {
            ("text", _) => {
                let body = match payload {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(p) => p.get("body").and_then(Value::as_str).map(str::to_owned),
                    None => None,
                };
                match body {
                    Some(text) => WaContent::Received(WaReceived {
                        text: Some(text),
                        ..Default::default()
                    }),
                    None => WaContent::missing_payload(),
                }
            }
            ("image" | "audio" | "video" | "document" | "sticker", Some(p)) => {
                let s = |k: &str| id_str(p.get(k));
                let media = MessageMedia {
                    id: s("id"),
                    mime_type: s("mime_type"),
                    sha256: s("sha256"),
                    caption: s("caption"),
                    filename: s("filename"),
                    url: s("url"),
                    voice: bool_of(p.get("voice")),
                    animated: bool_of(p.get("animated")),
                    cache: None,
                };
                WaContent::Received(WaReceived {
                    media: Some(media),
                    ..Default::default()
                })
            }
            ("location", Some(p)) => {
                let number = |k: &str| p.get(k).map(number_value).unwrap_or(Value::Null);
                let location = MessageLocation {
                    latitude: number("latitude"),
                    longitude: number("longitude"),
                    name: non_null(p, "name"),
                    address: non_null(p, "address"),
                    url: non_null(p, "url"),
                };
                WaContent::Received(WaReceived {
                    location: Some(location),
                    ..Default::default()
                })
            }
            ("contacts", _) => match payload {
                Some(Value::Array(cards)) => WaContent::Received(WaReceived {
                    contacts: Some(cards.clone()),
                    ..Default::default()
                }),
                _ => WaContent::missing_payload(),
            },
            ("interactive", Some(p)) => WaContent::Received(WaReceived {
                interactive: Some(normalize_interactive(p)),
                ..Default::default()
            }),
            ("button", Some(p)) => {
                let button = MessageButton {
                    payload: p.get("payload").cloned().unwrap_or(Value::Null),
                    text: p.get("text").cloned().unwrap_or(Value::Null),
                };
                WaContent::Received(WaReceived {
                    button: Some(button),
                    ..Default::default()
                })
            }
            ("order", Some(p)) => {
                let order = MessageOrder {
                    catalog_id: id_str(p.get("catalog_id")),
                    text: non_null(p, "text"),
                    product_items: p
                        .get("product_items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                };
                WaContent::Received(WaReceived {
                    order: Some(order),
                    ..Default::default()
                })
            }
            ("request_welcome", _) => WaContent::Received(WaReceived::default()),
            ("reaction", Some(p)) => {
                let emoji = p
                    .get("emoji")
                    .and_then(Value::as_str)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned);
                WaContent::Reaction {
                    target_message_id: id_str(p.get("message_id")),
                    removed: emoji.is_none(),
                    emoji,
                }
            }
            ("system", Some(p)) => WaContent::System {
                system_type: p.get("type").cloned().unwrap_or(Value::Null),
                body: non_null(p, "body"),
                new_wa_id: id_str(p.get("wa_id")),
                new_user_id: id_str(p.get("user_id")),
                customer: non_null(p, "customer"),
                identity: non_null(msg, "identity"),
            },
            ("edit", Some(p)) => WaContent::Edit {
                target_message_id: id_str(p.get("original_message_id")),
                message: non_null(p, "message"),
            },
            ("revoke", Some(p)) => WaContent::Revoke {
                target_message_id: id_str(p.get("original_message_id")),
            },
            (
                "image" | "audio" | "video" | "document" | "sticker" | "location" | "interactive"
                | "button" | "order" | "reaction" | "system" | "edit" | "revoke",
                None,
            ) => WaContent::missing_payload(),
            _ => WaContent::Unsupported {
                // `unsupported`, the older `unknown`, or a type this module does not know.
                unsupported_type: msg
                    .get("unsupported")
                    .and_then(|u| u.get("type"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                payload: if matches!(type_name, "unsupported" | "unknown") {
                    None
                } else {
                    payload.cloned()
                },
                reason: None,
            },
        };
        WaMessage {
            message_id,
            wire_type: wire_type.cloned().unwrap_or(Value::Null),
            context: msg.get("context").and_then(normalize_context),
            referral: non_null(msg, "referral"),
            errors: normalize_errors(msg.get("errors")),
            group_id,
            content,
        }
    }

    /// The wire type as a string (the known kinds always have one).
    fn type_string(&self) -> String {
        self.wire_type.as_str().unwrap_or_default().to_owned()
    }

    /// The event of an inbound message: its type follows its kind.
    pub(super) fn into_event(self) -> EventData {
        let r#type = self.type_string();
        let WaMessage {
            message_id,
            wire_type,
            context,
            referral,
            errors,
            group_id,
            content,
        } = self;
        match content {
            WaContent::Received(WaReceived {
                text,
                media,
                location,
                contacts,
                interactive,
                button,
                order,
            }) => MessageReceivedData {
                message_id,
                r#type,
                text,
                media,
                location,
                contacts,
                interactive,
                button,
                order,
                context,
                referral,
                errors,
                group_id,
                ..Default::default()
            }
            .into(),
            WaContent::Reaction {
                target_message_id,
                emoji,
                removed,
            } => MessageReactionData {
                message_id: Some(message_id),
                r#type,
                target_message_id,
                emoji: emoji.map(Value::String),
                removed,
                context,
                referral,
                errors,
                group_id,
                ..Default::default()
            }
            .into(),
            WaContent::System {
                system_type,
                body,
                new_wa_id,
                new_user_id,
                customer,
                identity,
            } => ContactChangedData {
                message_id,
                r#type,
                system_type,
                body,
                new_wa_id,
                new_user_id,
                customer,
                identity,
                context,
                referral,
                errors,
                group_id,
            }
            .into(),
            WaContent::Edit {
                target_message_id,
                message,
            } => MessageEditedData {
                message_id: Some(message_id),
                r#type,
                target_message_id,
                message,
                context,
                referral,
                errors,
                group_id,
                ..Default::default()
            }
            .into(),
            WaContent::Revoke { target_message_id } => MessageDeletedData {
                message_id,
                r#type,
                target_message_id,
                context,
                referral,
                errors,
                group_id,
                ..Default::default()
            }
            .into(),
            WaContent::Unsupported {
                unsupported_type,
                payload,
                reason,
            } => MessageUnsupportedData {
                message_id,
                r#type: wire_type,
                unsupported_type,
                payload,
                reason,
                errors,
                context,
                referral,
                group_id,
                ..Default::default()
            }
            .into(),
        }
    }

    /// A message the business sent (`smb_message_echoes`): the keys of its kind.
    pub(super) fn into_echo(self) -> MessageEchoData {
        let mut other = Map::new();
        let mut data = MessageEchoData {
            message_id: self.message_id,
            r#type: self.wire_type,
            is_echo: true,
            context: self.context,
            referral: self.referral,
            errors: self.errors,
            group_id: self.group_id,
            ..Default::default()
        };
        fill_content!(data, self.content, other, |message| data.message = message);
        data.other = other;
        data
    }

    /// A message of the shared chat history.
    pub(super) fn into_history(self, direction: &str, history: HistorySync) -> MessageHistoryData {
        let mut other = Map::new();
        put_other(&mut other, "referral", self.referral);
        put_other(&mut other, "group_id", self.group_id.map(Value::String));
        let mut data = MessageHistoryData {
            message_id: self.message_id,
            r#type: self.wire_type,
            direction: direction.to_owned(),
            history,
            context: self.context,
            errors: self.errors,
            ..Default::default()
        };
        fill_content!(data, self.content, other, |message| put_other(
            &mut other, "message", message
        ));
        data.other = other;
        data
    }
}

fn normalize_context(c: &Value) -> Option<MessageContext> {
    let c = c.as_object()?;
    Some(MessageContext {
        reply_to: id_str(c.get("id")),
        reply_to_from: id_str(c.get("from")),
        forwarded: bool_of(c.get("forwarded")),
        frequently_forwarded: bool_of(c.get("frequently_forwarded")),
        referred_product: c.get("referred_product").filter(|v| !v.is_null()).cloned(),
    })
}

fn normalize_interactive(p: &Value) -> MessageInteractive {
    let sub = p.get("type").cloned().unwrap_or(Value::Null);
    let sub_name = sub.as_str().unwrap_or("");
    let inner = p.get(sub_name).filter(|_| !sub_name.is_empty());
    let mut m = MessageInteractive {
        r#type: sub.clone(),
        ..Default::default()
    };
    match (sub_name, inner) {
        ("button_reply" | "list_reply", Some(r)) => {
            m.id = id_str(r.get("id"));
            m.title = non_null(r, "title");
            m.description = non_null(r, "description");
        }
        ("nfm_reply", Some(r)) => {
            m.name = non_null(r, "name");
            m.body = non_null(r, "body");
            let raw = r.get("response_json");
            let parsed = match raw {
                Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
                Some(v @ Value::Object(_)) => Some(v.clone()),
                _ => None,
            };
            m.response = Some(parsed.unwrap_or(Value::Null));
            m.response_json = Some(raw.cloned().unwrap_or(Value::Null));
        }
        _ => {
            m.payload = inner.cloned();
        }
    }
    m
}
