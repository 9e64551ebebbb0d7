//! What the admin and instance APIs share: tags, authentication, views of stored rows and the
//! mapping of operation errors to API errors.

use std::sync::Arc;

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::{Enum, Object, SecurityScheme, Tags};

use super::AppState;
use super::errors::{ApiError, codes};
use crate::crypto::jwt::{self, AuthError};
use crate::ids::{EventId, InstanceId};
use crate::instances::OpError;
use crate::store::{AttemptRow, ChannelRow, EventMeta, InstanceRow};

#[derive(Tags)]
pub enum Tag {
    /// Operators: instances, channels, all events.
    Admin,
    /// Instances: their own events, attempts and dead letters.
    Events,
    /// Instances: send messages and follow their status.
    Messages,
    /// Instances: their channels, contacts' service windows and media.
    Channels,
    /// Instances: connect sessions (one-time links through Meta's flows) and the data export.
    Connect,
    /// Health and readiness.
    Operations,
    /// Called by Meta, not by the platform: webhook handshake and deliveries, app callbacks.
    Meta,
}

/// A 401 raised by an authentication checker, carried to `bad_request_handler` intact.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthRejection(pub AuthError);

impl poem::error::ResponseError for AuthRejection {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::UNAUTHORIZED
    }
}

/// Operator authentication: `Authorization: Bearer <METABRIDGE_ADMIN_TOKEN>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "AdminToken", checker = "check_admin")]
pub struct AdminAuth(pub ());

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    // Guessing is limited per client address: past its failed attempts, 429 before the token
    // is compared (behind a proxy, the proxy's address: limit there too).
    let addr = req.remote_addr().as_socket_addr().map(|a| a.ip());
    state
        .limits
        .check_admin_address(addr)
        .map_err(super::ratelimit::RateLimited)?;
    if !crate::crypto::signature::constant_time_eq(
        bearer.token.as_bytes(),
        state.config.admin_token.expose().as_bytes(),
    ) {
        state.limits.admin_failed(addr);
        return Err(AuthRejection(AuthError::Invalid).into());
    }
    state
        .limits
        .check_admin()
        .map_err(|wait| super::ratelimit::RateLimited(wait).into())
}

/// Instance authentication: a JWT signed by the instance, HS256 with the secret shown at
/// instance creation (no `kid`, or `kid: default`), or RS256 / EdDSA with a registered public
/// key named by `kid`. `aud` = the bridge's audience (`metabridge`), `iss` = the instance id,
/// `exp` required (lifetime at most an hour by default).
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "JWT",
    rename = "InstanceJwt",
    checker = "check_instance"
)]
pub struct InstanceAuth(pub InstanceId);

async fn check_instance(req: &Request, bearer: Bearer) -> poem::Result<InstanceId> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    let token = bearer.token.trim();
    if token.is_empty() {
        return Err(AuthRejection(AuthError::Missing).into());
    }
    let claimed = jwt::claimed_instance(token).map_err(AuthRejection)?;
    let Ok(instance_id) = InstanceId::parse(&claimed) else {
        return Err(AuthRejection(AuthError::Invalid).into());
    };
    let keys = instance_keys(state, &instance_id).await?;
    jwt::verify_instance_token_with_keys(
        token,
        &instance_id,
        &keys,
        &state.config.jwt_audience,
        state.config.jwt_max_lifetime,
    )
    .map_err(AuthRejection)?;
    state
        .limits
        .check_instance(&instance_id)
        .map_err(super::ratelimit::RateLimited)?;
    Ok(instance_id)
}

/// How long an instance id the database did not know is refused without a query
/// ([`AppState::unknown_instances`]). Probing one id again and again costs nothing; a new id
/// costs one primary-key read, as a valid request does.
pub const UNKNOWN_INSTANCE_TTL: std::time::Duration = std::time::Duration::from_secs(600);
/// Most unknown ids remembered at once (least recently used forgotten first; about 100 bytes
/// each).
pub const UNKNOWN_INSTANCES_REMEMBERED: u64 = 50_000;

/// The kid of an instance's HS256 secret (tokens may also omit `kid`).
pub const HS256_KID: &str = "default";

/// An instance's verification keys as one process caches them: with the version of the
/// instance's keys they were read at, and when the previous secret among them stops counting.
#[derive(Clone)]
pub struct CachedKeys {
    version: i64,
    keys: Arc<Vec<jwt::VerificationKey>>,
    /// The end of the previous secret's grace period (ms), when it is among `keys`.
    previous_until: Option<i64>,
}

/// Every key that may verify an instance's tokens: its HS256 secret and its registered
/// public keys. Cached in this process, but never trusted past a change made anywhere: every
/// request reads the instance's key version (one primary-key read) and reloads the keys when
/// it moved — a secret rotated with `--grace-seconds 0` from the CLI or on another replica,
/// a key retired, the instance deleted (no version: 401) — and when the previous secret's
/// grace period is over.
async fn instance_keys(
    state: &AppState,
    instance_id: &InstanceId,
) -> poem::Result<Arc<Vec<jwt::VerificationKey>>> {
    // Answered `503 service_unavailable` (see `errors::shape_error`): the caller retries.
    let unavailable = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "reading an instance's verification keys failed");
        poem::Error::from_status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
    };
    // An id the database did not know a moment ago is refused without asking it again.
    if state.unknown_instances.contains_key(instance_id) {
        state.metrics.unknown_instance_refused("cache");
        return Err(AuthRejection(AuthError::Invalid).into());
    }
    // Read before the keys: a change after this read makes the cached entry stale (reloaded
    // at the next request), never a new version cached beside old keys.
    let Some(version) = state
        .store
        .instance_auth_version(instance_id)
        .await
        .map_err(unavailable)?
    else {
        state.metrics.unknown_instance_refused("database");
        state
            .unknown_instances
            .insert(instance_id.clone(), ())
            .await;
        return Err(AuthRejection(AuthError::Invalid).into());
    };
    let now = crate::now_ms();
    if let Some(k) = state.verification_keys.get(instance_id).await
        && k.version == version
        && k.previous_until.is_none_or(|until| now < until)
    {
        return Ok(k.keys);
    }
    let row = state
        .store
        .get_instance(instance_id)
        .await
        .map_err(unavailable)?
        .ok_or(AuthRejection(AuthError::Invalid))?;
    let secret = state
        .vault
        .decrypt(&row.signing_secret_enc)
        .map_err(|_| AuthRejection(AuthError::Invalid))?;
    let mut keys = vec![jwt::VerificationKey::hs256(HS256_KID, secret)];
    // The previous secret during its grace period after a rotation (tried for tokens without
    // a kid, or naming `previous`).
    let mut previous_until = None;
    if let Some((prev, until)) = state
        .store
        .previous_instance_secret(instance_id, now)
        .await
        .map_err(unavailable)?
        && let Ok(prev) = state.vault.decrypt(&prev)
    {
        keys.push(jwt::VerificationKey::hs256("previous", prev));
        previous_until = Some(until);
    }
    for k in state
        .store
        .list_instance_keys(instance_id)
        .await
        .map_err(unavailable)?
    {
        // A stored key that no longer passes the checks is skipped, never trusted.
        if let Some(alg) = jwt::KeyAlg::parse(&k.alg)
            && let Ok(key) = jwt::VerificationKey::public_pem(k.kid, alg, k.public_key)
        {
            keys.push(key);
        }
    }
    let keys = Arc::new(keys);
    state
        .verification_keys
        .insert(
            instance_id.clone(),
            CachedKeys {
                version,
                keys: Arc::clone(&keys),
                previous_until,
            },
        )
        .await;
    Ok(keys)
}

pub fn auth_error(err: &poem::Error) -> Option<ApiError> {
    err.downcast_ref::<AuthRejection>().map(|r| match r.0 {
        AuthError::Missing => ApiError::unauthorized(
            codes::TOKEN_MISSING,
            "Send `Authorization: Bearer <token>`.",
        ),
        AuthError::Expired => ApiError::unauthorized(
            codes::TOKEN_EXPIRED,
            "The token has expired; mint a new one.",
        ),
        AuthError::Invalid => ApiError::unauthorized(
            codes::TOKEN_INVALID,
            "The token is not valid for this service.",
        ),
    })
}

pub fn op_error(err: OpError) -> ApiError {
    match err {
        OpError::Invalid { field, message } => ApiError::invalid(field, message),
        OpError::NotFound("instance") => {
            ApiError::not_found(codes::INSTANCE_NOT_FOUND, "No instance with that id.")
        }
        OpError::NotFound("channel") => {
            ApiError::not_found(codes::CHANNEL_NOT_FOUND, "No channel with that id.")
        }
        OpError::NotFound(_) => ApiError::not_found(codes::NOT_FOUND, "Not found."),
        OpError::Conflict(m) => ApiError::conflict(codes::CHANNEL_EXISTS, m),
        OpError::Store(e) => ApiError::store("store operation failed", e),
    }
}

/// An instance (its signing secret is never shown here).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    /// Where events are POSTed.
    pub callback_url: String,
    /// Subscribed event types; absent = all.
    pub event_types: Option<Vec<String>>,
    /// Why delivery is paused (`receiver_gone` after a 410, `paused_by_operator` when paused
    /// in the console); absent when delivering.
    pub delivery_paused_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<InstanceRow> for InstanceView {
    fn from(r: InstanceRow) -> Self {
        Self {
            event_types: r.event_type_list(),
            id: r.id.into_string(),
            name: r.name,
            callback_url: r.callback_url,
            delivery_paused_reason: r.delivery_paused_reason,
            created_at: crate::ms_to_rfc3339(r.created_at),
            updated_at: crate::ms_to_rfc3339(r.updated_at),
        }
    }
}

/// A channel (its access token is never shown). Its **connection** (`connection`) and its
/// **sending** (`send_state`) are separate: a channel whose sends are paused or whose token is
/// invalid still relays every webhook Meta sends for it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChannelView {
    pub id: String,
    pub instance_id: String,
    /// `whatsapp`, `instagram` or `messenger`.
    pub kind: String,
    /// Meta's id: phone_number_id, Instagram account id or page id.
    pub external_id: String,
    pub waba_id: Option<String>,
    pub name: Option<String>,
    /// One word for both states: `disconnected`, `pending` (WhatsApp registration waiting),
    /// `token_invalid` (reconnect it), `paused` (Meta restricted sending; resumes by itself at
    /// `send_paused_until`) or `active`.
    pub status: String,
    /// Why the channel is not `active`.
    pub status_reason: Option<String>,
    /// `connected` (events are relayed; also while a WhatsApp registration waits) or
    /// `disconnected`.
    pub connection: String,
    /// `sending`, `paused` (Meta restricted the account or number: queued sends wait until
    /// `send_paused_until`, or `POST /v1/channels/{id}/sends/resume`) or `token_invalid` (Meta
    /// says the token is invalid: connect the channel again).
    pub send_state: String,
    /// Why sends are paused or the token is invalid (Meta's code and reason).
    pub send_reason: Option<String>,
    /// When paused sends resume on their own.
    pub send_paused_until: Option<String>,
    /// WhatsApp: the last event of Meta's `phone_number_quality_update` webhook for the
    /// number (e.g. `FLAGGED`, `UNFLAGGED`, `THROUGHPUT_UPGRADE`, `ONBOARDING`).
    pub quality_event: Option<String>,
    /// WhatsApp: Meta's messaging-limit tier (e.g. `TIER_1K`, `TIER_UNLIMITED`), from
    /// `phone_number_quality_update` webhooks.
    pub messaging_limit_tier: Option<String>,
    /// The channel's own send rate (messages/s); absent = the default of its kind.
    pub rate_limit: Option<i64>,
    /// Whether an (encrypted) access token is stored.
    pub has_token: bool,
    /// Instagram channels: the login their token belongs to and so the Graph host their
    /// sends use — `instagram` (Instagram Login, graph.instagram.com) or `facebook` (through
    /// the linked Facebook Page, graph.facebook.com). Absent for WhatsApp and Messenger.
    pub login: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ChannelRow> for ChannelView {
    fn from(r: ChannelRow) -> Self {
        let status = crate::channels::summary(r.status, r.send_state).to_string();
        let status_reason = if r.status == crate::channels::Connection::Active {
            r.send_reason.clone()
        } else {
            r.status_reason.clone()
        };
        Self {
            has_token: r.token_enc.is_some(),
            connection: r.status.api_name().to_string(),
            status,
            status_reason,
            id: r.id.into_string(),
            instance_id: r.instance_id.into_string(),
            kind: r.kind.as_str().to_string(),
            external_id: r.external_id,
            waba_id: r.waba_id,
            name: r.name,
            send_state: r.send_state.as_str().to_string(),
            send_reason: r.send_reason,
            send_paused_until: r.send_paused_until.map(crate::ms_to_rfc3339),
            quality_event: r.quality_event,
            messaging_limit_tier: r.messaging_limit_tier,
            rate_limit: r.rate_limit,
            login: r.login,
            created_at: crate::ms_to_rfc3339(r.created_at),
            updated_at: crate::ms_to_rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum EventState {
    Pending,
    Delivered,
    Dead,
    Unroutable,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Unroutable => "unroutable",
        }
    }
}

/// An event's delivery state (never its content).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventView {
    pub id: String,
    #[oai(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered`, `dead` (dead letter) or `unroutable`.
    pub state: String,
    pub instance_id: Option<String>,
    pub channel_id: Option<String>,
    pub channel_kind: Option<String>,
    pub channel_external_id: String,
    pub conversation_id: String,
    pub occurred_at: Option<String>,
    pub received_at: String,
    pub attempts: i64,
    /// When the next attempt is due (pending events only).
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub dead_at: Option<String>,
    /// Whether the content is still held (it is purged after delivery, P05).
    pub content_available: bool,
}

impl From<EventMeta> for EventView {
    fn from(e: EventMeta) -> Self {
        Self {
            next_attempt_at: (e.state == "pending")
                .then(|| crate::ms_to_rfc3339(e.next_attempt_at)),
            id: e.id,
            event_type: e.event_type,
            state: e.state,
            instance_id: e.instance_id,
            channel_id: e.channel_id,
            channel_kind: e.channel_kind,
            channel_external_id: e.channel_external_id,
            conversation_id: e.conversation_id,
            occurred_at: e.occurred_at.map(crate::ms_to_rfc3339),
            received_at: crate::ms_to_rfc3339(e.received_at),
            attempts: e.attempts,
            last_status: e.last_status,
            last_error: e.last_error,
            delivered_at: e.delivered_at.map(crate::ms_to_rfc3339),
            dead_at: e.dead_at.map(crate::ms_to_rfc3339),
            content_available: e.has_content != 0,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl EventPage {
    pub fn new(rows: Vec<EventMeta>, limit: i64) -> Self {
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.seq.to_string()))
            .flatten();
        Self {
            events: rows.into_iter().map(EventView::from).collect(),
            next_cursor,
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptView {
    pub attempt: i64,
    pub attempted_at: String,
    /// The receiver's HTTP status; absent when no response came (timeout, refused).
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next_attempt_at: Option<String>,
}

impl From<AttemptRow> for AttemptView {
    fn from(a: AttemptRow) -> Self {
        Self {
            attempt: a.attempt,
            attempted_at: crate::ms_to_rfc3339(a.attempted_at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            next_attempt_at: a.next_attempt_at.map(crate::ms_to_rfc3339),
        }
    }
}

/// An event with its attempts.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventDetail {
    pub event: EventView,
    pub attempts: Vec<AttemptView>,
}

/// Result of a replay of several dead letters.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReplayCount {
    /// Dead letters put back in the queue.
    pub replayed: u64,
}

/// Page size: 1–500, default 100.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 500")),
    }
}

pub fn page_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::invalid("cursor", "is not a cursor from a previous page"))
        })
        .transpose()
}

/// Replays one event and maps the result.
pub async fn replay_one(
    state: &AppState,
    id: &str,
    instance_id: Option<&InstanceId>,
) -> Result<EventView, ApiError> {
    use crate::store::ReplayResult;
    let now = crate::now_ms();
    let deadline =
        now + i64::try_from(state.config.delivery_horizon.as_millis()).unwrap_or(i64::MAX / 2);
    let Ok(id) = EventId::parse(id) else {
        return Err(ApiError::not_found(
            codes::EVENT_NOT_FOUND,
            "No event with that id.",
        ));
    };
    match state
        .store
        .replay_event(&id, instance_id, now, deadline)
        .await
    {
        Ok(ReplayResult::Replayed) => {}
        Ok(ReplayResult::NotFound) => {
            return Err(ApiError::not_found(
                codes::EVENT_NOT_FOUND,
                "No event with that id.",
            ));
        }
        Ok(ReplayResult::NotReplayable(s)) => {
            return Err(ApiError::conflict(
                codes::EVENT_NOT_REPLAYABLE,
                format!("Only dead letters can be replayed; this event is {s}."),
            ));
        }
        Ok(ReplayResult::ContentPurged) => {
            return Err(ApiError::conflict(
                codes::CONTENT_PURGED,
                "The event's content was purged by retention; it cannot be replayed.",
            ));
        }
        Err(e) => return Err(ApiError::store("replay failed", e)),
    }
    state.writer_wakeup();
    let ev = state
        .store
        .get_event(&id, instance_id)
        .await
        .map_err(|e| ApiError::store("read event", e))?
        .ok_or_else(|| ApiError::not_found(codes::EVENT_NOT_FOUND, "No event with that id."))?;
    Ok(ev.into())
}

/// Replays every dead letter whose content is still held, of one instance when given, and
/// records it in the audit log as done by `actor` (P17); the dispatcher is woken.
pub async fn replay_dead_letters(
    state: &AppState,
    instance_id: Option<&InstanceId>,
    actor: &str,
) -> Result<u64, ApiError> {
    let now = crate::now_ms();
    let deadline =
        now + i64::try_from(state.config.delivery_horizon.as_millis()).unwrap_or(i64::MAX / 2);
    let n = state
        .store
        .replay_dead_letters(instance_id, now, deadline)
        .await
        .map_err(|e| ApiError::store("replay dead letters", e))?;
    let _ = state
        .store
        .audit(
            actor,
            "dead_letters.replayed",
            instance_id.map_or("*", InstanceId::as_str),
            Some(&n.to_string()),
        )
        .await;
    state.writer_wakeup();
    Ok(n)
}

pub async fn event_detail(
    state: &AppState,
    id: &str,
    instance_id: Option<&InstanceId>,
) -> Result<EventDetail, ApiError> {
    let Ok(id) = EventId::parse(id) else {
        return Err(ApiError::not_found(
            codes::EVENT_NOT_FOUND,
            "No event with that id.",
        ));
    };
    let ev = state
        .store
        .get_event(&id, instance_id)
        .await
        .map_err(|e| ApiError::store("read event", e))?
        .ok_or_else(|| ApiError::not_found(codes::EVENT_NOT_FOUND, "No event with that id."))?;
    let attempts = state
        .store
        .list_attempts(&id, instance_id)
        .await
        .map_err(|e| ApiError::store("read attempts", e))?;
    Ok(EventDetail {
        event: ev.into(),
        attempts: attempts.into_iter().map(AttemptView::from).collect(),
    })
}
