//! The outbox seen by delivery workers, the APIs and the retention worker.

use sqlx::Row;

use super::{Result, Store, StoreError, Tx, placeholders, values_placeholders};
use crate::config::Backend;
use crate::ids::{EventId, InstanceId};

/// An event due for delivery, with what is needed to build and sign the request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueEvent {
    pub seq: i64,
    #[sqlx(try_from = "String")]
    pub id: EventId,
    #[sqlx(try_from = "String")]
    pub instance_id: InstanceId,
    pub channel_id: Option<String>,
    pub channel_kind: Option<String>,
    pub channel_external_id: String,
    pub conversation_id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    pub attempts: i64,
    pub deadline_at: i64,
    pub contact: Option<String>,
    pub data: Option<String>,
    pub raw: Option<String>,
    pub callback_url: String,
    pub signing_secret_enc: String,
}

impl DueEvent {
    /// The event as its envelope is built from it.
    pub fn stored(&self) -> crate::events::StoredEvent<'_> {
        crate::events::StoredEvent {
            id: self.id.as_str(),
            event_type: &self.event_type,
            instance_id: self.instance_id.as_str(),
            channel_id: self.channel_id.as_deref(),
            channel_kind: self.channel_kind.as_deref(),
            channel_external_id: &self.channel_external_id,
            conversation_id: &self.conversation_id,
            occurred_at: self.occurred_at,
            received_at: self.received_at,
            contact: self.contact.as_deref(),
            data: self.data.as_deref(),
            raw: self.raw.as_deref(),
        }
    }
}

/// Metadata of an event (never its content): what the APIs show.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventMeta {
    pub seq: i64,
    pub id: String,
    pub instance_id: Option<String>,
    pub channel_id: Option<String>,
    pub channel_kind: Option<String>,
    pub channel_external_id: String,
    pub conversation_id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub state: String,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub dead_at: Option<i64>,
    pub has_content: i64,
}

const META_COLS: &str = "seq, id, instance_id, channel_id, channel_kind, channel_external_id, conversation_id, type, state, \
    occurred_at, received_at, attempts, next_attempt_at, last_status, last_error, delivered_at, dead_at, \
    CAST(CASE WHEN data IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_content";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    #[sqlx(try_from = "String")]
    pub event_id: EventId,
    pub attempt: i64,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next_attempt_at: Option<i64>,
}

/// What one delivery attempt decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    Delivered,
    /// Try again at this time.
    Retry {
        next_at: i64,
    },
    /// Gave up: the retry horizon is exhausted.
    Dead,
    /// The receiver said 410 Gone: keep the event, pause the instance until an operator
    /// resumes it.
    Gone {
        next_at: i64,
    },
}

#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub seq: i64,
    pub event_id: EventId,
    pub instance_id: InstanceId,
    /// Attempt number (1-based) of this attempt.
    pub attempt: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub kind: OutcomeKind,
}

/// Filter of event listings.
#[derive(Debug, Clone, Default)]
pub struct EventFilter<'a> {
    pub instance_id: Option<&'a InstanceId>,
    pub state: Option<&'a str>,
    pub event_type: Option<&'a str>,
    /// Only events of this channel (the console's filter).
    pub channel_id: Option<&'a str>,
    /// Only events received at or after this time (unix ms).
    pub received_from: Option<i64>,
    /// Only events received before this time (unix ms).
    pub received_to: Option<i64>,
    /// Only events with a smaller `seq` (paging backwards from the newest).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayResult {
    Replayed,
    NotFound,
    /// Only dead letters can be replayed; carries the current state.
    NotReplayable(String),
    /// The content was purged by retention: nothing left to send.
    ContentPurged,
}

/// Outbox gauges.
#[derive(Debug, Clone, Default)]
pub struct OutboxStats {
    pub pending: i64,
    pub oldest_pending_received_at: Option<i64>,
    pub dead: i64,
    pub unroutable: i64,
}

const ATTEMPT_CHUNK: usize = 400;

/// The conversation walk of a claim: `$1` instance, `$2` the key to start after, `$3` how many.
/// A head is read as the first `(conversation, seq)` entry from the conversation on: that order
/// only `events_pending_heads` gives, so PostgreSQL cannot instead walk the primary key in `seq`
/// order filtering on the conversation (which it chose for `conversation = … ORDER BY seq` on a
/// small table, and which reads every older event of the whole table on a large one).
const WALK_HEADS_SQL: &str = "WITH RECURSIVE convs(conv, n) AS (\
                SELECT (SELECT conversation FROM events WHERE instance_id = $1 AND state = 'pending' \
                        AND conversation > $2 ORDER BY conversation LIMIT 1), 1 \
                UNION ALL \
                SELECT (SELECT conversation FROM events WHERE instance_id = $1 AND state = 'pending' \
                        AND conversation > convs.conv ORDER BY conversation LIMIT 1), n + 1 \
                FROM convs WHERE convs.conv IS NOT NULL AND n < $3) \
             SELECT conv, (SELECT seq FROM events WHERE instance_id = $1 AND state = 'pending' \
                           AND conversation >= convs.conv ORDER BY conversation, seq LIMIT 1) \
             FROM convs WHERE conv IS NOT NULL";

/// Most conversations one claim walks for one instance.
const HEAD_WALK: i64 = 1024;

/// Where each instance's next delivery claim goes on walking its conversations (conversation
/// key after which to start); kept by the dispatcher between claims. Empty: from the first.
#[derive(Debug, Clone, Default)]
pub struct ClaimCursors(std::collections::HashMap<InstanceId, String>);

/// Applies delivery outcomes in the writer's transaction.
pub async fn apply_outcomes(
    tx: &mut Tx,
    backend: Backend,
    outcomes: &[DeliveryOutcome],
) -> Result<()> {
    for chunk in outcomes.chunks(ATTEMPT_CHUNK) {
        let sql = format!(
            "INSERT INTO delivery_attempts (event_id, instance_id, attempt, attempted_at, status_code, latency_ms, error, next_attempt_at) VALUES {}",
            values_placeholders(backend, chunk.len(), 8)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for o in chunk {
            let next = match o.kind {
                OutcomeKind::Retry { next_at } | OutcomeKind::Gone { next_at } => Some(next_at),
                _ => None,
            };
            q = q
                .bind(o.event_id.as_str())
                .bind(o.instance_id.as_str())
                .bind(o.attempt)
                .bind(o.at)
                .bind(o.status)
                .bind(o.latency_ms)
                .bind(o.error.clone())
                .bind(next);
        }
        q.execute(&mut **tx).await?;
    }
    // Delivered: one statement per chunk; content purged at once (P05).
    let delivered: Vec<&DeliveryOutcome> = outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::Delivered)
        .collect();
    for chunk in delivered.chunks(ATTEMPT_CHUNK) {
        let first = placeholders(backend, 1, 1).join("");
        let list = placeholders(backend, 2, chunk.len()).join(", ");
        let sql = format!(
            "UPDATE events SET state = 'delivered', attempts = attempts + 1, delivered_at = {first}, last_status = 200, \
             last_error = NULL, lease_until = 0, contact = NULL, data = NULL, raw = NULL \
             WHERE state = 'pending' AND seq IN ({list})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(chunk[0].at);
        for o in chunk {
            q = q.bind(o.seq);
        }
        q.execute(&mut **tx).await?;
        // Record the real status code where it was not 200.
        for o in chunk.iter().filter(|o| o.status != Some(200)) {
            sqlx::query("UPDATE events SET last_status = $2 WHERE seq = $1")
                .bind(o.seq)
                .bind(o.status)
                .execute(&mut **tx)
                .await?;
        }
    }
    // A retry that got through means the instance's receiver is back: its other conversations
    // waiting out a backoff (up to an hour after a long outage) become due now instead of
    // when their timers run out. The per-instance concurrency cap paces the catch-up.
    let mut recovered: Vec<(&InstanceId, i64)> = Vec::new();
    for o in &delivered {
        if o.attempt > 1 && !recovered.iter().any(|(i, _)| *i == &o.instance_id) {
            recovered.push((&o.instance_id, o.at));
        }
    }
    for (instance_id, at) in recovered {
        sqlx::query(
            "UPDATE events SET next_attempt_at = $2 WHERE instance_id = $1 AND state = 'pending' \
             AND attempts > 0 AND next_attempt_at > $2",
        )
        .bind(instance_id.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    for o in outcomes.iter().filter(|o| o.kind != OutcomeKind::Delivered) {
        match &o.kind {
            OutcomeKind::Retry { next_at } | OutcomeKind::Gone { next_at } => {
                sqlx::query(
                    "UPDATE events SET attempts = attempts + 1, next_attempt_at = $2, last_status = $3, last_error = $4, \
                     lease_until = 0 WHERE seq = $1 AND state = 'pending'",
                )
                .bind(o.seq)
                .bind(*next_at)
                .bind(o.status)
                .bind(o.error.clone())
                .execute(&mut **tx)
                .await?;
                if matches!(o.kind, OutcomeKind::Gone { .. }) {
                    sqlx::query(
                        "UPDATE instances SET delivery_paused_reason = 'receiver_gone', updated_at = $2 \
                         WHERE id = $1 AND delivery_paused_reason IS NULL",
                    )
                    .bind(o.instance_id.as_str())
                    .bind(o.at)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            OutcomeKind::Dead => {
                sqlx::query(
                    "UPDATE events SET state = 'dead', attempts = attempts + 1, dead_at = $2, last_status = $3, \
                     last_error = $4, lease_until = 0 WHERE seq = $1 AND state = 'pending'",
                )
                .bind(o.seq)
                .bind(o.at)
                .bind(o.status)
                .bind(o.error.clone())
                .execute(&mut **tx)
                .await?;
            }
            OutcomeKind::Delivered => {}
        }
    }
    Ok(())
}

/// The claim of walked heads: `$1` now, `$2` limit, `$3` lease end, `$4…` the heads' `seq`s.
///
/// The heads are looked up by primary key, whatever the statistics say: their state is
/// tested as `e.state || '' = 'pending'`, which means the same but does not imply the
/// predicate of the partial indexes on pending events, so no plan can find `e` by scanning
/// one of them for the `seq`s (PostgreSQL did, over `events_pending_heads`, on a table not
/// analyzed since it was empty: a pass over every pending event per claim). The guard that
/// the event is still its conversation's head reads the head as the walk does, as the first
/// `(conversation, seq)` entry from its conversation on, an order only `events_pending_heads`
/// gives: one seek (written as `NOT EXISTS (… p.seq < e.seq)`, analyzed PostgreSQL walked the
/// primary key down from `e.seq` instead, through every older event).
fn claim_heads_sql(backend: Backend, heads: usize) -> String {
    let cols = "e.seq, e.id, e.instance_id, e.channel_id, e.channel_kind, e.channel_external_id, e.conversation_id, \
                e.type, e.occurred_at, e.received_at, e.attempts, e.deadline_at, e.contact, e.data, e.raw, \
                i.callback_url, i.signing_secret_enc";
    let list: Vec<String> = (0..heads).map(|i| format!("${}", i + 4)).collect();
    let due_where = format!(
        "e.seq IN ({}) AND e.state || '' = 'pending' AND e.next_attempt_at <= $1 AND e.lease_until <= $1 \
         AND e.seq = (SELECT p.seq FROM events p WHERE p.instance_id = e.instance_id AND p.state = 'pending' \
                      AND p.conversation >= e.conversation ORDER BY p.conversation, p.seq LIMIT 1)",
        list.join(", ")
    );
    match backend {
        Backend::Sqlite => format!(
            "SELECT {cols} FROM events e JOIN instances i ON i.id = e.instance_id WHERE {due_where} \
             AND $3 >= 0 ORDER BY e.seq LIMIT $2"
        ),
        Backend::Postgres => format!(
            "WITH claimed AS (UPDATE events SET lease_until = $3 WHERE seq IN (\
                SELECT e.seq FROM events e WHERE {due_where} \
                ORDER BY e.seq LIMIT $2 FOR UPDATE OF e SKIP LOCKED) RETURNING *) \
             SELECT {cols} FROM claimed e JOIN instances i ON i.id = e.instance_id ORDER BY e.seq"
        ),
    }
}

impl Store {
    /// Heads of conversations that are due, per instance: for every instance that is not
    /// paused, at most its room in `room` (instance id → how many more it may start; absent =
    /// `per_instance`), `total` in all. An event is never returned while an earlier event of
    /// its conversation is pending, nor when it is in `in_flight` (what this process is
    /// delivering). On PostgreSQL the rows are leased (`FOR UPDATE SKIP LOCKED`) so replicas
    /// never deliver the same event at once.
    ///
    /// The cost does not grow with the backlog: the claim walks the instance's conversations
    /// in key order through `events_pending_heads`, one seek per conversation for its next key
    /// and one for its head, and claims the due heads among them, oldest first. It walks twice
    /// as many conversations as it has slots to fill, then on, twice as far each time, while
    /// slots are left (`HEAD_WALK` conversations at most per claim): a drain that frees a slot
    /// or two at a time pays a few seeks per event, not a walk of 64 conversations. `cursors`
    /// keeps where each instance's walk stopped, so the next claim goes on from there and every
    /// conversation gets its turn (round robin) however many there are.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_due(
        &self,
        now: i64,
        total: i64,
        per_instance: i64,
        lease_until: i64,
        room: &std::collections::HashMap<InstanceId, i64>,
        in_flight: &[i64],
        cursors: &mut ClaimCursors,
    ) -> Result<Vec<DueEvent>> {
        let instances = sqlx::query_scalar::<_, String>(
            "SELECT id FROM instances WHERE delivery_paused_reason IS NULL ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|id| InstanceId::try_from(id).map_err(|e| StoreError::Other(e.to_string())))
        .collect::<Result<Vec<InstanceId>>>()?;
        let busy: std::collections::HashSet<i64> = in_flight.iter().copied().collect();
        let mut out = Vec::new();
        let mut left = total;
        for ins in instances {
            if left <= 0 {
                break;
            }
            let limit = room.get(&ins).copied().unwrap_or(per_instance).min(left);
            if limit <= 0 {
                continue;
            }
            // A short walk first (a backlog drain frees a slot or two at a time, and a walk and
            // a claim cost as many seeks as conversations walked), longer ones after it while
            // slots are left and the walk has not come round: heads in flight, leased by
            // another replica or waiting out a backoff are passed over.
            let mut walk_len = (2 * limit).clamp(4, HEAD_WALK);
            let mut walked = 0;
            let mut need = limit;
            let mut start = cursors.0.get(&ins).cloned().unwrap_or_default();
            loop {
                let (heads, mut next) = self.walk_round(&ins, &start, walk_len).await?;
                walked += heads.len() as i64;
                let candidates: Vec<(String, i64)> = heads
                    .into_iter()
                    .filter(|(_, seq)| !busy.contains(seq))
                    .collect();
                let rows = if candidates.is_empty() {
                    Vec::new()
                } else {
                    let seqs: Vec<i64> = candidates.iter().map(|(_, s)| *s).collect();
                    self.claim_heads(now, need, lease_until, &seqs).await?
                };
                if rows.len() as i64 >= need {
                    // Saturated: go on after the last conversation claimed (by key). Heads
                    // walked but not claimed that sort before it wait for the walk to come
                    // round again.
                    let claimed: std::collections::HashSet<i64> =
                        rows.iter().map(|r| r.seq).collect();
                    next = candidates
                        .iter()
                        .filter(|(_, s)| claimed.contains(s))
                        .map(|(c, _)| c.clone())
                        .max();
                }
                need -= rows.len() as i64;
                out.extend(rows);
                match next {
                    Some(c) if need > 0 && walked < HEAD_WALK => {
                        walk_len = (walk_len * 2).min(HEAD_WALK - walked);
                        start = c;
                    }
                    Some(c) => {
                        cursors.0.insert(ins.clone(), c);
                        break;
                    }
                    None => {
                        cursors.0.remove(&ins);
                        break;
                    }
                }
            }
            left -= limit - need;
        }
        Ok(out)
    }

    /// Up to `n` conversations of an instance with a pending event and their heads, in key
    /// order after `start`, wrapping round to the first once up to `start`; and the key to go
    /// on after (`None`: the walk came round, the next one starts from the first).
    async fn walk_round(
        &self,
        ins: &InstanceId,
        start: &str,
        n: i64,
    ) -> Result<(Vec<(String, i64)>, Option<String>)> {
        let mut heads = self.walk_heads(ins, start, n).await?;
        let mut next: Option<String> = if heads.len() as i64 == n {
            heads.last().map(|(c, _)| c.clone())
        } else {
            None
        };
        if next.is_none() && !start.is_empty() {
            // Wrap around once, up to where this walk started.
            let more = n - heads.len() as i64;
            let wrapped = self.walk_heads(ins, "", more).await?;
            let full = wrapped.len() as i64 == more;
            for (conv, seq) in wrapped {
                if conv.as_str() >= start {
                    break;
                }
                next = full.then(|| conv.clone());
                heads.push((conv, seq));
            }
        }
        Ok((heads, next))
    }

    /// Up to `n` conversations of an instance with a pending event, in key order after
    /// `after`, each with its head (oldest pending `seq`): `2 × n` index seeks, whatever the
    /// backlog.
    async fn walk_heads(
        &self,
        instance_id: &InstanceId,
        after: &str,
        n: i64,
    ) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(Option<String>, Option<i64>)> = sqlx::query_as(WALK_HEADS_SQL)
            .bind(instance_id.as_str())
            .bind(after)
            .bind(n)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(c, s)| Some((c?, s?)))
            .collect())
    }

    /// Claims, oldest first, at most `limit` of the heads `seqs` that are still pending, due,
    /// not leased, and still heads (checked again here: a dead letter replayed meanwhile may
    /// have become an earlier pending event of the conversation; one index seek each).
    async fn claim_heads(
        &self,
        now: i64,
        limit: i64,
        lease_until: i64,
        seqs: &[i64],
    ) -> Result<Vec<DueEvent>> {
        let sql = claim_heads_sql(self.backend, seqs.len());
        let mut q = sqlx::query_as::<_, DueEvent>(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .bind(lease_until);
        for seq in seqs {
            q = q.bind(*seq);
        }
        // One statement: on PostgreSQL it is its own transaction (the lease is written and the
        // rows locked `SKIP LOCKED` within it), without a BEGIN and a COMMIT round trip around.
        Ok(q.fetch_all(self.pool()).await?)
    }

    /// The plans of a delivery claim for `instance_id` as the database prints them (the
    /// conversation walk, then the claim of the heads it found): `EXPLAIN QUERY PLAN` on
    /// SQLite, `EXPLAIN` on PostgreSQL. Nothing is claimed. For the test that shows a claim
    /// never scans the backlog, and for an operator checking a database.
    pub async fn explain_claim(&self, instance_id: &InstanceId) -> Result<Vec<String>> {
        let heads = self.walk_heads(instance_id, "", 64).await?;
        let mut seqs: Vec<i64> = heads.iter().map(|(_, s)| *s).collect();
        if seqs.is_empty() {
            seqs.push(0);
        }
        let explain = match self.backend {
            Backend::Sqlite => "EXPLAIN QUERY PLAN ",
            Backend::Postgres => "EXPLAIN ",
        };
        let mut lines = Vec::new();
        let walk = sqlx::query(sqlx::AssertSqlSafe(format!("{explain}{WALK_HEADS_SQL}")))
            .bind(instance_id.as_str())
            .bind("")
            .bind(64i64)
            .fetch_all(self.pool())
            .await?;
        let now = crate::now_ms();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{explain}{}",
            claim_heads_sql(self.backend, seqs.len())
        )))
        .bind(now)
        .bind(16i64)
        .bind(now);
        for seq in &seqs {
            q = q.bind(*seq);
        }
        let claim = q.fetch_all(self.pool()).await?;
        for row in walk.iter().chain(claim.iter()) {
            lines.push(match self.backend {
                Backend::Sqlite => row.try_get::<String, _>(3)?,
                Backend::Postgres => row.try_get::<String, _>(0)?,
            });
        }
        Ok(lines)
    }

    /// Events' metadata, newest first.
    pub async fn list_events(&self, f: &EventFilter<'_>) -> Result<Vec<EventMeta>> {
        let sql = format!(
            "SELECT {META_COLS} FROM events WHERE ($1 IS NULL OR instance_id = $1) AND ($2 IS NULL OR state = $2) \
             AND ($3 IS NULL OR type = $3) AND ($4 IS NULL OR seq < $4) AND ($6 IS NULL OR channel_id = $6) \
             AND ($7 IS NULL OR received_at >= $7) AND ($8 IS NULL OR received_at < $8) ORDER BY seq DESC LIMIT $5"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(f.instance_id.map(InstanceId::as_str))
            .bind(f.state)
            .bind(f.event_type)
            .bind(f.before_seq)
            .bind(f.limit)
            .bind(f.channel_id)
            .bind(f.received_from)
            .bind(f.received_to)
            .fetch_all(self.pool())
            .await?)
    }

    /// One event's metadata; with `instance_id`, only that instance's (P10).
    pub async fn get_event(
        &self,
        id: &EventId,
        instance_id: Option<&InstanceId>,
    ) -> Result<Option<EventMeta>> {
        let sql = format!(
            "SELECT {META_COLS} FROM events WHERE id = $1 AND ($2 IS NULL OR instance_id = $2)"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(instance_id.map(InstanceId::as_str))
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn list_attempts(
        &self,
        event_id: &EventId,
        instance_id: Option<&InstanceId>,
    ) -> Result<Vec<AttemptRow>> {
        Ok(sqlx::query_as(
            "SELECT event_id, attempt, attempted_at, status_code, latency_ms, error, next_attempt_at FROM delivery_attempts \
             WHERE event_id = $1 AND ($2 IS NULL OR instance_id = $2) ORDER BY attempt, id",
        )
        .bind(event_id.as_str())
        .bind(instance_id.map(InstanceId::as_str))
        .fetch_all(self.pool())
        .await?)
    }

    /// Puts a dead letter back in the queue with a fresh retry horizon.
    pub async fn replay_event(
        &self,
        id: &EventId,
        instance_id: Option<&InstanceId>,
        now: i64,
        deadline: i64,
    ) -> Result<ReplayResult> {
        let Some(ev) = self.get_event(id, instance_id).await? else {
            return Ok(ReplayResult::NotFound);
        };
        if ev.state != "dead" {
            return Ok(ReplayResult::NotReplayable(ev.state));
        }
        if ev.has_content == 0 {
            return Ok(ReplayResult::ContentPurged);
        }
        let res = sqlx::query(
            "UPDATE events SET state = 'pending', next_attempt_at = $2, deadline_at = $3, dead_at = NULL, lease_until = 0 \
             WHERE id = $1 AND state = 'dead' AND data IS NOT NULL",
        )
        .bind(id.as_str())
        .bind(now)
        .bind(deadline)
        .execute(self.pool())
        .await?;
        Ok(if res.rows_affected() > 0 {
            ReplayResult::Replayed
        } else {
            ReplayResult::NotReplayable("dead".into())
        })
    }

    /// Replays every dead letter (of one instance, or all) whose content is still held.
    pub async fn replay_dead_letters(
        &self,
        instance_id: Option<&InstanceId>,
        now: i64,
        deadline: i64,
    ) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE events SET state = 'pending', next_attempt_at = $2, deadline_at = $3, dead_at = NULL, lease_until = 0 \
             WHERE state = 'dead' AND data IS NOT NULL AND ($1 IS NULL OR instance_id = $1)",
        )
        .bind(instance_id.map(InstanceId::as_str))
        .bind(now)
        .bind(deadline)
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected())
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats> {
        let row =
            sqlx::query("SELECT COUNT(*), MIN(received_at) FROM events WHERE state = 'pending'")
                .fetch_one(self.pool())
                .await?;
        let dead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE state <> 'pending' AND state = 'dead'",
        )
        .fetch_one(self.pool())
        .await?;
        let unroutable: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE state <> 'pending' AND state = 'unroutable'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(OutboxStats {
            pending: row.try_get(0)?,
            oldest_pending_received_at: row.try_get(1)?,
            dead,
            unroutable,
        })
    }

    /// Retention, one bounded batch per table; returns the rows touched.
    pub async fn retention_step(
        &self,
        log_cutoff: i64,
        content_cutoff: i64,
        batch: i64,
    ) -> Result<u64> {
        // Service windows are at most 7 days long: older contacts are forgotten after 8.
        let windows_cutoff = crate::now_ms() - 8 * 24 * 3600 * 1000;
        // Each step deletes (or empties) at most `batch` rows older than its cutoff ($1).
        let steps: [(&str, i64); 9] = [
            (
                "DELETE FROM webhook_log WHERE key IN (SELECT key FROM webhook_log WHERE received_at < $1 LIMIT $2)",
                log_cutoff,
            ),
            // Content of dead-lettered and unroutable events (delivered ones lose it at once).
            (
                "UPDATE events SET contact = NULL, data = NULL, raw = NULL WHERE seq IN (SELECT seq FROM events \
                 WHERE state <> 'pending' AND state IN ('dead', 'unroutable') AND data IS NOT NULL AND COALESCE(dead_at, received_at) < $1 LIMIT $2)",
                content_cutoff,
            ),
            (
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state <> 'pending' AND received_at < $1 LIMIT $2)",
                log_cutoff,
            ),
            (
                "DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE attempted_at < $1 LIMIT $2)",
                log_cutoff,
            ),
            (
                "DELETE FROM malformed_webhooks WHERE id IN (SELECT id FROM malformed_webhooks WHERE received_at < $1 LIMIT $2)",
                log_cutoff,
            ),
            // Outbound messages (metadata and status history; their idempotency keys go with
            // them, so keys live as long as the log, at least a day).
            (
                "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE created_at < $1 \
                 AND state IN ('sent', 'delivered', 'read', 'failed') AND updated_at < $1 LIMIT $2)",
                log_cutoff,
            ),
            (
                "DELETE FROM contact_windows WHERE (channel_id, contact) IN (SELECT channel_id, contact FROM contact_windows \
                 WHERE last_inbound_at < $1 LIMIT $2)",
                windows_cutoff,
            ),
            // Contact profiles not read again for as long as a window is kept: the contact
            // has not written since (a message triggers a new read).
            (
                "DELETE FROM contact_profiles WHERE (channel_id, contact) IN (SELECT channel_id, contact FROM contact_profiles \
                 WHERE attempted_at < $1 LIMIT $2)",
                windows_cutoff,
            ),
            // Thread owners not changed for as long: Meta returned the thread to idle after
            // 24 hours without activity long ago.
            (
                "DELETE FROM thread_owners WHERE (channel_id, contact) IN (SELECT channel_id, contact FROM thread_owners \
                 WHERE updated_at < $1 LIMIT $2)",
                windows_cutoff,
            ),
        ];
        let mut total = 0;
        for (sql, cutoff) in steps {
            let done = sqlx::query(sql)
                .bind(cutoff)
                .bind(batch)
                .execute(self.pool())
                .await?;
            total += done.rows_affected();
        }
        Ok(total)
    }

    /// Records a signed body that could not be parsed: digest, size and reason only.
    pub async fn record_malformed(&self, body_sha256: &str, size: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO malformed_webhooks (received_at, body_sha256, body_size, reason) VALUES ($1, $2, $3, $4)",
        )
        .bind(crate::now_ms())
        .bind(body_sha256)
        .bind(size)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
