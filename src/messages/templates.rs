//! WhatsApp message templates as the bridge keeps them (read from Meta), and the rules a
//! `template` send must meet before it is queued: the template exists in that language, it is
//! `APPROVED`, and the send's parameters fit it — as many body, header and button parameters as
//! the template has variables, named (`parameter_name`) for a template whose
//! `parameter_format` is `NAMED` and positional otherwise, and a media (or location) parameter
//! for a media header. Pure: no I/O.
//!
//! Meta's rules (read 2026-12-03): "WhatsApp Message Template" reference (`status`,
//! `parameter_format`, `components`;
//! <https://developers.facebook.com/docs/graph-api/reference/whats-app-business-hsm>), and the
//! send errors these checks stand in for (132000 parameter count mismatch, 132001 template does
//! not exist in that language, 132012 parameter format mismatch; "WhatsApp error codes",
//! <https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/>).
//! Refusing before queueing turns a late `message.failed` into an immediate `422`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::content::{
    TemplateButtonSubType, TemplateComponent, TemplateComponentType, TemplateMessage,
    TemplateParameter,
};

/// The rule a refused template send broke (the `rule` of the API's `422 template_invalid`).
/// Stable strings: they leave the process.
pub mod rules {
    /// No template of that name is known for the channel (after one refresh from Meta).
    pub const NOT_FOUND: &str = "template_not_found";
    /// The template exists, but not in the language asked for.
    pub const LANGUAGE_NOT_FOUND: &str = "language_not_found";
    /// The template is not `APPROVED` (pending, rejected, paused, disabled, …).
    pub const NOT_APPROVED: &str = "not_approved";
    /// More or fewer parameters than the component has variables.
    pub const PARAMETER_COUNT: &str = "parameter_count";
    /// Named parameters for a positional template, or the other way round, or names that are
    /// not the template's.
    pub const PARAMETER_FORMAT: &str = "parameter_format";
    /// The template's header is an image, video, document or location: the send must give it.
    pub const HEADER_MEDIA: &str = "header_media_required";
    /// A button component names a button the template does not have (or of another kind).
    pub const BUTTON: &str = "button_mismatch";
}

/// `parameter_format` of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterFormat {
    /// `{{1}}`, `{{2}}`: parameters in order, without names (Meta's default).
    Positional,
    /// `{{first_name}}`: every parameter carries its `parameter_name`.
    Named,
}

impl ParameterFormat {
    /// Meta's spelling (`POSITIONAL` / `NAMED`, any case); absent or unknown = positional.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some(f) if f.eq_ignore_ascii_case("named") => Self::Named,
            _ => Self::Positional,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positional => "POSITIONAL",
            Self::Named => "NAMED",
        }
    }
}

/// One template (a name in one language) as last read from Meta.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownTemplate {
    pub name: String,
    pub language: String,
    pub status: String,
    pub parameter_format: ParameterFormat,
    /// Meta's `components` array as sent.
    pub components: Value,
}

/// Why a template send is refused: the rule, the request field it concerns, a readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRefusal {
    pub rule: &'static str,
    pub field: String,
    pub message: String,
}

fn refuse(
    rule: &'static str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> TemplateRefusal {
    TemplateRefusal {
        rule,
        field: field.into(),
        message: message.into(),
    }
}

/// The variables of a component text, in order of first appearance: `{{1}}` or `{{name}}`.
pub fn variables(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let var = after[..close].trim();
        if !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !out.iter().any(|v| v == var)
        {
            out.push(var.to_owned());
        }
        rest = &after[close + 2..];
    }
    out
}

/// A template's shape, read from its components.
#[derive(Debug, Default)]
struct Shape {
    /// `format` of the header (`TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`), if any.
    header_format: Option<String>,
    header_vars: Vec<String>,
    body_vars: Vec<String>,
    /// Each button: its `type` (upper case) and its URL variables.
    buttons: Vec<(String, Vec<String>)>,
}

fn component_type(c: &Value) -> String {
    c.get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase()
}

fn shape(components: &Value) -> Shape {
    let mut s = Shape::default();
    for c in components.as_array().into_iter().flatten() {
        let text = c.get("text").and_then(Value::as_str).unwrap_or_default();
        match component_type(c).as_str() {
            "HEADER" => {
                s.header_format = Some(
                    c.get("format")
                        .and_then(Value::as_str)
                        .unwrap_or("TEXT")
                        .to_ascii_uppercase(),
                );
                s.header_vars = variables(text);
            }
            "BODY" => s.body_vars = variables(text),
            "BUTTONS" => {
                for b in c
                    .get("buttons")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let url = b.get("url").and_then(Value::as_str).unwrap_or_default();
                    s.buttons.push((component_type(b), variables(url)));
                }
            }
            _ => {}
        }
    }
    s
}

/// Checks a send against the templates known under its name (every language). `known` empty
/// means no template of that name.
pub fn check_send(known: &[KnownTemplate], msg: &TemplateMessage) -> Result<(), TemplateRefusal> {
    if known.is_empty() {
        return Err(refuse(
            rules::NOT_FOUND,
            "message.name",
            format!(
                "The channel's WhatsApp account has no template named {}.",
                msg.name
            ),
        ));
    }
    let Some(t) = known.iter().find(|t| t.language == msg.language) else {
        let langs: BTreeSet<&str> = known.iter().map(|t| t.language.as_str()).collect();
        return Err(refuse(
            rules::LANGUAGE_NOT_FOUND,
            "message.language",
            format!(
                "Template {} has no {} translation (it has: {}).",
                msg.name,
                msg.language,
                langs.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    if !t.status.eq_ignore_ascii_case("APPROVED") {
        return Err(refuse(
            rules::NOT_APPROVED,
            "message.name",
            format!(
                "Template {} ({}) is {}; only APPROVED templates can be sent.",
                t.name, t.language, t.status
            ),
        ));
    }
    let shape = shape(&t.components);
    let sent = msg.components.as_deref().unwrap_or_default();
    let find = |kind: TemplateComponentType| sent.iter().enumerate().find(|(_, c)| c.kind == kind);
    // Header.
    let header = find(TemplateComponentType::Header);
    match shape.header_format.as_deref() {
        Some(f @ ("IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION")) => {
            let want = f.to_ascii_lowercase();
            let ok = header.is_some_and(|(_, c)| {
                c.parameters.len() == 1 && media_kind(&c.parameters[0]) == Some(want.as_str())
            });
            if !ok {
                let field = header.map_or("message.components".to_owned(), |(i, _)| {
                    format!("message.components[{i}].parameters")
                });
                return Err(refuse(
                    rules::HEADER_MEDIA,
                    field,
                    format!(
                        "Template {} has a {want} header: give it as the one parameter of a header component.",
                        t.name
                    ),
                ));
            }
        }
        _ => check_texts(t, "header", &shape.header_vars, header)?,
    }
    check_texts(
        t,
        "body",
        &shape.body_vars,
        find(TemplateComponentType::Body),
    )?;
    // Buttons: each one sent must exist (and be of its kind); a URL button with a variable
    // must be given.
    for (i, c) in sent.iter().enumerate() {
        if c.kind != TemplateComponentType::Button {
            continue;
        }
        let index = c.index.unwrap_or_default() as usize;
        let Some((kind, vars)) = shape.buttons.get(index) else {
            return Err(refuse(
                rules::BUTTON,
                format!("message.components[{i}].index"),
                format!("Template {} has no button at index {index}.", t.name),
            ));
        };
        let expected_kind = match c.sub_type {
            Some(TemplateButtonSubType::QuickReply) => Some("QUICK_REPLY"),
            Some(TemplateButtonSubType::Url) => Some("URL"),
            Some(TemplateButtonSubType::CopyCode) => Some("COPY_CODE"),
            _ => None,
        };
        // An authentication template's one-time-password button (`OTP`) is sent as a `url`
        // button carrying the code (Meta: "Authentication templates"); not a mismatch.
        if let Some(k) = expected_kind
            && k != kind
            && kind != "OTP"
        {
            return Err(refuse(
                rules::BUTTON,
                format!("message.components[{i}].sub_type"),
                format!(
                    "Button {index} of template {} is a {kind} button, not {k}.",
                    t.name
                ),
            ));
        }
        if kind == "URL" && c.parameters.len() != vars.len() {
            return Err(count_refusal(
                t,
                &format!("button {index}"),
                vars.len(),
                c.parameters.len(),
                i,
            ));
        }
    }
    for (index, (kind, vars)) in shape.buttons.iter().enumerate() {
        let given = sent.iter().any(|c| {
            c.kind == TemplateComponentType::Button && c.index.unwrap_or_default() as usize == index
        });
        if kind == "URL" && !vars.is_empty() && !given {
            return Err(refuse(
                rules::PARAMETER_COUNT,
                "message.components",
                format!(
                    "Button {index} of template {} is a URL with a variable: give it a button component with index {index}.",
                    t.name
                ),
            ));
        }
    }
    Ok(())
}

/// The kind of a header media parameter (`image`, …, `location`); `None` for the others.
fn media_kind(p: &TemplateParameter) -> Option<&'static str> {
    Some(match p {
        TemplateParameter::Image(_) => "image",
        TemplateParameter::Video(_) => "video",
        TemplateParameter::Document(_) => "document",
        TemplateParameter::Location(_) => "location",
        _ => return None,
    })
}

fn count_refusal(
    t: &KnownTemplate,
    what: &str,
    want: usize,
    got: usize,
    i: usize,
) -> TemplateRefusal {
    refuse(
        rules::PARAMETER_COUNT,
        format!("message.components[{i}].parameters"),
        format!(
            "The {what} of template {} has {want} variable(s); the send gives {got} parameter(s).",
            t.name
        ),
    )
}

/// A text component (header or body): as many parameters as variables, named as the template
/// names them, or all positional.
fn check_texts(
    t: &KnownTemplate,
    what: &str,
    vars: &[String],
    sent: Option<(usize, &TemplateComponent)>,
) -> Result<(), TemplateRefusal> {
    let given = sent.map_or(0, |(_, c)| c.parameters.len());
    if given != vars.len() {
        let field = sent.map_or("message.components".to_owned(), |(i, _)| {
            format!("message.components[{i}].parameters")
        });
        return Err(refuse(
            rules::PARAMETER_COUNT,
            field,
            format!(
                "The {what} of template {} has {} variable(s); the send gives {given} parameter(s).",
                t.name,
                vars.len()
            ),
        ));
    }
    let Some((i, c)) = sent else { return Ok(()) };
    let names: Vec<Option<&str>> = c
        .parameters
        .iter()
        .map(|p| match p {
            TemplateParameter::Text(x) => x.parameter_name.as_deref(),
            _ => None,
        })
        .collect();
    let field = format!("message.components[{i}].parameters");
    match t.parameter_format {
        ParameterFormat::Positional => {
            if names.iter().any(Option::is_some) {
                return Err(refuse(
                    rules::PARAMETER_FORMAT,
                    field,
                    format!(
                        "Template {} has positional variables ({{{{1}}}}, …): send its parameters without parameter_name.",
                        t.name
                    ),
                ));
            }
        }
        ParameterFormat::Named => {
            let given: BTreeSet<&str> = names.iter().filter_map(|n| *n).collect();
            let want: BTreeSet<&str> = vars.iter().map(String::as_str).collect();
            if names.iter().any(Option::is_none) || given != want {
                return Err(refuse(
                    rules::PARAMETER_FORMAT,
                    field,
                    format!(
                        "Template {} has named variables ({}): give each text parameter its parameter_name.",
                        t.name,
                        vars.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> TemplateMessage {
        use poem_openapi::types::ParseFromJSON;
        let req = crate::messages::model::SendMessageRequest::parse_from_json(Some(json!({
            "channel_id": "ch_x", "to": "15550001234", "message": v
        })))
        .expect("request");
        match req.message {
            crate::messages::model::content::OutboundMessage::Template(t) => t,
            other => panic!("not a template: {other:?}"),
        }
    }

    fn tpl(status: &str, format: ParameterFormat, components: Value) -> KnownTemplate {
        KnownTemplate {
            name: "order_update".into(),
            language: "pt_BR".into(),
            status: status.into(),
            parameter_format: format,
            components,
        }
    }

    #[test]
    fn variables_are_read_positional_and_named() {
        assert_eq!(variables("Oi {{1}}, pedido {{2}} ({{1}})"), ["1", "2"]);
        assert_eq!(variables("Oi {{first_name}}!"), ["first_name"]);
        assert!(variables("no vars {{ }} {{a-b}}").is_empty());
    }

    #[test]
    fn each_rule_refuses_what_breaks_it() {
        let body2 = json!([{"type": "BODY", "text": "Oi {{1}}, pedido {{2}}"}]);
        let ok = msg(
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "7"}]}]}),
        );
        let t = tpl("APPROVED", ParameterFormat::Positional, body2.clone());
        assert_eq!(check_send(std::slice::from_ref(&t), &ok), Ok(()));
        let rule =
            |known: &[KnownTemplate], m: &TemplateMessage| check_send(known, m).map_err(|r| r.rule);
        assert_eq!(rule(&[], &ok), Err(rules::NOT_FOUND));
        let mut en = t.clone();
        en.language = "en_US".into();
        assert_eq!(rule(&[en], &ok), Err(rules::LANGUAGE_NOT_FOUND));
        assert_eq!(
            rule(
                &[tpl("PAUSED", ParameterFormat::Positional, body2.clone())],
                &ok
            ),
            Err(rules::NOT_APPROVED)
        );
        let one = msg(
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}),
        );
        assert_eq!(
            rule(std::slice::from_ref(&t), &one),
            Err(rules::PARAMETER_COUNT)
        );
        let named = tpl(
            "APPROVED",
            ParameterFormat::Named,
            json!([{"type": "BODY", "text": "Oi {{first_name}}"}]),
        );
        assert_eq!(
            rule(std::slice::from_ref(&named), &one),
            Err(rules::PARAMETER_FORMAT)
        );
        let named_ok = msg(
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]}]}),
        );
        assert_eq!(rule(std::slice::from_ref(&named), &named_ok), Ok(()));
        let image = tpl(
            "APPROVED",
            ParameterFormat::Positional,
            json!([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Oi"}]),
        );
        let bare = msg(json!({"type": "template", "name": "order_update", "language": "pt_BR"}));
        assert_eq!(
            rule(std::slice::from_ref(&image), &bare),
            Err(rules::HEADER_MEDIA)
        );
        let with_image = msg(
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
            "components": [{"type": "header", "parameters": [{"type": "image", "link": "https://cdn.example.com/a.jpg"}]}]}),
        );
        assert_eq!(rule(&[image], &with_image), Ok(()));
        let otp = tpl(
            "APPROVED",
            ParameterFormat::Positional,
            json!([{"type": "BODY", "text": "{{1}} is your code."},
                   {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}]),
        );
        let otp_send = msg(
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "123456"}]}]}),
        );
        assert_eq!(rule(&[otp], &otp_send), Ok(()));
        let quick = tpl(
            "APPROVED",
            ParameterFormat::Positional,
            json!([{"type": "BODY", "text": "Oi"},
                   {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Sim"}]}]),
        );
        let wrong_button = msg(
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
            "components": [{"type": "button", "sub_type": "quick_reply", "index": 3, "parameters": [{"type": "payload", "payload": "X"}]}]}),
        );
        assert_eq!(rule(&[quick], &wrong_button), Err(rules::BUTTON));
    }
}
