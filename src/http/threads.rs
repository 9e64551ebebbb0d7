//! Thread control on Instagram and Messenger (`/v1/channels/{id}/threads/{contact}`, Meta's
//! handover protocol; see [`crate::handover`]): who controls a conversation as far as the bridge
//! knows, and the calls that pass, take or request control. Pass / take / request are calls to
//! Meta made for the instance: what Meta refuses comes back as `422 meta_rejected` with Meta's
//! code in `rule` (never a token); Meta unreachable or throttling is `502 meta_error`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::AppState;
use super::api::{InstanceAuth, Tag};
use super::channels::own_channel;
use super::errors::{ApiError, codes};
use crate::events::threads::ThreadOwner;
use crate::handover::{Handover, HandoverError, MAX_METADATA, is_scoped_id};
use crate::store::{ChannelRow, ThreadOwnerRow};

/// Who controls one conversation, as far as the bridge knows.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ThreadView {
    pub channel_id: String,
    /// The contact's IGSID / PSID.
    pub contact: String,
    /// `bridge` (this bridge's Meta app controls the conversation), `other` (another app
    /// does: a send needs `take_thread_control`), or `unknown` (no handover was seen: the
    /// conversation is idle or the bridge's, and sends go ahead).
    pub owner: String,
    /// The Meta app in control, when known (`263902037430900` is the Page inbox,
    /// `1217981644879628` the Instagram inbox).
    pub owner_app_id: Option<String>,
    /// Whether `POST /v1/messages` to the contact goes ahead without `take_thread_control`.
    pub can_send: bool,
    /// When control last changed (RFC 3339).
    pub since: Option<String>,
    /// What told the bridge: `webhook` (Meta's handover webhook) or `api` (the bridge's own
    /// pass / take call).
    pub source: Option<String>,
}

impl Example for ThreadView {
    fn example() -> Self {
        Self {
            channel_id: "ch_0197a0c5d1e27a6b8c9d0e1f2a3b4c6f".into(),
            contact: "7010000000000001".into(),
            owner: "other".into(),
            owner_app_id: Some("263902037430900".into()),
            can_send: false,
            since: Some("2026-12-04T14:05:00Z".into()),
            source: Some("webhook".into()),
        }
    }
}

impl ThreadView {
    fn of(ch: &ChannelRow, contact: &str, row: Option<&ThreadOwnerRow>) -> Self {
        let owner = row.and_then(ThreadOwnerRow::thread_owner);
        Self {
            channel_id: ch.id.to_string(),
            contact: contact.to_owned(),
            owner: owner
                .as_ref()
                .map_or("unknown", ThreadOwner::as_str)
                .to_owned(),
            owner_app_id: owner.as_ref().and_then(|o| o.app_id().map(str::to_owned)),
            can_send: !matches!(owner, Some(ThreadOwner::Other { .. })),
            since: row.map(|r| crate::ms_to_rfc3339(r.since)),
            source: row.map(|r| r.source.clone()),
        }
    }
}

/// Pass control of the conversation to another Meta app.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PassThreadRequest {
    /// The app to pass control to (digits): another app of the Page, `263902037430900` for
    /// the Page inbox, `1217981644879628` for the Instagram inbox.
    pub target_app_id: String,
    /// Passed to the receiving app in its `pass_thread_control` webhook (at most 1000
    /// characters).
    pub metadata: Option<String>,
}

impl Example for PassThreadRequest {
    fn example() -> Self {
        Self {
            target_app_id: "263902037430900".into(),
            metadata: Some("customer asked for a person".into()),
        }
    }
}

/// Take or request control of the conversation; the body may be `{}`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ThreadControlRequest {
    /// Passed to the other app in its handover webhook (at most 1000 characters).
    pub metadata: Option<String>,
}

impl Example for ThreadControlRequest {
    fn example() -> Self {
        Self {
            metadata: Some("bot resumes after hours".into()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum RequestResponse {
    /// Meta delivered the request to the app in control; control changes only if it passes
    /// it (a `thread.control` event with `action` `pass` follows).
    #[oai(status = 202)]
    Accepted(Json<ThreadView>),
}

/// An Instagram / Messenger channel of the instance that can use the handover protocol, and
/// the contact checked.
async fn thread_channel(
    state: &AppState,
    id: &str,
    contact: &str,
    auth: &InstanceAuth,
) -> Result<ChannelRow, ApiError> {
    let ch = own_channel(state, id, &auth.0, false).await?;
    if let Some(why) = Handover::unavailable(&ch) {
        return Err(ApiError::unprocessable(
            codes::HANDOVER_UNAVAILABLE,
            None,
            why,
        ));
    }
    if !is_scoped_id(contact) {
        return Err(invalid_contact());
    }
    Ok(ch)
}

fn invalid_contact() -> ApiError {
    ApiError::rule(
        "contact",
        "invalid_format",
        "must be the contact's IGSID / PSID (digits) as received in events",
    )
}

fn check_metadata(metadata: Option<&str>) -> Result<(), ApiError> {
    if metadata.is_some_and(|m| m.chars().count() > MAX_METADATA) {
        return Err(ApiError::rule(
            "metadata",
            "max_length",
            format!("must be at most {MAX_METADATA} characters"),
        ));
    }
    Ok(())
}

/// The answer to a handover call that did not succeed; `what` names the call for Meta's
/// refusal ("the pass").
pub(super) fn handover_error(e: HandoverError, what: &str) -> ApiError {
    match e {
        HandoverError::Unavailable(why) => {
            ApiError::unprocessable(codes::HANDOVER_UNAVAILABLE, None, why)
        }
        HandoverError::InvalidContact => invalid_contact(),
        HandoverError::NoToken => ApiError::unprocessable(
            codes::HANDOVER_UNAVAILABLE,
            None,
            "The channel has no usable token; connect it again.",
        ),
        HandoverError::Graph(e) => ApiError::meta_call(e, what),
        HandoverError::Store(e) => ApiError::store("record thread owner", e),
    }
}

async fn view(state: &AppState, ch: &ChannelRow, contact: &str) -> Result<ThreadView, ApiError> {
    let row = state
        .handover
        .owner(ch, contact)
        .await
        .map_err(|e| ApiError::store("read thread owner", e))?;
    Ok(ThreadView::of(ch, contact, row.as_ref()))
}

pub struct ThreadsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Channels")]
impl ThreadsApi {
    /// Who controls the conversation with a contact (Instagram / Messenger, Meta's handover
    /// protocol), as the bridge last heard from Meta's handover webhooks and its own calls.
    /// Read from the bridge's table; Meta is not asked.
    #[oai(
        path = "/channels/:id/threads/:contact",
        method = "get",
        operation_id = "threads.get"
    )]
    async fn get(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        contact: Path<String>,
    ) -> Result<Json<ThreadView>, ApiError> {
        let ch = thread_channel(&state, &id, &contact, &auth).await?;
        Ok(Json(view(&state, &ch, &contact).await?))
    }

    /// Pass control of the conversation to another Meta app (`POST /{page-id}/pass_thread_control`):
    /// e.g. to the Page inbox for a person to answer. Afterwards sends to the contact answer
    /// `409 thread_not_owned` until control comes back (a `thread.control` event) or is taken.
    #[oai(
        path = "/channels/:id/threads/:contact/pass",
        method = "post",
        operation_id = "threads.pass"
    )]
    async fn pass(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        contact: Path<String>,
        body: Json<PassThreadRequest>,
    ) -> Result<Json<ThreadView>, ApiError> {
        let ch = thread_channel(&state, &id, &contact, &auth).await?;
        let b = body.0;
        let target = b.target_app_id.trim();
        if !is_scoped_id(target) {
            return Err(ApiError::rule(
                "target_app_id",
                "invalid_format",
                "must be a Meta app id (digits)",
            ));
        }
        check_metadata(b.metadata.as_deref())?;
        state
            .handover
            .pass(&ch, &contact, target, b.metadata.as_deref())
            .await
            .map_err(|e| handover_error(e, "the pass"))?;
        Ok(Json(view(&state, &ch, &contact).await?))
    }

    /// Take control of the conversation for this bridge's app (`POST /{page-id}/take_thread_control`):
    /// from an idle conversation, or (when the bridge's app is the Page's Primary Receiver)
    /// from another app. Sends to the contact go ahead afterwards.
    #[oai(
        path = "/channels/:id/threads/:contact/take",
        method = "post",
        operation_id = "threads.take"
    )]
    async fn take(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        contact: Path<String>,
        body: Json<ThreadControlRequest>,
    ) -> Result<Json<ThreadView>, ApiError> {
        let ch = thread_channel(&state, &id, &contact, &auth).await?;
        check_metadata(body.metadata.as_deref())?;
        state
            .handover
            .take(&ch, &contact, body.metadata.as_deref())
            .await
            .map_err(|e| handover_error(e, "the take"))?;
        Ok(Json(view(&state, &ch, &contact).await?))
    }

    /// Ask the app in control of the conversation to pass it to this bridge's app
    /// (`POST /{page-id}/request_thread_control`). Nothing changes until that app passes
    /// control; then a `thread.control` event with `action` `pass` arrives.
    #[oai(
        path = "/channels/:id/threads/:contact/request",
        method = "post",
        operation_id = "threads.request"
    )]
    async fn request(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        contact: Path<String>,
        body: Json<ThreadControlRequest>,
    ) -> Result<RequestResponse, ApiError> {
        let ch = thread_channel(&state, &id, &contact, &auth).await?;
        check_metadata(body.metadata.as_deref())?;
        state
            .handover
            .request(&ch, &contact, body.metadata.as_deref())
            .await
            .map_err(|e| handover_error(e, "the request"))?;
        Ok(RequestResponse::Accepted(Json(
            view(&state, &ch, &contact).await?,
        )))
    }
}
