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
    /// Meta refused a template it was asked to create or delete (its reason in `message`).
    pub const META_REJECTED: &str = "meta_rejected";
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
    /// | 409 | `channel_already_registered`, `key_exists`, `event_not_replayable`, `event_content_purged`, `idempotency_key_reused`, `channel_unavailable`, `connect_not_configured` | conflicts with the current state |
    /// | 413 | `payload_too_large`, `media_too_large` | the body or the media is over the limit |
    /// | 422 | `validation_failed` (with `field` and `rule`), `template_invalid` (with `field` and `rule`: `template_not_found`, `language_not_found`, `not_approved`, `parameter_count`, `parameter_format`, `header_media_required`, `button_mismatch`), `templates_unavailable`, `meta_rejected` (Meta refused a template create or delete: its code in `rule` as `meta_<code>`), `window_closed`, `return_url_not_allowed`, `unsupported_media_type` | well-formed but breaks a rule |
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
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            code: codes::CHANNEL_NOT_FOUND.into(),
            message: "No channel with that id for this instance.".into(),
            field: None,
            rule: None,
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
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(body(code, message, None))
    }
    /// Meta refused a call made on the caller's behalf (media upload or download).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::BadGateway(body(codes::META_ERROR, message, None))
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
mod tests {
    //! Every error code that leaves the process is a [`codes`] constant. The scan reads `src/`
    //! (comments and `#[cfg(test)]` items left out) and checks each place a code is chosen:
    //!
    //! - the code argument of every function or closure with a `code: &str` parameter: the
    //!   `ApiError` constructors (called anywhere in `src/`) and the private helpers of a file
    //!   (`body`, meta_api's `error`, the connect page's `error` closure), found by their
    //!   signatures, so a new helper is checked too;
    //! - the `code` field of every `ErrorBody { .. }` literal;
    //! - the `"code"` key of every `json!` object in `src/http`;
    //! - no string literal in `src/http` holds a hand-written error body (`{"code":"…"}`).
    //!
    //! Each must be a `codes::NAME` path, or (inside such a helper) the helper's own `code`
    //! parameter, whose callers are checked in turn. Also: every constant is used somewhere
    //! (no dead code), no two constants share a value, values are snake_case, and there is no
    //! second `mod codes`.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// A source with comments removed, each string literal replaced by `"<n>"` (its text in
    /// `strings[n]`) and char literals by `' '`; newlines are kept, so offsets give lines.
    struct Lexed {
        code: String,
        strings: Vec<String>,
    }

    fn is_ident(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }

    fn lex(src: &str) -> Lexed {
        let s: Vec<char> = src.chars().collect();
        let mut code = String::with_capacity(src.len());
        let mut strings = Vec::new();
        let mut i = 0;
        let push_literal = |code: &mut String, strings: &mut Vec<String>, text: String| {
            code.push_str(&format!("\"{}\"", strings.len()));
            code.extend(text.chars().filter(|&c| c == '\n'));
            strings.push(text);
        };
        while i < s.len() {
            let c = s[i];
            let prev = if i > 0 { s[i - 1] } else { ' ' };
            if c == '/' && s.get(i + 1) == Some(&'/') {
                while i < s.len() && s[i] != '\n' {
                    i += 1;
                }
            } else if c == '/' && s.get(i + 1) == Some(&'*') {
                let mut depth = 0;
                while i < s.len() {
                    if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if s[i] == '\n' {
                            code.push('\n');
                        }
                        i += 1;
                    }
                }
            } else if c == 'r'
                && (!is_ident(prev) || (prev == 'b' && (i < 2 || !is_ident(s[i - 2]))))
                && matches!(s.get(i + 1), Some('"' | '#'))
            {
                // A raw string r"…", r#"…"# (or br…: the `b` is already out).
                let mut j = i + 1;
                let mut hashes = 0;
                while s.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if s.get(j) != Some(&'"') {
                    code.push(c);
                    i += 1;
                    continue;
                }
                let start = j + 1;
                let mut end = start;
                while end < s.len()
                    && !(s[end] == '"' && (1..=hashes).all(|k| s.get(end + k) == Some(&'#')))
                {
                    end += 1;
                }
                push_literal(&mut code, &mut strings, s[start..end].iter().collect());
                i = end + 1 + hashes;
            } else if c == '"' {
                let start = i + 1;
                let mut end = start;
                while end < s.len() && s[end] != '"' {
                    end += if s[end] == '\\' { 2 } else { 1 };
                }
                push_literal(&mut code, &mut strings, s[start..end].iter().collect());
                i = end + 1;
            } else if c == '\'' && s.get(i + 1) == Some(&'\\') {
                let mut end = i + 3;
                while end < s.len() && s[end] != '\'' {
                    end += 1;
                }
                code.push_str("' '");
                i = end + 1;
            } else if c == '\'' && s.get(i + 2) == Some(&'\'') {
                code.push_str("' '");
                i += 3;
            } else {
                code.push(c);
                i += 1;
            }
        }
        Lexed { code, strings }
    }

    /// The index just past the bracket matching the one at `open`.
    fn matching(code: &str, open: usize) -> usize {
        let mut depth = 0i32;
        for (k, c) in code[open..].char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return open + k + 1;
                    }
                }
                _ => {}
            }
        }
        code.len()
    }

    /// Top-level comma-separated parts of a bracket's contents.
    fn split_top(inner: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let (mut depth, mut from) = (0i32, 0);
        for (k, c) in inner.char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(inner[from..k].trim());
                    from = k + 1;
                }
                _ => {}
            }
        }
        if !inner[from..].trim().is_empty() {
            parts.push(inner[from..].trim());
        }
        parts
    }

    /// `code` with every `#[cfg(test)]` item blanked (newlines kept).
    fn without_tests(code: &str) -> String {
        let mut out = code.to_string();
        while let Some(at) = out.find("#[cfg(test)]") {
            let item = &out[at..];
            let end = match (item.find('{'), item.find(';')) {
                (Some(b), Some(s)) if s < b => at + s + 1,
                (Some(b), _) => matching(&out, at + b),
                _ => out.len(),
            };
            let blank: String = out[at..end].chars().filter(|&c| c == '\n').collect();
            out.replace_range(at..end, &blank);
        }
        out
    }

    /// A function or closure that takes an error code (`code: &str`) as argument `index`.
    #[derive(Debug)]
    struct Helper {
        file: String,
        name: String,
        public: bool,
        index: usize,
        span: (usize, usize),
    }

    fn code_param(params: &str) -> Option<usize> {
        split_top(params).iter().position(|p| {
            let p: String = p.chars().filter(|c| !c.is_whitespace()).collect();
            p == "code:&str" || p == "code:&'static str".replace(' ', "")
        })
    }

    fn ident_at(code: &str, at: usize) -> &str {
        let end = code[at..]
            .find(|c: char| !is_ident(c))
            .map_or(code.len(), |e| at + e);
        &code[at..end]
    }

    fn helpers(file: &str, code: &str) -> Vec<Helper> {
        let mut found = Vec::new();
        for (at, _) in code.match_indices("fn ") {
            if at > 0 && code[..at].ends_with(|c: char| is_ident(c)) {
                continue;
            }
            let name = ident_at(code, at + 3);
            let Some(open) = code[at..].find('(').map(|o| at + o) else {
                continue;
            };
            let close = matching(code, open);
            let Some(index) = code_param(&code[open + 1..close - 1]) else {
                continue;
            };
            let body = code[close..].find('{').map_or(code.len(), |b| close + b);
            let line_start = code[..at].rfind('\n').map_or(0, |n| n + 1);
            found.push(Helper {
                file: file.to_string(),
                name: name.to_string(),
                public: code[line_start..at].contains("pub"),
                index,
                span: (at, matching(code, body)),
            });
        }
        for (at, _) in code.match_indices("let ") {
            let name = ident_at(code, at + 4);
            let rest = code[at + 4 + name.len()..].trim_start();
            let Some(rest) = rest.strip_prefix('=').map(str::trim_start) else {
                continue;
            };
            let Some(params) = rest.strip_prefix('|') else {
                continue;
            };
            let Some(index) = params.find('|').and_then(|e| code_param(&params[..e])) else {
                continue;
            };
            let open = code.len() - params.len() - 1;
            let body = code[open..].find('{').map_or(code.len(), |b| open + b);
            found.push(Helper {
                file: file.to_string(),
                name: name.to_string(),
                public: false,
                index,
                span: (at, matching(code, body)),
            });
        }
        found
    }

    /// What the scan found: problems (each with its file and line) and the constants used.
    #[derive(Debug, Default)]
    struct Audit {
        problems: Vec<String>,
        helpers: BTreeSet<(String, String)>,
        sites: usize,
    }

    fn line(code: &str, at: usize) -> usize {
        code[..at].matches('\n').count() + 1
    }

    /// The expression, with string placeholders shown as the literals they stand for.
    fn shown(expr: &str, strings: &[String]) -> String {
        let mut out = expr.to_string();
        for (n, text) in strings.iter().enumerate().rev() {
            out = out.replace(&format!("\"{n}\""), &format!("\"{text}\""));
        }
        out
    }

    /// Checks one place a code is chosen: `expr` must be a `codes::NAME` path (or a `match`
    /// whose arms all are), or inside a helper its own `code` parameter.
    fn check(
        audit: &mut Audit,
        inside_helper: &dyn Fn(&str, usize) -> bool,
        (path, l, code): (&str, &Lexed, &str),
        at: usize,
        expr: &str,
    ) {
        audit.sites += 1;
        let mut e = expr.trim().trim_start_matches('&');
        if e.starts_with("match ") && e.ends_with('}') {
            // A `match` choosing the code: each arm must.
            let open = e.find('{').expect("match {");
            for arm in split_top(&e[open + 1..e.len() - 1]) {
                let value = arm.split_once("=>").map_or(arm, |(_, v)| v);
                check(audit, inside_helper, (path, l, code), at, value);
            }
            return;
        }
        for suffix in [".to_string()", ".to_owned()", ".into()"] {
            e = e.strip_suffix(suffix).unwrap_or(e);
        }
        let segments: Vec<&str> = e.split("::").collect();
        let is_constant = segments.len() >= 2
            && segments[segments.len() - 2] == "codes"
            && segments
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(is_ident));
        let pass_through = e == "code" && inside_helper(path, at);
        if !is_constant && !pass_through {
            audit.problems.push(format!(
                "{path}:{}: error code `{}` is not a codes:: constant",
                line(code, at),
                shown(expr.trim(), &l.strings)
            ));
        }
    }

    /// Files are (path from the crate root, source).
    fn audit(files: &[(String, String)]) -> Audit {
        let mut audit = Audit::default();
        let lexed: Vec<(&str, Lexed, String)> = files
            .iter()
            .map(|(path, src)| {
                let l = lex(src);
                let code = without_tests(&l.code);
                (path.as_str(), l, code)
            })
            .collect();

        // The registry.
        let mut registry: BTreeMap<String, String> = BTreeMap::new();
        for (path, l, code) in &lexed {
            for (at, _) in code.match_indices("mod codes") {
                if *path != "src/http/errors.rs" {
                    audit.problems.push(format!(
                        "{path}:{}: a second `mod codes`; error codes belong in errors::codes",
                        line(code, at)
                    ));
                    continue;
                }
                let open = at + code[at..].find('{').expect("mod codes {");
                for item in code[open + 1..matching(code, open) - 1].split(';') {
                    let item = item.trim();
                    let Some(decl) = item.strip_prefix("pub const ") else {
                        continue;
                    };
                    let name = ident_at(decl, 0).to_string();
                    let value = decl
                        .rsplit('"')
                        .nth(1)
                        .and_then(|n| n.parse::<usize>().ok())
                        .map(|n| l.strings[n].clone())
                        .unwrap_or_default();
                    registry.insert(name, value);
                }
            }
        }

        let all_helpers: Vec<Helper> = lexed
            .iter()
            .filter(|(path, _, _)| path.starts_with("src/http/"))
            .flat_map(|(path, _, code)| helpers(path, code))
            .collect();
        audit.helpers = all_helpers
            .iter()
            .map(|h| (h.file.clone(), h.name.clone()))
            .collect();
        let inside_helper = |path: &str, at: usize| {
            all_helpers
                .iter()
                .any(|h| h.file == path && h.span.0 < at && at < h.span.1)
        };
        for (path, l, code) in &lexed {
            // Calls of the helpers.
            for h in &all_helpers {
                if !h.public && h.file != *path {
                    continue;
                }
                for (at, _) in code.match_indices(&format!("{}(", h.name)) {
                    let before = &code[..at];
                    let called = if h.public {
                        before.ends_with("ApiError::")
                            || (before.ends_with("Self::") && h.file == *path)
                    } else {
                        !before.ends_with(|c: char| is_ident(c) || c == '.' || c == ':')
                            && !before.trim_end().ends_with("fn")
                    };
                    if !called {
                        continue;
                    }
                    let open = at + h.name.len();
                    let args = split_top(&code[open + 1..matching(code, open) - 1]);
                    let arg = args.get(h.index).copied().unwrap_or("<missing>");
                    check(&mut audit, &inside_helper, (path, l, code), at, arg);
                }
            }
            // ErrorBody literals.
            for (at, _) in code.match_indices("ErrorBody") {
                let rest = code[at + "ErrorBody".len()..].trim_start();
                let before = code[..at].trim_end();
                if !rest.starts_with('{')
                    || ["struct", "for", "impl", "->"]
                        .iter()
                        .any(|w| before.ends_with(w))
                {
                    continue;
                }
                let open = code.len() - rest.len();
                for field in split_top(&code[open + 1..matching(code, open) - 1]) {
                    if field == "code" {
                        check(&mut audit, &inside_helper, (path, l, code), at, "code");
                    } else if let Some(value) = field.strip_prefix("code:") {
                        check(&mut audit, &inside_helper, (path, l, code), at, value);
                    }
                }
            }
            if !path.starts_with("src/http/") {
                continue;
            }
            // `"code": value` in json! objects, and error bodies written as literals.
            for (n, text) in l.strings.iter().enumerate() {
                let placeholder = format!("\"{n}\"");
                let Some(at) = code.find(&placeholder) else {
                    continue; // test code
                };
                if text.contains("\"code\"") || text.contains("\\\"code\\\"") {
                    audit.problems.push(format!(
                        "{path}:{}: an error body written as a literal ({text}); use a codes:: constant",
                        line(code, at)
                    ));
                }
                if text != "code" {
                    continue;
                }
                let after = &code[at + placeholder.len()..];
                let Some(value) = after.trim_start().strip_prefix(':') else {
                    continue;
                };
                let end = value
                    .char_indices()
                    .scan(0i32, |depth, (k, c)| {
                        match c {
                            '(' | '[' | '{' => *depth += 1,
                            ')' | ']' | '}' => *depth -= 1,
                            _ => {}
                        }
                        Some((k, c, *depth))
                    })
                    .find(|&(_, c, depth)| (c == ',' && depth == 0) || depth < 0)
                    .map_or(value.len(), |(k, _, _)| k);
                check(
                    &mut audit,
                    &inside_helper,
                    (path, l, code),
                    at,
                    &value[..end],
                );
            }
        }

        // Dead constants: named nowhere outside the registry.
        let used: BTreeSet<&str> = lexed
            .iter()
            .flat_map(|(_, _, code)| {
                code.match_indices("codes::")
                    .map(|(at, _)| at + 7)
                    .map(|at| ident_at(code, at))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut by_value: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in &registry {
            if !used.contains(name.as_str()) {
                audit.problems.push(format!("codes::{name} is never used"));
            }
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                audit
                    .problems
                    .push(format!("codes::{name} = {value:?} is not snake_case"));
            }
            by_value.entry(value).or_default().push(name);
        }
        for (value, names) in by_value {
            if names.len() > 1 {
                audit.problems.push(format!(
                    "codes {} share the value {value:?}",
                    names.join(", ")
                ));
            }
        }
        audit
    }

    fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read src/")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                read_tree(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(root).expect("under the crate");
                let text = std::fs::read_to_string(&p).expect("read a source file");
                out.push((rel.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }

    #[test]
    fn every_error_code_is_a_constant_of_codes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        read_tree(&root.join("src"), root, &mut files);
        let audit = audit(&files);
        // The scan sees the helpers it must (a scan that found none would pass vacuously).
        for (file, name) in [
            ("src/http/errors.rs", "body"),
            ("src/http/errors.rs", "body_text"),
            ("src/http/errors.rs", "not_found"),
            ("src/http/errors.rs", "unauthorized"),
            ("src/http/errors.rs", "conflict"),
            ("src/http/errors.rs", "unprocessable"),
            ("src/http/errors.rs", "bad_request"),
            ("src/http/meta_api.rs", "error"),
            ("src/http/connect/callbacks.rs", "error"),
        ] {
            assert!(
                audit
                    .helpers
                    .contains(&(file.to_string(), name.to_string())),
                "the scan did not find {file}'s `{name}`: {:?}",
                audit.helpers
            );
        }
        assert!(audit.sites > 50, "only {} code sites found", audit.sites);
        assert!(
            audit.problems.is_empty(),
            "error codes outside errors::codes:\n{}",
            audit.problems.join("\n")
        );
    }

    /// The scan itself: it reports a literal code, a hand-written body, a dead or duplicate
    /// constant and a second registry, and accepts constants and pass-through parameters.
    #[test]
    fn the_scan_reports_what_it_must() {
        let errors = r##"
pub mod codes {
    pub const USED: &str = "used";
    pub const DEAD: &str = "dead";
    pub const TWIN: &str = "used";
}
fn body(code: &str, message: &str) -> Json<ErrorBody> {
    Json(ErrorBody { code: code.to_string(), message: message.into() })
}
impl ApiError {
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::Conflict(body(code, message))
    }
}
pub fn timeout() -> String {
    // body("commented_out", "x")
    r#"{"code":"raw_body","message":"m"}"#.to_string()
}
"##;
        let other = r#"
use super::errors::{codes, ApiError};
fn f(e: Error) -> ApiError {
    let error = |status: u16, code: &str| json!({"code": code, "status": status});
    let _ = error(400, "closure_literal");
    let _ = error(400, codes::TWIN);
    let _ = json!({"code": "json_literal"});
    let _ = ErrorBody { code: "struct_literal".into(), message: String::new() };
    let _ = ApiError::conflict(super::errors::codes::USED, "fine");
    let _ = ApiError::conflict(e.code(), format!("{}", "x, y"));
    ApiError::conflict(match e { E::A => codes::USED, E::B => "arm_literal" }, "m")
}
mod codes {}
#[cfg(test)]
mod tests {
    fn t() { let _ = ApiError::conflict("in_a_test", "ok"); }
}
"#;
        let audit = audit(&[
            ("src/http/errors.rs".to_string(), errors.to_string()),
            ("src/http/other.rs".to_string(), other.to_string()),
        ]);
        let mut problems = audit.problems.clone();
        problems.sort();
        let mut expected = [
                "codes TWIN, USED share the value \"used\"",
                "codes::DEAD is never used",
                "src/http/errors.rs:17: an error body written as a literal ({\"code\":\"raw_body\",\"message\":\"m\"}); use a codes:: constant",
                "src/http/other.rs:13: a second `mod codes`; error codes belong in errors::codes",
                "src/http/other.rs:5: error code `\"closure_literal\"` is not a codes:: constant",
                "src/http/other.rs:7: error code `\"json_literal\"` is not a codes:: constant",
                "src/http/other.rs:8: error code `\"struct_literal\".into()` is not a codes:: constant",
                "src/http/other.rs:10: error code `e.code()` is not a codes:: constant",
                "src/http/other.rs:11: error code `\"arm_literal\"` is not a codes:: constant",
            ]
            .map(String::from);
        expected.sort();
        assert_eq!(problems, expected);
    }
}
