//! A WhatsApp channel's message templates (`/v1/channels/{id}/templates`): the list the bridge
//! keeps in step with Meta (filters, pages), one template, submitting a new one and deleting
//! one. Create and delete are calls to Meta made for the instance; what Meta refuses comes
//! back as `422 meta_rejected` with Meta's reason (never a token: the client redacts them).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::{Value, json};

use super::AppState;
use super::api::{InstanceAuth, Tag, page_limit};
use super::channels::own_channel;
use super::errors::{ApiError, codes};
use crate::channels::ChannelKind;
use crate::store::{ChannelRow, TemplateFilter, TemplateRow};
use crate::templates::TemplateCallError;

/// Longest template name Meta accepts.
const MAX_NAME: usize = 512;

/// A template's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

/// How a template's variables are written: `{{1}}` (`POSITIONAL`, Meta's default) or
/// `{{first_name}}` (`NAMED`); sends then give `parameter_name` on each text parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum TemplateParameterFormat {
    Positional,
    Named,
}

/// A template as the bridge last read it from Meta.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateView {
    pub channel_id: String,
    /// Meta's template id.
    pub id: String,
    pub name: String,
    pub language: String,
    /// Meta's status: `APPROVED` (sendable), `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    pub category: Option<String>,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// Meta's quality score: `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    pub quality: Option<String>,
    /// The template's components as Meta describes them (HEADER, BODY, FOOTER, BUTTONS).
    pub components: Value,
    /// When the bridge read this template from Meta.
    pub synced_at: String,
}

impl From<TemplateRow> for TemplateView {
    fn from(r: TemplateRow) -> Self {
        Self {
            channel_id: r.channel_id,
            id: r.template_id,
            name: r.name,
            language: r.language,
            status: r.status,
            category: r.category,
            parameter_format: r.parameter_format,
            quality: r.quality,
            components: serde_json::from_str(&r.components).unwrap_or(Value::Array(Vec::new())),
            synced_at: crate::ms_to_rfc3339(r.synced_at),
        }
    }
}

/// A page of a channel's templates, by name then language.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplatePage {
    pub templates: Vec<TemplateView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// When the channel's templates were last read from Meta in full; absent if never.
    pub synced_at: Option<String>,
    /// Why the last read failed, when it did (the list is then the last good read).
    pub sync_error: Option<String>,
}

/// A new template to submit to Meta for review.
#[derive(Debug, Object)]
pub struct NewTemplateRequest {
    /// Lowercase letters, digits and `_`, at most 512 characters.
    pub name: String,
    /// Language and locale code, e.g. `pt_BR`, `en_US`.
    pub language: String,
    pub category: TemplateCategory,
    /// `POSITIONAL` when absent.
    pub parameter_format: Option<TemplateParameterFormat>,
    /// Meta's components (`HEADER`, `BODY` (required), `FOOTER`, `BUTTONS`) exactly as Meta
    /// documents them for template creation; passed on unchanged.
    pub components: Vec<Value>,
}

#[derive(Debug, ApiResponse)]
pub enum TemplateCreated {
    /// Submitted: Meta reviews it (`status` `PENDING`); `template.status` tells the outcome.
    #[oai(status = 201)]
    Created(Json<TemplateView>),
}

#[derive(Debug, ApiResponse)]
pub enum TemplateDeleted {
    /// Deleted at Meta, in every language.
    #[oai(status = 204)]
    NoContent,
}

fn template_not_found() -> ApiError {
    ApiError::not_found(
        codes::TEMPLATE_NOT_FOUND,
        "No template with that name and language on this channel.",
    )
}

/// A channel of the instance that has templates: WhatsApp, with a WABA.
async fn template_channel(
    state: &AppState,
    id: &str,
    auth: &InstanceAuth,
) -> Result<ChannelRow, ApiError> {
    let ch = own_channel(state, id, &auth.0, false).await?;
    if ch.kind != ChannelKind::Whatsapp || ch.waba_id.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::unprocessable(
            codes::TEMPLATES_UNAVAILABLE,
            None,
            "Templates belong to WhatsApp channels with a WhatsApp Business Account.",
        ));
    }
    Ok(ch)
}

/// Meta's answer to a create or delete, in the API's shape: Meta's refusal with its reason
/// (`422 meta_rejected`, `rule` `meta_<code>[_<subcode>]`), else `502 meta_error`.
fn call_error(e: TemplateCallError) -> ApiError {
    match e {
        TemplateCallError::NotApplicable(why) => {
            ApiError::unprocessable(codes::TEMPLATES_UNAVAILABLE, None, format!("{why}."))
        }
        TemplateCallError::Store(e) => ApiError::store("store template", e),
        TemplateCallError::Graph(e) => ApiError::meta_call(e, "the template"),
    }
}

fn is_template_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_language(s: &str) -> bool {
    (2..=15).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
}

pub struct TemplatesApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Channels")]
impl TemplatesApi {
    /// A WhatsApp channel's message templates as last read from Meta (kept in step on
    /// connect, on Meta's template webhooks and hourly), by name then language.
    #[oai(
        path = "/channels/:id/templates",
        method = "get",
        operation_id = "templates.list"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// Only templates with this status (`APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, …).
        status: Query<Option<String>>,
        /// Only templates with this name.
        name: Query<Option<String>>,
        /// Only this language (e.g. `pt_BR`).
        language: Query<Option<String>>,
        /// Only this category (`MARKETING`, `UTILITY`, `AUTHENTICATION`).
        category: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> Result<Json<TemplatePage>, ApiError> {
        let ch = template_channel(&state, &id, &auth).await?;
        let limit = page_limit(limit.0)?;
        let after = match cursor.as_deref() {
            None => None,
            Some(c) => Some(
                c.split_once('/')
                    .filter(|(n, l)| is_template_name(n) && is_language(l))
                    .ok_or_else(|| {
                        ApiError::invalid("cursor", "is not a cursor from a previous page")
                    })?,
            ),
        };
        let upper = |v: &Option<String>| v.as_deref().map(str::to_ascii_uppercase);
        let (status, category) = (upper(&status), upper(&category));
        let filter = TemplateFilter {
            status: status.as_deref(),
            name: name.as_deref(),
            language: language.as_deref(),
            category: category.as_deref(),
            after,
            limit,
        };
        let rows = state
            .store
            .list_templates(&ch.id, &auth.0, &filter)
            .await
            .map_err(|e| ApiError::store("list templates", e))?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| format!("{}/{}", r.name, r.language)))
            .flatten();
        let sync = state
            .store
            .template_sync(&ch.id)
            .await
            .map_err(|e| ApiError::store("read template sync", e))?;
        Ok(Json(TemplatePage {
            templates: rows.into_iter().map(TemplateView::from).collect(),
            next_cursor,
            synced_at: sync
                .as_ref()
                .and_then(|s| s.synced_at)
                .map(crate::ms_to_rfc3339),
            sync_error: sync.and_then(|s| s.last_error),
        }))
    }

    /// One template of a WhatsApp channel, by name and language.
    #[oai(
        path = "/channels/:id/templates/:name/:language",
        method = "get",
        operation_id = "templates.get"
    )]
    async fn get(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        name: Path<String>,
        language: Path<String>,
    ) -> Result<Json<TemplateView>, ApiError> {
        let ch = template_channel(&state, &id, &auth).await?;
        let row = state
            .store
            .get_template(&ch.id, &auth.0, &name, &language)
            .await
            .map_err(|e| ApiError::store("read template", e))?
            .ok_or_else(template_not_found)?;
        Ok(Json(row.into()))
    }

    /// Submit a new template to Meta for review. Meta's refusal (a name in use, a wrong
    /// component, …) answers `422 meta_rejected` with Meta's reason; the outcome of the review
    /// arrives as a `template.status` event.
    #[oai(
        path = "/channels/:id/templates",
        method = "post",
        operation_id = "templates.create"
    )]
    async fn create(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: Json<NewTemplateRequest>,
    ) -> Result<TemplateCreated, ApiError> {
        let ch = template_channel(&state, &id, &auth).await?;
        let b = body.0;
        if !is_template_name(&b.name) {
            return Err(ApiError::rule(
                "name",
                "invalid_format",
                "must be 1–512 lowercase letters, digits or underscores",
            ));
        }
        if !is_language(&b.language) {
            return Err(ApiError::rule(
                "language",
                "invalid_format",
                "must be a language code such as pt_BR, en_US or es",
            ));
        }
        let has_body = b.components.iter().any(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
        });
        if !has_body {
            return Err(ApiError::rule(
                "components",
                "required",
                "a template needs a BODY component",
            ));
        }
        let category = match b.category {
            TemplateCategory::Marketing => "MARKETING",
            TemplateCategory::Utility => "UTILITY",
            TemplateCategory::Authentication => "AUTHENTICATION",
        };
        let mut meta_body = json!({
            "name": b.name,
            "language": b.language,
            "category": category,
            "components": b.components,
        });
        if let Some(f) = b.parameter_format {
            meta_body["parameter_format"] = json!(match f {
                TemplateParameterFormat::Positional => "POSITIONAL",
                TemplateParameterFormat::Named => "NAMED",
            });
        }
        state
            .templates
            .create(&ch, &meta_body)
            .await
            .map_err(call_error)?;
        let _ = state
            .store
            .audit(
                auth.0.as_str(),
                "template.created",
                ch.id.as_str(),
                Some(&b.name),
            )
            .await;
        let row = state
            .store
            .get_template(&ch.id, &auth.0, &b.name, &b.language)
            .await
            .map_err(|e| ApiError::store("read template", e))?
            .ok_or_else(|| ApiError::internal("create template", "stored template not found"))?;
        Ok(TemplateCreated::Created(Json(row.into())))
    }

    /// Delete a template at Meta, in every language (its name cannot be used again for 30
    /// days, Meta's rule).
    #[oai(
        path = "/channels/:id/templates/:name",
        method = "delete",
        operation_id = "templates.delete"
    )]
    async fn delete(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        name: Path<String>,
    ) -> Result<TemplateDeleted, ApiError> {
        let ch = template_channel(&state, &id, &auth).await?;
        if !is_template_name(&name) {
            return Err(template_not_found());
        }
        state
            .templates
            .delete(&ch, &name)
            .await
            .map_err(call_error)?;
        let _ = state
            .store
            .audit(
                auth.0.as_str(),
                "template.deleted",
                ch.id.as_str(),
                Some(&name),
            )
            .await;
        Ok(TemplateDeleted::NoContent)
    }
}
