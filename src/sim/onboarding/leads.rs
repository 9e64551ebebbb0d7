//! Lead Ads reads: `{leadgen_id}` (ad-level fields only with an ads permission) and `{form_id}`.

use std::sync::Arc;

use poem::Request;
use serde_json::json;

use crate::sim::graph::{
    State, TokenState, lock,
    replies::{Reply, err_token, err_unknown_object},
    routing::Handled,
};

use super::accounts::LEAD_AD_FIELDS;
use super::assets::may_read;
use super::helpers::{fail, fields_param, oauth_err, ok, ok_json, only_fields};
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
