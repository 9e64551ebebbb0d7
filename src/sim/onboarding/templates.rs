//! A WhatsApp Business Account's message templates (`/{waba-id}/message_templates`): listed
//! with cursor paging and `fields`, created (in review: `PENDING`) and deleted by name (every
//! language) or by name and `hsm_id`, as the corpus files
//! `whatsapp.waba.message_templates.{list,create,delete}.json` record Meta's pages ("WhatsApp
//! Business Account Message Templates", Graph API reference; "Create and Manage Message
//! Templates", read 2026-12-03). Tests put templates in place with
//! [`crate::sim::graph::GraphSim::set_templates`]; the simulator never approves a template by
//! itself.

use std::sync::Arc;

use poem::http::Method;
use poem::{Request, RequestBody};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::sim::graph::{
    Inner, State, TokenState, lock,
    replies::{err_token, err_unknown_object},
    routing::{Handled, query_param},
};

use super::assets::may_read;
use super::helpers::{fail, fields_param, ok_json, page_window, param_err};

/// Fields of a template answered when the request names none (the page's sample).
const DEFAULT_FIELDS: &[&str] = &["name", "components", "language", "status", "category", "id"];
/// Page size when `limit` is absent.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;
/// Categories a new template may have (Meta: "Template categories").
const CATEGORIES: &[&str] = &["MARKETING", "UTILITY", "AUTHENTICATION"];

/// One template of an account, in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTemplate {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    pub components: Value,
    /// `quality_score.score`.
    pub quality: String,
}

impl SimTemplate {
    /// An approved-or-not template with a plain body and no parameters; see the builders.
    pub fn new(name: &str, language: &str, status: &str, category: &str) -> Self {
        Self {
            id: new_id(),
            name: name.into(),
            language: language.into(),
            status: status.into(),
            category: category.into(),
            parameter_format: "POSITIONAL".into(),
            components: json!([{"type": "BODY", "text": "Hello"}]),
            quality: "UNKNOWN".into(),
        }
    }

    pub fn components(mut self, components: Value) -> Self {
        self.components = components;
        self
    }

    pub fn named(mut self) -> Self {
        self.parameter_format = "NAMED".into();
        self
    }

    pub fn id(mut self, id: &str) -> Self {
        self.id = id.into();
        self
    }

    pub fn quality(mut self, quality: &str) -> Self {
        self.quality = quality.into();
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "quality_score": {"score": self.quality},
        })
    }
}

fn new_id() -> String {
    rand::rng()
        .random_range(1_000_000_000_000_000_u64..9_000_000_000_000_000)
        .to_string()
}

fn is_waba(inner: &Inner, waba: &str) -> bool {
    inner.onboard.accounts.waba(waba).is_some()
        || inner
            .channels
            .values()
            .any(|c| c.waba_id.as_deref() == Some(waba))
        || inner.templates.contains_key(waba)
}

/// `GET|POST|DELETE /{waba}/message_templates`.
pub(in crate::sim) async fn message_templates(
    state: &Arc<State>,
    req: &Request,
    waba: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = if req.method() == Method::POST {
        crate::sim::graph::send::read_json(body).await
    } else {
        Value::Null
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let method = req.method().as_str().to_ascii_lowercase();
    if !is_waba(inner, waba) || !may_read(inner, t, waba) {
        return fail(err_unknown_object(&method, waba));
    }
    let mut h = match *req.method() {
        Method::GET => list(state, inner, req, waba),
        Method::POST => create(inner, waba, &json),
        Method::DELETE => delete(inner, req, waba),
        _ => fail(err_unknown_object(&method, waba)),
    };
    h.body = json;
    h
}

fn list(state: &State, inner: &Inner, req: &Request, waba: &str) -> Handled {
    let all = inner.templates.get(waba).cloned().unwrap_or_default();
    let (limit, start) = match page_window(req, DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(w) => w,
        Err(refusal) => return *refusal,
    };
    let fields = fields_param(req);
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|t| {
            let full = t.to_json();
            let mut out = Map::new();
            for (k, v) in full.as_object().into_iter().flatten() {
                let wanted = match &fields {
                    Some(f) => k == "id" || f.iter().any(|x| x == k),
                    None => DEFAULT_FIELDS.contains(&k.as_str()),
                };
                if wanted {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < all.len() {
        let mut next = url::Url::parse(&format!("{}{}", state.base_url, req.uri().path())).ok();
        if let Some(u) = next.as_mut() {
            let mut q = u.query_pairs_mut();
            if let Some(f) = query_param(req, "fields") {
                q.append_pair("fields", &f);
            }
            q.append_pair("limit", &limit.to_string());
            q.append_pair("after", &end.to_string());
        }
        if let Some(u) = next {
            paging["next"] = json!(u.to_string());
        }
    }
    ok_json(&json!({"data": page, "paging": paging}))
}

fn is_template_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn create(inner: &mut Inner, waba: &str, body: &Value) -> Handled {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim);
    let Some(name) = text("name").filter(|n| is_template_name(n)) else {
        return param_err(
            "(#100) Param name must be set to lowercase letters, digits and underscores",
        );
    };
    let Some(language) = text("language").filter(|l| !l.is_empty()) else {
        return param_err("(#100) The parameter language is required");
    };
    let Some(category) = text("category")
        .map(str::to_ascii_uppercase)
        .filter(|c| CATEGORIES.contains(&c.as_str()))
    else {
        return param_err(
            "(#100) Param category must be one of {MARKETING, UTILITY, AUTHENTICATION}",
        );
    };
    let format = match text("parameter_format").map(str::to_ascii_uppercase) {
        None => "POSITIONAL".to_owned(),
        Some(f) if f == "POSITIONAL" || f == "NAMED" => f,
        Some(_) => {
            return param_err("(#100) Param parameter_format must be one of {POSITIONAL, NAMED}");
        }
    };
    let Some(components) = body.get("components").and_then(Value::as_array) else {
        return param_err("(#100) The parameter components is required");
    };
    let has_body = components.iter().any(|c| {
        c.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
    });
    if !has_body {
        return param_err("(#100) A template needs a BODY component");
    }
    let list = inner.templates.entry(waba.to_owned()).or_default();
    if list
        .iter()
        .any(|t| t.name == name && t.language == language)
    {
        return param_err("(#100) Content in this language already exists");
    }
    let mut t = SimTemplate::new(name, language, "PENDING", &category)
        .components(Value::Array(components.clone()));
    t.parameter_format = format;
    let answer = json!({"id": t.id, "status": t.status, "category": t.category});
    list.push(t);
    ok_json(&answer)
}

fn delete(inner: &mut Inner, req: &Request, waba: &str) -> Handled {
    let Some(name) = query_param(req, "name").filter(|n| !n.is_empty()) else {
        return param_err("(#100) The parameter name is required");
    };
    let hsm_id = query_param(req, "hsm_id");
    let list = inner.templates.entry(waba.to_owned()).or_default();
    let before = list.len();
    list.retain(|t| !(t.name == name && hsm_id.as_deref().is_none_or(|id| t.id == id)));
    if list.len() == before {
        return param_err("(#100) Message template not found");
    }
    ok_json(&json!({"success": true}))
}
