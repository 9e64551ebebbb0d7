//! Housekeeping: retention (P04, P05) in small batches, SQLite WAL checkpoints off the commit
//! path, PostgreSQL vacuums of the events table during long drains, and the outbox gauges.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::shutdown::CancellationToken;
use crate::store::Store;
use crate::store::writer::Writer;

/// Rows touched per retention statement; small so a purge never holds the writer for long.
pub const RETENTION_BATCH: i64 = 500;

/// Runs retention until nothing is left to do (each statement bounded by
/// [`RETENTION_BATCH`]). Returns the rows touched.
pub async fn retention_pass(
    store: &Store,
    log_retention: Duration,
    content_retention: Duration,
) -> anyhow::Result<u64> {
    let now = crate::now_ms();
    let log_cutoff = now - i64::try_from(log_retention.as_millis())?;
    let content_cutoff = now - i64::try_from(content_retention.as_millis())?;
    let mut total = 0;
    loop {
        let n = store
            .retention_step(log_cutoff, content_cutoff, RETENTION_BATCH)
            .await?;
        total += n;
        if n == 0 {
            break;
        }
        // Let the hot path in between batches.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(total)
}

/// The job lease retention runs under: one replica at a time purges (the others would only
/// contend for the same rows).
const RETENTION_JOB: &str = "retention";

pub async fn run_retention(
    store: Store,
    log_retention: Duration,
    content_retention: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    let owner = crate::ids::new_id("rt_");
    // Held from one pass to the next; a replica that dies hands it over after this long.
    let lease_ms =
        i64::try_from((every * 2).max(Duration::from_secs(600)).as_millis()).unwrap_or(i64::MAX);
    loop {
        match store
            .acquire_job_lease(RETENTION_JOB, &owner, lease_ms)
            .await
        {
            Ok(true) => match retention_pass(&store, log_retention, content_retention).await {
                Ok(0) => {}
                Ok(n) => info!(
                    rows = n,
                    "retention removed expired log entries and content"
                ),
                Err(e) => warn!(error = %e, "retention pass failed; will retry"),
            },
            Ok(false) => {}
            Err(e) => warn!(error = %e, "retention: cannot take the job lease; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {
                let _ = store.release_job_lease(RETENTION_JOB, &owner).await;
                return;
            }
        }
    }
}

/// WAL length (frames, 4 KiB pages: 16 MiB) from which the second's checkpoint makes the next
/// commit start the WAL over ([`Store::checkpoint_restart`]).
const WAL_RESTART_FRAMES: i64 = 4096;

/// SQLite: checkpoint the WAL every second from this task, never on a commit, and refresh
/// the planner's statistics every few minutes (`PRAGMA optimize`).
pub async fn run_checkpoints(store: Store, shutdown: CancellationToken) {
    let mut ticks: u64 = 0;
    loop {
        ticks += 1;
        if ticks % 300 == 1
            && let Err(e) = store.optimize().await
        {
            warn!(error = %e, "PRAGMA optimize failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => {
                let _ = store.checkpoint().await;
                return;
            }
        }
        // Once a minute the WAL is emptied too: purged content must not stay in it (P05).
        let done = if ticks.is_multiple_of(60) {
            store.checkpoint_truncate().await
        } else {
            match store.checkpoint().await {
                // Long: the next commit starts it over instead of making it longer.
                Ok(frames) if frames >= WAL_RESTART_FRAMES => store.checkpoint_restart().await,
                other => other.map(|_| ()),
            }
        };
        if let Err(e) = done {
            warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// PostgreSQL: one step of [`run_vacuum`]. Vacuums `events` when this replica's writer has
/// committed at least `every` delivery outcomes since `*last` (the count at the last vacuum),
/// and then moves `*last` on. Whether it vacuumed.
pub async fn vacuum_step(
    store: &Store,
    writer: &Writer,
    every: u64,
    last: &mut u64,
) -> anyhow::Result<bool> {
    let now = writer.outcomes_committed();
    if every == 0 || now.saturating_sub(*last) < every {
        return Ok(false);
    }
    store.vacuum_events().await?;
    *last = now;
    Ok(true)
}

/// PostgreSQL: vacuums `events` after every `every` delivery outcomes (checked each second),
/// so that a backlog drained after an outage keeps its pace ([`Store::vacuum_events`]).
pub async fn run_vacuum(store: Store, writer: Writer, every: u64, shutdown: CancellationToken) {
    let mut last = writer.outcomes_committed();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = vacuum_step(&store, &writer, every, &mut last).await {
            warn!(error = %e, "VACUUM of the events table failed; will try again");
            // Not again at once: after as many outcomes again.
            last = writer.outcomes_committed();
        }
    }
}

/// Refreshes the outbox gauges every few seconds.
pub async fn run_gauges(store: Store, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    loop {
        if let Ok(stats) = store.outbox_stats().await {
            metrics.outbox_pending.set(stats.pending);
            let age = stats
                .oldest_pending_received_at
                .map(|t| (crate::now_ms() - t).max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            metrics.outbox_oldest_pending_age_seconds.set(age);
            metrics.dead_letters.set(stats.dead);
            metrics.unroutable_events.set(stats.unroutable);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The counters of this process that the throughput history follows, as totals.
fn history_totals(m: &Metrics) -> crate::store::HistoryPoint {
    let attempts = |o: &'static str| {
        i64::try_from(m.delivery_attempts.get_or_create(&[("outcome", o)]).get()).unwrap_or(0)
    };
    let sends = |o: &'static str| {
        i64::try_from(m.sends.get_or_create(&[("outcome", o)]).get()).unwrap_or(0)
    };
    let count =
        |c: &prometheus_client::metrics::counter::Counter| i64::try_from(c.get()).unwrap_or(0);
    crate::store::HistoryPoint {
        minute: 0,
        webhooks_in: count(&m.webhooks_received),
        delivered: attempts("delivered"),
        sends: sends("accepted"),
        failures: attempts("retry") + attempts("gone") + attempts("dead") + sends("failed"),
        dead_letters: count(&m.dead_letters_total),
    }
}

/// Adds what this process counted since the last sample to the throughput history (the
/// console's charts, `metrics_history`), every `every`; removes history older than two days
/// and console sessions idle for longer than `session_idle` every ten minutes. Each replica
/// writes its own rows (at most one write per sample, none when nothing was counted).
pub async fn run_history(
    store: Store,
    metrics: Arc<Metrics>,
    every: Duration,
    session_idle: Duration,
    shutdown: CancellationToken,
) {
    let replica = crate::ids::new_id("rp_");
    let mut last = crate::store::HistoryPoint::default();
    let mut last_purge = 0i64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = crate::now_ms();
        let totals = history_totals(&metrics);
        let delta = crate::store::HistoryPoint {
            minute: now - now.rem_euclid(60_000),
            webhooks_in: totals.webhooks_in - last.webhooks_in,
            delivered: totals.delivered - last.delivered,
            sends: totals.sends - last.sends,
            failures: totals.failures - last.failures,
            dead_letters: totals.dead_letters - last.dead_letters,
        };
        let counted = delta.webhooks_in != 0
            || delta.delivered != 0
            || delta.sends != 0
            || delta.failures != 0
            || delta.dead_letters != 0;
        if counted {
            match store.add_history(&replica, &delta).await {
                // What failed to be written is tried again with the next sample.
                Ok(()) => last = totals,
                Err(e) => tracing::debug!(error = %e, "recording the throughput history failed"),
            }
        }
        if now - last_purge >= 600_000 {
            last_purge = now;
            let idle = i64::try_from(session_idle.as_millis()).unwrap_or(i64::MAX / 2);
            if let Err(e) = store
                .purge_history(now - crate::store::HISTORY_RETENTION_MS)
                .await
            {
                tracing::debug!(error = %e, "purging the throughput history failed");
            }
            if let Err(e) = store.purge_console_sessions(now - idle).await {
                tracing::debug!(error = %e, "purging idle console sessions failed");
            }
        }
    }
}
