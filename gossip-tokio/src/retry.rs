//! Retry-join: keep joining through seeds with backoff until one answers (Serf's
//! `retry_join`), for nodes that start before their seeds or before the seeds' names resolve.

use crate::{Cluster, JoinError};
use rand_core::{OsRng, TryRngCore};
use std::time::Duration;

/// How [`Cluster::join_with_retry`] keeps trying.
///
/// Attempt `n` that fails waits `interval * 2^(n-1)`, capped at `max_interval`, then drawn
/// at random between half of that and all of it (so nodes started together do not retry
/// in step), before attempt `n + 1`. Each attempt resolves the seeds' names again and waits
/// up to [`Options::join_timeout`](crate::Options::join_timeout) for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryJoin {
    /// The wait after the first failed attempt.
    pub interval: Duration,
    /// The longest wait between two attempts (Serf waits a fixed 30 s).
    pub max_interval: Duration,
    /// Attempts before giving up; `None`: never give up (Serf's `retry_max = 0`).
    pub max_attempts: Option<u32>,
}

impl Default for RetryJoin {
    /// 1 s doubling up to 30 s, without end.
    fn default() -> Self {
        RetryJoin { interval: Duration::from_secs(1), max_interval: Duration::from_secs(30), max_attempts: None }
    }
}

impl RetryJoin {
    /// The wait after failed attempt number `attempt` (1-based), before jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.interval.saturating_mul(1 << doublings).min(self.max_interval.max(self.interval))
    }
}

/// Half of `d` plus a random share of the other half.
fn jitter(d: Duration) -> Duration {
    let share = f64::from(OsRng.try_next_u32().unwrap_or(u32::MAX)) / f64::from(u32::MAX);
    d.mul_f64(0.5 + share / 2.0)
}

impl Cluster {
    /// Joins through `seeds` like [`Cluster::join`], and after a failed attempt (no seed
    /// answered, or a name did not resolve) tries again as `retry` says, until one answers.
    ///
    /// Every failed attempt is logged (tracing, warn) with its number, the error and the
    /// wait. Returns how many attempts it took; [`JoinError::GaveUp`] after
    /// `retry.max_attempts` failures, with the last attempt's error. A stopped or departed
    /// node ends the retries at once ([`JoinError::Closed`], [`JoinError::Command`]). The
    /// seeds stay known to the node, which keeps contacting them on its own schedule
    /// meanwhile.
    pub async fn join_with_retry<S: AsRef<str>>(&self, seeds: &[S], retry: &RetryJoin) -> Result<u32, JoinError> {
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let error = match self.join(seeds.iter().map(AsRef::as_ref)).await {
                Ok(()) => {
                    tracing::info!(attempt, "joined");
                    return Ok(attempt);
                }
                Err(e @ (JoinError::Closed | JoinError::Command(_))) => return Err(e),
                Err(e) => e,
            };
            if retry.max_attempts.is_some_and(|max| attempt >= max) {
                tracing::warn!(attempt, %error, "join attempt failed; giving up");
                return Err(JoinError::GaveUp { attempts: attempt, last: Box::new(error) });
            }
            let wait = jitter(retry.backoff(attempt));
            tracing::warn!(attempt, %error, retry_in_ms = wait.as_millis() as u64, "join attempt failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = RetryJoin {
            interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(3),
            max_attempts: None,
        };
        let waits: Vec<u128> = (1..=6).map(|n| r.backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 3000, 3000, 3000]);
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(3), "no overflow however many attempts");
        let odd = RetryJoin { max_interval: Duration::ZERO, ..r };
        assert_eq!(odd.backoff(4), Duration::from_millis(500), "a cap below the interval is the interval");
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(2));
            assert!(j >= Duration::from_secs(1) && j <= Duration::from_secs(2), "{j:?}");
        }
    }
}
