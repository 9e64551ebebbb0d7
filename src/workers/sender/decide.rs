//! How one Graph answer to a send is classified: retry with backoff, fail with Meta's code,
//! hold the queue (pause the channel, check the token), or mark the message `unconfirmed` when
//! the request may have reached Meta. Pure apart from the backoff's jitter: the sender records
//! what [`decide`] returns through the group-commit writer.

use std::time::Duration;

use rand::Rng;

use crate::config::{AmbiguousPolicy, SendConfig};
use crate::messages::lifecycle::{ErrorInfo, Signal};
use crate::meta::graph::{ErrorClass, GraphError, SendOutcome};
use crate::store::{ChannelChange, ChannelRow, ClaimedSend, SendChange};
pub(super) fn unknown_outcome() -> ErrorInfo {
    ErrorInfo::bridge(
        "unknown_outcome",
        "The Graph API call timed out or lost its connection after the request was sent, \
                 and no status from Meta confirmed it; it may or may not have been delivered.",
    )
}

fn error_info(e: &GraphError) -> ErrorInfo {
    let reason = e
        .details
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| e.reason().to_string());
    ErrorInfo {
        code: Some(e.code),
        subcode: e.subcode,
        kind: e.code.to_string(),
        reason: reason.chars().take(300).collect(),
    }
}

fn backoff(cfg: &SendConfig, attempt: i64) -> i64 {
    let base = i64::try_from(cfg.backoff.as_millis()).unwrap_or(1000);
    let exp = base.saturating_mul(1i64 << attempt.clamp(0, 20));
    let capped = exp.min(300_000);
    let jitter = rand::rng().random_range(0.8..1.2);
    (capped as f64 * jitter) as i64
}

/// What to do with one Graph answer.
pub fn decide(
    outcome: &SendOutcome,
    channel: &ChannelRow,
    msg: &ClaimedSend,
    cfg: &SendConfig,
    now: i64,
) -> (Signal, Option<ChannelChange>) {
    let attempt = msg.attempts + 1;
    let exhausted = |limit: i64| attempt >= limit;
    let max = i64::from(cfg.max_attempts);
    let retry = |error: Option<ErrorInfo>, after: Option<Duration>, limit: i64| {
        if exhausted(limit) {
            let mut e = error.unwrap_or_else(|| ErrorInfo {
                code: None,
                subcode: None,
                kind: "retries_exhausted".into(),
                reason: String::new(),
            });
            e.reason = format!("Gave up after {attempt} attempts. {}", e.reason)
                .trim()
                .to_string();
            Signal::Fail { error: e }
        } else {
            let wait = backoff(cfg, msg.attempts)
                .max(after.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)));
            Signal::Retry {
                next_at: now + wait,
                error,
            }
        }
    };
    let change = |change: SendChange| {
        Some(ChannelChange {
            channel_id: channel.id.clone(),
            change,
        })
    };
    match outcome {
        SendOutcome::Accepted {
            message_id,
            recipient_wa_id,
            ..
        } => (
            Signal::Accepted {
                meta_message_id: message_id.clone(),
                recipient_wa_id: recipient_wa_id.clone(),
            },
            // Sends got through after a pause: the next pause starts short again.
            if channel.send_pauses > 0 {
                change(SendChange::Healthy)
            } else {
                None
            },
        ),
        SendOutcome::Rejected {
            error,
            class,
            retry_after,
        } => {
            let info = error_info(error);
            match class {
                // Only `debug_token` condemns a token (issue 12, defect 2): this message is
                // retried, and the token is checked at once.
                ErrorClass::TokenSuspect => (
                    retry(Some(info), *retry_after, max),
                    change(SendChange::CheckToken),
                ),
                // About this call (often this one recipient): fail it with Meta's code, and
                // have the token's permissions checked; the token itself stays.
                ErrorClass::Permission => {
                    (Signal::Fail { error: info }, change(SendChange::CheckToken))
                }
                ErrorClass::PauseSends => (
                    Signal::Hold,
                    change(SendChange::Pause {
                        reason: format!(
                            "Meta restricted sending on this account (code {}): {}",
                            error.code, info.reason
                        ),
                        base_ms: i64::try_from(cfg.pause.as_millis()).unwrap_or(900_000),
                        max_ms: i64::try_from(crate::config::MAX_SEND_PAUSE.as_millis())
                            .unwrap_or(86_400_000),
                        min_ms: retry_after
                            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
                    }),
                ),
                ErrorClass::WindowClosed | ErrorClass::Permanent => {
                    (Signal::Fail { error: info }, None)
                }
                ErrorClass::Retry => (retry(Some(info), *retry_after, max), None),
                ErrorClass::RetryLimited => (retry(Some(info), *retry_after, max.min(3)), None),
                ErrorClass::RetryPair => {
                    let wait =
                        4i64.saturating_pow(u32::try_from(attempt.clamp(1, 6)).unwrap_or(6)) * 1000;
                    (
                        retry(
                            Some(info),
                            Some(Duration::from_millis(u64::try_from(wait).unwrap_or(4000))),
                            max.max(6),
                        ),
                        None,
                    )
                }
            }
        }
        SendOutcome::NotSent { .. } => (
            retry(
                Some(ErrorInfo::bridge(
                    "graph_unreachable",
                    "The Graph API could not be reached.",
                )),
                None,
                max,
            ),
            None,
        ),
        SendOutcome::Ambiguous { .. } => {
            if msg.expects_message_id == 0 {
                // Read receipts, typing indicators and reactions: repeating one is harmless.
                (retry(None, None, max), None)
            } else if channel.kind == crate::channels::ChannelKind::Whatsapp
                || cfg.ambiguous_policy.for_kind(channel.kind.as_str()) == AmbiguousPolicy::Retry
            {
                // WhatsApp: Meta's status echo may settle it. Instagram/Messenger only when
                // the operator asked for `retry` there: resent after the window.
                let window = i64::try_from(cfg.reconcile_window.as_millis()).unwrap_or(120_000);
                (
                    Signal::Unconfirmed {
                        until: now + window,
                        reason: "timeout or connection lost after the request was sent".into(),
                    },
                    None,
                )
            } else {
                // No echo ties an Instagram/Messenger send to our id: never resend blindly.
                (
                    Signal::Fail {
                        error: unknown_outcome(),
                    },
                    None,
                )
            }
        }
    }
}
