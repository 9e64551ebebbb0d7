//! The life of an outbound message, as a pure state machine.
//!
//! ```text
//! queued ──claim──▶ sending ──200──────────────▶ sent ──▶ delivered ──▶ read
//!   ▲                 │ retryable error / not sent                 (never backwards)
//!   └─────────────────┤
//!                     ├─ timeout / reset after the request left ─▶ unconfirmed
//!                     │        (waits for Meta's status echo; then the ambiguity policy)
//!                     └─ permanent error / window closed ───────▶ failed
//! ```
//!
//! Rules for statuses arriving from Meta's webhooks (in any order):
//! - a status only moves a message forward: `sent` < `delivered` < `read` (`played` counts as
//!   `read`); a lower status after a higher one is recorded in the history and changes nothing;
//! - `failed` after `delivered` or `read` (one device of several failed, or a late duplicate)
//!   is recorded in the history but does not change the state: the message did reach the person;
//! - `delivered` or `read` after `failed` wins (Meta delivered it after all); logged;
//! - any status while the send is still in flight or unconfirmed settles it: the message was
//!   accepted (this is how an ambiguous send is reconciled).
//!
//! Each message emits `message.sent` once (when it first leaves the pre-send phases for a
//! positive state) and `message.failed` once (when it becomes failed).

/// Where an outbound message is.
// The one status type of a message: stored as its `as_str` name, shown by the API (schema
// `MessageStatus`), driven by the state machine below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum)]
#[oai(rename = "MessageStatus", rename_all = "snake_case")]
pub enum Phase {
    // Waiting for its turn (pacing, the recipient's previous message, a retry delay, or a
    // channel that is paused or waiting for a new token).
    Queued,
    // The Graph API call is in flight.
    Sending,
    // The call's outcome is unknown (timeout after the request left); waiting for Meta's status
    // echo before deciding.
    Unconfirmed,
    // Meta accepted it.
    Sent,
    Delivered,
    Read,
    // It failed for good (the message's `error` says why).
    Failed,
}

/// A stored state that is not a [`Phase`] (a database written by another version).
#[derive(Debug, thiserror::Error)]
#[error("unknown message state {0:?}")]
pub struct UnknownPhase(pub String);

impl TryFrom<String> for Phase {
    type Error = UnknownPhase;

    fn try_from(s: String) -> Result<Self, UnknownPhase> {
        Phase::parse(&s).ok_or(UnknownPhase(s))
    }
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Unconfirmed => "unconfirmed",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "unconfirmed" => Self::Unconfirmed,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Not yet known to Meta (as far as the bridge can tell).
    pub fn is_pre_send(self) -> bool {
        matches!(self, Self::Queued | Self::Sending | Self::Unconfirmed)
    }

    /// Settled: the sender has nothing more to do with it.
    pub fn is_final_for_sender(self) -> bool {
        !self.is_pre_send()
    }

    fn positive_rank(self) -> Option<u8> {
        match self {
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read => Some(3),
            _ => None,
        }
    }
}

/// A Meta error as the bridge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorInfo {
    /// Meta's code, or none for the bridge's own reasons.
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    /// Machine-readable: Meta's code as text (`"131047"`) or the bridge's (`unknown_outcome`, …).
    pub kind: String,
    /// A readable reason.
    pub reason: String,
}

impl ErrorInfo {
    /// The bridge's own failure reason (no Meta code).
    pub fn bridge(kind: &str, reason: &str) -> Self {
        Self {
            code: None,
            subcode: None,
            kind: kind.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Why a message of a disconnected channel failed.
    pub fn channel_disconnected() -> Self {
        Self::bridge(
            "channel_disconnected",
            "The channel was disconnected before the message was sent.",
        )
    }
}

/// Something that happened to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The Graph API answered 200.
    Accepted {
        meta_message_id: Option<String>,
        recipient_wa_id: Option<String>,
    },
    /// A status webhook (`sent`, `delivered`, `read`, `played`, `failed`).
    Status {
        status: String,
        meta_message_id: Option<String>,
        error: Option<ErrorInfo>,
    },
    /// Try again at `next_at` (retryable error or provably not sent).
    Retry {
        next_at: i64,
        error: Option<ErrorInfo>,
    },
    /// The channel cannot send now (token dead, paused): back to the queue, the attempt not
    /// counted against the message.
    Hold,
    /// Not sent yet, by the bridge's own choice (the recipient's pair limit): back to the
    /// queue until `next_at`, no attempt counted.
    Defer { next_at: i64 },
    /// The request may have reached Meta: wait for its status echo until `until`.
    Unconfirmed { until: i64, reason: String },
    /// Give up.
    Fail { error: ErrorInfo },
}

/// What applying a signal decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: Phase,
    /// `message.sent` or `message.failed`, when this transition emits one.
    pub emit: Option<&'static str>,
    /// The signal counts as a send attempt.
    pub counts_attempt: bool,
    /// A positive status overrode an earlier failure (worth a log line).
    pub overrode_failure: bool,
}

fn status_phase(status: &str) -> Option<Phase> {
    Some(match status {
        "sent" => Phase::Sent,
        "delivered" => Phase::Delivered,
        "read" | "played" => Phase::Read,
        "failed" => Phase::Failed,
        _ => return None,
    })
}

/// Applies `signal` to a message in phase `from`.
pub fn apply(from: Phase, signal: &Signal) -> Transition {
    let stay = Transition {
        to: from,
        emit: None,
        counts_attempt: false,
        overrode_failure: false,
    };
    let in_flight = matches!(from, Phase::Sending | Phase::Unconfirmed);
    match signal {
        Signal::Accepted { .. } => {
            if from.is_pre_send() {
                Transition {
                    to: Phase::Sent,
                    emit: Some("message.sent"),
                    counts_attempt: true,
                    overrode_failure: false,
                }
            } else {
                // A status webhook got there first: keep what it said.
                Transition {
                    counts_attempt: in_flight,
                    ..stay
                }
            }
        }
        Signal::Status { status, .. } => {
            let Some(target) = status_phase(status) else {
                return stay;
            };
            match (from.positive_rank(), target.positive_rank()) {
                // failed
                (_, None) => {
                    if from.is_pre_send() || from == Phase::Sent {
                        Transition {
                            to: Phase::Failed,
                            emit: Some("message.failed"),
                            counts_attempt: false,
                            overrode_failure: false,
                        }
                    } else {
                        stay
                    }
                }
                (Some(cur), Some(new)) if new <= cur => stay,
                (Some(_), Some(_)) => Transition { to: target, ..stay },
                (None, Some(_)) if from == Phase::Failed => Transition {
                    to: target,
                    overrode_failure: true,
                    ..stay
                },
                (None, Some(_)) => Transition {
                    to: target,
                    emit: Some("message.sent"),
                    ..stay
                },
            }
        }
        // An attempt is a Graph call: counted when its answer (or its lack of one) is
        // recorded, from `sending`. A retry or failure decided later for an unconfirmed send
        // is no new call.
        Signal::Retry { .. } if in_flight || from == Phase::Queued => Transition {
            to: Phase::Queued,
            counts_attempt: from == Phase::Sending,
            ..stay
        },
        Signal::Hold | Signal::Defer { .. } if in_flight || from == Phase::Queued => Transition {
            to: Phase::Queued,
            ..stay
        },
        Signal::Unconfirmed { .. } if in_flight => Transition {
            to: Phase::Unconfirmed,
            counts_attempt: from == Phase::Sending,
            ..stay
        },
        Signal::Fail { .. } if from.is_pre_send() => Transition {
            to: Phase::Failed,
            emit: Some("message.failed"),
            counts_attempt: from == Phase::Sending,
            overrode_failure: false,
        },
        // Late sender decisions about a message a webhook already settled.
        Signal::Retry { .. }
        | Signal::Hold
        | Signal::Defer { .. }
        | Signal::Unconfirmed { .. }
        | Signal::Fail { .. } => stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: &str) -> Signal {
        Signal::Status {
            status: s.into(),
            meta_message_id: Some("wamid.1".into()),
            error: None,
        }
    }

    fn accepted() -> Signal {
        Signal::Accepted {
            meta_message_id: Some("wamid.1".into()),
            recipient_wa_id: None,
        }
    }

    fn run(signals: &[Signal]) -> (Phase, Vec<&'static str>) {
        let mut p = Phase::Sending;
        let mut emitted = Vec::new();
        for s in signals {
            let t = apply(p, s);
            p = t.to;
            emitted.extend(t.emit);
        }
        (p, emitted)
    }

    #[test]
    fn happy_path_emits_sent_once() {
        let (p, e) = run(&[
            accepted(),
            status("sent"),
            status("delivered"),
            status("read"),
        ]);
        assert_eq!(p, Phase::Read);
        assert_eq!(e, vec!["message.sent"]);
    }

    #[test]
    fn statuses_never_move_backwards_whatever_the_order() {
        let (p, e) = run(&[
            status("read"),
            status("delivered"),
            status("sent"),
            accepted(),
        ]);
        assert_eq!(p, Phase::Read);
        assert_eq!(e, vec!["message.sent"]);
        let (p, _) = run(&[accepted(), status("delivered"), status("sent")]);
        assert_eq!(p, Phase::Delivered);
        let (p, _) = run(&[accepted(), status("played"), status("delivered")]);
        assert_eq!(p, Phase::Read);
    }

    #[test]
    fn failed_after_delivered_is_history_only() {
        let (p, e) = run(&[accepted(), status("delivered"), status("failed")]);
        assert_eq!(p, Phase::Delivered);
        assert_eq!(e, vec!["message.sent"]);
    }

    #[test]
    fn failed_after_sent_fails_and_a_later_delivery_wins() {
        let (p, e) = run(&[accepted(), status("failed")]);
        assert_eq!(p, Phase::Failed);
        assert_eq!(e, vec!["message.sent", "message.failed"]);
        let t = apply(Phase::Failed, &status("delivered"));
        assert_eq!(t.to, Phase::Delivered);
        assert!(t.overrode_failure);
        assert_eq!(t.emit, None);
    }

    #[test]
    fn failed_status_before_the_response_keeps_failed() {
        let (p, e) = run(&[status("failed"), accepted()]);
        assert_eq!(p, Phase::Failed);
        assert_eq!(e, vec!["message.failed"]);
    }

    #[test]
    fn an_echo_settles_an_unconfirmed_send() {
        let t = apply(Phase::Unconfirmed, &status("sent"));
        assert_eq!(t.to, Phase::Sent);
        assert_eq!(t.emit, Some("message.sent"));
        // The sender's late decision changes nothing any more.
        let fail = Signal::Fail {
            error: ErrorInfo::default(),
        };
        assert_eq!(apply(Phase::Sent, &fail).to, Phase::Sent);
        assert_eq!(apply(Phase::Sent, &Signal::Hold).to, Phase::Sent);
    }

    #[test]
    fn sender_outcomes_from_sending() {
        let retry = Signal::Retry {
            next_at: 5,
            error: None,
        };
        let t = apply(Phase::Sending, &retry);
        assert_eq!((t.to, t.counts_attempt), (Phase::Queued, true));
        let t = apply(Phase::Sending, &Signal::Hold);
        assert_eq!((t.to, t.counts_attempt), (Phase::Queued, false));
        let t = apply(
            Phase::Sending,
            &Signal::Unconfirmed {
                until: 9,
                reason: "timeout".into(),
            },
        );
        assert_eq!((t.to, t.counts_attempt), (Phase::Unconfirmed, true));
        let t = apply(
            Phase::Unconfirmed,
            &Signal::Fail {
                error: ErrorInfo::default(),
            },
        );
        assert_eq!(
            (t.to, t.emit, t.counts_attempt),
            (Phase::Failed, Some("message.failed"), false)
        );
        // Resending an unconfirmed message is a decision, not a call: the resend counts when
        // its own answer is recorded.
        let t = apply(Phase::Unconfirmed, &retry);
        assert_eq!((t.to, t.counts_attempt), (Phase::Queued, false));
    }

    #[test]
    fn unknown_status_is_ignored() {
        assert_eq!(apply(Phase::Sent, &status("deleted")).to, Phase::Sent);
    }

    #[test]
    fn phases_round_trip() {
        for p in [
            Phase::Queued,
            Phase::Sending,
            Phase::Unconfirmed,
            Phase::Sent,
            Phase::Delivered,
            Phase::Read,
            Phase::Failed,
        ] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn a_stored_state_that_is_no_phase_is_an_error_not_queued() {
        assert_eq!(
            Phase::try_from("delivered".to_string()).ok(),
            Some(Phase::Delivered)
        );
        for s in ["paused", "QUEUED", ""] {
            let e = Phase::try_from(s.to_string()).expect_err("not a phase");
            assert_eq!(e.0, s);
        }
    }
}
