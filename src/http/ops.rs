//! Health, readiness and metrics.

use std::sync::Arc;

use poem::web::Data;
use poem::{Response, handler};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::AppState;
use super::api::Tag;

/// Prometheus text exposition.
#[handler]
pub fn metrics(state: Data<&Arc<AppState>>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

#[derive(Debug, Object)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database is reachable and every migration is applied.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// Not ready: the database is unreachable or migrations are missing.
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

pub struct OpsApi;

#[OpenApi(tag = "Tag::Operations")]
impl OpsApi {
    /// The process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "ops.health")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
        })
    }

    /// The service can do its work: database reachable, migrations applied.
    #[oai(path = "/readyz", method = "get", operation_id = "ops.ready")]
    async fn readyz(&self, state: Data<&Arc<AppState>>) -> ReadyResponse {
        match state.store.ready().await {
            Ok(true) => ReadyResponse::Ready(Json(Health {
                status: "ok".into(),
            })),
            _ => ReadyResponse::NotReady(Json(Health {
                status: "unavailable".into(),
            })),
        }
    }
}
