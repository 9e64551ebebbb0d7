//! The endpoints Meta calls: the webhook handshake and deliveries (`/webhooks/meta`) and the
//! app-level deauthorize and data-deletion callbacks (`/meta/*`, P15). They are part of the
//! OpenAPI document so operators can see exactly what Meta must be configured with; the DSK
//! platform never calls them.

use std::sync::Arc;

use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::payload::{Form, Json, Payload, PlainText};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{
    ApiResponse, Object, OpenApi, param::Header, param::Query, payload::ParsePayload,
};
use serde_json::Value;

use super::AppState;
use super::api::Tag;
use super::errors::{ErrorBody, codes};
use super::webhooks::{self, Accepted};
use crate::connect;
use crate::crypto::signature::SignatureError;
use crate::meta::oauth::verify_signed_request;

/// A webhook body exactly as Meta sent it: the signature covers these bytes, so they are
/// verified before anything parses them (P07). Any content type is read.
pub struct RawWebhook(pub bytes::Bytes);

impl Payload for RawWebhook {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(_content_type: &str) -> bool {
        true
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "A Meta webhook: `{\"object\": \"whatsapp_business_account\" | \"instagram\" | \"page\", \"entry\": [...]}` \
                 (see Meta's webhook reference). Signed with `X-Hub-Signature-256`.",
            ),
            ..MetaSchema::new("object")
        }))
    }
}

impl<'a> poem_openapi::ApiExtractor<'a> for RawWebhook {
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // Whatever the content type: the signature decides, over the exact bytes.
        <Self as ParsePayload>::from_request(request, body).await
    }
}

impl ParsePayload for RawWebhook {
    const IS_REQUIRED: bool = true;

    /// Reads at most `METABRIDGE_MAX_BODY_BYTES` (413 beyond, counted as a rejection).
    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        use poem::http::StatusCode;
        let state = request
            .data::<Arc<AppState>>()
            .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
        let limit = state.config.max_body_bytes;
        let too_large = || {
            state.metrics.reject("too_large");
            poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        };
        let declared = request
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        match body.take()?.into_bytes_limit(limit).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
            Err(poem::error::ReadBodyError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                // The body deadline passed (`body_deadline` answers 408).
                state.metrics.reject("body_timeout");
                Err(poem::Error::from_status(StatusCode::REQUEST_TIMEOUT))
            }
            Err(_) => {
                state.metrics.reject("body_read_error");
                Err(poem::Error::from_status(StatusCode::BAD_REQUEST))
            }
        }
    }
}

fn error(code: &str, message: &str) -> Json<ErrorBody> {
    Json(ErrorBody {
        code: code.to_string(),
        message: message.to_string(),
        field: None,
        rule: None,
        owner_app_id: None,
    })
}

#[derive(Debug, ApiResponse)]
pub enum HandshakeResponse {
    /// The challenge, echoed verbatim.
    #[oai(status = 200)]
    Challenge(PlainText<String>),
    /// `verification_failed`: not `subscribe`, a wrong verify token, or no challenge.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
}

#[derive(Debug, ApiResponse)]
pub enum WebhookResponse {
    /// Stored durably (or, for a signed body that cannot be parsed, recorded): Meta stops
    /// retrying.
    #[oai(status = 200)]
    Ok,
    /// `signature_missing` / `signature_invalid` / `signature_malformed`: nothing was stored.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `store_unavailable`: the database could not commit; Meta retries, nothing is lost.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// Meta's form post.
#[derive(Debug, Object, serde::Deserialize)]
pub struct SignedRequestForm {
    /// `base64url(signature).base64url(payload)`, HMAC-SHA256 with the app secret.
    pub signed_request: String,
}

/// The deauthorize callback's answer.
#[derive(Debug, Object)]
pub struct DeauthorizeAck {
    pub ok: bool,
    /// Channels disconnected (their tokens deleted).
    pub channels_disconnected: i64,
}

/// The data-deletion callback's answer, as Meta requires.
#[derive(Debug, Object)]
pub struct DeletionAck {
    /// A public page showing the request's status.
    pub url: String,
    pub confirmation_code: String,
}

#[derive(Debug, ApiResponse)]
pub enum CallbackResponse<T: poem_openapi::types::ToJSON> {
    #[oai(status = 200)]
    Ok(Json<T>),
    /// `signed_request_invalid`: not signed by this app, or names no user; `signed_request_expired`:
    /// issued longer ago than `METABRIDGE_SIGNED_REQUEST_MAX_AGE_SECS`. Nothing changed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `service_unavailable`: retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// Verifies a `signed_request` with any configured app secret (or the Instagram app's), and that
/// it was issued within `METABRIDGE_SIGNED_REQUEST_MAX_AGE_SECS` (a request from 2010 is a replay
/// or a leak, issue 17); the app-scoped user id it names.
fn signed_user(state: &AppState, signed: &str) -> Result<String, Json<ErrorBody>> {
    let now = crate::now_ms() / 1000;
    let max_age = i64::try_from(state.config.signed_request_max_age.as_secs()).unwrap_or(86_400);
    let mut expired = false;
    let payload: Option<Value> = state
        .config
        .app_secrets
        .iter()
        .chain(state.config.connect.instagram_app_secret.iter())
        .find_map(|secret| {
            match verify_signed_request(signed, secret.expose(), Some(max_age), now) {
                Ok(p) => Some(p),
                Err(crate::meta::oauth::SignedRequestError::Expired) => {
                    expired = true;
                    None
                }
                Err(_) => None,
            }
        });
    let Some(payload) = payload else {
        if expired {
            tracing::warn!("a Meta app callback carried a signed_request issued too long ago");
            return Err(error(
                codes::SIGNED_REQUEST_EXPIRED,
                "The signed_request was issued too long ago; Meta sends a fresh one with each callback.",
            ));
        }
        tracing::warn!("a Meta app callback carried an invalid signed_request");
        return Err(error(
            codes::SIGNED_REQUEST_INVALID,
            "The signed_request is not signed by this app.",
        ));
    };
    payload
        .get("user_id")
        .and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
        .filter(|u| !u.is_empty() && u.len() <= 64)
        .ok_or_else(|| {
            error(
                codes::SIGNED_REQUEST_INVALID,
                "The signed_request names no user.",
            )
        })
}

fn unavailable() -> Json<ErrorBody> {
    error(codes::UNAVAILABLE, "Retry later.")
}

/// Disconnects every live channel the user connected (token deleted, subscription removed,
/// `channel.disconnected`); how many.
async fn remove_user_channels(state: &AppState, user_id: &str) -> Result<i64, Json<ErrorBody>> {
    let channels = state
        .store
        .channels_of_meta_user(user_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "listing a Meta user's channels failed");
            unavailable()
        })?;
    let mut n = 0;
    for (id, instance) in channels {
        let by = crate::instances::DisconnectBy::MetaCallback;
        match state.disconnect_channel(&id, Some(&instance), by).await {
            Ok(()) => n += 1,
            // Disconnected meanwhile (another replica, or the instance).
            Err(super::errors::ApiError::NotFound(_)) => {}
            Err(_) => {
                tracing::error!(channel = %id, "disconnecting a channel for a Meta callback failed");
                return Err(unavailable());
            }
        }
    }
    state.writer_wakeup();
    Ok(n)
}

/// Verifies the request, disconnects the user's channels and records the request: its
/// confirmation code and how many channels were disconnected.
async fn honour<T: poem_openapi::types::ToJSON>(
    state: &AppState,
    signed_request: &str,
    kind: &str,
) -> Result<(String, i64), CallbackResponse<T>> {
    let user = signed_user(state, signed_request).map_err(CallbackResponse::BadRequest)?;
    // The same request again (Meta's retry, or a replay) gets the first answer, and its effects
    // do not run twice: a channel connected again since is left alone (issue 17).
    let request_hash = connect::sha256_hex(&format!("{kind}:{}", signed_request.trim()));
    let seen = state
        .store
        .deletion_request_by_hash(&request_hash, kind)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, kind, "reading a Meta callback failed");
            CallbackResponse::Unavailable(unavailable())
        })?;
    if let Some(first) = seen {
        return Ok(first);
    }
    let n = remove_user_channels(state, &user)
        .await
        .map_err(CallbackResponse::Unavailable)?;
    let code = connect::random_secret(12).replace(['-', '_'], "x");
    match state
        .store
        .insert_deletion_request(&code, kind, &connect::sha256_hex(&user), n, &request_hash)
        .await
    {
        Ok(Some(first)) => Ok(first),
        Ok(None) => Ok((code, n)),
        Err(e) => {
            tracing::error!(error = %e, kind, "recording a Meta callback failed");
            Err(CallbackResponse::Unavailable(unavailable()))
        }
    }
}

pub struct MetaApi;

#[OpenApi(tag = "Tag::Meta")]
impl MetaApi {
    /// Meta's webhook verification handshake (App Dashboard → Webhooks → callback URL
    /// `{public url}/webhooks/meta` with `META_VERIFY_TOKEN`).
    #[oai(
        path = "/webhooks/meta",
        method = "get",
        operation_id = "meta.webhooks.verify"
    )]
    async fn verify(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(name = "hub.mode")] mode: Query<Option<String>>,
        #[oai(name = "hub.verify_token")] verify_token: Query<Option<String>>,
        #[oai(name = "hub.challenge")] challenge: Query<Option<String>>,
    ) -> HandshakeResponse {
        match webhooks::handshake(
            &state,
            mode.as_deref(),
            verify_token.as_deref(),
            challenge.0,
        ) {
            Some(c) => HandshakeResponse::Challenge(PlainText(c)),
            None => HandshakeResponse::Forbidden(error(
                codes::VERIFICATION_FAILED,
                "hub.mode must be subscribe and hub.verify_token must match.",
            )),
        }
    }

    /// Meta's signed webhook deliveries (WhatsApp, Instagram, Messenger, Lead Ads). The
    /// signature is checked over the exact bytes before anything is parsed; the answer comes
    /// after the durable commit. Bodies over `METABRIDGE_MAX_BODY_BYTES` get 413.
    #[oai(
        path = "/webhooks/meta",
        method = "post",
        operation_id = "meta.webhooks.receive"
    )]
    async fn receive(
        &self,
        state: Data<&Arc<AppState>>,
        request: &Request,
        // Declared for the spec; the value is read from the raw headers (`webhooks::signature_header`).
        #[oai(name = "X-Hub-Signature-256")] _signature: Header<Option<String>>,
        body: RawWebhook,
    ) -> WebhookResponse {
        let signature = webhooks::signature_header(request.headers());
        match webhooks::accept(&state, signature, &body.0).await {
            Accepted::Stored | Accepted::Malformed => WebhookResponse::Ok,
            Accepted::Unauthorized(e) => WebhookResponse::Unauthorized(error(
                match e {
                    SignatureError::Missing => codes::SIGNATURE_MISSING,
                    SignatureError::Malformed => codes::SIGNATURE_MALFORMED,
                    SignatureError::Mismatch => codes::SIGNATURE_INVALID,
                },
                "The X-Hub-Signature-256 header does not match the body.",
            )),
            Accepted::Unavailable => WebhookResponse::Unavailable(error(
                codes::STORE_UNAVAILABLE,
                "The webhook could not be stored; retry later.",
            )),
        }
    }

    /// Meta's deauthorize callback: a person removed the app. Every channel they connected is
    /// disconnected (token deleted, subscription removed where possible) and audited.
    #[oai(
        path = "/meta/deauthorize",
        method = "post",
        operation_id = "meta.deauthorize"
    )]
    async fn deauthorize(
        &self,
        state: Data<&Arc<AppState>>,
        form: Form<SignedRequestForm>,
    ) -> CallbackResponse<DeauthorizeAck> {
        match honour(&state, &form.signed_request, "deauthorize").await {
            Ok((_, n)) => {
                tracing::info!(channels = n, "Meta deauthorize callback honoured");
                CallbackResponse::Ok(Json(DeauthorizeAck {
                    ok: true,
                    channels_disconnected: n,
                }))
            }
            Err(e) => e,
        }
    }

    /// Meta's data-deletion request callback: the person's channels and tokens are removed;
    /// the answer names a public status page and a confirmation code (P15).
    #[oai(
        path = "/meta/data-deletion",
        method = "post",
        operation_id = "meta.data_deletion"
    )]
    async fn data_deletion(
        &self,
        state: Data<&Arc<AppState>>,
        form: Form<SignedRequestForm>,
    ) -> CallbackResponse<DeletionAck> {
        let (code, _) = match honour(&state, &form.signed_request, "data_deletion").await {
            Ok(v) => v,
            Err(e) => return e,
        };
        CallbackResponse::Ok(Json(DeletionAck {
            url: format!("{}/meta/deletion-status?id={code}", state.config.public_url),
            confirmation_code: code,
        }))
    }
}
