//! Request rate limits of the APIs: per instance on `/v1` (keyed by the verified instance id,
//! so a forged token cannot spend another instance's budget) and for the admin token on
//! `/admin/v1`. Over the limit: `429 rate_limited` with `Retry-After` (seconds). Limits are
//! per process: with N replicas an instance gets up to N times the rate. Failed admin-token
//! attempts are limited per client address ([`ADMIN_FAILURES_ALLOWED`] a minute), before the
//! token is compared.
//!
//! Media uploads are also capped by how many are in flight ([`UploadSlots`]): per instance
//! and in all, per process; over a cap: `429 too_many_uploads` with `Retry-After`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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

/// Failed admin-token attempts one client address may make in [`ADMIN_FAILURE_WINDOW`]; past
/// that, every admin request from it is `429` (the token is not even compared) until the
/// window that began with its first failure is over.
pub const ADMIN_FAILURES_ALLOWED: u32 = 10;
/// The window of [`ADMIN_FAILURES_ALLOWED`].
pub const ADMIN_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most addresses remembered at once (older windows are forgotten first).
const ADMIN_FAILURE_ADDRESSES: usize = 10_000;

/// The limiters of this process.
pub struct ApiLimits {
    instances: Option<DefaultKeyedRateLimiter<crate::ids::InstanceId>>,
    admin: Option<DefaultDirectRateLimiter>,
    /// Failed admin-token attempts per client address: (window start, failures).
    admin_failures: Mutex<HashMap<std::net::IpAddr, (std::time::Instant, u32)>>,
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
            admin_failures: Mutex::new(HashMap::new()),
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

    /// `Err(seconds to wait)` when `addr` has used up its failed admin-token attempts
    /// (checked before the token is compared, so guessing stops there).
    pub fn check_admin_address(&self, addr: Option<std::net::IpAddr>) -> Result<(), u64> {
        let Some(addr) = addr else { return Ok(()) };
        let now = std::time::Instant::now();
        let Ok(map) = self.admin_failures.lock() else {
            return Ok(());
        };
        match map.get(&addr) {
            Some((start, n)) if *n >= ADMIN_FAILURES_ALLOWED => {
                let left = ADMIN_FAILURE_WINDOW.saturating_sub(now.duration_since(*start));
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(retry_after(left))
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed admin-token attempt from `addr`.
    pub fn admin_failed(&self, addr: Option<std::net::IpAddr>) {
        let Some(addr) = addr else { return };
        let now = std::time::Instant::now();
        let Ok(mut map) = self.admin_failures.lock() else {
            return;
        };
        if map.len() >= ADMIN_FAILURE_ADDRESSES && !map.contains_key(&addr) {
            map.retain(|_, (start, _)| now.duration_since(*start) < ADMIN_FAILURE_WINDOW);
            if map.len() >= ADMIN_FAILURE_ADDRESSES {
                // Still full of live windows: forget the oldest one.
                if let Some(oldest) = map.iter().min_by_key(|(_, (s, _))| *s).map(|(a, _)| *a) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(addr).or_insert((now, 0));
        if now.duration_since(entry.0) >= ADMIN_FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Forgets instances whose budget is full again (keeps memory bounded).
    pub fn prune(&self) {
        if let Some(limiter) = &self.instances {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Media uploads in flight in this process: at most `total`, at most `per_instance` of one
/// instance. The upload handler takes a slot after its checks and before it reads the body,
/// and the slot is given back when the handler returns (its [`UploadSlot`] is dropped),
/// however the upload ends. Per process, like the rate limits: with N replicas an instance
/// may have up to N times as many uploads in flight.
pub struct UploadSlots {
    limits: crate::config::UploadLimits,
    in_flight: Arc<Mutex<InFlight>>,
}

#[derive(Default)]
struct InFlight {
    total: usize,
    /// Only instances with an upload in flight (memory stays bounded by the caps).
    by_instance: HashMap<crate::ids::InstanceId, usize>,
}

fn lock(m: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which cap a refused upload hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadsBusy {
    /// The instance has `per_instance` uploads in flight.
    Instance,
    /// The process has `total` uploads in flight.
    All,
}

/// One upload in flight; dropping it frees the slot.
pub struct UploadSlot {
    in_flight: Arc<Mutex<InFlight>>,
    instance: crate::ids::InstanceId,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut f = lock(&self.in_flight);
        f.total = f.total.saturating_sub(1);
        if let Some(n) = f.by_instance.get_mut(&self.instance) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                f.by_instance.remove(&self.instance);
            }
        }
    }
}

impl std::fmt::Debug for UploadSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSlots")
            .field("limits", &self.limits)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl UploadSlots {
    pub fn new(limits: crate::config::UploadLimits) -> Self {
        Self {
            limits,
            in_flight: Arc::default(),
        }
    }

    /// A slot for one upload of `instance`, or which cap is reached. Never waits.
    pub fn try_acquire(
        &self,
        instance: &crate::ids::InstanceId,
    ) -> Result<UploadSlot, UploadsBusy> {
        let mut f = lock(&self.in_flight);
        if f.by_instance.get(instance).copied().unwrap_or(0) >= self.limits.per_instance {
            return Err(UploadsBusy::Instance);
        }
        if f.total >= self.limits.total {
            return Err(UploadsBusy::All);
        }
        f.total += 1;
        *f.by_instance.entry(instance.clone()).or_default() += 1;
        Ok(UploadSlot {
            in_flight: Arc::clone(&self.in_flight),
            instance: instance.clone(),
        })
    }

    /// Uploads in flight now.
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).total
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
    fn failed_admin_attempts_are_limited_per_address() {
        let limits = ApiLimits::new(
            Limit {
                per_second: 0,
                burst: 0,
            },
            Limit {
                per_second: 0,
                burst: 0,
            },
        );
        let a = Some(std::net::IpAddr::from([192, 0, 2, 1]));
        let b = Some(std::net::IpAddr::from([192, 0, 2, 2]));
        for _ in 0..ADMIN_FAILURES_ALLOWED {
            assert_eq!(limits.check_admin_address(a), Ok(()));
            limits.admin_failed(a);
        }
        let wait = limits.check_admin_address(a).expect_err("over the limit");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(limits.check_admin_address(b), Ok(()), "another address");
        assert_eq!(limits.check_admin_address(None), Ok(()));
    }

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
    fn upload_slots_cap_per_instance_and_in_all_and_come_back_when_dropped() {
        let slots = UploadSlots::new(crate::config::UploadLimits {
            per_instance: 2,
            total: 3,
        });
        let (a, b, c) = (
            crate::ids::InstanceId::new(),
            crate::ids::InstanceId::new(),
            crate::ids::InstanceId::new(),
        );
        let a1 = slots.try_acquire(&a).expect("a 1");
        let a2 = slots.try_acquire(&a).expect("a 2");
        assert_eq!(slots.try_acquire(&a).err(), Some(UploadsBusy::Instance));
        let b1 = slots.try_acquire(&b).expect("b 1");
        assert_eq!(slots.try_acquire(&c).err(), Some(UploadsBusy::All));
        assert_eq!(slots.in_flight(), 3);
        drop(a1);
        let c1 = slots.try_acquire(&c).expect("c after a's first ended");
        assert_eq!(slots.try_acquire(&a).err(), Some(UploadsBusy::All));
        drop((a2, b1, c1));
        assert_eq!(slots.in_flight(), 0);
        assert!(
            lock(&slots.in_flight).by_instance.is_empty(),
            "no idle entries kept"
        );
        let _again = slots.try_acquire(&a).expect("a again");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after(Duration::from_secs(3)), 3);
    }
}
