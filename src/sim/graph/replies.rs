//! Replies of the simulated Graph API: the answer type, Meta's error envelopes (token, host,
//! parameter and coded errors) and which host a token may use.

use poem::Response;
use poem::http::StatusCode;
use rand::Rng;
use serde_json::{Value, json};

use crate::sim::payloads::meta_bytes;

use super::{Inner, Kind, TokenState};

/// An answer before it becomes a poem response.
pub(in crate::sim) struct Reply {
    pub(in crate::sim) status: u16,
    pub(in crate::sim) content_type: String,
    pub(in crate::sim) body: Vec<u8>,
    /// Extra headers (`Location`, `Cache-Control`).
    pub(in crate::sim) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(in crate::sim) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            content_type: "application/json; charset=UTF-8".into(),
            body: meta_bytes(body),
            headers: Vec::new(),
        }
    }

    pub(in crate::sim) fn html(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
            headers: vec![("cache-control", "no-store".into())],
        }
    }

    pub(super) fn into_response(self, version: Option<&str>) -> Response {
        let mut b = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .content_type(&self.content_type);
        if let Some(v) = version {
            b = b.header("facebook-api-version", v);
        }
        for (name, value) in self.headers {
            b = b.header(name, value);
        }
        b.body(self.body)
    }
}

pub(super) fn fbtrace_id() -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(11)
        .map(char::from)
        .collect()
}

/// Meta's error envelope (§9.1). `details` becomes `error_data.details` on WhatsApp.
pub(in crate::sim) fn graph_error(
    status: u16,
    code: u32,
    subcode: Option<u32>,
    message: &str,
    details: Option<&str>,
    kind: Option<Kind>,
) -> Reply {
    let mut error = json!({
        "message": message,
        "type": if code == 100 && subcode == Some(33) { "GraphMethodException" } else { "OAuthException" },
        "code": code,
    });
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    if let (Some(d), Some(Kind::WhatsApp)) = (details, kind) {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": d});
    }
    error["fbtrace_id"] = json!(fbtrace_id());
    Reply::json(status, &json!({ "error": error }))
}

pub(in crate::sim) fn err_token(state: TokenState) -> Reply {
    match state {
        TokenState::Revoked => graph_error(
            401,
            190,
            Some(463),
            "Error validating access token: Session has expired on Monday, 17-Nov-25 04:00:00 PST. The current time is Monday, 17-Nov-25 05:12:09 PST.",
            None,
            None,
        ),
        _ => graph_error(
            401,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            None,
            None,
        ),
    }
}

/// Which Meta host a request came to: graph.facebook.com (the simulator's root) or
/// graph.instagram.com (under `/ig-graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sim) enum Host {
    Facebook,
    Instagram,
}

/// A token that belongs to the other host: an Instagram User token (Instagram Login) on
/// graph.facebook.com, or a Facebook/Page/system-user token on graph.instagram.com. Meta does
/// not document a dedicated error for this; what integrators report (e.g.
/// TiagoGrosso/instagram-graph-api-lib#462: an Instagram Login token on graph.facebook.com) is
/// the generic invalid-token error of "Handling Errors — Graph API"
/// (<https://developers.facebook.com/docs/graph-api/guides/error-handling>, read 2026-12-02):
/// HTTP 400, `OAuthException` code 190 without a subcode, "Invalid OAuth access token - Cannot
/// parse access token". Corpus: tests/fixtures/meta/conformance/instagram_login.*.json.
pub(in crate::sim) fn err_wrong_host() -> Reply {
    graph_error(
        400,
        190,
        None,
        "Invalid OAuth access token - Cannot parse access token",
        None,
        None,
    )
}

/// The error when `token` cannot be used on `host`, `None` when it can (or is unknown: the
/// usual token checks answer that).
pub(in crate::sim) fn host_refuses(inner: &Inner, token: &str, host: Host) -> Option<Reply> {
    let instagram_user = crate::sim::onboarding::instagram::is_instagram_user_token(inner, token);
    let refused = match host {
        Host::Facebook => instagram_user,
        Host::Instagram => !instagram_user,
    };
    refused.then(err_wrong_host)
}

pub(in crate::sim) fn err_unknown_object(method: &str, id: &str) -> Reply {
    let message = format!(
        "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    );
    graph_error(400, 100, Some(33), &message, None, None)
}

/// 400 code 100 naming the bad parameter.
pub(super) fn err_param(what: &str, kind: Kind) -> Reply {
    graph_error(
        400,
        100,
        None,
        &format!("(#100) {what}"),
        Some(what),
        Some(kind),
    )
}

/// The envelope Meta sends for `code` (fixture wording where there is a fixture).
pub(in crate::sim) fn coded_error(status: u16, code: u32, kind: Kind) -> Reply {
    let (subcode, message, details): (Option<u32>, String, Option<&str>) = match code {
        2 => (
            None,
            "Service temporarily unavailable, try again later.".into(),
            None,
        ),
        4 => (None, "(#4) Application request limit reached".into(), None),
        10 => match kind {
            Kind::Messenger => (
                Some(2018278),
                "(#10) This message is sent outside of allowed window.".into(),
                None,
            ),
            _ => (
                Some(2534022),
                "(#10) Message sent outside the allowed messaging window".into(),
                None,
            ),
        },
        100 => (
            None,
            "(#100) Invalid parameter".into(),
            Some("Invalid parameter"),
        ),
        190 => return err_token(TokenState::Revoked),
        // Messenger/Instagram permission error about one recipient (Messenger Platform error
        // codes page; subcode as reported by integrators and issue 12).
        200 => (
            (kind != Kind::WhatsApp).then_some(2018028),
            "(#200) This person isn't receiving messages from you right now.".into(),
            None,
        ),
        // Messenger Send API error codes: "Temporary send message failure".
        1200 => (
            None,
            "(#1200) Temporary send message failure. Please try again later.".into(),
            None,
        ),
        // WhatsApp error codes: "Spam rate limit hit".
        131048 => (
            None,
            "(#131048) Spam rate limit hit".into(),
            Some(
                "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam.",
            ),
        ),
        368 => (
            None,
            "(#368) Temporarily blocked for policies violations".into(),
            None,
        ),
        130429 => (
            None,
            "(#130429) Rate limit hit".into(),
            Some("Throughput limit for this business phone number reached."),
        ),
        131000 => (
            None,
            "(#131000) Something went wrong".into(),
            Some("Something went wrong."),
        ),
        131026 => (
            None,
            "(#131026) Message undeliverable".into(),
            Some("Message Undeliverable."),
        ),
        131047 => (
            None,
            "(#131047) Re-engagement message".into(),
            Some("Message not sent: the customer last wrote more than 24 hours ago."),
        ),
        131056 => (
            None,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit".into(),
            Some(
                "Too many messages from this business number to the same recipient in a short time.",
            ),
        ),
        132001 => (
            None,
            "(#132001) Template name does not exist in the translation".into(),
            Some("template name does not exist in the translation"),
        ),
        c => (
            None,
            format!("(#{c}) Simulated error"),
            Some("Simulated error from the Graph API simulator."),
        ),
    };
    graph_error(status, code, subcode, &message, details, Some(kind))
}
