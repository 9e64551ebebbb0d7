//! Connect sessions (`/v1/connect-sessions`), the instance's data export (`/v1/export`, P14)
//! and the audit log (`/admin/v1/audit`, P17).

use std::sync::Arc;

use futures_util::stream::BoxStream;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::AppState;
use super::api::{AdminAuth, InstanceAuth, Tag, page_cursor, page_limit};
use super::errors::{ApiError, codes};
use super::export::{ExportRecord, export_records};
use super::ndjson::Ndjson;
use crate::channels::ChannelKind;
use crate::connect::{self, Flow};
use crate::store::{AuditRow, ConnectSessionRow};

/// Ask for a one-time connect link.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateConnectSession {
    /// What the person will connect.
    pub kind: ChannelKind,
    /// Where the person is sent back when the flow ends, with `connect_session_id`, `status`
    /// (`completed` or `failed`) and, on failure, `error` added to its query. Must be on one of
    /// the instance's allowed return origins (by default the origin of its callback URL).
    #[oai(validator(max_length = 2048))]
    pub return_url: String,
    /// Language of the pages (BCP 47, e.g. `en`, `pt-BR`); pages fall back to English.
    #[oai(validator(max_length = 35))]
    pub locale: Option<String>,
}

impl poem_openapi::types::Example for CreateConnectSession {
    fn example() -> Self {
        Self {
            kind: ChannelKind::Whatsapp,
            return_url: "https://crm.example.com/settings/channels".into(),
            locale: Some("en".into()),
        }
    }
}

/// State of a connect session.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ConnectState {
    /// The link is waiting for the person (or the person is in Meta's flow).
    Pending,
    /// Channels were connected (`channel_ids`).
    Completed,
    /// The flow ended without a channel (`failure` says why).
    Failed,
    /// Nobody finished the flow before the link expired.
    Expired,
}

impl ConnectState {
    fn parse(s: &str) -> Self {
        match s {
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => Self::Pending,
        }
    }
}

/// Which of Meta's flows the person goes through.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ConnectFlow {
    EmbeddedSignup,
    FacebookLogin,
    InstagramLogin,
}

/// Why a session failed.
#[derive(Debug, Clone, Object)]
pub struct ConnectFailure {
    /// `cancelled`, `permission_denied`, `no_assets`, `asset_taken`, `asset_mismatch`,
    /// `meta_error`, `connect_failed`, `state_invalid`, `nothing_selected`.
    pub code: String,
    pub message: String,
}

/// A connect session.
#[derive(Debug, Clone, Object)]
pub struct ConnectSessionView {
    pub id: String,
    pub kind: ChannelKind,
    pub flow: ConnectFlow,
    pub state: ConnectState,
    pub return_url: String,
    #[oai(skip_serializing_if_is_none)]
    pub locale: Option<String>,
    /// The one-time link to give the person (only in the creation response).
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    /// Channels connected (when `completed`).
    pub channel_ids: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub failure: Option<ConnectFailure>,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at: String,
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<String>,
}

impl ConnectSessionView {
    fn from_row(row: &ConnectSessionRow, url: Option<String>, now: i64) -> Self {
        // Sessions are created with a valid kind; a row the code cannot read shows as WhatsApp.
        let kind = ChannelKind::parse(&row.kind).unwrap_or(ChannelKind::Whatsapp);
        let flow = match Flow::parse(&row.flow) {
            Some(Flow::FacebookLogin) => ConnectFlow::FacebookLogin,
            Some(Flow::InstagramLogin) => ConnectFlow::InstagramLogin,
            _ => ConnectFlow::EmbeddedSignup,
        };
        Self {
            id: row.id.clone(),
            kind,
            flow,
            state: ConnectState::parse(row.effective_state(now)),
            return_url: row.return_url.clone(),
            locale: row.locale.clone(),
            url,
            channel_ids: row.channel_id_list(),
            failure: row.failure_code.as_ref().map(|c| ConnectFailure {
                code: c.clone(),
                message: row.failure_reason.clone().unwrap_or_default(),
            }),
            created_at: crate::ms_to_rfc3339(row.created_at),
            expires_at: crate::ms_to_rfc3339(row.expires_at),
            finished_at: row.finished_at.map(crate::ms_to_rfc3339),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum SessionCreated {
    /// The session and its one-time link.
    #[oai(status = 201)]
    Created(Json<ConnectSessionView>),
}

/// One audit record (P17).
#[derive(Debug, Clone, Object)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// Who: `admin-api`, `cli`, `console` (the operator console), `instance`,
    /// `connect:<session id>`, `meta` (app callbacks), `token-health`.
    pub actor: String,
    /// What, e.g. `instance.created`, `channel.connected`, `channel.disconnected`,
    /// `keys.rotated`, `data.deleted_by_callback`, `dead_letters.replayed`.
    pub action: String,
    /// The object acted on (instance, channel, event, session id, or confirmation code).
    pub target: String,
    #[oai(skip_serializing_if_is_none)]
    pub instance_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: crate::ms_to_rfc3339(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target,
            instance_id: r.instance_id,
            detail: r.detail,
        }
    }
}

/// A page of audit records, newest first.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Creates a connect session of `instance_id` for a channel `kind`: a one-time link through
/// Meta's flow that returns to `return_url` (one of the instance's allowed origins). Shared
/// by `POST /v1/connect-sessions` and the console. Returns the session and its link.
pub async fn create_connect_session(
    state: &AppState,
    instance_id: &crate::ids::InstanceId,
    kind: &str,
    return_url: &str,
    locale: Option<&str>,
) -> Result<(ConnectSessionRow, String), ApiError> {
    let cfg = &state.config.connect;
    if cfg.app_id.is_none() {
        return Err(ApiError::conflict(
            codes::CONNECT_NOT_CONFIGURED,
            "Channel connection is not configured on this bridge (META_APP_ID is not set).",
        ));
    }
    let kind = ChannelKind::parse(kind)
        .ok_or_else(|| ApiError::invalid("kind", "unknown channel kind"))?;
    let flow = Flow::for_kind(kind, cfg);
    if flow == Flow::EmbeddedSignup && cfg.embedded_signup_config_id.is_none() {
        return Err(ApiError::conflict(
            codes::CONNECT_NOT_CONFIGURED,
            "WhatsApp Embedded Signup is not configured on this bridge (META_EMBEDDED_SIGNUP_CONFIG_ID is not set).",
        ));
    }
    if let Some(l) = locale
        && (l.is_empty()
            || !l
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(ApiError::rule(
            "locale",
            "format",
            "must be a language tag such as `en` or `pt-BR`",
        ));
    }
    let origins = state
        .store
        .instance_return_origins(instance_id)
        .await
        .map_err(|e| ApiError::store("read instance", e))?
        .ok_or_else(|| {
            ApiError::not_found(codes::INSTANCE_NOT_FOUND, "The instance no longer exists.")
        })?;
    let return_url = connect::return_url_allowed(return_url, &origins).map_err(|why| {
        let mut e = ApiError::unprocessable(
            codes::RETURN_URL_NOT_ALLOWED,
            Some("return_url"),
            format!("return_url {why} (allowed: {})", origins.join(", ")),
        );
        if let ApiError::Unprocessable(b) = &mut e {
            b.0.rule = Some("allowed_origin".into());
        }
        e
    })?;
    if return_url.scheme() != "https" && !state.config.allow_private_callbacks {
        return Err(ApiError::rule(
            "return_url",
            "https_required",
            "return_url must use https",
        ));
    }
    let now = crate::now_ms();
    let ttl = i64::try_from(cfg.session_ttl.as_millis()).unwrap_or(1_800_000);
    let secret = connect::random_secret(32);
    let row = ConnectSessionRow {
        id: crate::ids::new_id(connect::SESSION_PREFIX),
        instance_id: instance_id.clone(),
        kind: kind.as_str().to_string(),
        flow: flow.as_str().to_string(),
        return_url: return_url.to_string(),
        locale: locale.map(str::to_string),
        state: "pending".into(),
        failure_code: None,
        failure_reason: None,
        channel_ids: None,
        browser_hash: None,
        nonce_hash: None,
        temp_enc: None,
        created_at: now,
        updated_at: now,
        expires_at: now + ttl,
        finished_at: None,
    };
    state
        .store
        .insert_connect_session(&row, &connect::sha256_hex(&secret))
        .await
        .map_err(|e| ApiError::store("create connect session", e))?;
    let url = format!("{}/connect/{secret}", state.config.public_url);
    Ok((row, url))
}

pub struct ConnectApi;

#[OpenApi(tag = "Tag::Connect")]
impl ConnectApi {
    /// Create a connect session: a one-time link (valid 30 minutes by default) that takes a
    /// person through Meta's flow for the given channel kind. Follow the outcome with
    /// `GET /v1/connect-sessions/{id}` or the `channel.connected` event.
    #[oai(
        path = "/v1/connect-sessions",
        method = "post",
        operation_id = "connect_sessions.create"
    )]
    async fn create(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        body: Json<CreateConnectSession>,
    ) -> Result<SessionCreated, ApiError> {
        let (row, url) = create_connect_session(
            &state,
            &auth.0,
            body.kind.as_str(),
            &body.return_url,
            body.locale.as_deref(),
        )
        .await?;
        let now = row.created_at;
        Ok(SessionCreated::Created(Json(ConnectSessionView::from_row(
            &row,
            Some(url),
            now,
        ))))
    }

    /// A connect session of this instance: `pending`, `completed` (with the channel ids),
    /// `failed` (with the reason) or `expired`.
    #[oai(
        path = "/v1/connect-sessions/:id",
        method = "get",
        operation_id = "connect_sessions.get"
    )]
    async fn get(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<ConnectSessionView>, ApiError> {
        let not_found = || {
            ApiError::not_found(
                codes::CONNECT_SESSION_NOT_FOUND,
                "No connect session with that id.",
            )
        };
        if !connect::is_session_id(&id) {
            return Err(not_found());
        }
        let row = state
            .store
            .get_connect_session(&id, Some(&auth.0))
            .await
            .map_err(|e| ApiError::store("read connect session", e))?
            .ok_or_else(not_found)?;
        Ok(Json(ConnectSessionView::from_row(
            &row,
            None,
            crate::now_ms(),
        )))
    }

    /// Everything the bridge holds about this instance (P14), as newline-delimited JSON
    /// (`application/x-ndjson`): each line is one `ExportRecord`, selected by `record`. First the
    /// `instance` (no secrets), then its `channel`s and their status (no tokens), its
    /// `connect_session`s, its undelivered and dead-lettered `event`s (metadata) and its
    /// `message`s' metadata (no bodies), and last an `end` record with the count of each kind.
    ///
    /// The export is streamed as it is read, in pages: rows written while it runs may or may not
    /// appear. An export without its `end` line is incomplete (the connection was cut, or the
    /// database failed mid-way: the status was already sent); ask again.
    #[oai(path = "/v1/export", method = "get", operation_id = "instance.export")]
    async fn export(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
    ) -> Result<Ndjson<BoxStream<'static, ExportRecord>>, ApiError> {
        let instance = state
            .store
            .get_instance(&auth.0)
            .await
            .map_err(|e| ApiError::store("export instance", e))?
            .ok_or_else(|| {
                ApiError::not_found(codes::INSTANCE_NOT_FOUND, "The instance no longer exists.")
            })?;
        let _ = state
            .store
            .audit_instance(
                "instance",
                "instance.exported",
                auth.0.as_str(),
                Some(auth.0.as_str()),
                None,
            )
            .await;
        Ok(Ndjson(export_records(state.store.clone(), instance)))
    }

    /// The audit log (P17), newest first: who did what, when, to which instance.
    #[oai(
        path = "/admin/v1/audit",
        method = "get",
        operation_id = "admin.audit.list",
        tag = "Tag::Admin"
    )]
    async fn audit(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        instance_id: Query<Option<String>>,
        action: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        let limit = page_limit(limit.0)?;
        let rows = state
            .store
            .list_audit(
                instance_id.as_deref(),
                action.as_deref(),
                page_cursor(cursor.as_deref())?,
                limit,
            )
            .await
            .map_err(|e| ApiError::store("list audit log", e))?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.id.to_string()))
            .flatten();
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditEntry::from).collect(),
            next_cursor,
        }))
    }
}
