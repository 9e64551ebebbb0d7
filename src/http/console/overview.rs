//! `GET /console`: throughput of the last hour and day (charts from the history table), and
//! the instances that need attention first: delivery paused, receiver failing, dead letters,
//! a backlog that grows old, channels with a dead token or paused sends.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::{Value as Ctx, context};
use poem::web::Data;
use poem::{Request, Response, handler};
use serde::Serialize;

use crate::channels::{Connection, SendState};
use crate::http::AppState;
use crate::ids::InstanceId;
use crate::store::{ChannelRow, InstanceBacklog, InstanceRow};

use super::charts::{self, Metric};
use super::render::page;
use super::session::signed_in;
use super::unavailable;

/// A pending event older than this means the backlog is not draining.
const STALE_BACKLOG_MS: i64 = 5 * 60_000;
/// A token that expires within this is a problem now.
const TOKEN_WARNING_MS: i64 = 7 * 24 * 3_600_000;
/// Most instances listed as needing attention (their last error is read for each).
const MOST_PROBLEMS: usize = 50;

/// One thing wrong with an instance.
#[derive(Debug, Serialize)]
pub(super) struct Problem {
    /// `paused`, `failing`, `dead`, `backlog`, `channel`.
    pub kind: &'static str,
    pub text: String,
}

/// An instance that needs attention.
#[derive(Debug, Serialize)]
pub(super) struct Attention {
    pub id: String,
    pub name: String,
    pub problems: Vec<Problem>,
    pub last_error: Option<String>,
    pub dead: i64,
    pub pending: i64,
    #[serde(skip)]
    severity: i64,
}

/// What is wrong with each instance, worst first.
pub(super) fn problems(
    instances: &[InstanceRow],
    backlogs: &[InstanceBacklog],
    channels: &[ChannelRow],
    token_expiry: &HashMap<String, i64>,
    now: i64,
) -> Vec<Attention> {
    let backlog: HashMap<&str, &InstanceBacklog> = backlogs
        .iter()
        .map(|b| (b.instance_id.as_str(), b))
        .collect();
    let mut out = Vec::new();
    for i in instances {
        let mut problems = Vec::new();
        let mut severity = 0;
        if let Some(reason) = &i.delivery_paused_reason {
            severity += 40;
            problems.push(Problem {
                kind: "paused",
                text: format!("Delivery paused ({reason})"),
            });
        }
        let b = backlog.get(i.id.as_str());
        if let Some(b) = b {
            if b.retrying > 0 {
                severity += 30;
                problems.push(Problem {
                    kind: "failing",
                    text: format!(
                        "Receiver failing: {} event(s) waiting for a retry",
                        b.retrying
                    ),
                });
            }
            if b.dead > 0 {
                severity += 20;
                problems.push(Problem {
                    kind: "dead",
                    text: format!("{} dead letter(s)", b.dead),
                });
            }
            if b.oldest_pending_at
                .is_some_and(|t| now - t > STALE_BACKLOG_MS)
            {
                severity += 20;
                problems.push(Problem {
                    kind: "backlog",
                    text: format!(
                        "Backlog of {} event(s), the oldest waiting {} min",
                        b.pending,
                        (now - b.oldest_pending_at.unwrap_or(now)) / 60_000
                    ),
                });
            }
        }
        for c in channels.iter().filter(|c| c.instance_id == i.id) {
            if c.status == Connection::Disconnected {
                continue;
            }
            let name = c.name.clone().unwrap_or_else(|| c.external_id.clone());
            let mut say = |text: String| {
                severity += 10;
                problems.push(Problem {
                    kind: "channel",
                    text,
                });
            };
            match c.send_state {
                SendState::TokenInvalid => say(format!(
                    "{} channel {name}: token invalid, connect it again",
                    c.kind.as_str()
                )),
                SendState::Paused => say(format!(
                    "{} channel {name}: sends paused by Meta",
                    c.kind.as_str()
                )),
                SendState::Sending => {}
            }
            if let Some(at) = token_expiry.get(c.id.as_str())
                && *at < now + TOKEN_WARNING_MS
            {
                say(format!(
                    "{} channel {name}: token expires in {} day(s)",
                    c.kind.as_str(),
                    ((*at - now).max(0)) / (24 * 3_600_000)
                ));
            }
        }
        if !problems.is_empty() {
            out.push(Attention {
                id: i.id.as_str().to_string(),
                name: i.name.clone(),
                problems,
                last_error: None,
                dead: b.map_or(0, |b| b.dead),
                pending: b.map_or(0, |b| b.pending),
                severity,
            });
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.dead.cmp(&a.dead))
            .then(a.name.cmp(&b.name))
    });
    out
}

/// A chart of the overview, ready for the page.
#[derive(Serialize)]
struct Chart {
    label: &'static str,
    hour_total: i64,
    day_total: i64,
    hour_svg: Ctx,
    day_svg: Ctx,
}

/// `GET /console`.
#[handler]
pub async fn overview(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let state: &AppState = &state;
    let session = match signed_in(state, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = crate::now_ms();
    let read = async {
        let history = state.store.history_since(now - 24 * 3_600_000).await?;
        let instances = state.store.list_instances().await?;
        let backlogs = state.store.instance_backlogs().await?;
        let channels = state.store.list_channels(None).await?;
        let activity = state.store.channel_activity(None).await?;
        Ok::<_, crate::store::StoreError>((history, instances, backlogs, channels, activity))
    };
    let (history, instances, backlogs, channels, activity) = match read.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &session, e),
    };
    let expiry: HashMap<String, i64> = activity
        .iter()
        .filter_map(|a| a.token_expires_at.map(|t| (a.channel_id.clone(), t)))
        .collect();
    let mut attention = problems(&instances, &backlogs, &channels, &expiry, now);
    attention.truncate(MOST_PROBLEMS);
    for a in attention.iter_mut().filter(|a| {
        a.problems
            .iter()
            .any(|p| matches!(p.kind, "failing" | "dead"))
    }) {
        if let Ok(id) = InstanceId::parse(&a.id)
            && let Ok(Some((status, error))) = state.store.last_delivery_failure(&id).await
        {
            a.last_error = Some(match (status, error) {
                (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                (Some(s), None) => format!("HTTP {s}"),
                (None, Some(e)) => e,
                (None, None) => "no answer".to_string(),
            });
        }
    }
    let charts: Vec<Chart> = Metric::ALL
        .iter()
        .map(|&m| {
            let hour = charts::buckets(&history, m, charts::HOUR, now);
            let day = charts::buckets(&history, m, charts::DAY, now);
            Chart {
                label: m.label(),
                hour_total: hour.iter().sum(),
                day_total: day.iter().sum(),
                hour_svg: Ctx::from_safe_string(charts::bar_chart(m, charts::HOUR, &hour)),
                day_svg: Ctx::from_safe_string(charts::bar_chart(m, charts::DAY, &day)),
            }
        })
        .collect();
    let totals = context! {
        instances => instances.len(),
        channels => channels.iter().filter(|c| c.status != Connection::Disconnected).count(),
        pending => backlogs.iter().map(|b| b.pending).sum::<i64>(),
        dead => backlogs.iter().map(|b| b.dead).sum::<i64>(),
        paused => instances.iter().filter(|i| i.delivery_paused_reason.is_some()).count(),
    };
    page(
        state,
        &session,
        req,
        "overview.html",
        "overview",
        context! { charts, attention, totals, now },
    )
}
