//! Instagram and Messenger Send API rendering: scoped recipients, text, attachments, quick
//! replies, reactions, sender actions and message tags.

use serde_json::{Map, Value, json};

use crate::channels::ChannelKind;

use super::checks::{
    Check, https_url, label, not_allowed, not_for_channel, over_chars, text, violation,
};
use super::content::{MessageTag, OutboundMessage, TextMessage};
use super::whatsapp::check_emoji;
use super::{
    MAX_INSTAGRAM_TEXT_BYTES, MAX_MESSAGE_ID, MAX_MESSENGER_TEXT, MAX_QUICK_REPLIES,
    MAX_QUICK_REPLY_PAYLOAD, MAX_QUICK_REPLY_TITLE, MAX_SCOPED_ID, Rendered, SendMessageRequest,
    Violation, check_client_reference, check_type_allowed, rule,
};

fn check_scoped_id(to: &str) -> Check {
    if to.is_empty() {
        return Err(violation("to", rule::REQUIRED, "must not be empty"));
    }
    if over_chars(to, MAX_SCOPED_ID) {
        return Err(violation(
            "to",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_SCOPED_ID} characters"),
        ));
    }
    if !to
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(violation(
            "to",
            rule::INVALID_FORMAT,
            "must be the customer's scoped id (letters, digits, `_` and `-`)",
        ));
    }
    Ok(())
}

enum SocialContent {
    /// The `message` object (without `metadata`).
    Message(Map<String, Value>),
    /// `sender_action` and an optional `payload`.
    Action(&'static str, Option<Value>),
}

fn social_attachment(
    kind: ChannelKind,
    attachment_type: &str,
    media_id: Option<&String>,
    link: Option<&String>,
    caption: Option<&String>,
    filename: Option<&String>,
) -> Result<SocialContent, Violation> {
    if media_id.is_some() {
        return Err(not_for_channel(
            "message.media_id",
            kind,
            "media_id (send a public link)",
        ));
    }
    if caption.is_some() {
        return Err(not_for_channel("message.caption", kind, "captions"));
    }
    if filename.is_some() {
        return Err(not_for_channel("message.filename", kind, "filename"));
    }
    let Some(link) = link else {
        return Err(violation(
            "message.link",
            rule::REQUIRED,
            "link is required",
        ));
    };
    https_url("message.link", link)?;
    let mut map = Map::new();
    map.insert(
        "attachment".into(),
        json!({"type": attachment_type, "payload": {"url": link, "is_reusable": true}}),
    );
    Ok(SocialContent::Message(map))
}

fn social_text(kind: ChannelKind, m: &TextMessage) -> Result<SocialContent, Violation> {
    if m.body.trim().is_empty() {
        return Err(violation(
            "message.body",
            rule::REQUIRED,
            "must not be empty",
        ));
    }
    match kind {
        ChannelKind::Instagram if m.body.len() > MAX_INSTAGRAM_TEXT_BYTES => {
            return Err(violation(
                "message.body",
                rule::MAX_LENGTH,
                format!("must be at most {MAX_INSTAGRAM_TEXT_BYTES} bytes (UTF-8) on Instagram"),
            ));
        }
        ChannelKind::Messenger => text("message.body", &m.body, MAX_MESSENGER_TEXT)?,
        _ => {}
    }
    if m.preview_url.is_some() {
        return Err(not_for_channel("message.preview_url", kind, "preview_url"));
    }
    let mut map = Map::new();
    map.insert("text".into(), m.body.clone().into());
    let replies = m.quick_replies.as_deref().unwrap_or_default();
    if replies.len() > MAX_QUICK_REPLIES {
        return Err(violation(
            format!("message.quick_replies[{MAX_QUICK_REPLIES}]"),
            rule::TOO_MANY,
            format!("at most {MAX_QUICK_REPLIES} quick replies"),
        ));
    }
    if !replies.is_empty() {
        let mut out = Vec::with_capacity(replies.len());
        for (i, q) in replies.iter().enumerate() {
            label(
                &format!("message.quick_replies[{i}].title"),
                &q.title,
                MAX_QUICK_REPLY_TITLE,
            )?;
            label(
                &format!("message.quick_replies[{i}].payload"),
                &q.payload,
                MAX_QUICK_REPLY_PAYLOAD,
            )?;
            out.push(json!({"content_type": "text", "title": q.title, "payload": q.payload}));
        }
        map.insert("quick_replies".into(), Value::Array(out));
    }
    Ok(SocialContent::Message(map))
}

fn social_content(
    kind: ChannelKind,
    message: &OutboundMessage,
) -> Result<SocialContent, Violation> {
    use OutboundMessage as M;
    match message {
        M::Text(m) => social_text(kind, m),
        M::Image(m) => social_attachment(
            kind,
            "image",
            m.media_id.as_ref(),
            m.link.as_ref(),
            m.caption.as_ref(),
            None,
        ),
        M::Video(m) => social_attachment(
            kind,
            "video",
            m.media_id.as_ref(),
            m.link.as_ref(),
            m.caption.as_ref(),
            None,
        ),
        M::Audio(m) => social_attachment(
            kind,
            "audio",
            m.media_id.as_ref(),
            m.link.as_ref(),
            None,
            None,
        ),
        M::Document(m) => social_attachment(
            kind,
            "file",
            m.media_id.as_ref(),
            m.link.as_ref(),
            m.caption.as_ref(),
            m.filename.as_ref(),
        ),
        M::Reaction(m) => {
            label("message.message_id", &m.message_id, MAX_MESSAGE_ID)?;
            check_emoji(&m.emoji)?;
            Ok(if m.emoji.is_empty() {
                SocialContent::Action("unreact", Some(json!({"message_id": m.message_id})))
            } else {
                let reaction = match kind {
                    ChannelKind::Instagram => instagram_reaction(&m.emoji)?,
                    _ => m.emoji.as_str(),
                };
                SocialContent::Action(
                    "react",
                    Some(json!({"message_id": m.message_id, "reaction": reaction})),
                )
            })
        }
        M::TypingOn(_) => Ok(SocialContent::Action("typing_on", None)),
        M::TypingOff(_) => Ok(SocialContent::Action("typing_off", None)),
        M::MarkSeen(_) => Ok(SocialContent::Action("mark_seen", None)),
        _ => Err(not_for_channel(
            "message.type",
            kind,
            &format!("`{}` messages", message.type_name()),
        )),
    }
}

/// Instagram takes one reaction type: `love` (the heart). Meta: "Send messages", Instagram API
/// with Instagram Login,
/// <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api>,
/// and "Send a Message", Instagram Messaging (Messenger Platform),
/// <https://developers.facebook.com/documentation/business-messaging/instagram-messaging/features/send-message>
/// (read 2026-12-02): `sender_action: react` with `payload.reaction` `love`; integrators
/// document the same ("On Instagram only 'love' is accepted"). The heart emoji (with or without
/// the emoji variation selector) and the name `love` map to it; any other reaction is refused
/// with 422 before it is queued. Messenger keeps any emoji (Messenger Platform, "Sender
/// Actions": `reaction` set to any emoji).
fn instagram_reaction(emoji: &str) -> Result<&'static str, Violation> {
    match emoji {
        "\u{2764}\u{FE0F}" | "\u{2764}" | "love" => Ok("love"),
        _ => Err(violation(
            "message.emoji",
            rule::NOT_ALLOWED_FOR_CHANNEL,
            "Instagram accepts only the heart reaction (\u{2764}\u{FE0F} or `love`)",
        )),
    }
}

pub(super) fn render_social(
    kind: ChannelKind,
    req: &SendMessageRequest,
    bridge_message_id: &str,
) -> Result<Rendered, Violation> {
    check_scoped_id(&req.to)?;
    check_type_allowed(kind, &req.message)?;
    let message_type = req.message.type_name();
    let content = social_content(kind, &req.message)?;

    let is_action = matches!(content, SocialContent::Action(..));
    if let Some(reply_to) = &req.reply_to {
        if is_action {
            return Err(not_allowed(
                "reply_to",
                &format!("reply_to cannot be used with `{message_type}`"),
            ));
        }
        label("reply_to", reply_to, MAX_MESSAGE_ID)?;
    }
    if let Some(tag) = req.tag {
        if is_action {
            return Err(not_allowed(
                "tag",
                &format!("a tag cannot be used with `{message_type}`"),
            ));
        }
        if kind == ChannelKind::Instagram && tag != MessageTag::HumanAgent {
            return Err(not_for_channel("tag", kind, "tags other than human_agent"));
        }
    }
    check_client_reference(req)?;

    let mut body = Map::new();
    body.insert("recipient".into(), json!({"id": req.to}));
    match content {
        SocialContent::Action(action, payload) => {
            body.insert("sender_action".into(), action.into());
            if let Some(payload) = payload {
                body.insert("payload".into(), payload);
            }
            let is_reaction = matches!(req.message, OutboundMessage::Reaction(_));
            Ok(Rendered {
                body: Value::Object(body),
                message_type,
                free_form: is_reaction,
                expects_message_id: false,
                recipient_is_user_id: false,
            })
        }
        SocialContent::Message(mut message) => {
            match req.tag {
                Some(tag) => {
                    body.insert("messaging_type".into(), "MESSAGE_TAG".into());
                    body.insert("tag".into(), tag.graph_value().into());
                }
                None => {
                    body.insert("messaging_type".into(), "RESPONSE".into());
                }
            }
            message.insert("metadata".into(), bridge_message_id.to_string().into());
            body.insert("message".into(), Value::Object(message));
            if let Some(reply_to) = &req.reply_to {
                body.insert("reply_to".into(), json!({"message_id": reply_to}));
            }
            Ok(Rendered {
                body: Value::Object(body),
                message_type,
                free_form: true,
                expects_message_id: true,
                recipient_is_user_id: false,
            })
        }
    }
}
