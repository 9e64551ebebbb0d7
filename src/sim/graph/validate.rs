//! Validation of send bodies as Meta checks them: WhatsApp message types and templates,
//! Messenger/Instagram messages and sender actions.

use serde_json::Value;

use super::Kind;

pub(super) fn recipient_key(s: &str) -> String {
    let s = s.trim();
    let phone_like = s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        s.chars().filter(char::is_ascii_digit).collect()
    } else {
        s.to_string()
    }
}

fn nonempty_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

pub(super) enum WaRecipient {
    /// `to` with a phone number: (input, wa_id).
    Phone(String, String),
    /// `to` with a group id.
    Group(String),
    /// `recipient` with a BSUID.
    User(String),
}

impl WaRecipient {
    pub(super) fn key(&self) -> String {
        match self {
            Self::Phone(_, wa_id) => wa_id.clone(),
            Self::Group(id) | Self::User(id) => id.clone(),
        }
    }
}

pub(super) struct WaSend {
    pub(super) recipient: WaRecipient,
    pub(super) template: bool,
    pub(super) biz_opaque: Option<String>,
}

pub(super) enum WaRequest {
    Receipt,
    Send(WaSend),
}

const WA_TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "template",
];

/// Validates a WhatsApp `/messages` body the way the Cloud API does; `Err` names the bad
/// parameter.
pub(super) fn validate_whatsapp(body: &Value) -> Result<WaRequest, String> {
    let Some(obj) = body.as_object() else {
        return Err("The parameter messaging_product is required.".into());
    };
    match obj.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => {}
        Some(_) => return Err("Param messaging_product must be 'whatsapp'.".into()),
        None => return Err("The parameter messaging_product is required.".into()),
    }
    if let Some(status) = obj.get("status") {
        if status.as_str() != Some("read") {
            return Err("Param status must be 'read'.".into());
        }
        if nonempty_str(obj.get("message_id")).is_none() {
            return Err("The parameter message_id is required.".into());
        }
        if let Some(t) = obj.get("typing_indicator")
            && t.get("type").and_then(Value::as_str) != Some("text")
        {
            return Err("Param typing_indicator['type'] must be 'text'.".into());
        }
        return Ok(WaRequest::Receipt);
    }
    let group = match obj.get("recipient_type").map(|v| v.as_str()) {
        None | Some(Some("individual")) => false,
        Some(Some("group")) => true,
        Some(_) => return Err("Param recipient_type must be one of {individual, group}.".into()),
    };
    let recipient = match (
        nonempty_str(obj.get("to")),
        nonempty_str(obj.get("recipient")),
    ) {
        (Some(to), _) if group => WaRecipient::Group(to.to_string()),
        (Some(to), _) => {
            let key = recipient_key(to);
            if !key.chars().all(|c| c.is_ascii_digit()) {
                return Err("Param to must be a valid phone number.".into());
            }
            WaRecipient::Phone(to.to_string(), key)
        }
        (None, Some(r)) => WaRecipient::User(r.to_string()),
        (None, None) => return Err("The parameter to is required.".into()),
    };
    let Some(kind) = nonempty_str(obj.get("type")) else {
        return Err("The parameter type is required.".into());
    };
    if !WA_TYPES.contains(&kind) {
        return Err(format!(
            "Param type must be one of {{{}}}.",
            WA_TYPES.join(", ")
        ));
    }
    let Some(content) = obj.get(kind).filter(|v| !v.is_null()) else {
        return Err(format!("The parameter {kind} is required."));
    };
    validate_wa_content(kind, content)?;
    let biz_opaque = match obj.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 512 => Some(s.clone()),
        Some(_) => {
            return Err(
                "Param biz_opaque_callback_data must be a string of at most 512 characters.".into(),
            );
        }
    };
    Ok(WaRequest::Send(WaSend {
        recipient,
        template: kind == "template",
        biz_opaque,
    }))
}

fn validate_wa_content(kind: &str, c: &Value) -> Result<(), String> {
    let has = |key: &str| nonempty_str(c.get(key)).is_some();
    match kind {
        "text" => {
            let Some(body) = c
                .get("body")
                .and_then(Value::as_str)
                .filter(|b| !b.is_empty())
            else {
                return Err("Param text['body'] is required.".into());
            };
            if body.chars().count() > 4096 {
                return Err("Param text['body'] must be at most 4096 characters long.".into());
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => match (has("id"), has("link")) {
            (true, true) => {
                return Err(format!(
                    "Param {kind} must contain only one of {kind}['id'] or {kind}['link']."
                ));
            }
            (false, false) => {
                return Err(format!("Param {kind}['id'] or {kind}['link'] is required."));
            }
            _ => {}
        },
        "location" => {
            for key in ["latitude", "longitude"] {
                let ok = c.get(key).is_some_and(|v| {
                    v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
                });
                if !ok {
                    return Err(format!("Param location['{key}'] is required."));
                }
            }
        }
        "contacts" => {
            let Some(list) = c.as_array().filter(|l| !l.is_empty()) else {
                return Err("Param contacts must be a non-empty array.".into());
            };
            for (i, x) in list.iter().enumerate() {
                if nonempty_str(x.pointer("/name/formatted_name")).is_none() {
                    return Err(format!(
                        "Param contacts[{i}]['name']['formatted_name'] is required."
                    ));
                }
                // Meta, "Contacts messages" (read 2026-12-02): besides formatted_name, at
                // least one of first_name, last_name, middle_name, suffix, prefix.
                let parts = ["first_name", "last_name", "middle_name", "suffix", "prefix"];
                if !parts
                    .iter()
                    .any(|k| nonempty_str(x.get("name").and_then(|n| n.get(*k))).is_some())
                {
                    return Err(format!(
                        "Param contacts[{i}]['name'] must contain at least one of first_name, last_name, middle_name, suffix or prefix."
                    ));
                }
            }
        }
        "reaction" => {
            if !has("message_id") {
                return Err("Param reaction['message_id'] is required.".into());
            }
            if !c.get("emoji").is_some_and(Value::is_string) {
                return Err("Param reaction['emoji'] is required.".into());
            }
        }
        "interactive" => {
            if !has("type") {
                return Err("Param interactive['type'] is required.".into());
            }
            if !c.get("action").is_some_and(Value::is_object) {
                return Err("Param interactive['action'] is required.".into());
            }
        }
        "template" => {
            if !has("name") {
                return Err("Param template['name'] is required.".into());
            }
            if nonempty_str(c.pointer("/language/code")).is_none() {
                return Err("Param template['language']['code'] is required.".into());
            }
            validate_template_action_buttons(c)?;
        }
        _ => {}
    }
    Ok(())
}

/// Buttons of sub-type flow / catalog / mpm take one `{"type": "action", "action": {…}}`
/// parameter (Meta: "Sending a Flow", "Catalog templates", "Multi-product message templates";
/// read 2026-12-02); an mpm action needs `thumbnail_product_retailer_id` and `sections`.
fn validate_template_action_buttons(template: &Value) -> Result<(), String> {
    let components = template
        .get("components")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, comp) in components.iter().enumerate() {
        let sub_type = comp
            .get("sub_type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let is_button = comp
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("button"));
        let Some(sub) =
            sub_type.filter(|s| is_button && matches!(s.as_str(), "flow" | "catalog" | "mpm"))
        else {
            continue;
        };
        let at = format!("template['components'][{i}]['parameters'][0]");
        let param = comp
            .get("parameters")
            .and_then(Value::as_array)
            .and_then(|p| p.first());
        let action = param
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("action"))
            .and_then(|p| p.get("action"))
            .filter(|a| a.is_object());
        let Some(action) = action else {
            return Err(format!("Param {at}['action'] is required."));
        };
        if sub == "mpm" {
            if nonempty_str(action.get("thumbnail_product_retailer_id")).is_none() {
                return Err(format!(
                    "Param {at}['action']['thumbnail_product_retailer_id'] is required."
                ));
            }
            if action
                .get("sections")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                return Err(format!("Param {at}['action']['sections'] is required."));
            }
        }
    }
    Ok(())
}

pub(super) enum MetaRequest {
    /// A sender action: (recipient, the message reacted to for `react` / `unreact`).
    Action(String, Option<String>),
    Send(String),
}

pub(super) fn validate_meta(body: &Value, kind: Kind) -> Result<MetaRequest, String> {
    let Some(obj) = body.as_object() else {
        return Err("The parameter recipient is required".into());
    };
    let recipient = obj.get("recipient");
    let Some(rid) = nonempty_str(recipient.and_then(|r| r.get("id")))
        .or_else(|| nonempty_str(recipient.and_then(|r| r.get("comment_id"))))
        .or_else(|| nonempty_str(recipient.and_then(|r| r.get("post_id"))))
    else {
        return Err("The parameter recipient is required".into());
    };
    let rid = rid.to_string();
    if let Some(action) = obj.get("sender_action") {
        if obj.contains_key("message") {
            return Err("Param sender_action cannot be sent with message".into());
        }
        let mut reacted = None;
        match action.as_str() {
            Some("typing_on" | "typing_off" | "mark_seen") => {}
            Some("react" | "unreact") => {
                reacted = nonempty_str(obj.get("payload").and_then(|p| p.get("message_id")))
                    .map(str::to_owned);
                if nonempty_str(obj.get("payload").and_then(|p| p.get("message_id"))).is_none() {
                    return Err("Param payload[message_id] is required".into());
                }
                let reaction = nonempty_str(obj.get("payload").and_then(|p| p.get("reaction")));
                if action.as_str() == Some("react") {
                    let Some(reaction) = reaction else {
                        return Err("Param payload[reaction] is required".into());
                    };
                    // Instagram documents one reaction type, `love` (the heart); Messenger
                    // takes any emoji. See tests/fixtures/meta/conformance/
                    // instagram.messages.reaction.json.
                    if kind == Kind::Instagram && reaction != "love" {
                        return Err("Param payload[reaction] must be one of {love}".into());
                    }
                }
            }
            _ => {
                return Err(
                    "Param sender_action must be one of {typing_on, typing_off, mark_seen, react, unreact}"
                        .into(),
                );
            }
        }
        return Ok(MetaRequest::Action(rid, reacted));
    }
    match obj.get("messaging_type").map(Value::as_str) {
        // Send API Reference (Messenger Platform, read 2026-12-02,
        // https://developers.facebook.com/docs/messenger-platform/reference/send-api):
        // `messaging_type` is required for a message; Instagram's pages send without it.
        None if kind == Kind::Messenger => {
            return Err("The parameter messaging_type is required".into());
        }
        None | Some(Some("RESPONSE" | "UPDATE")) => {}
        Some(Some("MESSAGE_TAG")) => {
            if nonempty_str(obj.get("tag")).is_none() {
                return Err("Param tag is required when messaging_type is MESSAGE_TAG".into());
            }
        }
        Some(_) => {
            return Err(
                "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}".into(),
            );
        }
    }
    let Some(message) = obj.get("message").and_then(Value::as_object) else {
        return Err("The parameter message is required".into());
    };
    if let Some(text) = message.get("text") {
        let Some(text) = text.as_str().filter(|t| !t.is_empty()) else {
            return Err("Param message[text] must be a non-empty UTF-8 encoded string".into());
        };
        match kind {
            Kind::Instagram if text.len() > 1000 => {
                return Err(
                    "Length of param message[text] must be less than or equal to 1000".into(),
                );
            }
            Kind::Messenger if text.chars().count() > 2000 => {
                return Err(
                    "Length of param message[text] must be less than or equal to 2000".into(),
                );
            }
            _ => {}
        }
    } else if let Some(att) = message.get("attachment") {
        let t = att.get("type").and_then(Value::as_str);
        match t {
            Some("image" | "video" | "audio" | "file") => {
                let p = att.get("payload");
                if nonempty_str(p.and_then(|p| p.get("url"))).is_none()
                    && nonempty_str(p.and_then(|p| p.get("attachment_id"))).is_none()
                {
                    return Err(
                        "Param message[attachment][payload] must have url or attachment_id".into(),
                    );
                }
            }
            Some("template" | "like_heart" | "MEDIA_SHARE") => {}
            _ => return Err("Param message[attachment][type] is invalid".into()),
        }
    } else if message
        .get("attachments")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err("Param message must contain text or attachment".into());
    }
    Ok(MetaRequest::Send(rid))
}
