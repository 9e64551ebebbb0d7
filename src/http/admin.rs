//! The admin API (`/admin/v1`, bearer `METABRIDGE_ADMIN_TOKEN`): instances, channels, and every
//! instance's events, attempts and dead letters.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::AppState;
use super::api::{
    AdminAuth, ChannelView, EventDetail, EventPage, EventState, EventView, InstanceView,
    ReplayCount, Tag, event_detail, op_error, page_cursor, page_limit, replay_dead_letters,
    replay_one,
};
use super::errors::{ApiError, codes};
use crate::channels::ChannelKind;
use crate::ids::{ChannelId, InstanceId};
use crate::instances;
use crate::store::EventFilter;

const ACTOR: &str = "admin-api";

/// Create an instance.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateInstance {
    /// Display name, 1–200 characters.
    pub name: String,
    /// HTTPS URL where events are POSTed.
    pub callback_url: String,
    /// Event types to receive; omit to receive all.
    pub event_types: Option<Vec<String>>,
    /// Origins (`https://host[:port]`) a connect session's `return_url` may point at; omit to
    /// allow only the callback URL's origin.
    pub return_origins: Option<Vec<String>>,
}

impl poem_openapi::types::Example for CreateInstance {
    fn example() -> Self {
        Self {
            name: "Loja Ana".into(),
            callback_url: "https://crm.example.com/metabridge/events".into(),
            event_types: None,
            return_origins: Some(vec!["https://crm.example.com".into()]),
        }
    }
}

/// A new instance with its signing secret, shown only in this response.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InstanceCreated {
    pub instance: InstanceView,
    /// HS256 secret: the bridge signs its callbacks with it and the instance signs its `/v1`
    /// JWTs with it. Store it now; it is never shown again (rotate it if lost).
    pub signing_secret: String,
}

/// Change an instance; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateInstance {
    pub name: Option<String>,
    pub callback_url: Option<String>,
    /// New subscription list; an empty list is refused (use `subscribe_all`).
    pub event_types: Option<Vec<String>>,
    /// Receive every event type again.
    #[oai(default)]
    pub subscribe_all: bool,
    /// Resume delivery paused by a 410 Gone from the receiver.
    #[oai(default)]
    pub resume_delivery: bool,
    /// New list of allowed return origins for connect sessions; `[]` goes back to the
    /// callback URL's origin.
    pub return_origins: Option<Vec<String>>,
}

impl poem_openapi::types::Example for UpdateInstance {
    fn example() -> Self {
        Self {
            name: None,
            callback_url: Some("https://crm.example.com/metabridge/events-v2".into()),
            event_types: Some(vec!["message.received".into(), "message.status".into()]),
            subscribe_all: false,
            resume_delivery: false,
            return_origins: None,
        }
    }
}

/// A new access token for a channel.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ReplaceToken {
    /// The channel's Meta access token; stored only encrypted, never shown again.
    pub access_token: String,
}

impl poem_openapi::types::Example for ReplaceToken {
    fn example() -> Self {
        Self {
            access_token: "EAAG…(the channel's new Meta access token)".into(),
        }
    }
}

/// Register a verification key.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AddKey {
    /// The key id the instance's tokens carry in their `kid` header.
    pub kid: String,
    /// `RS256` (RSA, 2048 bits or more) or `EdDSA` (Ed25519).
    pub alg: String,
    /// The PUBLIC key, PEM (`-----BEGIN PUBLIC KEY-----`); a private key is refused.
    pub public_key: String,
}

impl poem_openapi::types::Example for AddKey {
    fn example() -> Self {
        Self {
            kid: "crm-2026-11".into(),
            alg: "EdDSA".into(),
            public_key: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA…\n-----END PUBLIC KEY-----\n"
                .into(),
        }
    }
}

/// A registered verification key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub public_key: String,
    pub created_at: String,
}

impl From<crate::store::InstanceKeyRow> for KeyView {
    fn from(r: crate::store::InstanceKeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            public_key: r.public_key,
            created_at: crate::ms_to_rfc3339(r.created_at),
        }
    }
}

fn instance_not_found() -> ApiError {
    ApiError::not_found(codes::INSTANCE_NOT_FOUND, "No instance with that id.")
}

fn channel_not_found() -> ApiError {
    ApiError::not_found(codes::CHANNEL_NOT_FOUND, "No channel with that id.")
}

/// An instance id from the path; one that is not of our shape names no instance.
fn instance_path(id: &str) -> Result<InstanceId, ApiError> {
    InstanceId::parse(id).map_err(|_| instance_not_found())
}

/// A channel id from the path; one that is not of our shape names no channel.
fn channel_path(id: &str) -> Result<ChannelId, ApiError> {
    ChannelId::parse(id).map_err(|_| channel_not_found())
}

/// The instance `id` names, or `404 instance_not_found`.
async fn ensure_instance(state: &AppState, id: &str) -> Result<InstanceId, ApiError> {
    let id = instance_path(id)?;
    state
        .store
        .get_instance(&id)
        .await
        .map_err(|e| ApiError::store("read instance", e))?
        .map(|r| r.id)
        .ok_or_else(instance_not_found)
}

/// A rotated signing secret, shown only in this response.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SecretRotated {
    pub signing_secret: String,
}

/// Register a channel by hand.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateChannel {
    pub instance_id: String,
    pub kind: ChannelKind,
    /// phone_number_id (WhatsApp), Instagram account id, or page id (Messenger).
    pub external_id: String,
    /// WhatsApp Business Account id (WhatsApp only, required there).
    pub waba_id: Option<String>,
    pub name: Option<String>,
    /// The channel's Meta access token; stored encrypted, never shown again.
    pub access_token: String,
    /// Instagram only: `instagram` (Instagram API with Instagram Login: an Instagram User
    /// token, sends go to graph.instagram.com) or `facebook` (Instagram through the linked
    /// Facebook Page: the Page's token, graph.facebook.com). Absent: derived from the token
    /// (Instagram User tokens start with `IG`). A value that contradicts the token is a 422.
    pub login: Option<String>,
}

impl poem_openapi::types::Example for CreateChannel {
    fn example() -> Self {
        Self {
            instance_id: "ins_0193f6a4c8e07a6b9d1e2f3a4b5c6d7e".into(),
            kind: ChannelKind::Whatsapp,
            external_id: "106000000000001".into(),
            waba_id: Some("102000000000001".into()),
            name: Some("Loja Ana (WhatsApp)".into()),
            access_token: "EAAG…(a system-user token with whatsapp_business_messaging)".into(),
            login: None,
        }
    }
}

#[derive(ApiResponse)]
pub enum Created<T: poem_openapi::types::ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

pub struct AdminApi;

/// Registers a public key an instance signs its `/v1` tokens with, after checking the kid,
/// the algorithm and the key (a private key is refused); audited as done by `actor`.
pub async fn register_key(
    state: &AppState,
    id: &InstanceId,
    kid: &str,
    alg: &str,
    public_key: &str,
    actor: &str,
) -> Result<crate::store::InstanceKeyRow, ApiError> {
    let kid = kid.trim();
    if kid.is_empty()
        || kid.len() > 128
        || kid == super::api::HS256_KID
        || kid == "previous"
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(ApiError::rule(
            "kid",
            "invalid_format",
            "must be 1–128 characters of letters, digits, `-_.:` (not `default` or `previous`)",
        ));
    }
    let alg = match alg {
        "RS256" => crate::crypto::jwt::KeyAlg::Rs256,
        "EdDSA" => crate::crypto::jwt::KeyAlg::EdDsa,
        _ => {
            return Err(ApiError::rule(
                "alg",
                "invalid_value",
                "must be `RS256` or `EdDSA`",
            ));
        }
    };
    crate::crypto::jwt::validate_public_key_pem(alg, public_key)
        .map_err(|e| ApiError::rule("public_key", e.code(), e.message()))?;
    let row = crate::store::InstanceKeyRow {
        instance_id: id.clone(),
        kid: kid.to_string(),
        alg: alg.as_str().to_string(),
        public_key: public_key.to_string(),
        created_at: crate::now_ms(),
    };
    if !state
        .store
        .add_instance_key(&row)
        .await
        .map_err(|e| ApiError::store("add key", e))?
    {
        return Err(ApiError::conflict(
            codes::KEY_EXISTS,
            "This instance already has a key with that kid.",
        ));
    }
    let _ = state
        .store
        .audit(actor, "instance.key_added", id.as_str(), Some(kid))
        .await;
    state.forget_instance_keys(id).await;
    Ok(row)
}

/// Retires a verification key of an instance (given as written: an id that is not one of
/// ours names no key); audited as done by `actor`.
pub async fn retire_key(
    state: &AppState,
    id: &str,
    kid: &str,
    actor: &str,
) -> Result<(), ApiError> {
    let key_not_found = || {
        ApiError::not_found(
            codes::KEY_NOT_FOUND,
            "No key with that kid for this instance.",
        )
    };
    let Ok(id) = InstanceId::parse(id) else {
        return Err(key_not_found());
    };
    if !state
        .store
        .delete_instance_key(&id, kid)
        .await
        .map_err(|e| ApiError::store("delete key", e))?
    {
        return Err(key_not_found());
    }
    let _ = state
        .store
        .audit(actor, "instance.key_retired", id.as_str(), Some(kid))
        .await;
    state.forget_instance_keys(&id).await;
    Ok(())
}

/// Deletes an instance with its channels, tokens and events, and drops what every replica
/// cached of it; audited as done by `actor`.
pub async fn remove_instance(
    state: &AppState,
    id: &InstanceId,
    actor: &str,
) -> Result<(), ApiError> {
    let channels = instances::delete_instance(&state.store, id, actor)
        .await
        .map_err(op_error)?;
    state.forget_instance_keys(id).await;
    // Their rows and tokens go from this replica's caches and, through the invalidation
    // feed, from the others'.
    for channel in channels {
        state.forget_channel(&channel).await;
        state
            .store
            .publish_invalidation(&crate::store::Invalidation::Channel(channel))
            .await;
    }
    Ok(())
}

/// Checks a list of return origins: each `scheme://host[:port]` exactly, https unless private
/// callbacks are allowed (dev mode); at most 20.
fn validate_origins(list: &[String], allow_http: bool) -> Result<Vec<String>, ApiError> {
    if list.len() > 20 {
        return Err(ApiError::rule(
            "return_origins",
            "too_many",
            "at most 20 origins",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for o in list {
        let parsed = url::Url::parse(o).ok().filter(|u| {
            matches!(u.scheme(), "https" | "http")
                && u.origin().ascii_serialization() == o.trim_end_matches('/')
        });
        let Some(u) = parsed else {
            return Err(ApiError::rule(
                "return_origins",
                "format",
                "each origin must be scheme://host[:port] with no path",
            ));
        };
        if u.scheme() != "https" && !allow_http {
            return Err(ApiError::rule(
                "return_origins",
                "https_required",
                "origins must use https",
            ));
        }
        let origin = u.origin().ascii_serialization();
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

fn state_filter(state: Option<EventState>) -> Option<&'static str> {
    state.map(EventState::as_str)
}

#[OpenApi(prefix_path = "/admin/v1", tag = "Tag::Admin")]
impl AdminApi {
    /// Create an instance. The response carries its signing secret, once.
    #[oai(
        path = "/instances",
        method = "post",
        operation_id = "admin.instances.create"
    )]
    async fn create_instance(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<CreateInstance>,
    ) -> Result<Created<InstanceCreated>, ApiError> {
        let (row, secret) = instances::create_instance(
            &state.store,
            &state.vault,
            instances::NewInstance {
                name: &body.name,
                callback_url: &body.callback_url,
                event_types: body.event_types.as_deref(),
            },
            state.config.allow_private_callbacks,
            ACTOR,
        )
        .await
        .map_err(op_error)?;
        if let Some(origins) = &body.return_origins {
            let origins = validate_origins(origins, state.config.allow_private_callbacks)?;
            state
                .store
                .set_instance_return_origins(&row.id, Some(&origins))
                .await
                .map_err(|e| ApiError::store("set return origins", e))?;
        }
        Ok(Created::Created(Json(InstanceCreated {
            instance: row.into(),
            signing_secret: secret,
        })))
    }

    /// List instances.
    #[oai(
        path = "/instances",
        method = "get",
        operation_id = "admin.instances.list"
    )]
    async fn list_instances(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
    ) -> Result<Json<Vec<InstanceView>>, ApiError> {
        let rows = state
            .store
            .list_instances()
            .await
            .map_err(|e| ApiError::store("list instances", e))?;
        Ok(Json(rows.into_iter().map(InstanceView::from).collect()))
    }

    /// Get an instance.
    #[oai(
        path = "/instances/:id",
        method = "get",
        operation_id = "admin.instances.get"
    )]
    async fn get_instance(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<InstanceView>, ApiError> {
        let id = instance_path(&id)?;
        let row = state
            .store
            .get_instance(&id)
            .await
            .map_err(|e| ApiError::store("get instance", e))?;
        row.map(|r| Json(r.into())).ok_or_else(|| {
            ApiError::not_found(codes::INSTANCE_NOT_FOUND, "No instance with that id.")
        })
    }

    /// Update an instance (name, callback URL, subscriptions) or resume its paused delivery.
    #[oai(
        path = "/instances/:id",
        method = "patch",
        operation_id = "admin.instances.update"
    )]
    async fn update_instance(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: Json<UpdateInstance>,
    ) -> Result<Json<InstanceView>, ApiError> {
        if body.subscribe_all && body.event_types.is_some() {
            return Err(ApiError::invalid(
                "event_types",
                "cannot be combined with subscribe_all",
            ));
        }
        let event_types = if body.subscribe_all {
            Some(None)
        } else {
            body.event_types.as_deref().map(Some)
        };
        let update = instances::InstanceUpdate {
            name: body.name.as_deref(),
            callback_url: body.callback_url.as_deref(),
            event_types,
            resume_delivery: body.resume_delivery,
        };
        let Ok(id) = InstanceId::parse(&id) else {
            // The body is checked before the instance is looked up.
            instances::instance_patch(update, state.config.allow_private_callbacks)
                .map_err(op_error)?;
            return Err(instance_not_found());
        };
        let row = instances::update_instance(
            &state.store,
            &id,
            update,
            state.config.allow_private_callbacks,
            ACTOR,
        )
        .await
        .map_err(op_error)?;
        if let Some(origins) = &body.return_origins {
            let origins = validate_origins(origins, state.config.allow_private_callbacks)?;
            state
                .store
                .set_instance_return_origins(&id, (!origins.is_empty()).then_some(&origins[..]))
                .await
                .map_err(|e| ApiError::store("set return origins", e))?;
        }
        if body.resume_delivery {
            state.writer_wakeup();
        }
        Ok(Json(row.into()))
    }

    /// Delete an instance with its channels, tokens and events.
    #[oai(
        path = "/instances/:id",
        method = "delete",
        operation_id = "admin.instances.delete"
    )]
    async fn delete_instance(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let id = instance_path(&id)?;
        remove_instance(&state, &id, ACTOR).await?;
        Ok(Deleted::NoContent)
    }

    /// Replace an instance's signing secret. The bridge signs its callbacks with the new one at
    /// once; the old one keeps verifying the instance's own `/v1` tokens for `grace_seconds`
    /// (default 86400, at most 604800; 0 revokes it at once, e.g. after a leak), so the
    /// instance can switch without downtime.
    #[oai(
        path = "/instances/:id/rotate-secret",
        method = "post",
        operation_id = "admin.instances.rotate_secret"
    )]
    async fn rotate_secret(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        grace_seconds: Query<Option<u64>>,
    ) -> Result<Json<SecretRotated>, ApiError> {
        let grace = grace_seconds
            .0
            .unwrap_or(instances::DEFAULT_SECRET_GRACE_SECS);
        // The grace period is checked before the instance is looked up.
        instances::check_grace(grace).map_err(op_error)?;
        let id = instance_path(&id)?;
        let secret =
            instances::rotate_instance_secret(&state.store, &state.vault, &id, grace, ACTOR)
                .await
                .map_err(op_error)?;
        state.forget_instance_keys(&id).await;
        Ok(Json(SecretRotated {
            signing_secret: secret,
        }))
    }

    /// Register a channel for an instance.
    #[oai(
        path = "/channels",
        method = "post",
        operation_id = "admin.channels.create"
    )]
    async fn create_channel(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<CreateChannel>,
    ) -> Result<Created<ChannelView>, ApiError> {
        let row = instances::add_channel(
            &state.store,
            &state.vault,
            instances::NewChannel {
                instance_id: &body.instance_id,
                kind: body.kind.as_str(),
                external_id: &body.external_id,
                waba_id: body.waba_id.as_deref(),
                name: body.name.as_deref(),
                access_token: &body.access_token,
                login: body.login.as_deref(),
            },
            ACTOR,
        )
        .await
        .map_err(op_error)?;
        state.sync_templates_soon(vec![row.id.clone()]);
        Ok(Created::Created(Json(row.into())))
    }

    /// List channels, of one instance when `instance_id` is given.
    #[oai(
        path = "/channels",
        method = "get",
        operation_id = "admin.channels.list"
    )]
    async fn list_channels(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        instance_id: Query<Option<String>>,
    ) -> Result<Json<Vec<ChannelView>>, ApiError> {
        // A filter that is not an instance id matches no channel.
        let instance_id = match instance_id.as_deref().map(InstanceId::parse) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return Ok(Json(Vec::new())),
        };
        let rows = state
            .store
            .list_channels(instance_id.as_ref())
            .await
            .map_err(|e| ApiError::store("list channels", e))?;
        Ok(Json(rows.into_iter().map(ChannelView::from).collect()))
    }

    /// Get a channel.
    #[oai(
        path = "/channels/:id",
        method = "get",
        operation_id = "admin.channels.get"
    )]
    async fn get_channel(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<ChannelView>, ApiError> {
        let id = channel_path(&id)?;
        let row = state
            .store
            .get_channel(&id, None)
            .await
            .map_err(|e| ApiError::store("get channel", e))?;
        row.map(|r| Json(r.into())).ok_or_else(channel_not_found)
    }

    /// Check a channel against Meta: its token and permissions, the app's subscription to its
    /// WABA / Page / account, the app's webhook callback, the WhatsApp number's state and
    /// messaging health, its templates, the Instagram account linkage. Read-only: nothing is
    /// changed at Meta or here. `healthy` is false when a check failed; each check says how to
    /// fix what it found (the same report as `metabridge doctor`).
    #[oai(
        path = "/channels/:id/diagnosis",
        method = "get",
        operation_id = "admin.channels.diagnosis"
    )]
    async fn diagnose_channel(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<super::diagnosis::DiagnosisView>, ApiError> {
        let id = channel_path(&id)?;
        let diagnosis = state
            .doctor
            .diagnose(&id)
            .await
            .map_err(|e| ApiError::internal("diagnose channel", format!("{e:#}")))?;
        diagnosis
            .map(|d| Json(d.into()))
            .ok_or_else(channel_not_found)
    }

    /// Remove a channel: its token is deleted and its events stop being relayed.
    #[oai(
        path = "/channels/:id",
        method = "delete",
        operation_id = "admin.channels.delete"
    )]
    async fn delete_channel(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let id = channel_path(&id)?;
        state
            .disconnect_channel(&id, None, instances::DisconnectBy::Operator(ACTOR))
            .await?;
        Ok(Deleted::NoContent)
    }

    /// Store a new access token for a channel (after Meta revoked the old one, or a manual
    /// refresh) and make it active again: its held sends resume. On an Instagram channel the
    /// `login` follows the new token (Instagram User tokens, `IG…`, are Instagram Login).
    #[oai(
        path = "/channels/:id/token",
        method = "put",
        operation_id = "admin.channels.replace_token"
    )]
    async fn replace_token(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: Json<ReplaceToken>,
    ) -> Result<Json<ChannelView>, ApiError> {
        let id = channel_path(&id)?;
        let old = state
            .store
            .get_channel(&id, None)
            .await
            .map_err(|e| ApiError::store("read channel", e))?
            .filter(|c| c.status != crate::channels::Connection::Disconnected)
            .ok_or_else(|| {
                ApiError::not_found(codes::CHANNEL_NOT_FOUND, "No channel with that id.")
            })?;
        let horizon = state.horizon_ms();
        instances::replace_channel_token(
            &state.store,
            &state.vault,
            &id,
            &body.access_token,
            ACTOR,
            horizon,
        )
        .await
        .map_err(op_error)?;
        state.writer_wakeup();
        if let Some(enc) = old.token_enc {
            state.channels.forget_token(&enc).await;
        }
        state.forget_channel(&id).await;
        state.senders.wake(&id);
        let row = state
            .store
            .get_channel(&id, None)
            .await
            .map_err(|e| ApiError::store("read channel", e))?
            .ok_or_else(|| {
                ApiError::not_found(codes::CHANNEL_NOT_FOUND, "No channel with that id.")
            })?;
        Ok(Json(row.into()))
    }

    /// An instance's registered verification keys (public keys for RS256 / EdDSA tokens).
    #[oai(
        path = "/instances/:id/keys",
        method = "get",
        operation_id = "admin.instances.keys.list"
    )]
    async fn list_keys(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<Vec<KeyView>>, ApiError> {
        let id = ensure_instance(&state, &id).await?;
        let rows = state
            .store
            .list_instance_keys(&id)
            .await
            .map_err(|e| ApiError::store("list keys", e))?;
        Ok(Json(rows.into_iter().map(KeyView::from).collect()))
    }

    /// Register a public key the instance signs its `/v1` tokens with (RS256 or EdDSA, PEM).
    /// Tokens name it in their `kid` header. Add the new key before the instance switches to
    /// it, retire the old one after: no downtime.
    #[oai(
        path = "/instances/:id/keys",
        method = "post",
        operation_id = "admin.instances.keys.add"
    )]
    async fn add_key(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: Json<AddKey>,
    ) -> Result<Created<KeyView>, ApiError> {
        let id = ensure_instance(&state, &id).await?;
        let row = register_key(&state, &id, &body.kid, &body.alg, &body.public_key, ACTOR).await?;
        Ok(Created::Created(Json(row.into())))
    }

    /// Retire a verification key: tokens naming it stop working at once.
    #[oai(
        path = "/instances/:id/keys/:kid",
        method = "delete",
        operation_id = "admin.instances.keys.delete"
    )]
    async fn delete_key(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        kid: Path<String>,
    ) -> Result<Deleted, ApiError> {
        retire_key(&state, &id, &kid, ACTOR).await?;
        Ok(Deleted::NoContent)
    }

    /// Events of every instance (metadata only), newest first.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/events", method = "get", operation_id = "admin.events.list")]
    async fn list_events(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        instance_id: Query<Option<String>>,
        #[oai(name = "state")] event_state: Query<Option<EventState>>,
        #[oai(name = "type")] event_type: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> Result<Json<EventPage>, ApiError> {
        let limit = page_limit(limit.0)?;
        let before_seq = page_cursor(cursor.as_deref())?;
        // A filter that is not an instance id matches no event.
        let instance_id = match instance_id.as_deref().map(InstanceId::parse) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return Ok(Json(EventPage::new(Vec::new(), limit))),
        };
        let filter = EventFilter {
            instance_id: instance_id.as_ref(),
            state: state_filter(event_state.0),
            event_type: event_type.as_deref(),
            before_seq,
            limit,
            ..EventFilter::default()
        };
        let rows = state
            .store
            .list_events(&filter)
            .await
            .map_err(|e| ApiError::store("list events", e))?;
        Ok(Json(EventPage::new(rows, limit)))
    }

    /// One event with its delivery attempts.
    #[oai(
        path = "/events/:id",
        method = "get",
        operation_id = "admin.events.get"
    )]
    async fn get_event(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<EventDetail>, ApiError> {
        Ok(Json(event_detail(&state, &id, None).await?))
    }

    /// Replay a dead letter.
    #[oai(
        path = "/events/:id/replay",
        method = "post",
        operation_id = "admin.events.replay"
    )]
    async fn replay_event(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<EventView>, ApiError> {
        let view = replay_one(&state, &id, None).await?;
        let _ = state.store.audit(ACTOR, "event.replayed", &id, None).await;
        Ok(Json(view))
    }

    /// Replay every dead letter, of one instance when `instance_id` is given.
    #[oai(
        path = "/dead-letters/replay",
        method = "post",
        operation_id = "admin.dead_letters.replay"
    )]
    async fn replay_dead(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        instance_id: Query<Option<String>>,
    ) -> Result<Json<ReplayCount>, ApiError> {
        // A filter that is not an instance id matches no dead letter.
        let n = match instance_id.as_deref().map(InstanceId::parse) {
            Some(Err(_)) => {
                let _ = state
                    .store
                    .audit(
                        ACTOR,
                        "dead_letters.replayed",
                        instance_id.as_deref().unwrap_or("*"),
                        Some("0"),
                    )
                    .await;
                0
            }
            filter => {
                replay_dead_letters(&state, filter.and_then(Result::ok).as_ref(), ACTOR).await?
            }
        };
        Ok(Json(ReplayCount { replayed: n }))
    }
}
