//! Unbiased random choices over the caller's generator. The core ships no PRNG of its own.

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

/// Shuffles `items` in place (Fisher-Yates).
pub fn shuffle<T>(rng: &mut impl RngCore, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// A uniform duration-like jitter in `0..=max` nanoseconds.
pub fn jitter(rng: &mut impl RngCore, max: u64) -> u64 {
    if max == 0 { 0 } else { rng.next_u64() % (max + 1) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::util::SplitMix as Counter;

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = Counter(7);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[below(&mut rng, 5)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(below(&mut rng, 0), 0);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = Counter(1);
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut rng, &mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
