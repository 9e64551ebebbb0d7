//! WhatsApp template messages: components, parameters and button actions (flow, catalog,
//! multi-product) as the Graph API expects them.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::checks::{is_language_code, label, lowercase_identifier, not_allowed, text, violation};
use super::content::{
    TemplateActionParameter, TemplateButtonSubType, TemplateComponent, TemplateComponentType,
    TemplateMessage, TemplateParameter,
};
use super::whatsapp::{wa_filename, wa_location, wa_media_source};
use super::{
    MAX_SECTION_TITLE, MAX_SECTIONS, MAX_TEMPLATE_INDEX, MAX_TEMPLATE_NAME, MAX_TEMPLATE_SHORT,
    MAX_TEMPLATE_TEXT, Violation, rule,
};

pub(super) fn wa_template(m: &TemplateMessage) -> Result<Value, Violation> {
    lowercase_identifier(
        "message.name",
        &m.name,
        MAX_TEMPLATE_NAME,
        "a template name",
    )?;
    if !is_language_code(&m.language) {
        return Err(if m.language.is_empty() {
            violation("message.language", rule::REQUIRED, "must not be empty")
        } else {
            violation(
                "message.language",
                rule::INVALID_FORMAT,
                "must be a language code such as pt_BR, en_US or es",
            )
        });
    }
    let mut template = Map::new();
    template.insert("name".into(), m.name.clone().into());
    template.insert("language".into(), json!({"code": m.language}));
    let components = m.components.as_deref().unwrap_or_default();
    if !components.is_empty() {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(components.len());
        for (i, c) in components.iter().enumerate() {
            out.push(wa_template_component(i, c, &mut seen)?);
        }
        template.insert("components".into(), Value::Array(out));
    }
    Ok(Value::Object(template))
}

fn wa_template_component(
    i: usize,
    c: &TemplateComponent,
    seen: &mut HashSet<(TemplateComponentType, u32)>,
) -> Result<Value, Violation> {
    let p = format!("message.components[{i}]");
    let mut out = Map::new();
    out.insert("type".into(), c.kind.as_str().into());
    match c.kind {
        TemplateComponentType::Button => {
            let Some(sub_type) = c.sub_type else {
                return Err(violation(
                    format!("{p}.sub_type"),
                    rule::REQUIRED,
                    "sub_type is required for button components",
                ));
            };
            let Some(index) = c.index else {
                return Err(violation(
                    format!("{p}.index"),
                    rule::REQUIRED,
                    "index is required for button components",
                ));
            };
            if index > MAX_TEMPLATE_INDEX {
                return Err(violation(
                    format!("{p}.index"),
                    rule::OUT_OF_RANGE,
                    format!("must be between 0 and {MAX_TEMPLATE_INDEX}"),
                ));
            }
            if !seen.insert((c.kind, index)) {
                return Err(violation(
                    format!("{p}.index"),
                    rule::DUPLICATE,
                    "only one component per button index",
                ));
            }
            out.insert("sub_type".into(), sub_type.as_str().into());
            out.insert("index".into(), index.to_string().into());
        }
        TemplateComponentType::Header | TemplateComponentType::Body => {
            if c.sub_type.is_some() {
                return Err(not_allowed(
                    &format!("{p}.sub_type"),
                    "sub_type only applies to button components",
                ));
            }
            if c.index.is_some() {
                return Err(not_allowed(
                    &format!("{p}.index"),
                    "index only applies to button components",
                ));
            }
            if !seen.insert((c.kind, 0)) {
                return Err(violation(
                    format!("{p}.type"),
                    rule::DUPLICATE,
                    "only one header and one body component",
                ));
            }
        }
    }
    let action_button = match (c.kind, c.sub_type) {
        (TemplateComponentType::Button, Some(st)) => matches!(
            st,
            TemplateButtonSubType::Flow
                | TemplateButtonSubType::Catalog
                | TemplateButtonSubType::Mpm
        )
        .then_some(st),
        _ => None,
    };
    let mut params = Vec::with_capacity(c.parameters.len());
    for (j, param) in c.parameters.iter().enumerate() {
        let pp = format!("{p}.parameters[{j}]");
        let value = match (param, action_button) {
            (TemplateParameter::Action(a), Some(st)) => {
                if j > 0 {
                    return Err(violation(
                        pp,
                        rule::TOO_MANY,
                        "flow, catalog and mpm buttons take exactly one `action` parameter",
                    ));
                }
                wa_template_action(&pp, st, a)?
            }
            (TemplateParameter::Action(_), None) => {
                return Err(not_allowed(
                    &format!("{pp}.type"),
                    "an `action` parameter only applies to flow, catalog and mpm buttons",
                ));
            }
            (_, Some(_)) => {
                return Err(violation(
                    format!("{pp}.type"),
                    rule::INVALID_FORMAT,
                    "flow, catalog and mpm buttons take an `action` parameter",
                ));
            }
            (_, None) => wa_template_parameter(&pp, param)?,
        };
        params.push(value);
    }
    if action_button.is_some() && params.is_empty() {
        return Err(violation(
            format!("{p}.parameters"),
            rule::REQUIRED,
            "flow, catalog and mpm buttons take an `action` parameter",
        ));
    }
    out.insert("parameters".into(), Value::Array(params));
    Ok(Value::Object(out))
}

/// Most products in all sections of a multi-product button.
const MAX_MPM_PRODUCTS: usize = 30;

/// `{"type": "action", "action": {…}}` of a flow / catalog / mpm template button. Meta: "Sending
/// a Flow" (WhatsApp Flows),
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/guides/sendingaflow/>;
/// "Catalog templates",
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/catalogs/catalog-template-messages>;
/// "Multi-product message templates",
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/marketing-templates/mpm-templates>
/// (read 2026-12-02).
fn wa_template_action(
    p: &str,
    sub_type: TemplateButtonSubType,
    a: &TemplateActionParameter,
) -> Result<Value, Violation> {
    let f = |k: &str| format!("{p}.{k}");
    let not_for = |k: &str| {
        not_allowed(
            &f(k),
            &format!("{k} does not apply to {} buttons", sub_type.as_str()),
        )
    };
    let mut action = Map::new();
    match sub_type {
        TemplateButtonSubType::Flow => {
            if a.thumbnail_product_retailer_id.is_some() {
                return Err(not_for("thumbnail_product_retailer_id"));
            }
            if a.sections.is_some() {
                return Err(not_for("sections"));
            }
            if let Some(token) = &a.flow_token {
                label(&f("flow_token"), token, MAX_TEMPLATE_SHORT)?;
                action.insert("flow_token".into(), token.clone().into());
            }
            if let Some(data) = &a.flow_action_data {
                if !data.is_object() {
                    return Err(violation(
                        f("flow_action_data"),
                        rule::INVALID_FORMAT,
                        "must be a JSON object",
                    ));
                }
                action.insert("flow_action_data".into(), data.clone());
            }
        }
        TemplateButtonSubType::Catalog | TemplateButtonSubType::Mpm => {
            if a.flow_token.is_some() {
                return Err(not_for("flow_token"));
            }
            if a.flow_action_data.is_some() {
                return Err(not_for("flow_action_data"));
            }
            let mpm = sub_type == TemplateButtonSubType::Mpm;
            match &a.thumbnail_product_retailer_id {
                Some(id) => {
                    label(&f("thumbnail_product_retailer_id"), id, MAX_TEMPLATE_SHORT)?;
                    action.insert("thumbnail_product_retailer_id".into(), id.clone().into());
                }
                None if mpm => {
                    return Err(violation(
                        f("thumbnail_product_retailer_id"),
                        rule::REQUIRED,
                        "thumbnail_product_retailer_id is required for mpm buttons",
                    ));
                }
                None => {}
            }
            match (&a.sections, mpm) {
                (Some(_), false) => return Err(not_for("sections")),
                (None, true) => {
                    return Err(violation(
                        f("sections"),
                        rule::REQUIRED,
                        "sections are required for mpm buttons",
                    ));
                }
                (None, false) => {}
                (Some(sections), true) => {
                    if sections.is_empty() {
                        return Err(violation(
                            f("sections"),
                            rule::TOO_FEW,
                            "at least 1 section is required",
                        ));
                    }
                    if sections.len() > MAX_SECTIONS {
                        return Err(violation(
                            f(&format!("sections[{MAX_SECTIONS}]")),
                            rule::TOO_MANY,
                            format!("at most {MAX_SECTIONS} sections"),
                        ));
                    }
                    let mut total = 0;
                    let mut out = Vec::with_capacity(sections.len());
                    for (k, section) in sections.iter().enumerate() {
                        let sp = f(&format!("sections[{k}]"));
                        label(&format!("{sp}.title"), &section.title, MAX_SECTION_TITLE)?;
                        if section.product_items.is_empty() {
                            return Err(violation(
                                format!("{sp}.product_items"),
                                rule::TOO_FEW,
                                "at least 1 product is required",
                            ));
                        }
                        let mut items = Vec::with_capacity(section.product_items.len());
                        for (n, item) in section.product_items.iter().enumerate() {
                            total += 1;
                            let ip = format!("{sp}.product_items[{n}]");
                            if total > MAX_MPM_PRODUCTS {
                                return Err(violation(
                                    ip,
                                    rule::TOO_MANY,
                                    format!("at most {MAX_MPM_PRODUCTS} products in all sections"),
                                ));
                            }
                            label(
                                &format!("{ip}.product_retailer_id"),
                                &item.product_retailer_id,
                                MAX_TEMPLATE_SHORT,
                            )?;
                            items.push(json!({"product_retailer_id": item.product_retailer_id}));
                        }
                        out.push(json!({"title": section.title, "product_items": items}));
                    }
                    action.insert("sections".into(), Value::Array(out));
                }
            }
        }
        _ => {}
    }
    Ok(json!({"type": "action", "action": action}))
}

fn wa_template_parameter(p: &str, param: &TemplateParameter) -> Result<Value, Violation> {
    Ok(match param {
        TemplateParameter::Text(t) => {
            text(&format!("{p}.text"), &t.text, MAX_TEMPLATE_TEXT)?;
            let mut out = Map::new();
            out.insert("type".into(), "text".into());
            if let Some(name) = &t.parameter_name {
                lowercase_identifier(
                    &format!("{p}.parameter_name"),
                    name,
                    MAX_TEMPLATE_SHORT,
                    "a parameter name",
                )?;
                out.insert("parameter_name".into(), name.clone().into());
            }
            out.insert("text".into(), t.text.clone().into());
            Value::Object(out)
        }
        TemplateParameter::Currency(c) => {
            text(
                &format!("{p}.fallback_value"),
                &c.fallback_value,
                MAX_TEMPLATE_SHORT,
            )?;
            if c.code.len() != 3 || !c.code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(violation(
                    format!("{p}.code"),
                    rule::INVALID_FORMAT,
                    "must be an ISO 4217 code of 3 uppercase letters",
                ));
            }
            json!({"type": "currency", "currency": {
                "fallback_value": c.fallback_value, "code": c.code, "amount_1000": c.amount_1000}})
        }
        TemplateParameter::DateTime(d) => {
            text(
                &format!("{p}.fallback_value"),
                &d.fallback_value,
                MAX_TEMPLATE_SHORT,
            )?;
            json!({"type": "date_time", "date_time": {"fallback_value": d.fallback_value}})
        }
        TemplateParameter::Image(m) => {
            let media = wa_media_source(p, m.media_id.as_ref(), m.link.as_ref())?;
            json!({"type": "image", "image": media})
        }
        TemplateParameter::Video(m) => {
            let media = wa_media_source(p, m.media_id.as_ref(), m.link.as_ref())?;
            json!({"type": "video", "video": media})
        }
        TemplateParameter::Document(m) => {
            let mut media = wa_media_source(p, m.media_id.as_ref(), m.link.as_ref())?;
            wa_filename(p, m.filename.as_ref(), &mut media)?;
            json!({"type": "document", "document": media})
        }
        TemplateParameter::Location(l) => {
            let location = wa_location(
                p,
                l.latitude,
                l.longitude,
                l.name.as_ref(),
                l.address.as_ref(),
            )?;
            json!({"type": "location", "location": location})
        }
        TemplateParameter::Payload(x) => {
            label(&format!("{p}.payload"), &x.payload, MAX_TEMPLATE_SHORT)?;
            json!({"type": "payload", "payload": x.payload})
        }
        TemplateParameter::CouponCode(x) => {
            label(
                &format!("{p}.coupon_code"),
                &x.coupon_code,
                MAX_TEMPLATE_SHORT,
            )?;
            json!({"type": "coupon_code", "coupon_code": x.coupon_code})
        }
        // Checked and rendered by the caller (wa_template_action), which knows the button.
        TemplateParameter::Action(_) => {
            return Err(not_allowed(
                &format!("{p}.type"),
                "an `action` parameter only applies to flow, catalog and mpm buttons",
            ));
        }
    })
}
