//! When to try an ARM request again and how long to wait first: exponential backoff with full
//! jitter, `Retry-After`, all under one deadline. Pure arithmetic: the clock and the randomness
//! come in as arguments, so the rules can be checked exhaustively.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

/// How an activation call paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first backoff; each later retry doubles it.
    pub base_delay: Duration,
    /// No backoff waits longer than this (a `Retry-After` from ARM is honoured even when longer).
    pub max_delay: Duration,
    /// The longest one HTTP attempt may take, so a hung ARM costs an attempt, not the whole call.
    pub attempt_timeout: Duration,
    /// The wait between polls of a long-running operation when ARM sends no `Retry-After`.
    pub poll_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(16),
            attempt_timeout: Duration::from_secs(30),
            // ARM's own guidance is 60 s without `Retry-After`, but activation runs under a
            // deadline of a few minutes and Azure sends `Retry-After` where it matters; one
            // second keeps the local double quick and stays far below the read limits.
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The upper bound of the backoff before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        // In nanoseconds as u128, so large retry counts saturate instead of wrapping.
        let factor = 1u128.checked_shl(retry).unwrap_or(u128::MAX);
        let nanos = self.base_delay.as_nanos().saturating_mul(factor);
        if nanos >= self.max_delay.as_nanos() {
            self.max_delay
        } else {
            // Below max_delay, so the seconds fit in a u64.
            Duration::new((nanos / 1_000_000_000) as u64, (nanos % 1_000_000_000) as u32)
        }
    }

    /// Full jitter: a point in `[0, ceiling(retry)]` picked by `jitter` in `[0, 1]`.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
        let ceiling = self.ceiling(retry);
        // Floating point may round a nanosecond up; the ceiling is a promise.
        ceiling.mul_f64(jitter).min(ceiling)
    }

    /// How long to wait before retry number `retry`, or `None` to give up because the next
    /// attempt could not start before the deadline (`remaining` from now). ARM's `Retry-After`
    /// wins over the backoff: retrying earlier only earns another 429.
    pub fn wait_before_retry(
        &self,
        retry: u32,
        jitter: f64,
        retry_after: Option<Duration>,
        remaining: Duration,
    ) -> Option<Duration> {
        let wait = retry_after.unwrap_or_else(|| self.backoff(retry, jitter));
        (wait < remaining).then_some(wait)
    }

    /// How long to wait before the next poll of a long-running operation, or `None` when the
    /// poll could not start before the deadline.
    pub fn wait_before_poll(&self, retry_after: Option<Duration>, remaining: Duration) -> Option<Duration> {
        let wait = retry_after.unwrap_or(self.poll_interval);
        (wait < remaining).then_some(wait)
    }
}

/// The wait an answer asks for, from the headers Azure uses: `x-ms-retry-after-ms` and
/// `retry-after-ms` (milliseconds), then the standard `Retry-After` (seconds or an HTTP-date).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    ["x-ms-retry-after-ms", "retry-after-ms"]
        .into_iter()
        .find_map(|name| text(name).and_then(|v| v.parse::<u64>().ok()).map(Duration::from_millis))
        .or_else(|| text("retry-after").and_then(|v| parse_retry_after(v, now)))
}

/// `Retry-After: <seconds>` or `Retry-After: <HTTP-date>` (IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`); a date in the past means "now". Anything else is `None`,
/// and the caller falls back to its own backoff.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Beyond u64 seconds is as good as "never"; saturate rather than ignore it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A number in `[0, 1)` that differs from call to call, for full jitter. Jitter only has to
/// spread retries of callers that failed together, not resist prediction, so the standard
/// library's randomly keyed hasher over a counter and the time is enough.
pub fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    // The top 53 bits fill an f64 mantissa exactly.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_values() {
        let now = at("2026-11-02T10:00:00Z");
        for (value, expect) in [
            ("5", Some(Duration::from_secs(5))),
            (" 0 ", Some(Duration::ZERO)),
            ("Mon, 02 Nov 2026 10:00:07 GMT", Some(Duration::from_secs(7))),
            ("Mon, 02 Nov 2026 09:59:00 GMT", Some(Duration::ZERO)),
            ("99999999999999999999999", Some(Duration::from_secs(u64::MAX))),
            ("-3", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ] {
            assert_eq!(parse_retry_after(value, now), expect, "{value:?}");
        }
    }

    #[test]
    fn retry_after_headers_prefer_milliseconds() {
        let now = at("2026-11-02T10:00:00Z");
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        assert_eq!(retry_after(&headers(&[]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "2")]), now), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2"), ("retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2"), ("x-ms-retry-after-ms", "40")]), now),
            Some(Duration::from_millis(40))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "later")]), now), None);
    }

    #[test]
    fn ceilings_double_up_to_the_maximum() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let ceilings: Vec<u128> = (0..6).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.ceiling(u32::MAX), policy.max_delay);
        let tiny =
            RetryPolicy { base_delay: Duration::from_nanos(1), max_delay: Duration::from_secs(60), ..policy.clone() };
        assert_eq!(tiny.ceiling(33), Duration::from_nanos(1 << 33));
        let none = RetryPolicy { base_delay: Duration::ZERO, ..policy };
        assert_eq!(none.ceiling(200), Duration::ZERO);
    }

    #[test]
    fn retry_after_wins_but_not_past_the_deadline() {
        let policy = RetryPolicy::default();
        let secs = Duration::from_secs;
        assert_eq!(policy.wait_before_retry(0, 0.5, Some(secs(30)), secs(60)), Some(secs(30)));
        assert_eq!(policy.wait_before_retry(0, 0.5, Some(secs(30)), secs(30)), None);
        assert_eq!(policy.wait_before_poll(None, secs(5)), Some(policy.poll_interval));
        assert_eq!(policy.wait_before_poll(Some(secs(10)), secs(5)), None);
    }

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let values: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(values.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }

    proptest! {
        #[test]
        fn backoff_stays_within_its_bounds(
            base_ms in 0u64..10_000,
            max_ms in 0u64..120_000,
            retry in 0u32..80,
            jitter in proptest::num::f64::ANY,
            remaining_ms in 0u64..300_000,
            retry_after_ms in proptest::option::of(0u64..600_000),
        ) {
            let policy = RetryPolicy {
                base_delay: Duration::from_millis(base_ms),
                max_delay: Duration::from_millis(max_ms),
                ..RetryPolicy::default()
            };
            let backoff = policy.backoff(retry, jitter);
            // Exact in u128 for these ranges: at most 1e13 ns times 2^79.
            let exponential = u128::from(base_ms) * 1_000_000 * (1u128 << retry);
            prop_assert!(backoff.as_nanos() <= policy.max_delay.as_nanos().min(exponential));

            let remaining = Duration::from_millis(remaining_ms);
            let retry_after = retry_after_ms.map(Duration::from_millis);
            match policy.wait_before_retry(retry, jitter, retry_after, remaining) {
                Some(wait) => {
                    prop_assert!(wait < remaining);
                    prop_assert_eq!(wait, retry_after.unwrap_or(backoff));
                }
                None => prop_assert!(retry_after.unwrap_or(backoff) >= remaining),
            }
        }
    }
}
