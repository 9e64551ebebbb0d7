//! The OpenAPI document: every documented API and the events POSTed to instances (as
//! `x-webhooks`), and the rewrite that makes poem-openapi's 3.1 output the OpenAPI 3.0 document
//! SDK generators read (`openapi/` holds it; a test fails when it drifts from the code).

use poem_openapi::OpenApiService;

use super::{admin, channels, connect_api, leads, messages, meta_api, ops, templates, threads, v1};

/// The OpenAPI service: every documented API.
pub type Apis = (
    connect_api::ConnectApi,
    admin::AdminApi,
    v1::InstanceApi,
    messages::MessagesApi,
    channels::ChannelsApi,
    templates::TemplatesApi,
    leads::LeadsApi,
    threads::ThreadsApi,
    ops::OpsApi,
    meta_api::MetaApi,
);

/// The documented webhooks: the events POSTed to instances' callback URLs, one `post` per
/// event type (`&dyn EventWebhooks` is what `OpenApiService::webhooks` takes; implement nothing).
///
/// poem-openapi's `#[Webhook]` macro keeps one operation per HTTP method, so it cannot describe
/// several `post` webhooks; the [`Webhook`] impl is written out instead.
pub trait EventWebhooks {}

pub type Webhooks = &'static dyn EventWebhooks;

impl poem_openapi::Webhook for &dyn EventWebhooks {
    fn meta() -> Vec<poem_openapi::registry::MetaWebhook> {
        use crate::events::schema::{EventAck, RECEIVER_GUIDE, event_docs};
        event_docs()
            .into_iter()
            .map(|d| poem_openapi::registry::MetaWebhook {
                name: d.event_type,
                operation: poem_openapi::registry::MetaOperation {
                    method: poem::http::Method::POST,
                    tags: vec![],
                    summary: Some(d.summary),
                    description: Some(RECEIVER_GUIDE),
                    external_docs: None,
                    params: vec![],
                    request: d.request,
                    responses: <EventAck as poem_openapi::ApiResponse>::meta(),
                    deprecated: false,
                    security: vec![],
                    operation_id: Some(d.operation_id),
                    code_samples: vec![],
                },
            })
            .collect()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        crate::events::schema::register_event_schemas(registry);
    }
}

pub fn openapi_service(public_url: &str) -> OpenApiService<Apis, Webhooks> {
    OpenApiService::new(
        (
            connect_api::ConnectApi,
            admin::AdminApi,
            v1::InstanceApi,
            messages::MessagesApi,
            channels::ChannelsApi,
            templates::TemplatesApi,
            leads::LeadsApi,
            threads::ThreadsApi,
            ops::OpsApi,
            meta_api::MetaApi,
        ),
        "metabridge",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Bridge between Meta's messaging channels (WhatsApp Cloud API, Instagram, Messenger, Lead Ads) \
         and DSK platform instances. Admin endpoints take `Authorization: Bearer <METABRIDGE_ADMIN_TOKEN>`; \
         `/v1` endpoints take a JWT signed by the instance (HS256 with the secret shown at instance creation, \
         or RS256 / EdDSA with a registered public key named by `kid`; `aud` = `metabridge`, `iss` = the \
         instance id, `exp` required). Outbound sends: `POST /v1/messages` (idempotent with `Idempotency-Key`); \
         results arrive as `message.sent` / `message.failed` / `message.status` events.",
    )
    .server(public_url.to_string())
    .webhooks::<&dyn EventWebhooks>()
}

/// The OpenAPI document as JSON (what `metabridge openapi` prints and `openapi/` holds).
pub fn openapi_json() -> String {
    openapi_3_0_json(&openapi_service("http://127.0.0.1:8080").spec())
}

/// The OpenAPI document as YAML.
pub fn openapi_yaml() -> String {
    openapi_3_0_yaml(&openapi_service("http://127.0.0.1:8080").spec_yaml())
}

/// poem-openapi writes the webhooks (the events) under a top-level `webhooks` key, which is
/// OpenAPI 3.1, into a document that says `"openapi": "3.0.0"`. This moves them to
/// `x-webhooks` (what Redoc reads for 3.0 documents); their schemas stay in
/// `components.schemas`. Only the top-level key is renamed, in place, so the document keeps
/// poem-openapi's key order: in pretty JSON a top-level key is the only line starting with
/// exactly two spaces and a quote (strings cannot contain raw newlines). Should that ever not
/// hold, the document is rewritten through `serde_json::Value` (keys sorted) instead.
pub fn openapi_3_0_json(spec: &str) -> String {
    const KEY: &str = "\n  \"webhooks\": ";
    let spec = drop_description_only_all_of_json(spec);
    let renamed = spec.replacen(KEY, "\n  \"x-webhooks\": ", 1);
    let moved = |doc: &serde_json::Value| doc.get("webhooks").is_none();
    match serde_json::from_str::<serde_json::Value>(&renamed) {
        Ok(doc) if moved(&doc) => renamed,
        Ok(mut doc) => {
            if let Some(obj) = doc.as_object_mut()
                && let Some(w) = obj.remove("webhooks")
            {
                obj.insert("x-webhooks".to_string(), w);
            }
            serde_json::to_string_pretty(&doc).unwrap_or(renamed)
        }
        Err(_) => renamed,
    }
}

/// [`openapi_3_0_json`] for poem-openapi's YAML: a top-level key is the only line starting in
/// column 0 with a plain key (block scalars and nested keys are indented).
pub fn openapi_3_0_yaml(spec: &str) -> String {
    let spec = drop_description_only_all_of_yaml(spec);
    let spec = spec.as_str();
    if let Some(rest) = spec.strip_prefix("webhooks:\n") {
        return format!("x-webhooks:\n{rest}");
    }
    spec.replacen("\nwebhooks:\n", "\nx-webhooks:\n", 1)
}

/// poem-openapi documents a field whose type is a named schema as
/// `{"description": D, "allOf": [{"$ref": R}, {"description": D}]}`. The second `allOf`
/// member constrains nothing, but openapi-python-client refuses "allOf a non-object" and drops
/// every schema and operation that contains one. This removes exactly those members (the
/// outer `description` stays), keeping the document's key order, from poem's pretty JSON:
/// `},` / `{` / `"description": …` / `}` / `]` right after a `"$ref"` line.
fn drop_description_only_all_of_json(spec: &str) -> String {
    let lines: Vec<&str> = spec.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let t = |k: usize| lines.get(i + k).map(|l| l.trim()).unwrap_or("");
        let after_ref = i > 0 && lines[i - 1].trim().starts_with("\"$ref\": ");
        if after_ref
            && t(0) == "},"
            && t(1) == "{"
            && t(2).starts_with("\"description\": ")
            && !t(2).ends_with(',')
            && t(3) == "}"
            && t(4).starts_with(']')
        {
            out.push(lines[i].replacen("},", "}", 1));
            i += 4;
            continue;
        }
        out.push(lines[i].to_string());
        i += 1;
    }
    let mut joined = out.join("\n");
    if spec.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// The same for poem-openapi's YAML: a `- description: …` item (with its continuation lines)
/// right after a `- $ref: …` item of an `allOf` list.
fn drop_description_only_all_of_yaml(spec: &str) -> String {
    let lines: Vec<&str> = spec.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let is_desc_item = line.trim_start().starts_with("- description:");
        let prev_is_ref = out
            .last()
            .is_some_and(|p| p.trim_start().starts_with("- $ref:") && indent(p) == indent(line));
        let in_all_of = out.len() >= 2
            && out[out.len() - 2].trim() == "allOf:"
            && indent(out[out.len() - 2]) <= indent(line);
        if is_desc_item && prev_is_ref && in_all_of {
            let dash = indent(line);
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() && indent(lines[i]) > dash {
                i += 1;
            }
            continue;
        }
        out.push(line);
        i += 1;
    }
    let mut joined = out.join("\n");
    if spec.ends_with('\n') {
        joined.push('\n');
    }
    joined
}
