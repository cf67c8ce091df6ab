//! Flow control of key/value traffic: a token bucket of `Config::kv_bytes_per_sec`
//! bytes a second, of which a second's worth may be spent ahead. Key writes piggybacked
//! on datagrams, owner pushes and the key/value sections of syncs all draw on it.

use crate::time::Time;
use core::time::Duration;

/// The budget's burst: a second's worth may be spent at once.
const BURST: Duration = Duration::from_secs(1);

/// The key/value bytes spent so far, as the time at which they are paid back.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Budget {
    paid_until: Time,
}

impl Budget {
    /// How many bytes the budget lets this node send at `now`, at `rate` bytes a second
    /// (zero: no limit).
    #[inline]
    pub(crate) fn room(&self, now: Time, rate: usize) -> usize {
        if rate == 0 {
            return usize::MAX;
        }
        // Paid back in full one burst window after `paid_until`'s debt began.
        let debt = self.paid_until.saturating_since(now).min(BURST);
        let free = BURST - debt;
        (rate as u128 * free.as_nanos() / BURST.as_nanos()) as usize
    }

    /// Records `bytes` sent at `now` against the budget.
    #[inline]
    pub(crate) fn spend(&mut self, now: Time, rate: usize, bytes: usize) {
        if bytes > 0 {
            self.paid_until = self.paid_until.max(now).saturating_add(time_for(rate, bytes));
        }
    }
}

/// How long a budget of `rate` bytes a second takes to pay for `bytes` (zero without a
/// limit).
pub(crate) fn time_for(rate: usize, bytes: usize) -> Duration {
    let rate = rate as u128;
    if rate == 0 {
        return Duration::ZERO;
    }
    let nanos = bytes as u128 * BURST.as_nanos() / rate;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A second's worth may be spent at once, then it refills at the rate; zero means no
    // limit.
    #[test]
    fn the_budget_refills_at_its_rate() {
        let (mut budget, rate) = (Budget::default(), 10_000);
        let at = |secs: u64| Time::from_nanos(secs * 1_000_000_000);
        assert_eq!(budget.room(at(0), rate), 10_000);
        budget.spend(at(0), rate, 4_000);
        assert_eq!(budget.room(at(0), rate), 6_000);
        budget.spend(at(0), rate, 8_000);
        assert_eq!(budget.room(at(0), rate), 0, "overspent: nothing left until it is paid back");
        assert_eq!(budget.room(at(1), rate), 8_000, "1.2 s spent, 1 s passed: 0.2 s of debt left");
        assert_eq!(budget.room(at(60), rate), 10_000, "never more than a second's worth");
        assert_eq!(budget.room(at(0), 0), usize::MAX);
    }
}
