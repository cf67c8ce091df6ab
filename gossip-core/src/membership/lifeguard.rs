//! Lifeguard (Dadgar et al., 2018): local health and dynamic suspicion timeouts, in
//! integer arithmetic so every machine computes the same deadlines.

use core::time::Duration;

/// Local health multiplier: a score that rises when this node sees evidence that it is
/// the slow one (missed nacks, failed probes, refutations) and falls on successful probes.
/// Probe interval and timeout are stretched by `score + 1`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalHealth {
    score: u32,
}

impl LocalHealth {
    /// Moves the score by `delta`, clamped to `0..max`.
    pub(crate) fn apply(&mut self, delta: i32, max: u32) {
        let next = i64::from(self.score) + i64::from(delta);
        self.score = next.clamp(0, i64::from(max.saturating_sub(1))) as u32;
    }

    /// The current score (0 is healthy).
    pub(crate) fn score(&self) -> u32 {
        self.score
    }

    /// `d` stretched by the current multiplier.
    pub(crate) fn scale(&self, d: Duration) -> Duration {
        d.saturating_mul(self.score + 1)
    }
}

/// `log2(x)` in Q16 fixed point (`x >= 1`), by repeated squaring: exact integer steps,
/// so the result is the same on every platform (unlike `f64::ln`).
pub(crate) fn log2_q16(x: u64) -> u64 {
    let x = x.max(1);
    let int = u64::from(63 - x.leading_zeros());
    // y = x / 2^int in Q32, so 1 <= y < 2.
    let mut y: u128 = (u128::from(x) << 32) >> int;
    let mut frac = 0u64;
    for bit in (0..16).rev() {
        y = (y * y) >> 32;
        if y >= (2u128 << 32) {
            y >>= 1;
            frac |= 1 << bit;
        }
    }
    (int << 16) | frac
}

/// Lifeguard's dynamic suspicion timeout: `max` with no confirmation, shrinking
/// logarithmically to `min` once `expected` independent members have confirmed:
/// `max - (max - min) * log(c + 1) / log(expected + 1)`, never below `min`.
pub(crate) fn suspicion_timeout(min: Duration, max: Duration, expected: u32, confirmations: u32) -> Duration {
    if expected == 0 || max <= min {
        return min;
    }
    let num = u128::from(log2_q16(u64::from(confirmations.min(expected)) + 1));
    let den = u128::from(log2_q16(u64::from(expected) + 1));
    let shrink = (max - min).as_nanos() * num / den;
    let nanos = max.as_nanos().saturating_sub(shrink).max(min.as_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_log_matches_float_log() {
        for x in [1u64, 2, 3, 10, 100, 1000, 12345, 1 << 40] {
            let got = log2_q16(x) as f64 / 65536.0;
            assert!((got - (x as f64).log2()).abs() < 1e-3, "{x}: {got}");
        }
    }

    #[test]
    fn suspicion_timeout_shrinks_with_confirmations() {
        let min = Duration::from_secs(2);
        let max = min * 6;
        let t: Vec<_> = (0..4).map(|c| suspicion_timeout(min, max, 2, c)).collect();
        assert_eq!(t[0], max);
        assert!(t[0] > t[1] && t[1] > t[2]);
        assert_eq!(t[2], min);
        assert_eq!(t[3], min);
        assert_eq!(suspicion_timeout(min, max, 0, 0), min);
    }

    #[test]
    fn local_health_is_clamped() {
        let mut h = LocalHealth::default();
        h.apply(-1, 8);
        assert_eq!(h.score(), 0);
        h.apply(20, 8);
        assert_eq!(h.score(), 7);
        assert_eq!(h.scale(Duration::from_secs(1)), Duration::from_secs(8));
    }
}
