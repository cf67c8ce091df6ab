//! Percentiles of a run's or a seed range's figures.

/// The nearest-rank percentile of `sorted` (ascending): the value at 1-based rank
/// ⌈`percent`·n/100⌉, at least rank 1; `None` for no values.
pub fn nearest_rank(sorted: &[f64], percent: u32) -> Option<f64> {
    let n = sorted.len();
    let rank = (percent as usize * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 50), Some(5.0));
        assert_eq!(nearest_rank(&v, 90), Some(9.0));
        assert_eq!(nearest_rank(&v, 99), Some(10.0));
        assert_eq!(nearest_rank(&v, 100), Some(10.0));
        assert_eq!(nearest_rank(&v, 0), Some(1.0));
        assert_eq!(nearest_rank(&[1.0, 2.0], 50), Some(1.0));
        assert_eq!(nearest_rank(&[1.0, 2.0], 90), Some(2.0));
        assert_eq!(nearest_rank(&[7.0], 50), Some(7.0));
        assert_eq!(nearest_rank(&[], 50), None);
    }
}
