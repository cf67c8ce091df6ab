//! Phi-accrual failure detection (Hayashibara et al., 2004), in integer arithmetic.
//!
//! The detector watches one window: the round-trip times of the direct acks to this
//! node's own pings. In SWIM a node probes a given member once per round (about `n`
//! seconds in an `n`-node cluster), so a per-member window of arrival intervals would hold
//! a handful of samples an hour; the RTT of "a ping to some member" is sampled once per
//! probe interval and describes the same thing a timeout is about: how long a live
//! member takes to answer.
//!
//! Under a normal model of the RTT, `phi(t) = -log10(1 - F(t))` reaches a threshold `k`
//! at `t = mean + z(k) * sigma`, where `z(k)` is the upper normal quantile for tail
//! probability `10^-k`. The node never computes `phi` itself to decide anything: it waits
//! that long (see [`RttWindow::timeout`]). `z` comes from a fixed table in Q16, and mean
//! and standard deviation from integer sums, so every platform waits the same nanosecond.

use core::time::Duration;

/// Samples the window holds; the oldest is evicted first.
pub(crate) const WINDOW: usize = 100;

/// `z(k)` in Q16 (`round(z * 65536)`) for `k = 1..=16`: the `z` at which the upper tail
/// of the standard normal distribution is `10^-k`. Computed offline by bisection on
/// `0.5 * erfc(z / sqrt 2)`; the test `z_table_matches_the_normal_tail` checks it.
const Z_Q16: [u64; 16] = [
    83_988, 152_460, 202_521, 243_729, 279_504, 311_520, 340_744, 367_788, 393_072, 416_897, 439_486, 461_012, 481_611,
    501_392, 520_444, 538_842,
];

/// The lowest and highest phi threshold the table covers.
pub(crate) const THRESHOLDS: core::ops::RangeInclusive<u32> = 1..=16;

/// `z(threshold)` in Q16, or `None` outside [`THRESHOLDS`].
pub(crate) fn z_q16(threshold: u32) -> Option<u64> {
    let i = usize::try_from(threshold.checked_sub(1)?).ok()?;
    Z_Q16.get(i).copied()
}

fn from_nanos(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A ring of the last [`WINDOW`] round-trip times, in whole microseconds, with running
/// sums so mean and variance cost O(1).
#[derive(Clone, Debug)]
pub(crate) struct RttWindow {
    samples: [u32; WINDOW],
    /// Where the next sample goes.
    next: usize,
    len: usize,
    /// Sum of the samples held, µs.
    sum: u64,
    /// Sum of their squares, µs².
    sum_sq: u128,
}

impl Default for RttWindow {
    fn default() -> Self {
        RttWindow { samples: [0; WINDOW], next: 0, len: 0, sum: 0, sum_sq: 0 }
    }
}

impl RttWindow {
    /// Adds one round-trip time (saturated to `u32::MAX` µs, about 71 minutes), evicting
    /// the oldest sample once the window is full.
    pub(crate) fn record(&mut self, rtt: Duration) {
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        let Some(slot) = self.samples.get_mut(self.next) else {
            return; // unreachable: `next` stays below WINDOW
        };
        if self.len == WINDOW {
            let old = *slot;
            self.sum = self.sum.saturating_sub(u64::from(old));
            self.sum_sq = self.sum_sq.saturating_sub(u128::from(old) * u128::from(old));
        } else {
            self.len += 1;
        }
        *slot = us;
        self.sum = self.sum.saturating_add(u64::from(us));
        self.sum_sq = self.sum_sq.saturating_add(u128::from(us) * u128::from(us));
        self.next = (self.next + 1) % WINDOW;
    }

    /// Samples held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The mean RTT (to the nanosecond, of microsecond samples); `None` when empty.
    pub(crate) fn mean(&self) -> Option<Duration> {
        let n = u128::try_from(self.len).ok().filter(|&n| n > 0)?;
        Some(from_nanos(u128::from(self.sum) * 1000 / n))
    }

    /// The population standard deviation of the RTTs (to the nanosecond, rounded down);
    /// `None` when empty.
    pub(crate) fn std_dev(&self) -> Option<Duration> {
        let n = u128::try_from(self.len).ok().filter(|&n| n > 0)?;
        // n² · variance = n · Σx² − (Σx)², exact in integers and never negative.
        let sum = u128::from(self.sum);
        let spread = (n * self.sum_sq).saturating_sub(sum * sum);
        // In ns²: µs² · 10⁶. At most 100 · 100 · (2³²)² · 10⁶ < 2¹²⁸.
        let var_ns2 = spread.saturating_mul(1_000_000) / (n * n);
        Some(from_nanos(var_ns2.isqrt()))
    }

    /// How long after a ping its ack is overdue at this phi `threshold`: the `t` at which
    /// `phi(t) = threshold` for a normal distribution of the window's mean and standard
    /// deviation, the latter at least `min_std`. `None` when the window is empty or the
    /// threshold is outside [`THRESHOLDS`].
    pub(crate) fn timeout(&self, threshold: u32, min_std: Duration) -> Option<Duration> {
        let z = u128::from(z_q16(threshold)?);
        let mean = self.mean()?.as_nanos();
        let sigma = self.std_dev()?.max(min_std).as_nanos();
        Some(from_nanos(mean.saturating_add(z.saturating_mul(sigma) >> 16)))
    }

    /// Diagnostics: `phi(elapsed)` in Q16, interpolated linearly in `z` between the table's
    /// integer thresholds (through `phi = log10 2` at the mean), 0 below the mean and
    /// capped at 16 above the table. `None` when the window is empty.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn phi_q16(&self, elapsed: Duration, min_std: Duration) -> Option<u64> {
        let mean = self.mean()?.as_nanos();
        let sigma = self.std_dev()?.max(min_std).as_nanos().max(1);
        let Some(above) = elapsed.as_nanos().checked_sub(mean) else {
            return Some(0);
        };
        // How many standard deviations above the mean, Q16.
        let y = u64::try_from((above << 16) / sigma).unwrap_or(u64::MAX);
        // log10(2) in Q16: phi at the mean.
        let (mut z0, mut phi0) = (0u64, 19_728u64);
        for (k, &z1) in (1u64..).zip(Z_Q16.iter()) {
            let phi1 = k << 16;
            if y <= z1 {
                return Some(phi0 + (y - z0) * (phi1 - phi0) / (z1 - z0));
            }
            (z0, phi0) = (z1, phi1);
        }
        Some(16 << 16)
    }
}

/// The two waits of a probe under the phi detector, from the phi timeout `t` (the direct
/// ack is overdue) and the probe interval: the wait for the direct ack, then the wait for
/// an answer through the ping-req helpers. The second path is two round trips, so it gets
/// `2t` (for a normal RTT its own timeout at the same threshold is `2·mean + √2·z·sigma`,
/// below `2t`). Both must fit in the probe interval: the direct wait is at most half of it,
/// and the indirect wait gets at most the rest, so where RTTs are long next to the interval
/// a probe falls back to SWIM's timing (direct for half the interval, indirect until the
/// next probe).
pub(crate) fn probe_waits(t: Duration, interval: Duration) -> (Duration, Duration) {
    let direct = t.min(interval / 2);
    let indirect = t.saturating_mul(2).min(interval.saturating_sub(direct));
    (direct, indirect)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The upper tail of the standard normal, `P(X > z)`, by Simpson's rule over
    /// `[z, z + 12]` (the rest is below 1e-32 of the tail for z >= 0).
    fn normal_tail(z: f64) -> f64 {
        let steps = 200_000;
        let h = 12.0 / steps as f64;
        let pdf = |x: f64| (-x * x / 2.0).exp() / (2.0 * core::f64::consts::PI).sqrt();
        let mut s = pdf(z) + pdf(z + 12.0);
        for i in 1..steps {
            s += pdf(z + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    }

    #[test]
    fn z_table_matches_the_normal_tail() {
        for k in THRESHOLDS {
            let z = z_q16(k).unwrap() as f64 / 65536.0;
            let phi = -normal_tail(z).log10();
            assert!((phi - f64::from(k)).abs() < 1e-3, "k = {k}: z = {z} gives phi {phi}");
        }
        assert!(Z_Q16.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(z_q16(0), None);
        assert_eq!(z_q16(17), None);
        assert_eq!(z_q16(u32::MAX), None);
    }

    #[test]
    fn mean_and_std_are_exact_on_known_samples() {
        let mut w = RttWindow::default();
        assert_eq!((w.mean(), w.std_dev(), w.timeout(8, MS)), (None, None, None));
        // 2, 4, 4, 4, 5, 5, 7, 9 ms: mean 5 ms, population std 2 ms.
        for ms in [2, 4, 4, 4, 5, 5, 7, 9] {
            w.record(ms * MS);
        }
        assert_eq!(w.len(), 8);
        assert_eq!(w.mean(), Some(5 * MS));
        assert_eq!(w.std_dev(), Some(2 * MS));
        // mean + z(8) * 2 ms, z(8) = 367788 / 65536.
        let want = 5_000_000 + ((367_788u64 * 2_000_000) >> 16);
        assert_eq!(w.timeout(8, MS), Some(Duration::from_nanos(want)));
        assert_eq!(w.timeout(0, MS), None);
        // Sub-microsecond parts are dropped: samples are whole microseconds.
        let mut w = RttWindow::default();
        w.record(Duration::from_nanos(1_999));
        assert_eq!((w.mean(), w.std_dev()), (Some(Duration::from_micros(1)), Some(Duration::ZERO)));
    }

    #[test]
    fn the_ring_evicts_the_oldest_sample() {
        let mut w = RttWindow::default();
        for _ in 0..WINDOW {
            w.record(1000 * MS);
        }
        assert_eq!(w.std_dev(), Some(Duration::ZERO));
        for _ in 0..WINDOW - 1 {
            w.record(10 * MS);
        }
        assert_eq!(w.len(), WINDOW);
        // One 1 s sample left among 99 of 10 ms.
        assert_eq!(w.mean(), Some(Duration::from_micros((1_000_000 + 99 * 10_000) / 100)));
        w.record(10 * MS);
        assert_eq!((w.mean(), w.std_dev()), (Some(10 * MS), Some(Duration::ZERO)));
        // Extreme samples saturate instead of overflowing.
        for _ in 0..3 * WINDOW {
            w.record(Duration::MAX);
        }
        assert_eq!(w.mean(), Some(Duration::from_micros(u64::from(u32::MAX))));
        assert_eq!(w.std_dev(), Some(Duration::ZERO));
        assert!(w.timeout(16, Duration::MAX).is_some());
    }

    #[test]
    fn the_minimum_std_is_a_floor() {
        let mut w = RttWindow::default();
        for _ in 0..20 {
            w.record(3 * MS);
        }
        // No spread at all: the floor alone sets the margin above the mean.
        let z1 = 83_988u64;
        assert_eq!(w.timeout(1, 20 * MS), Some(Duration::from_nanos(3_000_000 + ((z1 * 20_000_000) >> 16))));
        assert_eq!(w.timeout(1, Duration::ZERO), Some(3 * MS));
        // A spread above the floor wins.
        w.record(203 * MS);
        let std = w.std_dev().unwrap();
        assert!(std > 20 * MS, "{std:?}");
        assert_eq!(w.timeout(1, 20 * MS), w.timeout(1, std));
        assert!(w.timeout(8, 20 * MS) > w.timeout(7, 20 * MS));
    }

    #[test]
    fn phi_reaches_the_threshold_at_the_timeout() {
        let mut w = RttWindow::default();
        for ms in [8, 10, 12, 9, 11, 10] {
            w.record(ms * MS);
        }
        let min_std = 5 * MS;
        assert_eq!(w.phi_q16(Duration::ZERO, min_std), Some(0));
        assert_eq!(w.phi_q16(10 * MS, min_std), Some(19_728)); // log10(2) at the mean
        let mut last = 0;
        for k in THRESHOLDS {
            let phi = w.phi_q16(w.timeout(k, min_std).unwrap(), min_std).unwrap();
            assert!(phi.abs_diff(u64::from(k) << 16) <= 8, "k = {k}: {phi}"); // 1e-4
            assert!(phi > last);
            last = phi;
        }
        assert_eq!(w.phi_q16(Duration::from_secs(10), min_std), Some(16 << 16));
        // Between table points, within 0.1 of the exact normal phi.
        for ms in [13, 17, 21, 26, 33] {
            let t = ms * MS;
            let z = (t.as_secs_f64() - 0.010) / 0.005;
            let exact = -normal_tail(z).log10();
            let got = w.phi_q16(t, min_std).unwrap() as f64 / 65536.0;
            assert!((got - exact).abs() < 0.1, "{ms} ms: {got} vs {exact}");
        }
    }

    #[test]
    fn probe_waits_fit_in_the_probe_interval() {
        let second = Duration::from_secs(1);
        assert_eq!(probe_waits(100 * MS, second), (100 * MS, 200 * MS));
        assert_eq!(probe_waits(400 * MS, second), (400 * MS, 600 * MS));
        assert_eq!(probe_waits(700 * MS, second), (500 * MS, 500 * MS));
        assert_eq!(probe_waits(Duration::MAX, second), (500 * MS, 500 * MS));
        assert_eq!(probe_waits(Duration::ZERO, second), (Duration::ZERO, Duration::ZERO));
        for t in [MS, 150 * MS, 333 * MS, 334 * MS, 2 * second] {
            let (d, i) = probe_waits(t, second);
            assert!(d + i <= second && d <= i, "{t:?}: {d:?} + {i:?}");
        }
    }
}
