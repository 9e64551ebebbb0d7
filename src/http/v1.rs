//! The instance API (`/v1`, instance JWT): an instance's own events, their attempts and dead
//! letters, and replays. Another instance's event answers 404, exactly like an unknown id (P10).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::AppState;
use super::api::{
    EventDetail, EventPage, EventState, EventView, InstanceAuth, ReplayCount, Tag, event_detail,
    page_cursor, page_limit, replay_one,
};
use super::errors::ApiError;
use crate::store::EventFilter;

pub struct InstanceApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Events")]
impl InstanceApi {
    /// This instance's events (metadata only), newest first. `state=dead` lists dead letters.
    #[oai(path = "/events", method = "get", operation_id = "events.list")]
    async fn list_events(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        #[oai(name = "state")] event_state: Query<Option<EventState>>,
        #[oai(name = "type")] event_type: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> Result<Json<EventPage>, ApiError> {
        let limit = page_limit(limit.0)?;
        let filter = EventFilter {
            instance_id: Some(&auth.0),
            state: event_state.0.map(EventState::as_str),
            event_type: event_type.as_deref(),
            before_seq: page_cursor(cursor.as_deref())?,
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

    /// One of this instance's events with every delivery attempt.
    #[oai(path = "/events/:id", method = "get", operation_id = "events.get")]
    async fn get_event(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<EventDetail>, ApiError> {
        Ok(Json(event_detail(&state, &id, Some(&auth.0)).await?))
    }

    /// Replay one of this instance's dead letters (same event id: dedup still works).
    #[oai(
        path = "/events/:id/replay",
        method = "post",
        operation_id = "events.replay"
    )]
    async fn replay_event(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<EventView>, ApiError> {
        let view = replay_one(&state, &id, Some(&auth.0)).await?;
        let _ = state
            .store
            .audit(auth.0.as_str(), "event.replayed", &id, None)
            .await;
        Ok(Json(view))
    }

    /// Replay every dead letter of this instance.
    #[oai(
        path = "/dead-letters/replay",
        method = "post",
        operation_id = "dead_letters.replay"
    )]
    async fn replay_dead(
        &self,
        auth: InstanceAuth,
        state: Data<&Arc<AppState>>,
    ) -> Result<Json<ReplayCount>, ApiError> {
        let now = crate::now_ms();
        let deadline =
            now + i64::try_from(state.config.delivery_horizon.as_millis()).unwrap_or(i64::MAX / 2);
        let n = state
            .store
            .replay_dead_letters(Some(&auth.0), now, deadline)
            .await
            .map_err(|e| ApiError::store("replay dead letters", e))?;
        let _ = state
            .store
            .audit(
                auth.0.as_str(),
                "dead_letters.replayed",
                auth.0.as_str(),
                Some(&n.to_string()),
            )
            .await;
        state.writer_wakeup();
        Ok(Json(ReplayCount { replayed: n }))
    }
}
