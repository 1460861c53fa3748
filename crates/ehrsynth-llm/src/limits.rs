//! Per-provider request limits: how many requests may be in flight at once, and a sliding
//! one-minute window of requests and tokens ([`RateLimiter`]). The limiter is pure: it is told
//! the time, so its schedule is tested without waiting, and the engine feeds it a clock.

use std::collections::VecDeque;
use std::time::Duration;

use crate::provider::ProviderKind;

const MINUTE: Duration = Duration::from_secs(60);

/// How hard a run may press a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Requests started per minute, if limited.
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt and answer) per minute, if limited.
    pub tokens_per_minute: Option<u64>,
}

impl Limits {
    /// The provider's defaults, from its entry in [`crate::provider::PROVIDERS`].
    pub fn default_for(provider: ProviderKind) -> Self {
        let (concurrency, requests_per_minute, tokens_per_minute) = provider.info().limits;
        Self {
            concurrency,
            requests_per_minute,
            tokens_per_minute,
        }
    }
}

/// A sliding one-minute window of the requests sent, with their (estimated, then actual) tokens.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u64>,
    /// (sent at, slot, tokens), oldest first.
    window: VecDeque<(Duration, u64, u64)>,
}

impl RateLimiter {
    /// A limiter for `limits`' per-minute figures.
    pub fn new(limits: &Limits) -> Self {
        Self {
            requests_per_minute: limits.requests_per_minute.filter(|&n| n > 0),
            tokens_per_minute: limits.tokens_per_minute.filter(|&n| n > 0),
            window: VecDeque::new(),
        }
    }

    /// How long after `now` (time since the run started) a request expected to use `tokens`
    /// must wait so that no minute holds more requests or tokens than allowed. A request larger
    /// than the whole token allowance waits for an empty window.
    pub fn wait(&mut self, now: Duration, tokens: u64) -> Duration {
        while self
            .window
            .front()
            .is_some_and(|&(at, ..)| at + MINUTE <= now)
        {
            self.window.pop_front();
        }
        let mut until = now;
        if let Some(rpm) = self.requests_per_minute.map(|n| n as usize)
            && self.window.len() >= rpm
        {
            // Once this one leaves the window, rpm − 1 remain.
            until = until.max(self.window[self.window.len() - rpm].0 + MINUTE);
        }
        if let Some(tpm) = self.tokens_per_minute {
            let tokens = tokens.min(tpm);
            let mut in_window: u64 = self.window.iter().map(|&(.., t)| t).sum();
            for &(at, _, t) in &self.window {
                if in_window + tokens <= tpm {
                    break;
                }
                in_window -= t;
                until = until.max(at + MINUTE);
            }
        }
        until - now
    }

    /// Notes that `slot` was sent at `now`, expected to use `tokens`.
    pub fn record(&mut self, now: Duration, slot: u64, tokens: u64) {
        self.window.push_back((now, slot, tokens));
    }

    /// Replaces `slot`'s expected tokens by what it used (when it is still in the window).
    pub fn settle(&mut self, slot: u64, tokens: u64) {
        if let Some(entry) = self.window.iter_mut().find(|(_, s, _)| *s == slot) {
            entry.2 = tokens;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rpm: Option<u32>, tpm: Option<u64>) -> RateLimiter {
        RateLimiter::new(&Limits {
            concurrency: 1,
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
        })
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Sends `n` requests of `tokens` as early as the limiter allows; returns their start times.
    fn schedule(limiter: &mut RateLimiter, n: u64, tokens: u64) -> Vec<u64> {
        let mut now = Duration::ZERO;
        (0..n)
            .map(|slot| {
                now += limiter.wait(now, tokens);
                limiter.record(now, slot, tokens);
                now.as_secs()
            })
            .collect()
    }

    #[test]
    fn requests_per_minute_open_one_minute_after_the_oldest() {
        let mut l = limiter(Some(3), None);
        assert_eq!(schedule(&mut l, 7, 10), [0, 0, 0, 60, 60, 60, 120]);
        // Spread-out requests leave the window as they age.
        let mut l = limiter(Some(2), None);
        l.record(secs(0), 0, 1);
        l.record(secs(30), 1, 1);
        assert_eq!(l.wait(secs(40), 1), secs(20));
        assert_eq!(l.wait(secs(61), 1), Duration::ZERO);
    }

    #[test]
    fn tokens_per_minute_hold_requests_until_enough_tokens_age_out() {
        let mut l = limiter(None, Some(1000));
        assert_eq!(schedule(&mut l, 5, 400), [0, 0, 60, 60, 120]);
        // A request above the whole allowance waits for an empty window, not forever.
        let mut l = limiter(None, Some(1000));
        l.record(secs(5), 0, 100);
        assert_eq!(l.wait(secs(10), 5000), secs(55));
    }

    #[test]
    fn settled_tokens_replace_the_estimate() {
        let mut l = limiter(None, Some(1000));
        l.record(secs(0), 0, 900);
        assert_eq!(l.wait(secs(1), 500), secs(59));
        l.settle(0, 200); // the answer was short
        assert_eq!(l.wait(secs(1), 500), Duration::ZERO);
    }

    #[test]
    fn both_limits_apply_together_and_none_means_no_wait() {
        let mut l = limiter(Some(10), Some(1000));
        assert_eq!(schedule(&mut l, 3, 600), [0, 60, 120]);
        let mut l = limiter(None, None);
        assert_eq!(schedule(&mut l, 100, 1_000_000), vec![0; 100]);
    }
}
