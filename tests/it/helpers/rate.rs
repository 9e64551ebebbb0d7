//! Checks on what Meta sees of a channel's sends, and the seeded randomness of the kill tests.

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

/// How late arrivals would have to be for a series to conform to "at most `rate` in any
/// second": the smallest `J` such that, for every pair `i <= j` of the sorted times,
///
/// ```text
///   count(i..=j) <= rate × (⌊(t_j − t_i + J) / 1 s⌋ + 1)
/// ```
///
/// i.e. the `count` sends could have *started* `rate` per second if each arrived up to `J`
/// after its start (arrivals carry the jitter of the way from the sender to Meta). A series
/// that keeps to `rate` per second needs `J <= 0`; `rate + 1` sends within 900 ms need
/// `J = 100 ms`; a second sender adding `rate` sends within a second needs `J` of about a
/// second, and a sender above the rate for long needs a `J` that grows with its duration.
/// Returns `J` in seconds (0 for a conforming series) and the pair needing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterNeeded {
    pub secs: f64,
    pub from: usize,
    pub to: usize,
}

pub fn jitter_needed(times: &[Instant], rate: u32) -> JitterNeeded {
    let mut t = times.to_vec();
    t.sort();
    let rate = rate.max(1) as usize;
    let mut worst = JitterNeeded {
        secs: f64::NEG_INFINITY,
        from: 0,
        to: 0,
    };
    for i in 0..t.len() {
        for j in i..t.len() {
            let count = j - i + 1;
            // The whole seconds `count` starts need between the first and the last.
            let seconds = count.div_ceil(rate) - 1;
            let span = t[j].duration_since(t[i]).as_secs_f64();
            let need = seconds as f64 - span;
            if need > worst.secs {
                worst = JitterNeeded {
                    secs: need,
                    from: i,
                    to: j,
                };
            }
        }
    }
    worst
}

/// The most arrivals within any window of `window` (for the record).
pub fn max_in_window(times: &[Instant], window: std::time::Duration) -> usize {
    let mut t = times.to_vec();
    t.sort();
    (0..t.len())
        .map(|i| {
            t[i..]
                .iter()
                .take_while(|u| u.duration_since(t[i]) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// A seeded random generator for a test's random choices. The seed is
/// `METABRIDGE_TEST_SEED` when set (to replay a failure), else random; it is printed either
/// way, so a failing run's log says how to replay it.
pub fn seeded_rng(test: &str) -> (StdRng, u64) {
    let seed = match std::env::var("METABRIDGE_TEST_SEED") {
        Ok(s) if !s.is_empty() => s
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("METABRIDGE_TEST_SEED must be a u64, not {s:?}")),
        _ => rand::random::<u64>(),
    };
    eprintln!("{test}: seed {seed} (replay with METABRIDGE_TEST_SEED={seed})");
    (StdRng::seed_from_u64(seed), seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn series(ms: &[f64]) -> Vec<Instant> {
        let t0 = Instant::now();
        ms.iter()
            .map(|m| t0 + Duration::from_secs_f64(m / 1000.0))
            .collect()
    }

    /// The check's own known answers: a paced series, a burst, a double-rate sender.
    #[test]
    fn jitter_needed_known_answers() {
        // 10/s exactly for 5 s: no jitter needed (11 sends span exactly one second).
        let paced: Vec<f64> = (0..50).map(|i| f64::from(i) * 100.0).collect();
        let j = jitter_needed(&series(&paced), 10);
        assert!(j.secs.abs() < 1e-9, "{j:?}");
        // 11 sends within 900 ms: 100 ms.
        let tight: Vec<f64> = (0..11).map(|i| f64::from(i) * 90.0).collect();
        let j = jitter_needed(&series(&tight), 10);
        assert!((j.secs - 0.1).abs() < 1e-9, "{j:?}");
        // The paced series with 10 more sends at 2 s (a second sender's burst): the 11 sends
        // at 2.0 s need a whole second and span none.
        let mut burst = paced.clone();
        burst.extend(std::iter::repeat_n(2000.0, 10));
        let j = jitter_needed(&series(&burst), 10);
        assert!((j.secs - 1.0).abs() < 1e-9, "{j:?}");
        // 20/s for 4 s against 10/s: 81 sends need 8 s and span 4 s.
        let double: Vec<f64> = (0..=80).map(|i| f64::from(i) * 50.0).collect();
        let j = jitter_needed(&series(&double), 10);
        assert!((j.secs - 4.0).abs() < 1e-9, "{j:?}");
        // 11/s (10 % above the limit) for 20 s: 221 sends need 22 s and span 20 s.
        let above: Vec<f64> = (0..=220).map(|i| f64::from(i) * 1000.0 / 11.0).collect();
        let j = jitter_needed(&series(&above), 10);
        assert!((j.secs - 2.0).abs() < 1e-6, "{j:?}");
        assert_eq!(max_in_window(&series(&paced), Duration::from_secs(1)), 10);
        assert_eq!(max_in_window(&series(&burst), Duration::from_secs(1)), 20);
    }
}
