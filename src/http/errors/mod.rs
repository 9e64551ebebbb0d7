//! The one error shape of the APIs: a status, a machine-readable `code` and a human `message`.
//! Unexpected errors become a generic 500; their cause is logged, never returned.

use poem_openapi::{ApiResponse, Object, payload::Json};
use tracing::error;

/// Stable error codes (they leave the process): every `code` of an error body the service
/// answers is one of these constants, never a literal (the `tests` module below checks it).
pub mod codes {
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const VALIDATION_FAILED: &str = "validation_failed";
    pub const TOKEN_MISSING: &str = "token_missing";
    pub const TOKEN_EXPIRED: &str = "token_expired";
    pub const TOKEN_INVALID: &str = "token_invalid";
    pub const NOT_FOUND: &str = "not_found";
    pub const INSTANCE_NOT_FOUND: &str = "instance_not_found";
    pub const CHANNEL_NOT_FOUND: &str = "channel_not_found";
    pub const EVENT_NOT_FOUND: &str = "event_not_found";
    pub const CHANNEL_EXISTS: &str = "channel_already_registered";
    pub const EVENT_NOT_REPLAYABLE: &str = "event_not_replayable";
    pub const CONTENT_PURGED: &str = "event_content_purged";
    pub const UNAVAILABLE: &str = "service_unavailable";
    pub const INTERNAL: &str = "internal_error";
    pub const MESSAGE_NOT_FOUND: &str = "message_not_found";
    pub const WINDOW_CLOSED: &str = "window_closed";
    /// A template send that does not fit the channel's template (`rule` says which check).
    pub const TEMPLATE_INVALID: &str = "template_invalid";
    pub const TEMPLATE_NOT_FOUND: &str = "template_not_found";
    /// The channel cannot manage templates (not WhatsApp, no WABA id, no token).
    pub const TEMPLATES_UNAVAILABLE: &str = "templates_unavailable";
    /// Meta refused a call made for the instance (a template to create or delete, a lead
    /// read); Meta's reason in `message`.
    pub const META_REJECTED: &str = "meta_rejected";
    /// Another Meta app controls the Instagram / Messenger conversation (handover protocol);
    /// `owner_app_id` names it when known.
    pub const THREAD_NOT_OWNED: &str = "thread_not_owned";
    /// The channel has no handover protocol (WhatsApp, Instagram Login) or no usable token.
    pub const HANDOVER_UNAVAILABLE: &str = "handover_unavailable";
    /// The channel has no Lead Ads (not a Facebook Page, or no usable token).
    pub const LEADS_UNAVAILABLE: &str = "leads_unavailable";
    pub const LEAD_FORM_NOT_FOUND: &str = "lead_form_not_found";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    pub const IDEMPOTENCY_KEY_INVALID: &str = "idempotency_key_invalid";
    pub const CHANNEL_UNAVAILABLE: &str = "channel_unavailable";
    pub const MEDIA_NOT_FOUND: &str = "media_not_found";
    pub const MEDIA_TOO_LARGE: &str = "media_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const META_ERROR: &str = "meta_error";
    pub const KEY_NOT_FOUND: &str = "key_not_found";
    pub const KEY_EXISTS: &str = "key_exists";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const TOO_MANY_UPLOADS: &str = "too_many_uploads";
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    // Connect sessions (`/v1/connect-sessions`) and the connect pages' JSON endpoint.
    pub const CONNECT_NOT_CONFIGURED: &str = "connect_not_configured";
    pub const CONNECT_SESSION_NOT_FOUND: &str = "connect_session_not_found";
    pub const RETURN_URL_NOT_ALLOWED: &str = "return_url_not_allowed";
    pub const BROWSER_MISMATCH: &str = "browser_mismatch";
    // Meta's calls to us: webhooks, the verification handshake and the app callbacks.
    pub const SIGNATURE_MISSING: &str = "signature_missing";
    pub const SIGNATURE_MALFORMED: &str = "signature_malformed";
    pub const SIGNATURE_INVALID: &str = "signature_invalid";
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
    pub const VERIFICATION_FAILED: &str = "verification_failed";
    pub const SIGNED_REQUEST_INVALID: &str = "signed_request_invalid";
    pub const SIGNED_REQUEST_EXPIRED: &str = "signed_request_expired";
}

/// Error body of every API error.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// Machine-readable error code; decide on this, never on `message`. The codes:
    ///
    /// | status | code | meaning |
    /// |---|---|---|
    /// | 400 | `invalid_request` | not JSON, wrong types, missing fields, unknown enum value, a NUL character in the path, the query or a text value |
    /// | 400 | `idempotency_key_invalid` | `Idempotency-Key` is not 1–255 visible ASCII characters, or is sent more than once |
    /// | 401 | `token_missing`, `token_expired`, `token_invalid`, `unauthorized` | the JWT or admin token is absent, expired or does not verify |
    /// | 404 | `not_found`, `instance_not_found`, `channel_not_found`, `template_not_found`, `event_not_found`, `message_not_found`, `media_not_found`, `key_not_found`, `connect_session_not_found` | no such object for this caller (also another instance's) |
    /// | 408 | `request_timeout` | the body did not arrive within the body timeout; the connection is closed |
    /// | 409 | `channel_already_registered`, `key_exists`, `event_not_replayable`, `event_content_purged`, `idempotency_key_reused`, `channel_unavailable`, `connect_not_configured`, `thread_not_owned` (with `owner_app_id` when known) | conflicts with the current state |
    /// | 413 | `payload_too_large`, `media_too_large` | the body or the media is over the limit |
    /// | 422 | `validation_failed` (with `field` and `rule`), `template_invalid` (with `field` and `rule`: `template_not_found`, `language_not_found`, `not_approved`, `parameter_count`, `parameter_format`, `header_media_required`, `button_mismatch`), `templates_unavailable`, `handover_unavailable`, `meta_rejected` (Meta refused a template create or delete: its code in `rule` as `meta_<code>`), `window_closed`, `return_url_not_allowed`, `unsupported_media_type` | well-formed but breaks a rule |
    /// | 429 | `rate_limited`, `too_many_uploads` | too many requests for this instance (or the admin token); too many media uploads in flight (this instance's or all); wait `Retry-After` seconds |
    /// | 500 | `internal_error` | unexpected; logged server side |
    /// | 502 | `meta_error` | Meta refused or failed a call made for you |
    /// | 503 | `service_unavailable` | the database is unavailable; retry later |
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field the error is about, when there is one (e.g. `callback_url`,
    /// `message.buttons[3].title`).
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// The rule the field breaks, for validation errors: `required`, `max_length`, `too_few`,
    /// `too_many`, `out_of_range`, `invalid_format`, `invalid_value`, `one_of_required`,
    /// `not_allowed`, `not_allowed_for_channel`, `https_required`, `allowed_origin`, `format`.
    #[oai(skip_serializing_if_is_none)]
    pub rule: Option<String>,
    /// `thread_not_owned`: the Meta app that controls the conversation, when Meta named it
    /// (`263902037430900` is the Page inbox, `1217981644879628` the Instagram inbox).
    // Boxed: every `Result<_, ApiError>` carries this body, which must stay small.
    #[oai(skip_serializing_if_is_none)]
    pub owner_app_id: Option<Box<String>>,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            code: codes::CHANNEL_NOT_FOUND.into(),
            message: "No channel with that id for this instance.".into(),
            field: None,
            rule: None,
            owner_app_id: None,
        }
    }
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
pub enum ApiError {
    /// The request is malformed (not JSON, wrong types, missing fields).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid credentials (`token_missing`, `token_expired`, `token_invalid`, `unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such object for this caller (also for objects of another instance).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Conflicts with the current state (duplicate registration, not replayable).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Well-formed but breaks a rule (`validation_failed`, with `field`).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too large (`media_too_large`).
    #[oai(status = 413)]
    TooLarge(Json<ErrorBody>),
    /// `rate_limited`: too many requests for this instance (or the admin token);
    /// `too_many_uploads`: too many media uploads in flight. Retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        /// Seconds to wait before the next request.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// Unexpected failure; retry later.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Meta's Graph API failed or refused the call made for you (`meta_error`).
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(code: &str, message: impl Into<String>, field: Option<&str>) -> Json<ErrorBody> {
    Json(ErrorBody {
        code: code.to_string(),
        message: message.into(),
        field: field.map(str::to_string),
        rule: None,
        owner_app_id: None,
    })
}

impl ApiError {
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::TooLarge(body(codes::MEDIA_TOO_LARGE, message, None))
    }
    /// A 429 with its code and the seconds to wait (`Retry-After`).
    pub fn too_many(code: &str, message: impl Into<String>, retry_after: u64) -> Self {
        Self::TooManyRequests(body(code, message, None), retry_after)
    }
    pub fn not_found(code: &str, message: &str) -> Self {
        Self::NotFound(body(code, message, None))
    }
    pub fn unauthorized(code: &str, message: &str) -> Self {
        Self::Unauthorized(body(code, message, None))
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::Conflict(body(code, message, None))
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable(body(codes::VALIDATION_FAILED, message, Some(field)))
    }
    /// A 422 naming the field and the rule it breaks.
    pub fn rule(field: &str, rule: &str, message: impl Into<String>) -> Self {
        let mut b = body(codes::VALIDATION_FAILED, message, Some(field));
        b.0.rule = Some(rule.to_string());
        Self::Unprocessable(b)
    }
    /// A 422 `template_invalid`: a template send breaks `rule` (see
    /// [`crate::messages::templates::rules`]).
    pub fn template(field: &str, rule: &str, message: impl Into<String>) -> Self {
        let mut b = body(codes::TEMPLATE_INVALID, message, Some(field));
        b.0.rule = Some(rule.to_string());
        Self::Unprocessable(b)
    }
    /// A 422 with its own code (a state rule, not a field's shape).
    pub fn unprocessable(code: &str, field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Unprocessable(body(code, message, field))
    }
    /// `409 thread_not_owned`: another Meta app controls the conversation (`owner_app_id`
    /// when known).
    pub fn thread_not_owned(owner_app_id: Option<String>, message: impl Into<String>) -> Self {
        let mut b = body(codes::THREAD_NOT_OWNED, message, Some("to"));
        b.0.owner_app_id = owner_app_id.map(Box::new);
        Self::Conflict(b)
    }
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(body(code, message, None))
    }
    /// Meta refused a call made on the caller's behalf (media upload or download).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::BadGateway(body(codes::META_ERROR, message, None))
    }
    /// A call made to Meta for the caller that did not succeed: Meta's refusal with its
    /// reason (`422 meta_rejected`, `rule` `meta_<code>[_<subcode>]`; `what` names what Meta
    /// refused, e.g. "the template"), else `502 meta_error` (Meta unreachable, throttled or
    /// failing, or the token is suspect). Never a token: the Graph client redacts them.
    pub fn meta_call(e: crate::meta::graph::GraphCallError, what: &str) -> Self {
        use crate::meta::graph::{ErrorClass, GraphCallError};
        match e {
            GraphCallError::Graph { error, class }
                if class.is_retryable() || class == ErrorClass::TokenSuspect =>
            {
                Self::bad_gateway(format!(
                    "Meta did not take the call now (code {}); retry later or check the channel.",
                    error.code
                ))
            }
            GraphCallError::Graph { error, .. } => {
                let reason = error
                    .details
                    .clone()
                    .or_else(|| error.title.clone())
                    .unwrap_or_else(|| error.message.clone());
                let mut b = body(
                    codes::META_REJECTED,
                    format!("Meta refused {what}: {reason}"),
                    None,
                );
                b.0.rule = Some(match error.subcode {
                    Some(s) => format!("meta_{}_{s}", error.code),
                    None => format!("meta_{}", error.code),
                });
                Self::Unprocessable(b)
            }
            _ => Self::bad_gateway("The Graph API could not be reached or answered unreadably."),
        }
    }

    /// Logs the cause (server side only) and answers a generic 500 or 503.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        error!(error = %err, "{context}");
        Self::Internal(body(
            codes::INTERNAL,
            "Unexpected error; it has been logged.",
            None,
        ))
    }
    pub fn store(context: &str, err: crate::store::StoreError) -> Self {
        if err.is_invalid_text() {
            // A parameter the middleware let through (a NUL inside a JSON string): the
            // caller's mistake, not an outage.
            return Self::BadRequest(body(
                codes::INVALID_REQUEST,
                "Text values must not contain NUL characters.",
                None,
            ));
        }
        error!(error = %err, "{context}");
        Self::unavailable_database()
    }

    /// `503 unavailable`: the write did not commit (the group-commit writer failed or is
    /// stopping); the cause was logged where it happened.
    pub fn not_committed(context: &str) -> Self {
        error!("{context}: not committed");
        Self::unavailable_database()
    }

    fn unavailable_database() -> Self {
        Self::Unavailable(body(
            codes::UNAVAILABLE,
            "The database is unavailable; retry later.",
            None,
        ))
    }
}

/// An error body written by hand (answers poem-openapi does not build).
fn body_text(code: &str, message: &str) -> String {
    serde_json::json!({"code": code, "message": message}).to_string()
}

/// `408 request_timeout`: the request body did not arrive in time. The connection is closed
/// (the rest of the body is never read).
pub fn request_timeout() -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::REQUEST_TIMEOUT)
        .content_type("application/json")
        .header(poem::http::header::CONNECTION, "close")
        .body(body_text(
            codes::REQUEST_TIMEOUT,
            "The request body did not arrive in time.",
        ))
}

/// Every error raised before an operation runs (authentication, parameter and body
/// parsing, unknown routes) answered in the API's error shape.
pub async fn shape_error(err: poem::Error) -> poem::Response {
    use poem::IntoResponse;
    use poem::http::StatusCode;
    if err.is_from_response() {
        // Our own ApiError responses, already in shape.
        return err.into_response();
    }
    if let Some(limited) = err.downcast_ref::<super::ratelimit::RateLimited>() {
        return ApiError::TooManyRequests(
            body(
                codes::RATE_LIMITED,
                "Too many requests; retry after the number of seconds in Retry-After.",
                None,
            ),
            limited.0,
        )
        .into_response();
    }
    let status = err.status();
    let api = match status {
        StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => bad_request(err),
        StatusCode::NOT_FOUND => ApiError::not_found(codes::NOT_FOUND, "No such endpoint."),
        StatusCode::METHOD_NOT_ALLOWED => {
            return poem::Response::builder()
                .status(status)
                .content_type("application/json")
                .body(body_text(
                    codes::METHOD_NOT_ALLOWED,
                    "This endpoint does not accept that method.",
                ));
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            return poem::Response::builder()
                .status(status)
                .content_type("application/json")
                .body(body_text(
                    codes::PAYLOAD_TOO_LARGE,
                    "The body is too large.",
                ));
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::BadRequest(body(
            codes::INVALID_REQUEST,
            "Send the body as application/json.",
            None,
        )),
        // The database could not be read before the operation ran (the instance's keys for
        // its JWT): the same answer as when an operation cannot reach it.
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(body(
            codes::UNAVAILABLE,
            "The database is unavailable; retry later.",
            None,
        )),
        s if s.is_server_error() => ApiError::internal("request failed before the operation", err),
        _ => ApiError::BadRequest(body(codes::INVALID_REQUEST, err.to_string(), None)),
    };
    api.into_response()
}

/// Parse and authentication failures of poem-openapi extractors, in our shape.
fn bad_request(err: poem::Error) -> ApiError {
    if let Some(auth) = super::api::auth_error(&err) {
        return auth;
    }
    if err.status() == poem::http::StatusCode::UNAUTHORIZED {
        return ApiError::Unauthorized(body(
            codes::TOKEN_MISSING,
            "Send `Authorization: Bearer <token>`.",
            None,
        ));
    }
    // The parser's message names the field and the problem; it never echoes a secret.
    ApiError::BadRequest(body(codes::INVALID_REQUEST, err.to_string(), None))
}

#[cfg(test)]
mod tests;
