//! The poem application: Meta webhooks (`/webhooks/meta`), the admin API (`/admin/v1`), the
//! instance API (`/v1`), health, readiness and metrics, and the OpenAPI document.

pub mod admin;
pub mod api;
pub mod channels;
pub mod connect;
pub mod connect_api;
pub mod console;
pub mod contacts;
pub mod diagnosis;
pub mod errors;
pub mod export;
pub mod leads;
pub mod messages;
pub mod meta_api;
pub mod ndjson;
pub mod openapi;
pub mod ops;
pub mod ratelimit;
pub mod server;
pub mod templates;
pub mod threads;
pub mod v1;
pub mod webhooks;

use std::sync::Arc;

use moka::future::Cache;
use poem::{EndpointExt, IntoEndpoint, Route};

use crate::config::Config;
use crate::crypto::vault::Vault;
use crate::ids::{ChannelId, InstanceId};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::writer::Writer;

/// Shared state of every handler.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub writer: Writer,
    pub vault: Arc<Vault>,
    pub metrics: Arc<Metrics>,
    /// Every key that verifies an instance's `/v1` tokens, with the key version they were read
    /// at (checked on every request: [`api::CachedKeys`]).
    pub verification_keys: Cache<InstanceId, api::CachedKeys>,
    /// Well-formed instance ids the database did not know ([`api::UNKNOWN_INSTANCE_TTL`]): a
    /// token naming one is refused without a query. Ids are made by the bridge (random UUID
    /// v7), so an id refused here is never created later; a deleted instance's id stays
    /// deleted.
    pub unknown_instances: Cache<InstanceId, ()>,
    /// Wakes the delivery dispatcher (after a replay or a resume).
    pub delivery_wakeup: Arc<tokio::sync::Notify>,
    /// The per-channel senders (wake-ups).
    pub senders: crate::workers::sender::Senders,
    /// Channel rows and decrypted tokens, shared with the senders.
    pub channels: crate::store::cache::ChannelCache,
    /// graph.facebook.com, for the channel calls the API makes itself (profile, settings).
    pub graph: crate::meta::graph::GraphClient,
    /// The bridge's callback-signing key, when configured (served at /.well-known/jwks.json).
    pub bridge_key: Option<Arc<crate::crypto::jwt::BridgeKey>>,
    /// The connect pages' templates.
    pub pages: connect::Pages,
    /// The operator console's templates (`/console`).
    pub console: console::Console,
    /// Signs the connect flow's OAuth `state`.
    pub state_signer: crate::connect::StateSigner,
    /// Runs the connect flow against Meta.
    pub connector: crate::connect::flow::Connector,
    /// Request rate limits of `/v1` (per instance) and `/admin/v1`.
    pub limits: ratelimit::ApiLimits,
    /// Media uploads in flight (per instance and in all).
    pub uploads: ratelimit::UploadSlots,
    /// WhatsApp message templates: sync with Meta and the send check.
    pub templates: crate::templates::Templates,
    /// Lead Ads: a Page's forms and the backfill of missed leads.
    pub leads: crate::leads::Leads,
    /// Instagram / Messenger contact profiles (read in the background, cached).
    pub profiles: crate::contacts::Profiles,
    /// Instagram / Messenger thread control (Meta's handover protocol).
    pub handover: crate::handover::Handover,
    /// Channel diagnoses against Meta (`/admin/v1/channels/{id}/diagnosis`).
    pub doctor: crate::doctor::Doctor,
    /// The inbound media cache (files served by `GET /v1/channels/{id}/media/{media_id}`).
    pub media: crate::media::MediaCache,
}

impl AppState {
    /// A channel of `instance_id` (cached briefly), or `404 channel_not_found`.
    pub async fn channel_of(
        &self,
        channel_id: &ChannelId,
        instance_id: &InstanceId,
    ) -> Result<Arc<crate::store::ChannelRow>, errors::ApiError> {
        let not_found = || {
            errors::ApiError::not_found(
                errors::codes::CHANNEL_NOT_FOUND,
                "No channel with that id.",
            )
        };
        self.channels
            .channel_of(channel_id, instance_id)
            .await
            .map_err(|e| errors::ApiError::store("read channel", e))?
            .ok_or_else(not_found)
    }

    /// The delivery horizon in milliseconds (deadline of events appended now).
    pub fn horizon_ms(&self) -> i64 {
        i64::try_from(self.config.delivery_horizon.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Disconnects a channel (of `instance_id` when given; see
    /// [`crate::connect::flow::Connector::disconnect`]) and drops what this process cached
    /// about it; its `channel.disconnected` event is woken for delivery.
    pub async fn disconnect_channel(
        &self,
        id: &ChannelId,
        instance_id: Option<&InstanceId>,
        by: crate::instances::DisconnectBy<'_>,
    ) -> Result<(), errors::ApiError> {
        let done = self
            .connector
            .disconnect(id, instance_id, by)
            .await
            .map_err(api::op_error)?;
        if let Some(enc) = done.token_enc {
            self.channels.forget_token(&enc).await;
        }
        self.forget_channel(id).await;
        self.writer_wakeup();
        Ok(())
    }

    /// Reads the templates of these channels (those that are WhatsApp) from Meta in the
    /// background: after a connect, so that sends are checked from the start. A failure is
    /// recorded by the sync (and the schedule tries again); nothing waits for it.
    pub fn sync_templates_soon(&self, channel_ids: Vec<ChannelId>) {
        let store = self.store.clone();
        let templates = self.templates.clone();
        tokio::spawn(async move {
            for id in channel_ids {
                match store.get_channel(&id, None).await {
                    Ok(Some(row)) if row.kind == crate::channels::ChannelKind::Whatsapp => {
                        if let Err(e) = templates.sync_channel(&row).await {
                            tracing::warn!(channel = %id, error = %e, "recording a template read failed");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(channel = %id, error = %e, "template read: channel not readable")
                    }
                }
            }
        });
    }

    /// Reads the templates of every channel of these WhatsApp Business Accounts in the
    /// background (Meta reported a template change).
    pub fn sync_wabas_soon(&self, wabas: Vec<String>) {
        if wabas.is_empty() {
            return;
        }
        let templates = self.templates.clone();
        tokio::spawn(async move {
            for waba in wabas {
                if let Err(e) = templates.sync_waba_coalesced(&waba).await {
                    tracing::warn!(error = %e, "recording a template read failed");
                }
            }
        });
    }

    /// Forgets a cached channel row (after a change made through this process).
    pub async fn forget_channel(&self, channel_id: &ChannelId) {
        self.channels.forget_channel(channel_id).await;
        // A disconnect deletes the channel's stored profiles (P13): the in-memory ones go too.
        self.profiles.cache().forget_channel(channel_id);
    }

    /// Forgets cached secrets and keys of an instance (after a rotation or a key change).
    pub async fn forget_instance_keys(&self, instance_id: &InstanceId) {
        self.verification_keys.invalidate(instance_id).await;
        self.store
            .publish_invalidation(&crate::store::Invalidation::Instance(instance_id.clone()))
            .await;
    }

    /// Applies another replica's invalidation to this replica's caches.
    pub async fn apply_invalidation(&self, what: &crate::store::Invalidation) {
        match what {
            crate::store::Invalidation::Channel(id) => {
                self.channels.apply_channel_invalidation(id).await;
                self.profiles.cache().forget_channel(id);
            }
            crate::store::Invalidation::Instance(id) => {
                self.verification_keys.invalidate(id).await;
            }
        }
    }

    /// Drops everything cached (the invalidation feed was interrupted: changes may be missed).
    pub fn forget_all_cached(&self) {
        self.channels.forget_all();
        self.verification_keys.invalidate_all();
    }

    pub fn writer_wakeup(&self) {
        self.delivery_wakeup.notify_one();
    }
}

/// Builds the whole application.
pub fn app(state: Arc<AppState>) -> impl poem::Endpoint + 'static {
    let api = openapi::openapi_service(&state.config.public_url);
    let json_limit = state.config.max_body_bytes;
    let body_timeout = state.config.http_timeouts.body;
    let spec = openapi::openapi_3_0_json(&api.spec());
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(spec.clone())
    });
    let docs = api.swagger_ui();
    let route = connect::routes(Route::new());
    let route = if state.config.console.enabled {
        console::routes(route)
    } else {
        route
    };
    ops::routes(route)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest(
            "/",
            api.into_endpoint()
                .around(move |ep, req| limit_body(ep, req, json_limit))
                .catch_all_error(errors::shape_error),
        )
        .around(move |ep, req| body_deadline(ep, req, body_timeout))
        .around(refuse_nul)
        .data(state)
}

/// Refuses a path or query that carries a NUL character (`%00`), on every route, before any
/// handler runs: no identifier, filter or page of ours contains one, and PostgreSQL cannot
/// even compare against one (it would answer an error, not "no such row"), so both backends
/// give the same `400 invalid_request`.
async fn refuse_nul<E: poem::Endpoint>(
    ep: std::sync::Arc<E>,
    req: poem::Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    if req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().contains("%00"))
    {
        return Ok(errors::ApiError::bad_request(
            errors::codes::INVALID_REQUEST,
            "The path and query must not contain NUL characters (%00).",
        )
        .into_response());
    }
    Ok(ep.call(req).await?.into_response())
}

/// Media uploads get extra time to arrive: one second per this many bytes declared.
const UPLOAD_BYTES_PER_SEC: u64 = 64 * 1024;

/// Bounds the time a request body may take to arrive, for every route (a client that sends
/// its headers and then trickles the body would otherwise hold a connection and a handler for
/// as long as it likes). Past `METABRIDGE_BODY_TIMEOUT_MS` after the headers (plus one second
/// per 64 KiB declared for a media upload) the body read fails, the handler gives up (nothing
/// is stored: it never saw a whole body), and the answer is `408 request_timeout` with
/// `Connection: close`.
async fn body_deadline<E: poem::Endpoint>(
    ep: std::sync::Arc<E>,
    mut req: poem::Request,
    timeout: std::time::Duration,
) -> poem::Result<poem::Response> {
    use futures_util::StreamExt;
    use poem::IntoResponse;
    use std::sync::atomic::{AtomicBool, Ordering};
    let body = req.take_body();
    if body.is_empty() {
        req.set_body(body);
        return Ok(ep.call(req).await?.into_response());
    }
    let mut budget = timeout;
    if is_upload(&req) {
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            .min(MAX_UPLOAD_BYTES as u64);
        budget += std::time::Duration::from_secs(declared / UPLOAD_BYTES_PER_SEC);
    }
    let deadline = tokio::time::Instant::now() + budget;
    let expired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&expired);
    let chunks = Box::pin(body.into_bytes_stream());
    let timed = futures_util::stream::unfold(Some(chunks), move |state| {
        let flag = Arc::clone(&flag);
        async move {
            let mut chunks = state?;
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(chunks))),
                Ok(None) => None,
                Err(_) => {
                    flag.store(true, Ordering::Relaxed);
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "request body not received in time",
                        )),
                        None,
                    ))
                }
            }
        }
    });
    req.set_body(poem::Body::from_bytes_stream(timed));
    let result = ep.call(req).await.map(IntoResponse::into_response);
    if expired.load(Ordering::Relaxed) {
        return Ok(errors::request_timeout());
    }
    result
}

/// `POST /v1/channels/{id}/media`.
fn is_upload(req: &poem::Request) -> bool {
    let path = req.uri().path();
    req.method() == poem::http::Method::POST
        && path.starts_with("/v1/channels/")
        && path.ends_with("/media")
}

/// Largest media upload accepted (WhatsApp documents: 100 MB), in bytes.
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

/// Bounds every API request body at `METABRIDGE_MAX_BODY_BYTES`. A declared length over the
/// limit is a 413 before anything is read; a body that grows past it while streaming is cut
/// off (the parse fails, nothing is stored). Media uploads are bounded by their handler
/// instead (`channels::upload`: the media type's limit, checked after the channel, before
/// and while the body is read).
async fn limit_body<E: poem::Endpoint>(
    ep: std::sync::Arc<E>,
    mut req: poem::Request,
    json_limit: usize,
) -> poem::Result<poem::Response> {
    use futures_util::StreamExt;
    use poem::IntoResponse;
    let path = req.uri().path();
    if path == "/webhooks/meta" || is_upload(&req) {
        // Meta's deliveries enforce the limit themselves (and count what they refuse); an
        // upload's handler enforces its media type's limit.
        return Ok(ep.call(req).await?.into_response());
    }
    let limit = json_limit;
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(poem::Error::from_status(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        ));
    }
    let body = req.take_body();
    let mut seen = 0usize;
    let over = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&over);
    let limited = body.into_bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len();
        if seen > limit {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            Err(std::io::Error::other("request body over the limit"))
        } else {
            Ok(chunk)
        }
    });
    req.set_body(poem::Body::from_bytes_stream(limited));
    let result = ep.call(req).await.map(IntoResponse::into_response);
    if over.load(std::sync::atomic::Ordering::Relaxed) {
        // The handler saw a broken body (a parse error); the caller sees why.
        return Err(poem::Error::from_status(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        ));
    }
    result
}
