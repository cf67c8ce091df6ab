//! Unbiased random choices over the caller's generator. The core ships no PRNG of its own.

use crate::time::Time;
use core::time::Duration;
use rand_core::RngCore;

/// A uniform integer in `0..n` (Lemire's multiply-shift with rejection); `0` when `n == 0`.
pub fn below(rng: &mut impl RngCore, n: usize) -> usize {
    let Ok(n64) = u64::try_from(n) else { return 0 };
    if n64 == 0 {
        return 0;
    }
    let threshold = n64.wrapping_neg() % n64;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n64);
        if (product as u64) >= threshold {
            // The high word is < n64 <= usize::MAX.
            return (product >> 64) as usize;
        }
    }
}

/// A random order over `0..len` walked one index at a time, in O(1) memory: index
/// `k` of the walk is `(start + k * stride) mod len`, with `start` random and `stride` a
/// random number coprime to `len`, so every index comes exactly once. Not every
/// permutation is reachable, which does not matter where the indices carry no meaning
/// (slab positions); a table of 10^4 members saves a 10^4-entry shuffled list per node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Walk {
    len: u64,
    start: u64,
    stride: u64,
    step: u64,
}

impl Walk {
    /// A new walk over `0..len`.
    pub(crate) fn new(rng: &mut impl RngCore, len: usize) -> Self {
        let len = len as u64;
        let start = below(rng, len as usize) as u64;
        let mut stride = 1;
        if len > 2 {
            // About len / φ(len) tries: a handful for any len.
            loop {
                stride = 1 + below(rng, len as usize - 1) as u64;
                if gcd(stride, len) == 1 {
                    break;
                }
            }
        }
        Walk { len, start, stride, step: 0 }
    }

    /// How many indices the walk covers.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The next index, or `None` once all `len` have come.
    pub(crate) fn next(&mut self) -> Option<usize> {
        if self.step >= self.len {
            return None;
        }
        // start, stride < len <= usize::MAX: the product fits in u128.
        let at = (u128::from(self.start) + u128::from(self.step) * u128::from(self.stride)) % u128::from(self.len);
        self.step += 1;
        Some(at as usize)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A uniform duration-like jitter in `0..=max` nanoseconds.
pub fn jitter(rng: &mut impl RngCore, max: u64) -> u64 {
    if max == 0 { 0 } else { rng.next_u64() % (max + 1) }
}

/// The first deadline of a periodic timer: a random point within `interval` after `now`,
/// so nodes started together do not act in lockstep; never when `setting` is zero
/// (disabled).
pub(crate) fn phase(rng: &mut impl RngCore, now: Time, setting: Duration, interval: Duration) -> Time {
    if setting.is_zero() {
        return Time::MAX;
    }
    now.saturating_add(Duration::from_nanos(jitter(rng, interval.as_nanos() as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::util::rng;

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = rng(7);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[below(&mut rng, 5)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(below(&mut rng, 0), 0);
    }

    #[test]
    fn a_walk_visits_every_index_once_in_a_random_order() {
        let mut rng = rng(5);
        for len in [0usize, 1, 2, 3, 10, 64, 97, 1000] {
            let mut seen = vec![0u32; len];
            let mut walk = Walk::new(&mut rng, len);
            let order: Vec<usize> = core::iter::from_fn(|| walk.next()).collect();
            for &i in &order {
                seen[i] += 1;
            }
            assert!(seen.iter().all(|&c| c == 1), "len {len}: {seen:?}");
            if len >= 10 {
                assert_ne!(order, (0..len).collect::<Vec<_>>(), "len {len}: not shuffled");
                let mut again = Walk::new(&mut rng, len);
                assert_ne!(
                    order,
                    core::iter::from_fn(|| again.next()).collect::<Vec<_>>(),
                    "len {len}: same walk twice"
                );
            }
        }
    }
}
