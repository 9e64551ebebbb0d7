//! WhatsApp Cloud API rendering: recipients, media, interactive messages, location, contacts,
//! reactions, read receipts, and the checks common to every WhatsApp send.

use std::collections::HashSet;

use poem_openapi::types::ToJSON;
use serde_json::{Map, Value, json};

use crate::channels::ChannelKind;

use super::checks::{
    Check, https_url, insert_opt, label, lat_lon, not_allowed, not_for_channel, opt_label,
    opt_text, over_chars, text, violation,
};
use super::content::{
    ButtonsMessage, ContactName, ContactsMessage, CtaUrlMessage, InteractiveHeader, ListMessage,
    OutboundMessage,
};
use super::template::wa_template;
use super::{
    MAX_BUTTON_ID, MAX_BUTTON_TITLE, MAX_BUTTONS, MAX_CAPTION, MAX_CONTACT_FIELD,
    MAX_CTA_DISPLAY_TEXT, MAX_EMOJI, MAX_FILENAME, MAX_FOOTER, MAX_HEADER_TEXT,
    MAX_INTERACTIVE_BODY, MAX_LIST_BUTTON, MAX_MEDIA_ID, MAX_MESSAGE_ID, MAX_PLACE_TEXT,
    MAX_ROW_DESCRIPTION, MAX_ROW_ID, MAX_ROW_TITLE, MAX_ROWS, MAX_SECTION_TITLE, MAX_SECTIONS,
    MAX_URL, MAX_WA_TEXT, MAX_WA_TO, Rendered, SendMessageRequest, Violation,
    check_client_reference, check_type_allowed, is_media_id, rule,
};

enum WaRecipient {
    Phone(String),
    UserId(String),
    Group(String),
}

fn wa_recipient(to: &str) -> Result<WaRecipient, Violation> {
    if to.trim().is_empty() {
        return Err(violation("to", rule::REQUIRED, "must not be empty"));
    }
    if over_chars(to, MAX_WA_TO) {
        return Err(violation(
            "to",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_WA_TO} characters"),
        ));
    }
    if let Some(group) = to.strip_prefix("group:") {
        if group.is_empty() || !group.chars().all(|c| c.is_ascii_graphic()) {
            return Err(violation(
                "to",
                rule::INVALID_FORMAT,
                "must be `group:` followed by a group id without spaces",
            ));
        }
        return Ok(WaRecipient::Group(group.to_string()));
    }
    if crate::meta::bsuid::is_bsuid(to) {
        return Ok(WaRecipient::UserId(to.to_string()));
    }
    let cleaned: String = to
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(WaRecipient::Phone(digits.to_string()));
    }
    Err(violation(
        "to",
        rule::INVALID_FORMAT,
        "must be a phone number with country code (5 to 20 digits), a business-scoped user id (CC. and 1 to 128 letters or digits) or group:<id>",
    ))
}

/// `{"id": …}` or `{"link": …}` for a WhatsApp media object; `prefix` is the object's path.
pub(super) fn wa_media_source(
    prefix: &str,
    media_id: Option<&String>,
    link: Option<&String>,
) -> Result<Map<String, Value>, Violation> {
    let mut map = Map::new();
    match (media_id, link) {
        (Some(id), None) => {
            let field = format!("{prefix}.media_id");
            label(&field, id, MAX_MEDIA_ID)?;
            if !is_media_id(id) {
                return Err(violation(
                    field,
                    rule::INVALID_FORMAT,
                    "must be a Meta media id (digits only)",
                ));
            }
            map.insert("id".into(), Value::String(id.clone()));
        }
        (None, Some(link)) => {
            https_url(&format!("{prefix}.link"), link)?;
            map.insert("link".into(), Value::String(link.clone()));
        }
        (None, None) => {
            return Err(violation(
                prefix,
                rule::ONE_OF_REQUIRED,
                "one of media_id or link is required",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(violation(
                prefix,
                rule::ONE_OF_REQUIRED,
                "give either media_id or link, not both",
            ));
        }
    }
    Ok(map)
}

pub(super) fn wa_filename(
    prefix: &str,
    filename: Option<&String>,
    map: &mut Map<String, Value>,
) -> Check {
    opt_label(&format!("{prefix}.filename"), filename, MAX_FILENAME)?;
    insert_opt(map, "filename", filename);
    Ok(())
}

fn wa_caption(caption: Option<&String>, map: &mut Map<String, Value>) -> Check {
    opt_text("message.caption", caption, MAX_CAPTION)?;
    insert_opt(map, "caption", caption);
    Ok(())
}

fn wa_header(header: &InteractiveHeader) -> Result<Value, Violation> {
    const P: &str = "message.header";
    Ok(match header {
        InteractiveHeader::Text(h) => {
            text("message.header.text", &h.text, MAX_HEADER_TEXT)?;
            json!({"type": "text", "text": h.text})
        }
        InteractiveHeader::Image(h) => {
            let media = wa_media_source(P, h.media_id.as_ref(), h.link.as_ref())?;
            json!({"type": "image", "image": media})
        }
        InteractiveHeader::Video(h) => {
            let media = wa_media_source(P, h.media_id.as_ref(), h.link.as_ref())?;
            json!({"type": "video", "video": media})
        }
        InteractiveHeader::Document(h) => {
            let mut media = wa_media_source(P, h.media_id.as_ref(), h.link.as_ref())?;
            wa_filename(P, h.filename.as_ref(), &mut media)?;
            json!({"type": "document", "document": media})
        }
    })
}

/// `header`, `body`, `footer` of an interactive message.
fn wa_interactive_frame(
    kind: &str,
    body: &str,
    header: Option<Value>,
    footer: Option<&String>,
) -> Result<Map<String, Value>, Violation> {
    text("message.body", body, MAX_INTERACTIVE_BODY)?;
    opt_text("message.footer", footer, MAX_FOOTER)?;
    let mut map = Map::new();
    map.insert("type".into(), kind.into());
    if let Some(header) = header {
        map.insert("header".into(), header);
    }
    map.insert("body".into(), json!({"text": body}));
    if let Some(footer) = footer {
        map.insert("footer".into(), json!({"text": footer}));
    }
    Ok(map)
}

fn wa_buttons(m: &ButtonsMessage) -> Result<Value, Violation> {
    let header = m.header.as_ref().map(wa_header).transpose()?;
    let mut interactive = wa_interactive_frame("button", &m.body, header, m.footer.as_ref())?;
    if m.buttons.is_empty() {
        return Err(violation(
            "message.buttons",
            rule::TOO_FEW,
            "at least 1 button is required",
        ));
    }
    if m.buttons.len() > MAX_BUTTONS {
        return Err(violation(
            format!("message.buttons[{MAX_BUTTONS}]"),
            rule::TOO_MANY,
            format!("at most {MAX_BUTTONS} buttons"),
        ));
    }
    let mut ids = HashSet::new();
    let mut buttons = Vec::with_capacity(m.buttons.len());
    for (i, b) in m.buttons.iter().enumerate() {
        let id_field = format!("message.buttons[{i}].id");
        label(&id_field, &b.id, MAX_BUTTON_ID)?;
        label(
            &format!("message.buttons[{i}].title"),
            &b.title,
            MAX_BUTTON_TITLE,
        )?;
        if !ids.insert(b.id.as_str()) {
            return Err(violation(
                id_field,
                rule::DUPLICATE,
                "button ids must be unique",
            ));
        }
        buttons.push(json!({"type": "reply", "reply": {"id": b.id, "title": b.title}}));
    }
    interactive.insert("action".into(), json!({"buttons": buttons}));
    Ok(Value::Object(interactive))
}

fn wa_list(m: &ListMessage) -> Result<Value, Violation> {
    opt_text("message.header", m.header.as_ref(), MAX_HEADER_TEXT)?;
    let header = m
        .header
        .as_ref()
        .map(|t| json!({"type": "text", "text": t}));
    let mut interactive = wa_interactive_frame("list", &m.body, header, m.footer.as_ref())?;
    label("message.button", &m.button, MAX_LIST_BUTTON)?;
    if m.sections.is_empty() {
        return Err(violation(
            "message.sections",
            rule::TOO_FEW,
            "at least 1 section is required",
        ));
    }
    if m.sections.len() > MAX_SECTIONS {
        return Err(violation(
            format!("message.sections[{MAX_SECTIONS}]"),
            rule::TOO_MANY,
            format!("at most {MAX_SECTIONS} sections"),
        ));
    }
    let many = m.sections.len() > 1;
    let mut total_rows = 0usize;
    let mut ids = HashSet::new();
    let mut sections = Vec::with_capacity(m.sections.len());
    for (s, section) in m.sections.iter().enumerate() {
        let prefix = format!("message.sections[{s}]");
        match &section.title {
            Some(title) => label(&format!("{prefix}.title"), title, MAX_SECTION_TITLE)?,
            None if many => {
                return Err(violation(
                    format!("{prefix}.title"),
                    rule::REQUIRED,
                    "a title is required for every section when there is more than one",
                ));
            }
            None => {}
        }
        if section.rows.is_empty() {
            return Err(violation(
                format!("{prefix}.rows"),
                rule::TOO_FEW,
                "every section needs at least 1 row",
            ));
        }
        let mut rows = Vec::with_capacity(section.rows.len());
        for (r, row) in section.rows.iter().enumerate() {
            let row_prefix = format!("{prefix}.rows[{r}]");
            total_rows += 1;
            if total_rows > MAX_ROWS {
                return Err(violation(
                    row_prefix,
                    rule::TOO_MANY,
                    format!("at most {MAX_ROWS} rows in total"),
                ));
            }
            let id_field = format!("{row_prefix}.id");
            label(&id_field, &row.id, MAX_ROW_ID)?;
            label(&format!("{row_prefix}.title"), &row.title, MAX_ROW_TITLE)?;
            opt_text(
                &format!("{row_prefix}.description"),
                row.description.as_ref(),
                MAX_ROW_DESCRIPTION,
            )?;
            if !ids.insert(row.id.as_str()) {
                return Err(violation(
                    id_field,
                    rule::DUPLICATE,
                    "row ids must be unique in the list",
                ));
            }
            let mut out = Map::new();
            out.insert("id".into(), row.id.clone().into());
            out.insert("title".into(), row.title.clone().into());
            insert_opt(&mut out, "description", row.description.as_ref());
            rows.push(Value::Object(out));
        }
        let mut out = Map::new();
        insert_opt(&mut out, "title", section.title.as_ref());
        out.insert("rows".into(), Value::Array(rows));
        sections.push(Value::Object(out));
    }
    interactive.insert(
        "action".into(),
        json!({"button": m.button, "sections": sections}),
    );
    Ok(Value::Object(interactive))
}

fn wa_cta_url(m: &CtaUrlMessage) -> Result<Value, Violation> {
    let header = m.header.as_ref().map(wa_header).transpose()?;
    let mut interactive = wa_interactive_frame("cta_url", &m.body, header, m.footer.as_ref())?;
    label(
        "message.display_text",
        &m.display_text,
        MAX_CTA_DISPLAY_TEXT,
    )?;
    https_url("message.url", &m.url)?;
    interactive.insert(
        "action".into(),
        json!({"name": "cta_url", "parameters": {"display_text": m.display_text, "url": m.url}}),
    );
    Ok(Value::Object(interactive))
}

pub(super) fn wa_location(
    prefix: &str,
    lat: f64,
    lon: f64,
    name: Option<&String>,
    address: Option<&String>,
) -> Result<Value, Violation> {
    lat_lon(prefix, lat, lon)?;
    opt_text(&format!("{prefix}.name"), name, MAX_PLACE_TEXT)?;
    opt_text(&format!("{prefix}.address"), address, MAX_PLACE_TEXT)?;
    let mut map = Map::new();
    map.insert("latitude".into(), json!(lat));
    map.insert("longitude".into(), json!(lon));
    insert_opt(&mut map, "name", name);
    insert_opt(&mut map, "address", address);
    Ok(Value::Object(map))
}

fn wa_contacts(m: &ContactsMessage) -> Result<Value, Violation> {
    if m.contacts.is_empty() {
        return Err(violation(
            "message.contacts",
            rule::TOO_FEW,
            "at least 1 contact is required",
        ));
    }
    let mut out = Vec::with_capacity(m.contacts.len());
    for (i, c) in m.contacts.iter().enumerate() {
        let p = format!("message.contacts[{i}]");
        text(
            &format!("{p}.name.formatted_name"),
            &c.name.formatted_name,
            MAX_CONTACT_FIELD,
        )?;
        wa_contact_name_parts(&p, &c.name)?;
        for (j, phone) in c.phones.iter().flatten().enumerate() {
            text(
                &format!("{p}.phones[{j}].phone"),
                &phone.phone,
                MAX_CONTACT_FIELD,
            )?;
            if let Some(wa_id) = &phone.wa_id
                && (wa_id.is_empty()
                    || wa_id.len() > 20
                    || !wa_id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(violation(
                    format!("{p}.phones[{j}].wa_id"),
                    rule::INVALID_FORMAT,
                    "must be 1 to 20 digits",
                ));
            }
        }
        for (j, email) in c.emails.iter().flatten().enumerate() {
            text(
                &format!("{p}.emails[{j}].email"),
                &email.email,
                MAX_CONTACT_FIELD,
            )?;
        }
        for (j, url) in c.urls.iter().flatten().enumerate() {
            text(&format!("{p}.urls[{j}].url"), &url.url, MAX_URL)?;
        }
        out.push(c.to_json().unwrap_or_default());
    }
    Ok(Value::Array(out))
}

/// Meta: "Contacts messages", WhatsApp Business Platform,
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/contacts-messages>
/// (read 2026-12-02): the `name` object needs `formatted_name` and at least one of
/// `first_name`, `last_name`, `middle_name`, `suffix`, `prefix` (Meta refuses the card
/// otherwise). Checked here so the caller gets a 422 instead of a failed send later.
fn wa_contact_name_parts(p: &str, name: &ContactName) -> Check {
    let parts = [
        ("first_name", &name.first_name),
        ("middle_name", &name.middle_name),
        ("last_name", &name.last_name),
        ("suffix", &name.suffix),
        ("prefix", &name.prefix),
    ];
    let mut any = false;
    for (key, value) in parts {
        if let Some(v) = value {
            text(&format!("{p}.name.{key}"), v, MAX_CONTACT_FIELD)?;
            any = true;
        }
    }
    if any {
        Ok(())
    } else {
        Err(violation(
            format!("{p}.name.first_name"),
            rule::REQUIRED,
            "a contact name needs first_name, last_name, middle_name, suffix or prefix \
             besides formatted_name",
        ))
    }
}

pub(super) fn check_emoji(emoji: &str) -> Check {
    if over_chars(emoji, MAX_EMOJI) {
        return Err(violation(
            "message.emoji",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_EMOJI} characters"),
        ));
    }
    if emoji.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(violation(
            "message.emoji",
            rule::INVALID_FORMAT,
            "must be a single emoji, or empty to remove the reaction",
        ));
    }
    Ok(())
}

/// The `type` value and the object under that key.
fn wa_content(message: &OutboundMessage) -> Result<(&'static str, Value), Violation> {
    use OutboundMessage as M;
    const P: &str = "message";
    Ok(match message {
        M::Text(m) => {
            text("message.body", &m.body, MAX_WA_TEXT)?;
            if m.quick_replies.is_some() {
                return Err(not_for_channel(
                    "message.quick_replies",
                    ChannelKind::Whatsapp,
                    "quick_replies",
                ));
            }
            let mut map = Map::new();
            if let Some(preview) = m.preview_url {
                map.insert("preview_url".into(), preview.into());
            }
            map.insert("body".into(), m.body.clone().into());
            ("text", Value::Object(map))
        }
        M::Image(m) => {
            let mut map = wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?;
            wa_caption(m.caption.as_ref(), &mut map)?;
            ("image", Value::Object(map))
        }
        M::Video(m) => {
            let mut map = wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?;
            wa_caption(m.caption.as_ref(), &mut map)?;
            ("video", Value::Object(map))
        }
        M::Audio(m) => (
            "audio",
            Value::Object(wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?),
        ),
        M::Document(m) => {
            let mut map = wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?;
            wa_caption(m.caption.as_ref(), &mut map)?;
            wa_filename(P, m.filename.as_ref(), &mut map)?;
            ("document", Value::Object(map))
        }
        M::Sticker(m) => (
            "sticker",
            Value::Object(wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?),
        ),
        M::Location(m) => (
            "location",
            wa_location(
                P,
                m.latitude,
                m.longitude,
                m.name.as_ref(),
                m.address.as_ref(),
            )?,
        ),
        M::Contacts(m) => ("contacts", wa_contacts(m)?),
        M::Buttons(m) => ("interactive", wa_buttons(m)?),
        M::List(m) => ("interactive", wa_list(m)?),
        M::CtaUrl(m) => ("interactive", wa_cta_url(m)?),
        M::Template(m) => ("template", wa_template(m)?),
        M::Reaction(m) => {
            label("message.message_id", &m.message_id, MAX_MESSAGE_ID)?;
            check_emoji(&m.emoji)?;
            (
                "reaction",
                json!({"message_id": m.message_id, "emoji": m.emoji}),
            )
        }
        // Rendered by the caller; the type check has refused the sender actions already.
        M::MarkRead(_) | M::TypingOn(_) | M::TypingOff(_) | M::MarkSeen(_) => {
            return Err(not_for_channel(
                "message.type",
                ChannelKind::Whatsapp,
                &format!("`{}` messages", message.type_name()),
            ));
        }
    })
}

pub(super) fn render_whatsapp(
    req: &SendMessageRequest,
    bridge_message_id: &str,
) -> Result<Rendered, Violation> {
    let recipient = wa_recipient(&req.to)?;
    let recipient_is_user_id = matches!(recipient, WaRecipient::UserId(_));
    check_type_allowed(ChannelKind::Whatsapp, &req.message)?;
    let message_type = req.message.type_name();

    if let OutboundMessage::MarkRead(m) = &req.message {
        label("message.message_id", &m.message_id, MAX_MESSAGE_ID)?;
        check_common_whatsapp(req, false)?;
        let mut body = Map::new();
        body.insert("messaging_product".into(), "whatsapp".into());
        body.insert("status".into(), "read".into());
        body.insert("message_id".into(), m.message_id.clone().into());
        if m.typing_indicator == Some(true) {
            body.insert("typing_indicator".into(), json!({"type": "text"}));
        }
        return Ok(Rendered {
            body: Value::Object(body),
            message_type,
            free_form: false,
            expects_message_id: false,
            recipient_is_user_id,
        });
    }

    let (graph_type, content) = wa_content(&req.message)?;
    let is_reaction = matches!(req.message, OutboundMessage::Reaction(_));
    check_common_whatsapp(req, !is_reaction)?;

    let mut body = Map::new();
    body.insert("messaging_product".into(), "whatsapp".into());
    match recipient {
        WaRecipient::Phone(phone) => {
            body.insert("recipient_type".into(), "individual".into());
            body.insert("to".into(), phone.into());
        }
        WaRecipient::UserId(id) => {
            body.insert("recipient_type".into(), "individual".into());
            body.insert("recipient".into(), id.into());
        }
        WaRecipient::Group(id) => {
            body.insert("recipient_type".into(), "group".into());
            body.insert("to".into(), id.into());
        }
    }
    body.insert("type".into(), graph_type.into());
    body.insert(graph_type.into(), content);
    if let Some(reply_to) = &req.reply_to {
        body.insert("context".into(), json!({"message_id": reply_to}));
    }
    body.insert(
        "biz_opaque_callback_data".into(),
        bridge_message_id.to_string().into(),
    );
    Ok(Rendered {
        body: Value::Object(body),
        message_type,
        free_form: !matches!(req.message, OutboundMessage::Template(_)),
        expects_message_id: true,
        recipient_is_user_id,
    })
}

fn check_common_whatsapp(req: &SendMessageRequest, reply_allowed: bool) -> Check {
    if let Some(reply_to) = &req.reply_to {
        if !reply_allowed {
            return Err(not_allowed(
                "reply_to",
                &format!("reply_to cannot be used with `{}`", req.message.type_name()),
            ));
        }
        label("reply_to", reply_to, MAX_MESSAGE_ID)?;
    }
    if req.tag.is_some() {
        return Err(not_for_channel(
            "tag",
            ChannelKind::Whatsapp,
            "message tags",
        ));
    }
    if req.take_thread_control.is_some() {
        return Err(not_for_channel(
            "take_thread_control",
            ChannelKind::Whatsapp,
            "thread control (Meta's handover protocol)",
        ));
    }
    check_client_reference(req)
}
