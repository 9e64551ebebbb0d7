//! The inbound write: record idempotency keys and append new events to the outbox, in the
//! caller's transaction (the group-commit writer shares one transaction between requests).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::Row;

use super::{Result, Tx, values_placeholders};
use crate::config::Backend;
use crate::events::data::EventData;
use crate::events::parse::{ParsedEvent, Route, types};
use crate::ids::{ChannelId, EventId, InstanceId, MessageId};
use crate::messages::lifecycle::{ErrorInfo, Signal};

/// What happened to the events of one request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestCounts {
    /// New events appended to an instance's outbox (one per instance they go to).
    pub enqueued: usize,
    /// Keys already in the idempotency log (or repeated within the batch): dropped.
    pub duplicates: usize,
    /// New events for a channel no instance owns: kept, counted, not delivered.
    pub unroutable: usize,
    /// New events no owning instance subscribes to.
    pub filtered: usize,
}

impl std::ops::AddAssign for IngestCounts {
    fn add_assign(&mut self, o: Self) {
        self.enqueued += o.enqueued;
        self.duplicates += o.duplicates;
        self.unroutable += o.unroutable;
        self.filtered += o.filtered;
    }
}

#[derive(Debug, Clone)]
struct Target {
    channel_id: ChannelId,
    instance_id: InstanceId,
    channel_kind: String,
    channel_external_id: String,
    event_types: Option<Vec<String>>,
}

impl Target {
    fn wants(&self, event_type: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == event_type))
    }
}

/// The instances a route reaches. Routing depends on the connection only (`status` not
/// `disconnected`): a webhook needs no token, so a channel whose sends are paused or whose token
/// is invalid keeps relaying its customers' messages (issue 12, defect 3).
async fn lookup(tx: &mut Tx, route: &Route) -> Result<Vec<Target>> {
    let rows = match route {
        Route::Channel(ext) => {
            sqlx::query(
                "SELECT c.id, c.instance_id, c.kind, c.external_id, i.event_types FROM channels c \
                 JOIN instances i ON i.id = c.instance_id WHERE c.external_id = $1 AND c.status <> 'disconnected'",
            )
            .bind(ext.as_str())
            .fetch_all(&mut **tx)
            .await?
        }
        Route::Waba(waba) => {
            sqlx::query(
                "SELECT c.id, c.instance_id, c.kind, c.external_id, i.event_types FROM channels c \
                 JOIN instances i ON i.id = c.instance_id \
                 WHERE c.waba_id = $1 AND c.kind = 'whatsapp' AND c.status <> 'disconnected' ORDER BY c.created_at, c.id",
            )
            .bind(waba.as_str())
            .fetch_all(&mut **tx)
            .await?
        }
        Route::None => Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(rows.len());
    for row in rows {
        let instance_id = InstanceId::try_from(row.try_get::<String, _>(1)?)?;
        // One copy per instance, even when it owns several numbers of the WABA.
        if !seen.insert(instance_id.clone()) {
            continue;
        }
        let types: Option<String> = row.try_get(4)?;
        targets.push(Target {
            channel_id: ChannelId::try_from(row.try_get::<String, _>(0)?)?,
            instance_id,
            channel_kind: row.try_get(2)?,
            channel_external_id: row.try_get(3)?,
            event_types: types.and_then(|t| serde_json::from_str(&t).ok()),
        });
    }
    Ok(targets)
}

fn route_label(route: &Route) -> (String, String) {
    match route {
        Route::Channel(id) => (format!("channel:{id}"), id.clone()),
        Route::Waba(id) => (format!("waba:{id}"), id.clone()),
        Route::None => ("none".to_string(), String::new()),
    }
}

struct Row_<'a> {
    ev: &'a ParsedEvent,
    /// The event's data with the bridge's message id added (statuses of our sends).
    data: Option<EventData>,
    target: Option<&'a Target>,
    route: &'a str,
    route_ext: &'a str,
    state: &'static str,
}

const EVENT_COLS: usize = 18;
const EVENT_CHUNK: usize = 150;
const KEY_CHUNK: usize = 500;

/// Records `events` (the events of one or more requests) received at `now`: new keys go to
/// the idempotency log, new events to the outbox of every instance that owns their channel.
/// Returns per-request counts in the order of `requests` (each a slice of `events`), and the
/// messages it settled.
pub async fn ingest_events(
    tx: &mut Tx,
    backend: Backend,
    requests: &[&[ParsedEvent]],
    now: i64,
    horizon_ms: i64,
    app_id: Option<&str>,
    media_retention_ms: Option<i64>,
) -> Result<Ingested> {
    // 1. Route every distinct route once.
    let mut routes: HashMap<&Route, Vec<Target>> = HashMap::new();
    for ev in requests.iter().flat_map(|r| r.iter()) {
        if !routes.contains_key(&ev.route) {
            let targets = lookup(tx, &ev.route).await?;
            routes.insert(&ev.route, targets);
        }
    }
    let labels: HashMap<&Route, (String, String)> =
        routes.keys().map(|r| (*r, route_label(r))).collect();

    // 2. The first occurrence of each key in the batch claims it; later ones are duplicates.
    let mut counts = vec![IngestCounts::default(); requests.len()];
    let mut first: HashMap<&str, (usize, usize)> = HashMap::new();
    for (ri, req) in requests.iter().enumerate() {
        for (ei, ev) in req.iter().enumerate() {
            if first.contains_key(ev.idempotency_key.as_str()) {
                counts[ri].duplicates += 1;
            } else {
                first.insert(ev.idempotency_key.as_str(), (ri, ei));
            }
        }
    }

    // 3. Record the keys; those not in the log before are new.
    let mut outcome_of: HashMap<&str, &'static str> = HashMap::with_capacity(first.len());
    let mut ordered: Vec<(&str, usize, usize)> =
        first.iter().map(|(k, (r, e))| (*k, *r, *e)).collect();
    ordered.sort_by_key(|(_, r, e)| (*r, *e));
    for (key, ri, ei) in &ordered {
        let ev = &requests[*ri][*ei];
        let targets = &routes[&ev.route];
        let outcome = if targets.is_empty() {
            "unroutable"
        } else if targets.iter().any(|t| t.wants(ev.event_type())) {
            "enqueued"
        } else {
            "filtered"
        };
        outcome_of.insert(key, outcome);
    }
    let new_keys = record_keys(tx, backend, &ordered, &outcome_of, now).await?;

    // 4. Outbox rows for new keys, in request order (which is Meta's timestamp order per
    //    conversation, as the parser returns it), so `seq` carries the order.
    let mut rows: Vec<Row_> = Vec::new();
    for (key, ri, ei) in &ordered {
        let ev = &requests[*ri][*ei];
        if !new_keys.contains(key) {
            counts[*ri].duplicates += 1;
            continue;
        }
        let (route, route_ext) = &labels[&ev.route];
        let targets = &routes[&ev.route];
        match outcome_of[key] {
            "unroutable" => {
                counts[*ri].unroutable += 1;
                rows.push(Row_ {
                    ev,
                    data: None,
                    target: None,
                    route,
                    route_ext,
                    state: "unroutable",
                });
            }
            "filtered" => counts[*ri].filtered += 1,
            _ => {
                for t in targets.iter().filter(|t| t.wants(ev.event_type())) {
                    counts[*ri].enqueued += 1;
                    rows.push(Row_ {
                        ev,
                        data: None,
                        target: Some(t),
                        route,
                        route_ext,
                        // A lead waits until its field data is fetched (workers::lifecycle).
                        state: if ev.event_type() == types::LEAD_RECEIVED {
                            "enriching"
                        } else {
                            "pending"
                        },
                    });
                }
            }
        }
    }
    // 5. Outbound effects of new events, whatever the subscriptions: statuses move our sent
    //    messages along (and name them in the event), customer messages open the window.
    let mut settled = outbound_effects(
        tx, backend, &ordered, requests, &new_keys, &routes, &mut rows, now, horizon_ms,
    )
    .await?;

    // 5b. Handovers: who controls each thread now, recorded with the event, and said in it.
    let changes = thread_effects(
        &ordered, requests, &new_keys, &routes, &mut rows, app_id, now,
    );
    if !changes.is_empty() {
        super::record_thread_owners(tx, &changes, now).await?;
    }

    // 5c. Media the bridge keeps a copy of (issue 16 §3): recorded with the event (a crash
    //     after the 200 still downloads them), and named in the event delivered.
    let media = match media_retention_ms {
        Some(retention) => media_effects(&mut rows, now + retention),
        None => Vec::new(),
    };
    if !media.is_empty() {
        super::record_media(tx, backend, &media, now).await?;
    }

    for chunk in rows.chunks(EVENT_CHUNK) {
        let sql = format!(
            "INSERT INTO events (id, instance_id, channel_id, channel_kind, channel_external_id, route, conversation, \
             conversation_id, type, idempotency_key, occurred_at, received_at, state, next_attempt_at, deadline_at, \
             contact, data, raw) VALUES {}",
            values_placeholders(backend, chunk.len(), EVENT_COLS)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let ev = r.ev;
            let (instance_id, channel_id, kind, ext, conversation) = match r.target {
                Some(t) => (
                    Some(t.instance_id.to_string()),
                    Some(t.channel_id.to_string()),
                    Some(t.channel_kind.clone()),
                    t.channel_external_id.clone(),
                    format!("{}|{}", t.channel_id, ev.conversation_key),
                ),
                None => (
                    None,
                    None,
                    ev.channel_kind.map(|k| k.as_str().to_string()),
                    r.route_ext.to_string(),
                    format!("{}|{}", r.route, ev.conversation_key),
                ),
            };
            let conv_id = crate::events::conversation::conversation_id(&ext, &ev.conversation_key);
            q = q
                .bind(EventId::new().into_string())
                .bind(instance_id)
                .bind(channel_id)
                .bind(kind)
                .bind(ext)
                .bind(r.route.to_string())
                .bind(conversation)
                .bind(conv_id)
                .bind(ev.event_type())
                .bind(ev.idempotency_key.clone())
                .bind(ev.occurred_at_ms)
                .bind(now)
                .bind(r.state)
                .bind(now)
                .bind(now + horizon_ms)
                .bind(ev.contact.as_ref().map(|c| c.to_string()))
                .bind(super::event_data_json(r.data.as_ref().unwrap_or(&ev.data))?)
                .bind(ev.raw.to_string());
        }
        q.execute(&mut **tx).await?;
    }
    // 6. What new WhatsApp account webhooks change on their channels (after the events
    //    themselves, so the instance reads `account.updated` before `channel.updated`).
    settled.extend(
        account_effects(
            tx, backend, &ordered, requests, &new_keys, app_id, now, horizon_ms,
        )
        .await?,
    );
    Ok(Ingested {
        counts,
        settled,
        media_queued: media.len(),
    })
}

/// Records the batch's keys (each once, `ordered`) in the idempotency log and returns those
/// it did not hold before.
///
/// PostgreSQL: `ON CONFLICT DO NOTHING RETURNING key`, which stays right when replicas insert
/// the same key at once. SQLite: the same insert without `RETURNING`, which sqlx's SQLite worker
/// would hand back one row per new key through its row channel (50 rows deep), waking the
/// writer's thread every few rows: hundreds of thread hand-offs for the ~330 keys of a commit of
/// 10-message batches. When every key was new (the insert's row count says so) nothing more is
/// asked. When some were known, the new ones are read back by rowid: SQLite gives a new row the
/// largest rowid plus one ("SQLite Autoincrement", https://www.sqlite.org/autoinc.html, read
/// 2026-12-05) and the writer holds the one write lock, so this insert's rows are the last
/// `inserted` rowids up to its `last_insert_rowid`; a count that does not match fails the
/// commit rather than take a key twice or lose one.
async fn record_keys<'k>(
    tx: &mut Tx,
    backend: Backend,
    ordered: &[(&'k str, usize, usize)],
    outcome_of: &HashMap<&str, &'static str>,
    now: i64,
) -> Result<HashSet<&'k str>> {
    let mut new_keys: HashSet<&'k str> = HashSet::with_capacity(ordered.len());
    for chunk in ordered.chunks(KEY_CHUNK) {
        let sql = format!(
            "INSERT INTO webhook_log (key, received_at, outcome) VALUES {} ON CONFLICT (key) DO NOTHING{}",
            values_placeholders(backend, chunk.len(), 3),
            if backend == Backend::Postgres {
                " RETURNING key"
            } else {
                ""
            }
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, _, _) in chunk {
            q = q.bind(*key).bind(now).bind(outcome_of[key]);
        }
        let keys = chunk.iter().map(|(k, _, _)| *k);
        let inserted: HashSet<String> = match backend {
            Backend::Postgres => q
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<std::result::Result<_, _>>()?,
            Backend::Sqlite => {
                let done = q.execute(&mut **tx).await?;
                let n = done.rows_affected() as usize;
                if n == chunk.len() {
                    new_keys.extend(keys);
                    continue;
                }
                if n == 0 {
                    continue;
                }
                let last = done.last_insert_id().ok_or_else(|| {
                    super::StoreError::Other("SQLite gave no rowid for new idempotency keys".into())
                })?;
                let back: HashSet<String> = sqlx::query_scalar(
                    "SELECT key FROM webhook_log WHERE rowid > $1 AND rowid <= $2",
                )
                .bind(last - n as i64)
                .bind(last)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .collect();
                if back.len() != n || keys.clone().filter(|k| back.contains(*k)).count() != n {
                    return Err(super::StoreError::Other(
                        "the idempotency keys read back do not match those inserted".into(),
                    ));
                }
                back
            }
        };
        new_keys.extend(keys.filter(|k| inserted.contains(*k)));
    }
    Ok(new_keys)
}

/// The media files of new events the bridge keeps ([`crate::events::media`]), one per channel
/// the event reaches, and each event's data rewritten to name its copies.
fn media_effects(rows: &mut [Row_<'_>], expires_at: i64) -> Vec<super::NewMediaFile> {
    let mut files = Vec::new();
    for r in rows.iter_mut() {
        let Some(t) = r.target else { continue };
        let Some(kind) = crate::channels::ChannelKind::parse(&t.channel_kind) else {
            continue;
        };
        let data = r.data.as_ref().unwrap_or(&r.ev.data);
        let items = crate::events::media::cache_items(data, kind, &r.ev.idempotency_key);
        if items.is_empty() {
            continue;
        }
        let rewritten =
            crate::events::media::with_cache_refs(data, &items, t.channel_id.as_str(), expires_at);
        for item in items {
            let (source_url, expected_sha256) = match item.source {
                crate::events::media::MediaSource::Url(u) => (Some(u), None),
                crate::events::media::MediaSource::WhatsApp { sha256 } => (None, sha256),
            };
            files.push(super::NewMediaFile {
                channel_id: t.channel_id.to_string(),
                instance_id: t.instance_id.to_string(),
                media_id: item.media_id,
                kind: item.kind,
                source_url,
                expected_sha256,
                expires_at,
            });
        }
        if rewritten.is_some() {
            r.data = rewritten;
        }
    }
    files
}

/// The thread-owner changes of new `thread.control` events ([`crate::events::threads`]), one
/// per channel the event reaches, and `owned_by_bridge` written into the events delivered.
fn thread_effects(
    ordered: &[(&str, usize, usize)],
    requests: &[&[ParsedEvent]],
    new_keys: &HashSet<&str>,
    routes: &HashMap<&Route, Vec<Target>>,
    rows: &mut [Row_<'_>],
    app_id: Option<&str>,
    now: i64,
) -> Vec<super::ThreadChange> {
    let mut changes = Vec::new();
    let mut owned: HashMap<&str, bool> = HashMap::new();
    for (key, ri, ei) in ordered {
        if !new_keys.contains(key) {
            continue;
        }
        let ev = &requests[*ri][*ei];
        let Some(owner) = crate::events::threads::owner_after(&ev.data, app_id) else {
            continue;
        };
        let Some(contact) = ev
            .contact
            .as_ref()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        else {
            continue;
        };
        owned.insert(key, owner.is_bridge());
        let since = ev.occurred_at_ms.unwrap_or(now).min(now);
        for t in &routes[&ev.route] {
            if t.channel_kind == "whatsapp" {
                continue;
            }
            changes.push(super::ThreadChange {
                channel_id: t.channel_id.clone(),
                instance_id: t.instance_id.clone(),
                contact: contact.to_owned(),
                owner: owner.clone(),
                since,
            });
        }
    }
    if !owned.is_empty() {
        for r in rows.iter_mut() {
            if let Some(ours) = owned.get(r.ev.idempotency_key.as_str())
                && let EventData::ThreadControl(d) = r.data.as_ref().unwrap_or(&r.ev.data)
            {
                let mut d = (**d).clone();
                d.owned_by_bridge = Some(*ours);
                r.data = Some(d.into());
            }
        }
    }
    changes
}

/// What [`ingest_events`] recorded.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Per request, in the order of `requests`.
    pub counts: Vec<IngestCounts>,
    /// Messages a status settled or a disconnect failed ([`super::settled`]).
    pub settled: Vec<MessageId>,
    /// Media files recorded for download (the media worker is woken after the commit).
    pub media_queued: usize,
}

/// Applies [`crate::events::effects::channel_effects`] of new events to the live WhatsApp
/// channels of their WABA, in the ingest transaction (issue 12, defect 10).
#[allow(clippy::too_many_arguments)]
async fn account_effects(
    tx: &mut Tx,
    backend: Backend,
    ordered: &[(&str, usize, usize)],
    requests: &[&[ParsedEvent]],
    new_keys: &HashSet<&str>,
    app_id: Option<&str>,
    now: i64,
    horizon_ms: i64,
) -> Result<Vec<MessageId>> {
    let mut settled = Vec::new();
    use crate::events::effects::{ChannelEffect, channel_effects};
    for (key, ri, ei) in ordered {
        if !new_keys.contains(key) {
            continue;
        }
        let ev = &requests[*ri][*ei];
        if ev.event_type() != types::ACCOUNT_UPDATED && ev.event_type() != types::CHANNEL_QUALITY {
            continue;
        }
        let Route::Waba(waba) = &ev.route else {
            continue;
        };
        let effects = channel_effects(&ev.data, app_id);
        if effects.is_empty() {
            continue;
        }
        let channels: Vec<(ChannelId, Option<String>)> = sqlx::query(
            "SELECT id, name FROM channels WHERE waba_id = $1 AND kind = 'whatsapp' \
             AND status <> 'disconnected' ORDER BY created_at, id",
        )
        .bind(waba.as_str())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                ChannelId::try_from(r.try_get::<String, _>(0)?)?,
                r.try_get(1)?,
            ))
        })
        .collect::<Result<_>>()?;
        for effect in effects {
            match effect {
                ChannelEffect::Disconnect { reason } => {
                    for (id, _) in &channels {
                        if let Some(d) =
                            super::disconnect_in(tx, backend, id, None, &reason, now, horizon_ms)
                                .await?
                        {
                            settled.extend(d.settled);
                        }
                    }
                }
                ChannelEffect::PauseSends { reason, until } => {
                    let max = i64::try_from(crate::config::MAX_SEND_PAUSE.as_millis())
                        .unwrap_or(86_400_000);
                    let wait = until.map_or(max, |t| (t - now).max(1_000));
                    let changes: Vec<super::ChannelChange> = channels
                        .iter()
                        .map(|(id, _)| super::ChannelChange {
                            channel_id: id.clone(),
                            change: super::SendChange::Pause {
                                reason: reason.clone(),
                                base_ms: wait,
                                max_ms: wait,
                                min_ms: wait,
                            },
                        })
                        .collect();
                    super::apply_channel_changes(tx, backend, &changes, now, horizon_ms).await?;
                }
                ChannelEffect::ResumeSends { reason } => {
                    let changes: Vec<super::ChannelChange> = channels
                        .iter()
                        .map(|(id, _)| super::ChannelChange {
                            channel_id: id.clone(),
                            change: super::SendChange::Resume {
                                reason: reason.clone(),
                            },
                        })
                        .collect();
                    super::apply_channel_changes(tx, backend, &changes, now, horizon_ms).await?;
                }
                ChannelEffect::SetTier { tier } => {
                    for (id, _) in &channels {
                        sqlx::query("UPDATE channels SET messaging_limit_tier = $1 WHERE id = $2")
                            .bind(tier.as_str())
                            .bind(id.as_str())
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                ChannelEffect::SetQuality {
                    display_phone_number,
                    event,
                } => {
                    for id in numbers_matching(&channels, display_phone_number.as_deref()) {
                        sqlx::query("UPDATE channels SET quality_event = $1 WHERE id = $2")
                            .bind(event.as_str())
                            .bind(id)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
            }
        }
    }
    Ok(settled)
}

/// The channels a quality webhook's `display_phone_number` names: those whose display name
/// carries those digits (the connect flow names a number "Verified name (+1 555…)"), else the
/// WABA's only number. Several numbers and no match: none (the event is still relayed).
fn numbers_matching<'a>(
    channels: &'a [(ChannelId, Option<String>)],
    display: Option<&str>,
) -> Vec<&'a str> {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let wanted = display.map(digits).filter(|d| !d.is_empty());
    let matched: Vec<&str> = channels
        .iter()
        .filter(|(_, name)| {
            wanted
                .as_deref()
                .is_some_and(|w| name.as_deref().is_some_and(|n| digits(n).contains(w)))
        })
        .map(|(id, _)| id.as_str())
        .collect();
    if matched.is_empty() && channels.len() == 1 {
        return vec![channels[0].0.as_str()];
    }
    matched
}

/// Event types that mean the customer wrote to the business (they open or refresh the
/// customer-service window).
const CUSTOMER_MESSAGE_TYPES: &[&str] = &[
    types::MESSAGE_RECEIVED,
    types::MESSAGE_REACTION,
    types::MESSAGE_POSTBACK,
    types::MESSAGE_REFERRAL,
    types::MESSAGE_UNSUPPORTED,
    types::MESSAGE_EDITED,
];

/// The first Meta error of a WhatsApp status, as the bridge reports it.
fn status_error(data: &EventData) -> Option<ErrorInfo> {
    let EventData::MessageStatus(status) = data else {
        return None;
    };
    let e = status.errors.as_ref()?.first()?;
    let code = e
        .code
        .as_i64()
        .or_else(|| e.code.as_str().and_then(|s| s.parse().ok()));
    // As before `data` was typed: `details` is always there (null when Meta sent none), so
    // `title` and `message` are never the reason.
    let reason = e
        .details
        .as_str()
        .unwrap_or("Meta reported the message as failed.");
    Some(ErrorInfo {
        code,
        subcode: None,
        kind: code.map_or_else(|| "meta_error".to_string(), |c| c.to_string()),
        reason: reason.chars().take(300).collect(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn outbound_effects(
    tx: &mut Tx,
    backend: Backend,
    ordered: &[(&str, usize, usize)],
    requests: &[&[ParsedEvent]],
    new_keys: &HashSet<&str>,
    routes: &HashMap<&Route, Vec<Target>>,
    rows: &mut [Row_<'_>],
    now: i64,
    horizon_ms: i64,
) -> Result<Vec<MessageId>> {
    let mut settled = Vec::new();
    let mut touches: Vec<(ChannelId, InstanceId, String, i64)> = Vec::new();
    let mut signals = Vec::new();
    // (event key, instance) -> bridge message id
    let mut named: HashMap<(String, InstanceId), MessageId> = HashMap::new();
    for (key, ri, ei) in ordered {
        if !new_keys.contains(key) {
            continue;
        }
        let ev = &requests[*ri][*ei];
        let targets = &routes[&ev.route];
        if ev.event_type() == types::MESSAGE_STATUS || ev.event_type() == types::MESSAGE_ECHO {
            // WhatsApp echoes our id in `biz_opaque_callback_data`, Messenger in the echo's
            // `metadata`; otherwise Meta's message id (wamid / mid) finds the message.
            let (callback, meta_id, status) = match &ev.data {
                EventData::MessageStatus(d) => (
                    d.biz_opaque_callback_data.as_ref(),
                    d.message_id.as_deref(),
                    d.status.as_str(),
                ),
                EventData::MessageEcho(d) => (d.metadata.as_ref(), Some(d.message_id.as_str()), ""),
                _ => (None, None, ""),
            };
            let callback = callback.and_then(Value::as_str);
            if callback.is_none() && meta_id.is_none() {
                continue;
            }
            for t in targets {
                let Some(msg_id) =
                    super::find_message_for_status(tx, &t.instance_id, callback, meta_id).await?
                else {
                    continue;
                };
                if ev.event_type() == types::MESSAGE_STATUS {
                    signals.push(super::MessageSignal {
                        message_id: msg_id.clone(),
                        signal: Signal::Status {
                            status: status.to_string(),
                            meta_message_id: meta_id.map(str::to_string),
                            error: status_error(&ev.data),
                        },
                    });
                }
                named.insert((key.to_string(), t.instance_id.clone()), msg_id);
            }
        } else if CUSTOMER_MESSAGE_TYPES.contains(&ev.event_type())
            && let Some(contact) = ev.contact.as_ref()
        {
            let at = ev.occurred_at_ms.unwrap_or(now).min(now);
            let mut ids: Vec<&str> = Vec::new();
            for k in ["id", "wa_id", "user_id"] {
                if let Some(id) = contact.get(k).and_then(Value::as_str)
                    && !id.is_empty()
                    && !ids.contains(&id)
                {
                    ids.push(id);
                }
            }
            for t in targets {
                for id in &ids {
                    touches.push((
                        t.channel_id.clone(),
                        t.instance_id.clone(),
                        id.to_string(),
                        at,
                    ));
                }
            }
        }
    }
    if !signals.is_empty() {
        settled.extend(super::apply_message_signals(tx, backend, &signals, now, horizon_ms).await?);
    }
    if !named.is_empty() {
        for r in rows.iter_mut() {
            if let Some(t) = r.target
                && let Some(id) = named.get(&(r.ev.idempotency_key.clone(), t.instance_id.clone()))
            {
                let mut data = r.ev.data.clone();
                data.set_bridge_message_id(id.as_str());
                r.data = Some(data);
            }
        }
    }
    if !touches.is_empty() {
        super::touch_windows(tx, backend, &touches).await?;
    }
    Ok(settled)
}
