//! The sender's per-channel memory: a pause deadline and Meta's pair limit (a token bucket per
//! recipient, about one message per 6 s with bursts; 131056 backs a recipient off 4^n s).

use std::collections::HashMap;

use tokio::time::Instant;

/// Pair limit: bucket size and refill interval per recipient.
const PAIR_BURST: f64 = 20.0;
const PAIR_REFILL_SECS: f64 = 6.0;

/// Per-channel in-memory limits.
#[derive(Default)]
pub(super) struct ChannelState {
    pub(super) paused_until: Option<Instant>,
    /// recipient → (tokens, last refill ms, blocked until ms)
    pairs: HashMap<String, (f64, i64, i64)>,
}

impl ChannelState {
    /// Takes a pair-limit token for `recipient`; `Some(time)` when the send must wait.
    pub(super) fn pair_wait(&mut self, recipient: &str, now: i64) -> Option<i64> {
        if self.pairs.len() > 100_000 {
            // Forget recipients whose bucket is full again.
            self.pairs.retain(|_, (tokens, at, blocked)| {
                *blocked > now
                    || *tokens + ((now - *at) as f64 / 1000.0 / PAIR_REFILL_SECS) < PAIR_BURST
            });
        }
        let e = self
            .pairs
            .entry(recipient.to_string())
            .or_insert((PAIR_BURST, now, 0));
        if e.2 > now {
            return Some(e.2);
        }
        let refill = (now - e.1) as f64 / 1000.0 / PAIR_REFILL_SECS;
        e.0 = (e.0 + refill).min(PAIR_BURST);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            None
        } else {
            let wait = ((1.0 - e.0) * PAIR_REFILL_SECS * 1000.0) as i64;
            Some(now + wait.max(1))
        }
    }

    /// Meta said 131056: hold the recipient 4^n seconds.
    pub(super) fn pair_backoff(&mut self, recipient: &str, now: i64, attempts: i64) {
        let secs = 4i64.saturating_pow(u32::try_from((attempts + 1).clamp(1, 6)).unwrap_or(6));
        let e = self
            .pairs
            .entry(recipient.to_string())
            .or_insert((0.0, now, 0));
        e.0 = 0.0;
        e.1 = now;
        e.2 = now + secs * 1000;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_bucket_allows_a_burst_then_spaces_sends() {
        let mut s = ChannelState::default();
        let now = 1_000_000;
        for _ in 0..20 {
            assert_eq!(s.pair_wait("r", now), None);
        }
        let wait = s.pair_wait("r", now).expect("must wait after the burst");
        assert!(wait > now && wait <= now + 6_000);
        assert_eq!(
            s.pair_wait("other", now),
            None,
            "other recipients unaffected"
        );
        assert_eq!(s.pair_wait("r", now + 6_000), None, "one token per 6 s");
    }

    #[test]
    fn pair_backoff_grows_as_four_to_the_n() {
        let mut s = ChannelState::default();
        s.pair_backoff("r", 0, 0);
        assert_eq!(s.pair_wait("r", 1), Some(4_000));
        s.pair_backoff("r", 0, 1);
        assert_eq!(s.pair_wait("r", 1), Some(16_000));
    }
}
