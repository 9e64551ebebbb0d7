//! Request rate limits of the APIs: per instance on `/v1` (keyed by the verified instance id,
//! so a forged token cannot spend another instance's budget) and for the admin token on
//! `/admin/v1`. Over the limit: `429 rate_limited` with `Retry-After` (seconds). Limits are
//! per process: with N replicas an instance gets up to N times the rate.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Limit;

impl Limit {
    fn quota(self) -> Option<Quota> {
        let rate = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst.max(self.per_second)).unwrap_or(rate);
        Some(Quota::per_second(rate).allow_burst(burst))
    }
}

/// The limiters of this process.
pub struct ApiLimits {
    instances: Option<DefaultKeyedRateLimiter<crate::ids::InstanceId>>,
    admin: Option<DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl std::fmt::Debug for ApiLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLimits")
            .field("instances", &self.instances.is_some())
            .field("admin", &self.admin.is_some())
            .finish()
    }
}

/// How long to wait before the next request is allowed (at least a second, as `Retry-After`
/// counts whole seconds).
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

impl ApiLimits {
    pub fn new(instance: Limit, admin: Limit) -> Self {
        Self {
            instances: instance.quota().map(RateLimiter::keyed),
            admin: admin.quota().map(RateLimiter::direct),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds to wait)` when the instance is over its limit.
    pub fn check_instance(&self, instance_id: &crate::ids::InstanceId) -> Result<(), u64> {
        let Some(limiter) = &self.instances else {
            return Ok(());
        };
        limiter
            .check_key(instance_id)
            .map_err(|not_until| retry_after(not_until.wait_time_from(self.clock.now())))
    }

    /// `Err(seconds to wait)` when the admin token is over its limit.
    pub fn check_admin(&self) -> Result<(), u64> {
        let Some(limiter) = &self.admin else {
            return Ok(());
        };
        limiter
            .check()
            .map_err(|not_until| retry_after(not_until.wait_time_from(self.clock.now())))
    }

    /// Forgets instances whose budget is full again (keeps memory bounded).
    pub fn prune(&self) {
        if let Some(limiter) = &self.instances {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// A request over its limit (raised by the authentication checkers).
#[derive(Debug, thiserror::Error)]
#[error("rate limit exceeded; retry in {0} s")]
pub struct RateLimited(pub u64);

impl poem::error::ResponseError for RateLimited {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::TOO_MANY_REQUESTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_have_their_own_budget_and_zero_is_off() {
        let limits = ApiLimits::new(
            Limit {
                per_second: 2,
                burst: 3,
            },
            Limit {
                per_second: 0,
                burst: 0,
            },
        );
        let (a, b) = (crate::ids::InstanceId::new(), crate::ids::InstanceId::new());
        for _ in 0..3 {
            assert!(limits.check_instance(&a).is_ok());
        }
        let wait = limits.check_instance(&a).expect_err("over the burst");
        assert!((1..=2).contains(&wait), "{wait}");
        assert!(
            limits.check_instance(&b).is_ok(),
            "another instance is not affected"
        );
        for _ in 0..1000 {
            assert!(limits.check_admin().is_ok(), "admin limit off");
        }
        limits.prune();
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after(Duration::from_secs(3)), 3);
    }
}
