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
    /// Whose forwarding headers name the client for `per_address`.
    pub trusted_proxies: TrustedProxies,
}

/// The reverse proxies whose forwarding headers name the client (`trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses addresses (`127.0.0.1`, `::1`) and CIDR blocks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(blocks: &[String]) -> Result<TrustedProxies, String> {
        let mut out = Vec::new();
        for block in blocks {
            let (addr, bits) = match block.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (block.as_str(), None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("trusted proxy {block:?}: not an IP address or CIDR block"))?;
            let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => match cairn_verifier::decimal::parse_canonical_u64(b) {
                    Some(n) if n <= u64::from(max) => u8::try_from(n).unwrap_or(max),
                    _ => {
                        return Err(format!(
                            "trusted proxy {block:?}: the prefix length must be 0 to {max}"
                        ));
                    }
                },
            };
            out.push((addr, bits));
        }
        Ok(TrustedProxies(out))
    }

    /// Whether `addr` lies in one of the blocks.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0
            .iter()
            .any(|&(block, bits)| match (canonical(block), addr) {
                (IpAddr::V4(b), IpAddr::V4(a)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                    u32::from(b) & mask == u32::from(a) & mask
                }
                (IpAddr::V6(b), IpAddr::V6(a)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                    u128::from(b) & mask == u128::from(a) & mask
                }
                _ => false,
            })
    }

    /// The client address for the per-address limit: the peer itself unless it is a trusted
    /// proxy; then the nearest address in the forwarding chain (`Forwarded: for=`, else
    /// `X-Forwarded-For`) that is not a trusted proxy, read from the right, because only the
    /// entries the trusted proxies appended can be believed. A trusted peer that sends no
    /// usable header is its own client.
    pub fn client_address(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
        let Some(chain) = chain else {
            return peer;
        };
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(addr) => {
                    client = *addr;
                    if !self.contains(*addr) {
                        break;
                    }
                }
                // An unparsable hop ("unknown", an obfuscated name): stop at the last address.
                None => break,
            }
        }
        client
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// The `for=` values of every `Forwarded` header (RFC 7239), in order.
fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let hop = element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.eq_ignore_ascii_case("for")
                    .then(|| v.trim().trim_matches('"'))
            });
            if let Some(v) = hop {
                hops.push(parse_node(v));
            }
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// A `Forwarded` node: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080`.
fn parse_node(v: &str) -> Option<IpAddr> {
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    v.parse()
        .ok()
        .or_else(|| v.rsplit_once(':').and_then(|(a, _)| a.parse().ok()))
}

/// The addresses of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &axum::http::HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        hops.extend(value.split(',').map(|h| parse_node(h.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn client_address_believes_only_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["127.0.0.1/32".to_owned(), "10.0.0.0/8".to_owned()])
            .expect("parse");
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let xff = headers(&[("x-forwarded-for", "203.0.113.7, 10.1.2.3")]);
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &xff),
            ip("203.0.113.7")
        );
        assert_eq!(
            proxies.client_address(ip("::ffff:127.0.0.1"), &xff),
            ip("203.0.113.7"),
            "IPv4-mapped peers match IPv4 blocks"
        );
        assert_eq!(
            proxies.client_address(ip("192.0.2.9"), &xff),
            ip("192.0.2.9"),
            "an untrusted peer's header is ignored"
        );
        // A client-supplied first entry cannot hide the address the proxy appended.
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.2")]);
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &spoof),
            ip("198.51.100.2")
        );
        let fwd = headers(&[(
            "forwarded",
            "for=\"[2001:db8::1]:443\";proto=https, for=10.0.0.1",
        )]);
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &fwd),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &headers(&[])),
            ip("127.0.0.1")
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".to_owned()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example".to_owned()]).is_err());
        assert!(
            TrustedProxies::parse(&["::/0".to_owned()])
                .expect("all")
                .contains(ip("::1"))
        );
    }

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
