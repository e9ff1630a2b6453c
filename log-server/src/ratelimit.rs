//! Per-address and per-key rate limits for submissions (token buckets from `governor`).
//!
//! The address limit applies before any parsing, so a flood costs the server almost nothing.
//! The key limit applies after the signatures verified: keying it on an unverified key name
//! would let anyone exhaust a maintainer's budget by copying their key name onto junk.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A rate: `per_second` sustained, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Largest burst.
    pub burst: NonZeroU32,
}

impl Rate {
    /// A rate of `per_second` with a burst of twice that.
    pub fn per_second(per_second: NonZeroU32) -> Rate {
        Rate {
            per_second,
            burst: per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1)),
        }
    }
}

/// A keyed limiter; `None` rates mean unlimited.
#[derive(Debug)]
pub struct Limiter<K: Hash + Eq + Clone> {
    inner: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter for `rate`, or one that never limits.
    pub fn new(rate: Option<Rate>) -> Limiter<K> {
        Limiter {
            inner: rate
                .map(|r| RateLimiter::keyed(Quota::per_second(r.per_second).allow_burst(r.burst))),
        }
    }

    /// Whether this limiter limits anything (a `None` rate limits nothing).
    pub fn is_limited(&self) -> bool {
        self.inner.is_some()
    }

    /// Takes one token for `key`; on refusal, how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets keys whose buckets are full again, bounding memory under address churn.
    pub fn prune(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
        }
    }
}

/// The two limiters of the submission endpoint.
#[derive(Debug)]
pub struct SubmissionLimits {
    /// Per client address, before parsing.
    pub per_address: Limiter<IpAddr>,
    /// Per verified signing key (key name and key ID), after verification.
    pub per_key: Limiter<(String, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let rate = Rate {
            per_second: NonZeroU32::new(1).expect("non-zero"),
            burst: NonZeroU32::new(3).expect("non-zero"),
        };
        let limiter = Limiter::new(Some(rate));
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        for _ in 0..3 {
            assert_eq!(limiter.check(&a), Ok(()));
        }
        let wait = limiter.check(&a).expect_err("burst exhausted");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limiter.check(&b), Ok(()), "other addresses are unaffected");
        let unlimited: Limiter<IpAddr> = Limiter::new(None);
        for _ in 0..1000 {
            assert_eq!(unlimited.check(&a), Ok(()));
        }
    }
}
