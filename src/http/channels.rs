//! The instance's channels (`/v1/channels`): list, read, settings, disconnect; a contact's
//! customer-service window; media download (streamed from Meta, the DSK has no token) and
//! upload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt, TryStreamExt};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::AppState;
use super::api::{ChannelView, InstanceAuth, Tag, op_error};
use super::errors::{ApiError, codes};
use super::ratelimit::UploadsBusy;
use crate::config::MAX_CHANNEL_RATE;
use crate::ids::{ChannelId, InstanceId};
use crate::messages::window::{HUMAN_AGENT_WINDOW_MS, WINDOW_MS};
use crate::meta::graph::GraphCallError;
use crate::store::{ChannelRow, ResumeOutcome};

/// Settings an instance may change.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ChannelPatch {
    /// A display name for the channel (1–200 characters).
    pub name: Option<String>,
    /// Send rate in messages/s (1–1000). Meta's default for a WhatsApp number is 80; raise it
    /// only when Meta upgraded the number. `0` returns to the default.
    pub rate_limit: Option<i64>,
}

impl poem_openapi::types::Example for ChannelPatch {
    fn example() -> Self {
        Self {
            name: Some("Loja Ana — support line".into()),
            rate_limit: Some(200),
        }
    }
}

/// A contact on a channel: the customer-service window and (Instagram, Messenger) the profile.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ContactWindow {
    pub channel_id: String,
    /// The contact id as given (phone number / WhatsApp id / BSUID / IGSID / PSID).
    pub contact: String,
    /// When the contact last wrote (as far as the bridge has seen); absent if never.
    pub last_inbound_at: Option<String>,
    /// Whether free-form messages may be sent now.
    pub window_open: bool,
    /// When the window closes (24 hours after the contact's last message).
    pub window_expires_at: Option<String>,
    /// Instagram/Messenger: until when a human agent may still answer with the
    /// `human_agent` tag (7 days).
    pub human_agent_expires_at: Option<String>,
    /// Instagram/Messenger: the profile Meta's User Profile API gives the business (read in the
    /// background after the contact's message); absent until a read succeeded, and for
    /// WhatsApp.
    pub profile: Option<super::contacts::ContactProfile>,
    /// When the profile was read from Meta.
    pub profile_fetched_at: Option<String>,
    /// Why the last read of the profile failed (`meta_<code>[_<subcode>]`, `no_token`,
    /// `unreachable`, …); the last good profile, if any, is still returned.
    pub profile_error: Option<String>,
    /// Instagram/Messenger: a read of the profile was queued now because it is missing or older
    /// than `METABRIDGE_CONTACT_PROFILE_TTL_SECS` (ask again shortly).
    pub profile_refreshing: Option<bool>,
}

impl poem_openapi::types::Example for ContactWindow {
    fn example() -> Self {
        ContactWindow {
            channel_id: "ch_01JD9Q4Z4W3Y8B2K7N5M6P0R1S".into(),
            contact: "6120000000000077".into(),
            last_inbound_at: Some("2026-12-03T14:05:02Z".into()),
            window_open: true,
            window_expires_at: Some("2026-12-04T14:05:02Z".into()),
            human_agent_expires_at: Some("2026-12-10T14:05:02Z".into()),
            profile: Some(super::contacts::ContactProfile {
                name: Some("Ana Souza".into()),
                username: Some("ana.souza".into()),
                profile_pic: Some("https://scontent.cdninstagram.com/v/t51/ana.jpg".into()),
                follower_count: Some(1234),
                is_user_follow_business: Some(true),
                is_business_follow_user: Some(false),
                ..Default::default()
            }),
            profile_fetched_at: Some("2026-12-03T14:05:09Z".into()),
            profile_error: None,
            profile_refreshing: Some(false),
        }
    }
}

/// An uploaded media file.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UploadedMedia {
    /// Meta's media id, usable as `media_id` in a send for 30 days.
    pub media_id: String,
    pub mime_type: String,
    pub size: u64,
}

#[derive(Debug, ApiResponse)]
pub enum Disconnected {
    /// Disconnected: the token is deleted, nothing more is relayed or sent.
    #[oai(status = 204)]
    NoContent,
}

/// Largest upload accepted per media kind (Meta's WhatsApp limits).
pub fn media_limit(mime: &str) -> Option<u64> {
    const MB: u64 = 1024 * 1024;
    let mime = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(match mime.as_str() {
        "image/webp" => 500 * 1024,
        "image/jpeg" | "image/png" => 5 * MB,
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => 16 * MB,
        "video/mp4" | "video/3gpp" => 16 * MB,
        "text/plain"
        | "application/pdf"
        | "application/vnd.ms-powerpoint"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => 100 * MB,
        _ => return None,
    })
}

fn not_found() -> ApiError {
    ApiError::not_found(codes::CHANNEL_NOT_FOUND, "No channel with that id.")
}

/// A channel of this instance (a disconnected one only when `include_disconnected`).
pub(super) async fn own_channel(
    state: &AppState,
    id: &str,
    instance_id: &InstanceId,
    include_disconnected: bool,
) -> Result<ChannelRow, ApiError> {
    let Ok(id) = ChannelId::parse(id) else {
        return Err(not_found());
    };
    let row = state
        .store
        .get_channel(&id, Some(instance_id))
        .await
        .map_err(|e| ApiError::store("read channel", e))?
        .ok_or_else(not_found)?;
    if row.status == crate::channels::Connection::Disconnected && !include_disconnected {
        return Err(not_found());
    }
    Ok(row)
}

/// A file streamed from Meta as it arrives (`X-Metabridge-Media-Source: meta`); `meta_info` is
/// WhatsApp's metadata (type and size), else the CDN's headers are used.
fn streamed(
    resp: reqwest::Response,
    meta_info: Option<(String, Option<u64>)>,
) -> Response<Binary<poem::Body>> {
    let (mime, declared) = match meta_info {
        Some((mime, size)) => (mime, size),
        None => (
            resp.headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned(),
            None,
        ),
    };
    let len = resp.content_length().or(declared);
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    let mut out = Response::new(Binary(poem::Body::from_bytes_stream(stream)))
        .header("Content-Type", mime.as_str())
        .header("X-Metabridge-Media-Source", "meta");
    if let Some(len) = len {
        out = out.header("Content-Length", len.to_string());
    }
    out
}

/// Meta no longer has the media (unknown id, expired URL).
fn is_gone(e: &GraphCallError) -> bool {
    matches!(e, GraphCallError::Graph { error, .. } if error.code == 100)
        || matches!(
            e,
            GraphCallError::Status {
                status: 403 | 404 | 410
            }
        )
}

fn media_error(e: GraphCallError) -> ApiError {
    match e {
        GraphCallError::Graph { error, .. } if error.code == 100 => ApiError::not_found(
            codes::MEDIA_NOT_FOUND,
            "Meta has no media with that id for this channel (unknown, expired or deleted).",
        ),
        GraphCallError::Graph { error, .. } => ApiError::bad_gateway(format!(
            "Meta refused the media call (code {}).",
            error.code
        )),
        GraphCallError::Status { status: 404 } => ApiError::not_found(
            codes::MEDIA_NOT_FOUND,
            "Meta has no media with that id for this channel (unknown, expired or deleted).",
        ),
        GraphCallError::Status { status } => {
            ApiError::bad_gateway(format!("Meta answered HTTP {status} to the media call."))
        }
        GraphCallError::Invalid(_) => {
            ApiError::not_found(codes::MEDIA_NOT_FOUND, "No media with that id.")
        }
        GraphCallError::Transport(_) | GraphCallError::Decode(_) => {
            ApiError::bad_gateway("The Graph API could not be reached or answered unreadably.")
        }
    }
}

pub struct ChannelsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Channels")]
impl ChannelsApi {
    /// This instance's channels (disconnected ones included, with their status).
    #[oai(path = "/channels", method = "get", operation_id = "channels.list")]
    async fn list(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
    ) -> Result<Json<Vec<ChannelView>>, ApiError> {
        let rows = state
            .store
            .list_channels(Some(&auth.0))
            .await
            .map_err(|e| ApiError::store("list channels", e))?;
        Ok(Json(rows.into_iter().map(ChannelView::from).collect()))
    }

    /// One of this instance's channels.
    #[oai(path = "/channels/:id", method = "get", operation_id = "channels.get")]
    async fn get(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<ChannelView>, ApiError> {
        Ok(Json(own_channel(&state, &id, &auth.0, true).await?.into()))
    }

    /// Change a channel's settings (display name, send rate).
    #[oai(
        path = "/channels/:id",
        method = "patch",
        operation_id = "channels.update"
    )]
    async fn update(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: Json<ChannelPatch>,
    ) -> Result<Json<ChannelView>, ApiError> {
        let id = own_channel(&state, &id, &auth.0, false).await?.id;
        let name = body
            .name
            .as_deref()
            .map(|n| crate::instances::validate_name("name", n))
            .transpose()
            .map_err(op_error)?;
        let rate = match body.rate_limit {
            None => None,
            Some(0) => Some(None),
            Some(r) if (1..=i64::from(MAX_CHANNEL_RATE)).contains(&r) => Some(Some(r)),
            Some(_) => {
                return Err(ApiError::rule(
                    "rate_limit",
                    "out_of_range",
                    "must be between 1 and 1000 messages/s (0 = the default)",
                ));
            }
        };
        state
            .store
            .update_channel_settings(&id, Some(&auth.0), name.as_deref(), rate)
            .await
            .map_err(|e| ApiError::store("update channel", e))?;
        state.forget_channel(&id).await;
        let _ = state
            .store
            .audit(auth.0.as_str(), "channel.updated", id.as_str(), None)
            .await;
        Ok(Json(
            own_channel(&state, id.as_str(), &auth.0, true)
                .await?
                .into(),
        ))
    }

    /// Disconnect a channel: its token is deleted (P03, P13), events stop being relayed,
    /// messages still waiting fail with `channel_disconnected`, and a `channel.disconnected`
    /// event follows.
    #[oai(
        path = "/channels/:id",
        method = "delete",
        operation_id = "channels.disconnect"
    )]
    async fn disconnect(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Disconnected, ApiError> {
        let id = own_channel(&state, &id, &auth.0, false).await?.id;
        state
            .disconnect_channel(&id, Some(&auth.0), crate::instances::DisconnectBy::Instance)
            .await?;
        Ok(Disconnected::NoContent)
    }

    /// Resume a channel's paused sends now, before their pause ends (Meta paused them after a
    /// restriction such as 131048; if Meta still restricts the account, the next send pauses
    /// them again for twice as long). A `channel.updated` event follows. `409
    /// channel_unavailable` when sends are not paused but the token is invalid (connect the
    /// channel again); resuming a channel that is sending changes nothing.
    #[oai(
        path = "/channels/:id/sends/resume",
        method = "post",
        operation_id = "channels.resume_sends"
    )]
    async fn resume_sends(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<ChannelView>, ApiError> {
        let id = own_channel(&state, &id, &auth.0, false).await?.id;
        let outcome = state
            .store
            .resume_sends(
                &id,
                Some(&auth.0),
                "sends resumed by the instance",
                Some(auth.0.as_str()),
                state.horizon_ms(),
            )
            .await
            .map_err(|e| ApiError::store("resume sends", e))?;
        match outcome {
            ResumeOutcome::NotFound => return Err(not_found()),
            ResumeOutcome::TokenInvalid => {
                return Err(ApiError::conflict(
                    codes::CHANNEL_UNAVAILABLE,
                    "The channel's access token is invalid: connect the channel again; its sends resume then.",
                ));
            }
            ResumeOutcome::Resumed => {
                state.forget_channel(&id).await;
                state.senders.wake(&id);
                state.delivery_wakeup.notify_one();
            }
            ResumeOutcome::AlreadySending => {}
        }
        Ok(Json(
            own_channel(&state, id.as_str(), &auth.0, true)
                .await?
                .into(),
        ))
    }

    /// A contact's customer-service window: whether free-form messages may be sent now and
    /// until when (WhatsApp, Instagram, Messenger: 24 hours after the contact's last message;
    /// Instagram/Messenger human agents: 7 days with the `human_agent` tag). Instagram and
    /// Messenger contacts also carry the profile Meta's User Profile API gives the business
    /// (Instagram: name, username, picture, follower count, whether each follows the other;
    /// Messenger: first and last name, picture), read in the background after the contact's
    /// message and again after `METABRIDGE_CONTACT_PROFILE_TTL_SECS`; this call never waits for
    /// Meta.
    #[oai(
        path = "/channels/:id/contacts/:contact",
        method = "get",
        operation_id = "channels.contact_window"
    )]
    async fn contact_window(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        contact: Path<String>,
    ) -> Result<Json<ContactWindow>, ApiError> {
        let channel = own_channel(&state, &id, &auth.0, false).await?;
        let key = if channel.kind == crate::channels::ChannelKind::Whatsapp {
            let digits: String = contact.trim_start_matches('+').to_string();
            if digits.bytes().all(|b| b.is_ascii_digit()) {
                digits
            } else {
                contact.0.clone()
            }
        } else {
            contact.0.clone()
        };
        let last = state
            .store
            .last_inbound(&channel.id, &key)
            .await
            .map_err(|e| ApiError::store("read window", e))?;
        let profile = super::contacts::profile_parts(&state, &channel, &key, last).await?;
        let social = channel.kind != crate::channels::ChannelKind::Whatsapp;
        let now = crate::now_ms();
        Ok(Json(ContactWindow {
            profile: profile.profile,
            profile_fetched_at: profile.fetched_at,
            profile_error: profile.error,
            profile_refreshing: social.then_some(profile.refreshing),
            channel_id: channel.id.to_string(),
            contact: contact.0,
            last_inbound_at: last.map(crate::ms_to_rfc3339),
            window_open: last.is_some_and(|at| now - at < WINDOW_MS),
            window_expires_at: last.map(|at| crate::ms_to_rfc3339(at + WINDOW_MS)),
            human_agent_expires_at: (channel.kind != crate::channels::ChannelKind::Whatsapp)
                .then(|| last.map(|at| crate::ms_to_rfc3339(at + HUMAN_AGENT_WINDOW_MS)))
                .flatten(),
        }))
    }

    /// Download an inbound media file: a WhatsApp media id from a `message.received` event, or
    /// the `cache.media_id` of a file the bridge keeps (`med_…` for an Instagram / Messenger
    /// attachment). A kept file is served from the bridge's copy until its `cache.expires_at`,
    /// whether or not Meta still has it (`X-Metabridge-Media-Source: cache`); otherwise the
    /// file is streamed from Meta (`meta`) while Meta has it — also while the copy is still
    /// being made. Content type and length as stored or as Meta answers. An unknown or expired
    /// id is a `404 media_not_found` (its message says why a file was not kept); an id of
    /// neither form is a `422 validation_failed`.
    #[oai(
        path = "/channels/:id/media/:media_id",
        method = "get",
        operation_id = "media.download"
    )]
    async fn download(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        media_id: Path<String>,
    ) -> Result<Response<Binary<poem::Body>>, ApiError> {
        let channel = own_channel(&state, &id, &auth.0, false).await?;
        let bridge_id = crate::events::media::is_cache_id(&media_id);
        if !crate::events::media::is_kept_id(&media_id) {
            return Err(ApiError::rule(
                "media_id",
                crate::messages::model::rule::INVALID_FORMAT,
                "must be a Meta media id (digits only) or a media id of the bridge (med_…)",
            ));
        }
        let whatsapp = channel.kind == crate::channels::ChannelKind::Whatsapp;
        if !whatsapp && !bridge_id {
            return Err(ApiError::unprocessable(
                codes::VALIDATION_FAILED,
                Some("media_id"),
                "Instagram and Messenger media are downloaded by the media id of the bridge (`cache.media_id` in the event, med_…); without one, use the attachment's URL.",
            ));
        }
        let kept = state
            .store
            .media_file(&channel.id, &auth.0, &media_id)
            .await
            .map_err(|e| ApiError::store("read media file", e))?;
        if let Some(row) = &kept
            && let Some((file, len)) = state.media.open(row).await
        {
            let mime = row
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            return Ok(Response::new(Binary(poem::Body::from_async_read(file)))
                .header("Content-Type", mime)
                .header("Content-Length", len.to_string())
                .header("X-Metabridge-Media-Source", "cache"));
        }
        let not_kept = |why: Option<&str>| {
            let message = match why {
                Some(reason) => format!(
                    "The bridge could not keep a copy of this media ({reason}) and Meta no longer serves it."
                ),
                None => {
                    "No media with that id for this channel (unknown, expired or deleted).".into()
                }
            };
            ApiError::not_found(codes::MEDIA_NOT_FOUND, &message)
        };
        let reason = kept.as_ref().and_then(|r| r.error.as_deref());
        if !whatsapp || bridge_id {
            // An attachment not on disk yet: straight from Meta's CDN while its address lasts
            // (a bridge id is never Meta's: nothing else can serve it).
            let Some(url) = kept.as_ref().and_then(|r| r.source_url.as_deref()) else {
                return Err(not_kept(reason));
            };
            let resp = state
                .graph
                .download_attachment(url)
                .await
                .map_err(|_| not_kept(reason))?;
            return Ok(streamed(resp, None));
        }
        let token = state.channels.token_for(&channel).await.map_err(|_| {
            ApiError::conflict(
                codes::CHANNEL_UNAVAILABLE,
                "The channel has no usable token.",
            )
        })?;
        let graph = &state.graph;
        let live = async {
            let info = graph
                .media_info(&token, &media_id, Some(&channel.external_id))
                .await?;
            let resp = graph.download(&token, &info.url).await?;
            Ok::<_, GraphCallError>((resp, info))
        };
        match live.await {
            Ok((resp, info)) => {
                let declared = info.file_size;
                Ok(streamed(resp, Some((info.mime_type, declared))))
            }
            Err(e) if reason.is_some() && is_gone(&e) => Err(not_kept(reason)),
            Err(e) => Err(media_error(e)),
        }
    }

    /// Upload a media file to Meta for a WhatsApp channel; answers Meta's media id. Send the
    /// file as the raw body with its `Content-Type` (image/jpeg, image/png, image/webp,
    /// audio/*, video/mp4, application/pdf, …). Limits: image 5 MB, sticker (webp) 500 KB,
    /// audio and video 16 MB, documents 100 MB.
    ///
    /// Everything that can refuse an upload is decided from the headers, before any byte of
    /// the body is read: the channel (`404`), its kind and the media type (`422`), a declared
    /// `Content-Length` over the type's limit (`413 media_too_large`), and the uploads in
    /// flight (`429 too_many_uploads` with `Retry-After` when this instance, or the bridge,
    /// already has as many as it allows). The body is then streamed to Meta, never held in
    /// memory: with a `Content-Length` straight through; without one (chunked) through a
    /// temporary file first, so that a body growing past the limit is refused (`413`) before
    /// anything is sent to Meta. A refusal closes the connection without reading the body: a
    /// client still sending may see the connection closed before it reads the answer. Send
    /// `Expect: 100-continue` with large files to get a refusal before sending the body.
    #[oai(
        path = "/channels/:id/media",
        method = "post",
        operation_id = "media.upload"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn upload(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// The file's media type.
        #[oai(name = "Content-Type")]
        content_type: Header<String>,
        /// The file name Meta shows for documents.
        filename: Query<Option<String>>,
        req: &poem::Request,
        body: Binary<poem::Body>,
    ) -> Result<Json<UploadedMedia>, ApiError> {
        let channel = own_channel(&state, &id, &auth.0, false).await?;
        if channel.kind != crate::channels::ChannelKind::Whatsapp {
            return Err(ApiError::unprocessable(
                codes::VALIDATION_FAILED,
                None,
                "Uploads go to WhatsApp channels; Instagram and Messenger send media by URL.",
            ));
        }
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let Some(limit) = media_limit(&mime) else {
            return Err(ApiError::unprocessable(
                codes::UNSUPPORTED_MEDIA_TYPE,
                Some("Content-Type"),
                "WhatsApp does not accept this media type.",
            ));
        };
        // hyper refuses a malformed Content-Length itself; an absent one means chunked.
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match declared {
            Some(0) => return Err(empty_file()),
            Some(n) if n > limit => return Err(too_large(&mime, limit)),
            _ => {}
        }
        let filename = filename
            .0
            .filter(|f| !f.is_empty() && f.len() <= 240 && !f.contains(['/', '\\', '\0']))
            .unwrap_or_else(|| "file".to_string());
        // Held until the upload ends, however it ends.
        let _slot = state.uploads.try_acquire(&auth.0).map_err(|busy| {
            let whose = match busy {
                UploadsBusy::Instance => "this instance has",
                UploadsBusy::All => "the bridge has",
            };
            ApiError::too_many(
                codes::TOO_MANY_UPLOADS,
                format!(
                    "Too many media uploads in flight ({whose} as many as it allows); retry after the number of seconds in Retry-After."
                ),
                UPLOAD_RETRY_AFTER_SECS,
            )
        })?;
        let token = state.channels.token_for(&channel).await.map_err(|_| {
            ApiError::conflict(
                codes::CHANNEL_UNAVAILABLE,
                "The channel has no usable token.",
            )
        })?;
        let graph = &state.graph;
        let phone = &channel.external_id;
        let (media_id, size) = match declared {
            Some(size) => {
                // hyper ends the body at its Content-Length (≤ the limit, checked above);
                // `exact_length` also fails a body that ends early, so Meta never gets a
                // truncated file as a whole one.
                let failed = Arc::new(AtomicBool::new(false));
                let chunks = exact_length(body.0, size, Arc::clone(&failed));
                // The request to Meta lasts as long as the client sends: its budget covers the
                // client's (the body timeout plus a second per 64 KiB, see `body_deadline`).
                let sent = graph
                    .upload_media(
                        &token,
                        phone,
                        &mime,
                        &filename,
                        reqwest::Body::wrap_stream(chunks),
                        size,
                        state.config.http_timeouts.body,
                    )
                    .await;
                match sent {
                    Ok(id) => (id, size),
                    Err(_) if failed.load(Ordering::Relaxed) => return Err(unreadable()),
                    Err(e) => return Err(media_error(e)),
                }
            }
            None => {
                let (file, size) = spool(body.0, limit, &mime).await?;
                let chunks = file_chunks(file);
                let id = graph
                    .upload_media(
                        &token,
                        phone,
                        &mime,
                        &filename,
                        reqwest::Body::wrap_stream(chunks),
                        size,
                        std::time::Duration::ZERO,
                    )
                    .await
                    .map_err(media_error)?;
                (id, size)
            }
        };
        Ok(Json(UploadedMedia {
            media_id,
            mime_type: mime,
            size,
        }))
    }
}

/// `Retry-After` of a `429 too_many_uploads`: uploads take seconds, not milliseconds.
const UPLOAD_RETRY_AFTER_SECS: u64 = 5;

/// Size of the chunks a spooled upload is read back in.
const SPOOL_CHUNK: usize = 64 * 1024;

fn empty_file() -> ApiError {
    ApiError::rule("body", "required", "the file is empty")
}

fn too_large(mime: &str, limit: u64) -> ApiError {
    ApiError::too_large(format!("{mime} files may be at most {limit} bytes."))
}

/// The client's body failed before its end (disconnected, or too slow: the body timeout
/// then answers 408 instead).
fn unreadable() -> ApiError {
    ApiError::bad_request(
        codes::INVALID_REQUEST,
        "The body could not be read to its end; nothing was uploaded.",
    )
}

/// The body's chunks as they arrive, failing (and setting `failed`) when the body fails or
/// its length is not `len`: a failed chunk aborts the request to Meta mid-body, so Meta never
/// completes an upload of a partial file.
fn exact_length(
    body: poem::Body,
    len: u64,
    failed: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    let chunks = Box::pin(body.into_bytes_stream());
    futures_util::stream::unfold((chunks, 0u64, false), move |(mut chunks, seen, done)| {
        let failed = Arc::clone(&failed);
        async move {
            if done {
                return None;
            }
            let error = match chunks.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen <= len {
                        return Some((Ok(chunk), (chunks, seen, false)));
                    }
                    std::io::Error::other("body longer than its Content-Length")
                }
                Some(Err(e)) => e,
                None if seen == len => return None,
                None => std::io::Error::other("body shorter than its Content-Length"),
            };
            failed.store(true, Ordering::Relaxed);
            Some((Err(error), (chunks, seen, true)))
        }
    })
}

/// Writes a body sent without `Content-Length` to an unnamed temporary file (in `TMPDIR`;
/// the system deletes it when it is closed, also if the process dies), refusing it with 413
/// as soon as it grows past `limit`. Returns the file, rewound, and its size.
async fn spool(
    body: poem::Body,
    limit: u64,
    mime: &str,
) -> Result<(tokio::fs::File, u64), ApiError> {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let disk = |e: std::io::Error| ApiError::internal("spool a media upload", e);
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| ApiError::internal("spool a media upload", e))?
        .map_err(disk)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut chunks = Box::pin(body.into_bytes_stream());
    let mut size = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(mime, limit));
        }
        file.write_all(&chunk).await.map_err(disk)?;
    }
    if size == 0 {
        return Err(empty_file());
    }
    file.flush().await.map_err(disk)?;
    file.seek(std::io::SeekFrom::Start(0)).await.map_err(disk)?;
    Ok((file, size))
}

/// A spooled upload, read back in [`SPOOL_CHUNK`]s.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; SPOOL_CHUNK];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), file)))
    })
}
