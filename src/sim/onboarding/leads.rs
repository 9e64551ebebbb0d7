//! Lead Ads reads: `{leadgen_id}` (ad-level fields only with an ads permission), `{form_id}`,
//! a Page's forms (`{page_id}/leadgen_forms`) and a form's leads (`{form_id}/leads`, filtered
//! by creation time, cursor-paged).

use std::sync::Arc;

use poem::Request;
use serde_json::json;

use crate::sim::graph::{
    State, TokenState, lock,
    replies::{Reply, err_token, err_unknown_object},
    routing::{Handled, query_param},
};

use super::accounts::LEAD_AD_FIELDS;
use super::assets::may_read;
use super::helpers::{fail, fields_param, oauth_err, ok, ok_json, only_fields, param_err};
use super::tokens::random_alnum;

pub(in crate::sim) fn is_lead(state: &Arc<State>, id: &str) -> bool {
    lock(&state.inner).onboard.leads.contains_key(id)
}

pub(in crate::sim) fn is_lead_form(state: &Arc<State>, id: &str) -> bool {
    lock(&state.inner).onboard.forms.contains_key(id)
}

/// `GET /{leadgen_id}?fields=...` with a token of the lead's Page. Ad-level fields
/// ([`LEAD_AD_FIELDS`]) need `ads_management` or `ads_read` on the token: without, Meta answers
/// a permission error (code 200, "Graph API error handling": 200–299 = API permission) and
/// nothing else of the read.
pub(in crate::sim) fn lead(
    state: &Arc<State>,
    req: &Request,
    id: &str,
    token: Option<&str>,
) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(lead) = inner.onboard.leads.get(id).cloned() else {
        return fail(err_unknown_object("get", id));
    };
    if !may_read(&inner, t, &lead.page_id) {
        return fail(err_unknown_object("get", id));
    }
    let fields = fields_param(req);
    let wants_ad_fields = fields
        .as_deref()
        .is_some_and(|f| f.iter().any(|x| LEAD_AD_FIELDS.contains(&x.as_str())));
    if wants_ad_fields
        && !inner.onboard.has_scope(t, "ads_management")
        && !inner.onboard.has_scope(t, "ads_read")
    {
        return oauth_err(
            400,
            200,
            None,
            "(#200) Reading the ad fields of a lead requires the ads_management or ads_read permission and advertiser access to the ad account",
        );
    }
    if inner.onboard.lead_failures > 0 {
        inner.onboard.lead_failures -= 1;
        let mut h = ok(Reply::json(
            500,
            &json!({"error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException",
                "is_transient": true,
                "code": 2,
                "fbtrace_id": random_alnum(11),
            }}),
        ));
        h.fault = Some("lead_fetch");
        return h;
    }
    ok_json(&only_fields(lead.to_json(), fields.as_deref()))
}

/// `GET /{form_id}?fields=...` with a token of the form's Page.
pub(in crate::sim) fn lead_form(
    state: &Arc<State>,
    req: &Request,
    id: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(form) = inner.onboard.forms.get(id) else {
        return fail(err_unknown_object("get", id));
    };
    if !may_read(&inner, t, &form.page_id) {
        return fail(err_unknown_object("get", id));
    }
    let fields = fields_param(req);
    ok_json(&only_fields(form.to_json(), fields.as_deref()))
}

/// Page size of the list edges when `limit` is absent (Graph API default), and the most one
/// page gives.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 500;

/// `GET /{page_id}/leadgen_forms?fields=...` with a token of that Page ("Page Leadgen Forms":
/// a Page access token is required). Not paged here: a Page of the simulator has few forms.
pub(in crate::sim) fn page_lead_forms(
    state: &Arc<State>,
    req: &Request,
    page_id: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    if !may_read(&inner, t, page_id) {
        return fail(err_unknown_object("get", page_id));
    }
    let fields = fields_param(req);
    let mut forms: Vec<_> = inner
        .onboard
        .forms
        .values()
        .filter(|f| f.page_id == page_id)
        .collect();
    forms.sort_by(|a, b| a.form_id.cmp(&b.form_id));
    let data: Vec<serde_json::Value> = forms
        .iter()
        .map(|f| {
            let mut v = f.to_json();
            if let Some(o) = v.as_object_mut() {
                o.remove("questions");
            }
            only_fields(v, fields.as_deref())
        })
        .collect();
    ok_json(
        &json!({"data": data, "paging": {"cursors": {"before": "0", "after": data.len().to_string()}}}),
    )
}

/// `GET /{form_id}/leads?fields=...&filtering=[...]&limit=..&after=..` with a token of the
/// form's Page: the form's leads, newest first, filtered on `time_created` (Unix seconds;
/// `GREATER_THAN` / `LESS_THAN`), in pages of `limit` with a `paging.next` link.
pub(in crate::sim) fn form_leads(
    state: &Arc<State>,
    req: &Request,
    form_id: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(form) = inner.onboard.forms.get(form_id) else {
        return fail(err_unknown_object("get", form_id));
    };
    if !may_read(&inner, t, &form.page_id) {
        return fail(err_unknown_object("get", form_id));
    }
    let mut after_bound: Option<i64> = None;
    let mut before_bound: Option<i64> = None;
    if let Some(raw) = query_param(req, "filtering") {
        let Ok(serde_json::Value::Array(rules)) = serde_json::from_str::<serde_json::Value>(&raw)
        else {
            return param_err("(#100) param filtering must be an array of filter objects");
        };
        for rule in rules {
            let field = rule.get("field").and_then(serde_json::Value::as_str);
            let op = rule.get("operator").and_then(serde_json::Value::as_str);
            let value = rule.get("value").and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            });
            match (field, op, value) {
                (Some("time_created"), Some("GREATER_THAN"), Some(v)) => after_bound = Some(v),
                (Some("time_created"), Some("LESS_THAN"), Some(v)) => before_bound = Some(v),
                _ => {
                    return param_err(
                        "(#100) Filtering field time_created with operator GREATER_THAN or LESS_THAN and a numeric value expected",
                    );
                }
            }
        }
    }
    let limit = match query_param(req, "limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n > 0 => n.min(MAX_LIMIT),
            _ => return param_err("(#100) Param limit must be a positive integer"),
        },
    };
    let start = match query_param(req, "after") {
        None => 0,
        Some(a) => match a.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return param_err("(#100) Invalid cursor"),
        },
    };
    let mut leads: Vec<_> = inner
        .onboard
        .leads
        .values()
        .filter(|l| l.form_id == form_id)
        .filter(|l| {
            let at = l.created_unix();
            after_bound.is_none_or(|b| at.is_some_and(|t| t > b))
                && before_bound.is_none_or(|b| at.is_some_and(|t| t < b))
        })
        .collect();
    // Newest first, then by id (a stable order for the cursor).
    leads.sort_by(|a, b| {
        b.created_unix()
            .cmp(&a.created_unix())
            .then_with(|| a.leadgen_id.cmp(&b.leadgen_id))
    });
    let fields = fields_param(req);
    let page: Vec<serde_json::Value> = leads
        .iter()
        .skip(start)
        .take(limit)
        .map(|l| {
            let mut v = l.to_json();
            if let Some(o) = v.as_object_mut() {
                for k in LEAD_AD_FIELDS {
                    o.remove(*k);
                }
            }
            only_fields(v, fields.as_deref())
        })
        .collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < leads.len()
        && let Ok(mut next) = url::Url::parse(&format!("{}{}", state.base_url, req.uri().path()))
    {
        {
            let mut q = next.query_pairs_mut();
            for key in ["fields", "filtering"] {
                if let Some(v) = query_param(req, key) {
                    q.append_pair(key, &v);
                }
            }
            q.append_pair("limit", &limit.to_string());
            q.append_pair("after", &end.to_string());
        }
        paging["next"] = json!(next.to_string());
    }
    ok_json(&json!({"data": page, "paging": paging}))
}
