//! The instance's export (P14) as a stream of typed records, one NDJSON line each
//! ([`ExportRecord`]): the instance, then its channels, connect sessions, undelivered and
//! dead-lettered events, messages, WhatsApp templates, kept media files, and a closing `end`
//! record with the counts.
//!
//! Rows are read one keyset page at a time ([`crate::store::EXPORT_PAGE_ROWS`]), each page its
//! own short query, and written as they are read: memory holds one page, whatever the
//! instance's size. A response cannot change its status once its first bytes are sent: when a
//! page read fails mid-way, the error is logged (its code, never a value) and the stream ends
//! without the `end` record, which is how a client tells a cut export from a complete one.
//!
//! No secret, token, message body or event content is ever selected (P01, P05, P14).

use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use poem_openapi::{Object, Union};

use crate::ids::InstanceId;
use crate::store::{
    EXPORT_PAGE_ROWS, ExportChannelRow, ExportEventRow, ExportMediaRow, ExportMessageRow,
    ExportSessionRow, ExportTemplateRow, FIRST_CREATED_KEY, FIRST_TEXT_KEY, InstanceRow, Store,
    StoreError,
};

/// One line of `GET /v1/export`, selected by `record`.
#[derive(Debug, Clone, PartialEq, Union)]
#[oai(discriminator_name = "record", one_of)]
pub enum ExportRecord {
    /// The first line: the instance (no secrets).
    #[oai(mapping = "instance")]
    Instance(ExportInstance),
    /// A channel (no token).
    #[oai(mapping = "channel")]
    Channel(ExportChannel),
    /// A connect session.
    #[oai(mapping = "connect_session")]
    ConnectSession(ExportConnectSession),
    /// An event not delivered yet (`pending`, `enriching`) or dead-lettered (`dead`): metadata only.
    #[oai(mapping = "event")]
    Event(ExportEvent),
    /// A message's metadata (no body).
    #[oai(mapping = "message")]
    Message(ExportMessage),
    /// A WhatsApp message template as last read from Meta (no components).
    #[oai(mapping = "template")]
    Template(ExportTemplate),
    /// A media file of a customer's message the bridge keeps (metadata, never the bytes).
    #[oai(mapping = "media_file")]
    MediaFile(ExportMediaFile),
    /// The last line, only when the export is complete.
    #[oai(mapping = "end")]
    End(ExportEnd),
}

/// The instance.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportInstance {
    pub id: String,
    pub name: String,
    pub callback_url: String,
    /// Subscribed event types; `null` means all.
    #[oai(nullable)]
    pub event_types: Option<Vec<String>>,
    /// Why delivery is paused (the receiver answered `410 Gone`), if it is.
    #[oai(nullable)]
    pub delivery_paused_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When this export started.
    pub exported_at: String,
}

/// A channel and its status.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportChannel {
    pub id: String,
    /// `whatsapp`, `instagram` or `messenger`.
    pub kind: String,
    pub external_id: String,
    #[oai(nullable)]
    pub waba_id: Option<String>,
    #[oai(nullable)]
    pub name: Option<String>,
    pub status: String,
    #[oai(nullable)]
    pub status_reason: Option<String>,
    /// Messages per second; `null` is the kind's default.
    #[oai(nullable)]
    pub rate_limit: Option<i64>,
    #[oai(nullable)]
    pub token_kind: Option<String>,
    #[oai(nullable)]
    pub token_expires_at: Option<String>,
    /// Whether the bridge holds a token for the channel (never the token itself).
    pub has_token: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A connect session.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportConnectSession {
    pub id: String,
    pub kind: String,
    pub flow: String,
    /// `pending`, `completed`, `failed` or `expired`.
    pub state: String,
    #[oai(nullable)]
    pub failure_code: Option<String>,
    /// Channels connected (when `completed`).
    #[oai(nullable)]
    pub channel_ids: Option<Vec<String>>,
    pub created_at: String,
    pub expires_at: String,
    #[oai(nullable)]
    pub finished_at: Option<String>,
}

/// An event waiting for delivery or dead-lettered.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportEvent {
    pub id: String,
    #[oai(rename = "type")]
    pub event_type: String,
    /// `pending`, `enriching` or `dead`.
    pub state: String,
    #[oai(nullable)]
    pub channel_id: Option<String>,
    pub attempts: i64,
    pub received_at: String,
    pub next_attempt_at: String,
}

/// A message's metadata.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportMessage {
    pub id: String,
    pub channel_id: String,
    #[oai(rename = "type")]
    pub message_type: String,
    pub status: String,
    #[oai(nullable)]
    pub meta_message_id: Option<String>,
    #[oai(nullable)]
    pub client_reference: Option<String>,
    pub attempts: i64,
    #[oai(nullable)]
    pub error_code: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// A WhatsApp message template.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportTemplate {
    pub channel_id: String,
    pub name: String,
    pub language: String,
    /// Meta's template id.
    pub template_id: String,
    /// Meta's status (`APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, …).
    pub status: String,
    #[oai(nullable)]
    pub category: Option<String>,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    #[oai(nullable)]
    pub quality: Option<String>,
    /// When the bridge last read it from Meta.
    pub synced_at: String,
}

/// A kept media file (the media cache, P18).
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportMediaFile {
    pub channel_id: String,
    pub media_id: String,
    /// `image`, `video`, `audio`, `document`, `sticker` or `file`.
    pub kind: String,
    /// `pending` (being downloaded), `stored` or `failed`.
    pub state: String,
    #[oai(nullable)]
    pub mime_type: Option<String>,
    #[oai(nullable)]
    pub size: Option<i64>,
    /// Hex SHA-256 of the stored file.
    #[oai(nullable)]
    pub sha256: Option<String>,
    /// Why the file was not kept (`failed`), or why the last download failed.
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: String,
    #[oai(nullable)]
    pub stored_at: Option<String>,
    /// When the bridge deletes it.
    pub expires_at: String,
}

/// The closing line: how many records of each kind the export holds.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ExportEnd {
    pub counts: ExportCounts,
}

/// Records of each kind in the export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object)]
pub struct ExportCounts {
    pub channels: u64,
    pub connect_sessions: u64,
    pub events: u64,
    pub messages: u64,
    pub templates: u64,
    pub media_files: u64,
}

impl ExportInstance {
    pub fn from_row(row: &InstanceRow, exported_at_ms: i64) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            callback_url: row.callback_url.clone(),
            event_types: row.event_type_list(),
            delivery_paused_reason: row.delivery_paused_reason.clone(),
            created_at: crate::ms_to_rfc3339(row.created_at),
            updated_at: crate::ms_to_rfc3339(row.updated_at),
            exported_at: crate::ms_to_rfc3339(exported_at_ms),
        }
    }
}

impl From<ExportChannelRow> for ExportChannel {
    fn from(r: ExportChannelRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            external_id: r.external_id,
            waba_id: r.waba_id,
            name: r.name,
            status: r.status,
            status_reason: r.status_reason,
            rate_limit: r.rate_limit,
            token_kind: r.token_kind,
            token_expires_at: r.token_expires_at.map(crate::ms_to_rfc3339),
            has_token: r.has_token == 1,
            created_at: crate::ms_to_rfc3339(r.created_at),
            updated_at: crate::ms_to_rfc3339(r.updated_at),
        }
    }
}

impl From<ExportSessionRow> for ExportConnectSession {
    fn from(r: ExportSessionRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            flow: r.flow,
            state: r.state,
            failure_code: r.failure_code,
            channel_ids: r
                .channel_ids
                .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok()),
            created_at: crate::ms_to_rfc3339(r.created_at),
            expires_at: crate::ms_to_rfc3339(r.expires_at),
            finished_at: r.finished_at.map(crate::ms_to_rfc3339),
        }
    }
}

impl From<ExportEventRow> for ExportEvent {
    fn from(r: ExportEventRow) -> Self {
        Self {
            id: r.id,
            event_type: r.event_type,
            state: r.state,
            channel_id: r.channel_id,
            attempts: r.attempts,
            received_at: crate::ms_to_rfc3339(r.received_at),
            next_attempt_at: crate::ms_to_rfc3339(r.next_attempt_at),
        }
    }
}

impl From<ExportMessageRow> for ExportMessage {
    fn from(r: ExportMessageRow) -> Self {
        Self {
            id: r.id,
            channel_id: r.channel_id,
            message_type: r.message_type,
            status: r.state,
            meta_message_id: r.meta_message_id,
            client_reference: r.client_reference,
            attempts: r.attempts,
            error_code: r.error_code,
            created_at: crate::ms_to_rfc3339(r.created_at),
            updated_at: crate::ms_to_rfc3339(r.updated_at),
        }
    }
}

impl From<ExportTemplateRow> for ExportTemplate {
    fn from(r: ExportTemplateRow) -> Self {
        Self {
            channel_id: r.channel_id,
            name: r.name,
            language: r.language,
            template_id: r.template_id,
            status: r.status,
            category: r.category,
            parameter_format: r.parameter_format,
            quality: r.quality,
            synced_at: crate::ms_to_rfc3339(r.synced_at),
        }
    }
}

impl From<ExportMediaRow> for ExportMediaFile {
    fn from(r: ExportMediaRow) -> Self {
        Self {
            channel_id: r.channel_id,
            media_id: r.media_id,
            kind: r.kind,
            state: r.state,
            mime_type: r.mime_type,
            size: r.size,
            sha256: r.sha256,
            error: r.error,
            created_at: crate::ms_to_rfc3339(r.created_at),
            stored_at: r.stored_at.map(crate::ms_to_rfc3339),
            expires_at: crate::ms_to_rfc3339(r.expires_at),
        }
    }
}

/// Where the pager is: the key after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Instance,
    Channels(i64, String),
    Sessions(i64, String),
    Events(i64),
    Messages(i64),
    Templates(String, String, String),
    Media(String, String),
    End,
    Done,
}

/// Reads the export page by page; each call of [`Pager::next_page`] is at most one query.
struct Pager {
    store: Store,
    instance: InstanceRow,
    exported_at_ms: i64,
    page_rows: i64,
    stage: Stage,
    counts: ExportCounts,
}

fn first_template() -> Stage {
    let (c, n, l) = FIRST_TEXT_KEY;
    Stage::Templates(c.into(), n.into(), l.into())
}

fn first_created() -> (i64, String) {
    (FIRST_CREATED_KEY.0, FIRST_CREATED_KEY.1.to_string())
}

impl Pager {
    fn id(&self) -> &InstanceId {
        &self.instance.id
    }

    /// The next records, or `None` once the export ended (complete or cut).
    async fn next_page(&mut self) -> Option<Vec<ExportRecord>> {
        let page_rows = self.page_rows;
        // A short page is the last of its kind: no query to learn that the next one is empty.
        let full = |n: usize| i64::try_from(n).is_ok_and(|n| n >= page_rows);
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        match stage {
            Stage::Instance => {
                let (t, id) = first_created();
                self.stage = Stage::Channels(t, id);
                Some(vec![ExportRecord::Instance(ExportInstance::from_row(
                    &self.instance,
                    self.exported_at_ms,
                ))])
            }
            Stage::Channels(t, id) => {
                let rows = self
                    .store
                    .export_channels_page(self.id(), (t, &id), self.page_rows)
                    .await;
                let rows = self.or_cut(rows, "channels")?;
                self.stage = match rows.last() {
                    Some(r) if full(rows.len()) => Stage::Channels(r.created_at, r.id.clone()),
                    _ => {
                        let (t, id) = first_created();
                        Stage::Sessions(t, id)
                    }
                };
                self.counts.channels += rows.len() as u64;
                Some(
                    rows.into_iter()
                        .map(|r| ExportRecord::Channel(r.into()))
                        .collect(),
                )
            }
            Stage::Sessions(t, id) => {
                let rows = self
                    .store
                    .export_sessions_page(self.id(), (t, &id), self.page_rows)
                    .await;
                let rows = self.or_cut(rows, "connect_sessions")?;
                self.stage = match rows.last() {
                    Some(r) if full(rows.len()) => Stage::Sessions(r.created_at, r.id.clone()),
                    _ => Stage::Events(i64::MIN),
                };
                self.counts.connect_sessions += rows.len() as u64;
                Some(
                    rows.into_iter()
                        .map(|r| ExportRecord::ConnectSession(r.into()))
                        .collect(),
                )
            }
            Stage::Events(after) => {
                let rows = self
                    .store
                    .export_events_page(self.id(), after, self.page_rows)
                    .await;
                let rows = self.or_cut(rows, "events")?;
                self.stage = match rows.last() {
                    Some(r) if full(rows.len()) => Stage::Events(r.seq),
                    _ => Stage::Messages(i64::MIN),
                };
                self.counts.events += rows.len() as u64;
                Some(
                    rows.into_iter()
                        .map(|r| ExportRecord::Event(r.into()))
                        .collect(),
                )
            }
            Stage::Messages(after) => {
                let rows = self
                    .store
                    .export_messages_page(self.id(), after, self.page_rows)
                    .await;
                let rows = self.or_cut(rows, "messages")?;
                self.stage = match rows.last() {
                    Some(r) if full(rows.len()) => Stage::Messages(r.seq),
                    _ => first_template(),
                };
                self.counts.messages += rows.len() as u64;
                Some(
                    rows.into_iter()
                        .map(|r| ExportRecord::Message(r.into()))
                        .collect(),
                )
            }
            Stage::Templates(channel, name, language) => {
                let rows = self
                    .store
                    .export_templates_page(self.id(), (&channel, &name, &language), page_rows)
                    .await;
                let rows = self.or_cut(rows, "templates")?;
                self.stage = match rows.last() {
                    Some(r) if full(rows.len()) => {
                        Stage::Templates(r.channel_id.clone(), r.name.clone(), r.language.clone())
                    }
                    _ => Stage::Media(String::new(), String::new()),
                };
                self.counts.templates += rows.len() as u64;
                Some(
                    rows.into_iter()
                        .map(|r| ExportRecord::Template(r.into()))
                        .collect(),
                )
            }
            Stage::Media(channel, media_id) => {
                let rows = self
                    .store
                    .export_media_page(self.id(), (&channel, &media_id), page_rows)
                    .await;
                let rows = self.or_cut(rows, "media_files")?;
                self.stage = match rows.last() {
                    Some(r) if full(rows.len()) => {
                        Stage::Media(r.channel_id.clone(), r.media_id.clone())
                    }
                    _ => Stage::End,
                };
                self.counts.media_files += rows.len() as u64;
                Some(
                    rows.into_iter()
                        .map(|r| ExportRecord::MediaFile(r.into()))
                        .collect(),
                )
            }
            Stage::End => Some(vec![ExportRecord::End(ExportEnd {
                counts: self.counts.clone(),
            })]),
            Stage::Done => None,
        }
    }

    /// The rows of a page, or `None` (the stage is then `Done`: the export ends without its
    /// `end` record) after logging why, by the database's error code only.
    fn or_cut<T>(&self, rows: Result<Vec<T>, StoreError>, what: &'static str) -> Option<Vec<T>> {
        match rows {
            Ok(rows) => Some(rows),
            Err(e) => {
                tracing::error!(
                    instance_id = %self.id(),
                    page = what,
                    code = e.code().as_deref().unwrap_or("none"),
                    transient = e.is_transient(),
                    "export cut: a page read failed; the stream ends without its end record"
                );
                None
            }
        }
    }
}

/// The export of `instance` as records, read as the stream is polled: one page query per poll
/// that needs one, nothing read ahead. Stops reading when the stream is dropped (the client went
/// away).
pub fn export_records(store: Store, instance: InstanceRow) -> BoxStream<'static, ExportRecord> {
    export_records_paged(store, instance, EXPORT_PAGE_ROWS)
}

fn export_records_paged(
    store: Store,
    instance: InstanceRow,
    page_rows: i64,
) -> BoxStream<'static, ExportRecord> {
    let pager = Pager {
        store,
        instance,
        exported_at_ms: crate::now_ms(),
        page_rows: page_rows.max(1),
        stage: Stage::Instance,
        counts: ExportCounts::default(),
    };
    stream::unfold(pager, |mut pager| async move {
        let page = pager.next_page().await?;
        Some((stream::iter(page), pager))
    })
    .flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::ToJSON;
    use serde_json::json;

    /// Each record serializes with its `record` discriminator and today's field names and
    /// values, nulls included.
    #[test]
    fn records_serialize_with_their_discriminator_and_nulls() {
        let msg = ExportRecord::Message(ExportMessage {
            id: "msg_1".into(),
            channel_id: "ch_1".into(),
            message_type: "text".into(),
            status: "sent".into(),
            meta_message_id: None,
            client_reference: Some("r1".into()),
            attempts: 2,
            error_code: None,
            created_at: "2026-12-02T00:00:00.000Z".into(),
            updated_at: "2026-12-02T00:00:01.000Z".into(),
        });
        assert_eq!(
            msg.to_json(),
            Some(json!({
                "record": "message", "id": "msg_1", "channel_id": "ch_1", "type": "text",
                "status": "sent", "meta_message_id": null, "client_reference": "r1",
                "attempts": 2, "error_code": null,
                "created_at": "2026-12-02T00:00:00.000Z", "updated_at": "2026-12-02T00:00:01.000Z",
            }))
        );
        let end = ExportRecord::End(ExportEnd {
            counts: ExportCounts {
                channels: 1,
                connect_sessions: 2,
                events: 3,
                messages: 4,
                templates: 5,
                media_files: 6,
            },
        });
        assert_eq!(
            end.to_json(),
            Some(json!({"record": "end", "counts": {
                "channels": 1, "connect_sessions": 2, "events": 3, "messages": 4,
                "templates": 5, "media_files": 6}}))
        );
        let media = ExportRecord::MediaFile(ExportMediaFile::from(ExportMediaRow {
            channel_id: "ch_1".into(),
            media_id: "med_0123456789abcdef0123456789abcdef".into(),
            kind: "image".into(),
            state: "stored".into(),
            mime_type: Some("image/png".into()),
            size: Some(120),
            sha256: Some("ab".into()),
            error: None,
            created_at: 0,
            stored_at: Some(1000),
            expires_at: 3_600_000,
        }));
        assert_eq!(
            media.to_json(),
            Some(json!({
                "record": "media_file", "channel_id": "ch_1",
                "media_id": "med_0123456789abcdef0123456789abcdef", "kind": "image",
                "state": "stored", "mime_type": "image/png", "size": 120, "sha256": "ab",
                "error": null, "created_at": "1970-01-01T00:00:00.000Z",
                "stored_at": "1970-01-01T00:00:01.000Z", "expires_at": "1970-01-01T01:00:00.000Z",
            }))
        );
    }

    #[test]
    fn a_channel_row_shows_whether_it_has_a_token_never_the_token() {
        let row = ExportChannelRow {
            id: "ch_1".into(),
            kind: "whatsapp".into(),
            external_id: "1060".into(),
            waba_id: None,
            name: Some("Loja".into()),
            status: "active".into(),
            status_reason: None,
            rate_limit: Some(20),
            token_kind: Some("system_user".into()),
            token_expires_at: Some(0),
            has_token: 1,
            created_at: 1_000,
            updated_at: 2_000,
        };
        let v = ExportRecord::Channel(row.into()).to_json().expect("json");
        assert_eq!(v["record"], "channel");
        assert_eq!(v["has_token"], true);
        assert_eq!(v["token_expires_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["created_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["waba_id"], serde_json::Value::Null);
    }

    /// A SQLite store holding one instance and five channels created at the same millisecond.
    async fn store_with_tied_channels(dir: &tempfile::TempDir) -> (Store, InstanceRow) {
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::open(&url, crate::store::StoreOptions::default())
            .await
            .expect("open");
        let id = InstanceId::new();
        sqlx::query(
            "INSERT INTO instances (id, name, callback_url, signing_secret_enc, created_at, updated_at) \
             VALUES ($1, 'I', 'https://dsk.example.com/cb', 'enc', 1, 1)",
        )
        .bind(id.as_str())
        .execute(store.pool())
        .await
        .expect("instance");
        for ch in ["ch_e", "ch_b", "ch_d", "ch_a", "ch_c"] {
            sqlx::query(
                "INSERT INTO channels (id, instance_id, kind, external_id, status, created_at, updated_at) \
                 VALUES ($1, $2, 'messenger', $1, 'active', 7, 7)",
            )
            .bind(ch)
            .bind(id.as_str())
            .execute(store.pool())
            .await
            .expect("channel");
        }
        let row = store.get_instance(&id).await.expect("read").expect("row");
        (store, row)
    }

    /// Pages of two rows split the five channels of one creation time at their ids: each once,
    /// in id order, then the `end` record counts them.
    #[tokio::test]
    async fn keyset_pages_split_ties_by_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, instance) = store_with_tied_channels(&dir).await;
        let records: Vec<ExportRecord> = export_records_paged(store, instance, 2).collect().await;
        let ids: Vec<&str> = records
            .iter()
            .filter_map(|r| match r {
                ExportRecord::Channel(c) => Some(c.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["ch_a", "ch_b", "ch_c", "ch_d", "ch_e"]);
        assert!(matches!(records.first(), Some(ExportRecord::Instance(_))));
        assert_eq!(
            records.last(),
            Some(&ExportRecord::End(ExportEnd {
                counts: ExportCounts {
                    channels: 5,
                    ..ExportCounts::default()
                }
            }))
        );
    }

    /// A page read that fails mid-way ends the stream at once, without the `end` record.
    #[tokio::test]
    async fn a_failed_page_ends_the_export_without_its_end_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, instance) = store_with_tied_channels(&dir).await;
        let mut records = export_records_paged(store.clone(), instance, 2);
        let mut first = Vec::new();
        for _ in 0..3 {
            first.push(records.next().await.expect("a record"));
        }
        assert!(matches!(first[2], ExportRecord::Channel(_)));
        store.close().await; // the next page's query fails: the pool is closed
        let rest: Vec<ExportRecord> = records.collect().await;
        assert_eq!(rest, []);
    }

    /// A session's `channel_ids` is the stored JSON array; anything else is `null`.
    #[test]
    fn session_channel_ids_are_the_stored_array() {
        let row = |ids: Option<&str>| ExportSessionRow {
            id: "cs_1".into(),
            kind: "whatsapp".into(),
            flow: "embedded_signup".into(),
            state: "completed".into(),
            failure_code: None,
            channel_ids: ids.map(str::to_string),
            created_at: 0,
            expires_at: 0,
            finished_at: None,
        };
        let s: ExportConnectSession = row(Some(r#"["ch_a","ch_b"]"#)).into();
        assert_eq!(s.channel_ids, Some(vec!["ch_a".into(), "ch_b".into()]));
        let s: ExportConnectSession = row(None).into();
        assert_eq!(s.channel_ids, None);
        let s: ExportConnectSession = row(Some("not json")).into();
        assert_eq!(s.channel_ids, None);
    }
}
