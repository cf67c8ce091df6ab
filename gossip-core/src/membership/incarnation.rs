//! How incarnation numbers compare: as serial numbers (RFC 1982), so that none of them is
//! a ceiling.
//!
//! A member refutes a claim about itself with a higher incarnation. Were incarnations
//! ordered as plain integers, one spoofed claim at the top of the range would leave its
//! subject nothing higher to answer with, for ever. Compared as serial numbers, `b` is
//! newer than `a` when `b - a` (mod 2^32) is in `1..2^31`: every claim `c` has a newer
//! `c + 1`, so a member can always refute. Two incarnations 2^31 apart are neither newer
//! than the other. Honest incarnations move by one per refutation or metadata change, so
//! within a cluster they never stray anywhere near 2^31 apart.

/// Whether incarnation `a` is newer than `b`.
pub(crate) fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// Whether `a` is `b` or newer.
pub(crate) fn at_least(a: u32, b: u32) -> bool {
    a == b || newer(a, b)
}

/// The newer of `a` and `b`.
pub(crate) fn latest(a: u32, b: u32) -> u32 {
    if newer(a, b) { a } else { b }
}

/// The incarnation that supersedes `a`.
pub(crate) fn next(a: u32) -> u32 {
    a.wrapping_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_incarnation_has_a_newer_one() {
        for a in [0, 1, 7, 1 << 31, u32::MAX - 1, u32::MAX] {
            assert!(newer(next(a), a) && !newer(a, next(a)), "{a}");
            assert!(at_least(a, a) && !newer(a, a));
            assert_eq!(latest(a, next(a)), next(a));
            assert_eq!(latest(next(a), a), next(a));
        }
        assert!(newer(0, u32::MAX) && newer(5, u32::MAX - 5));
        assert!(newer(100, 3) && !newer(3, 100));
        // Exactly half the range apart: neither is newer.
        assert!(!newer(1 << 31, 0) && !newer(0, 1 << 31));
    }
}
