//! The core's notion of time: monotonic nanoseconds since an origin the caller picks.

use core::time::Duration;

/// A point on the caller's monotonic clock, in nanoseconds since an origin the caller picks.
///
/// The core never reads a clock: every `handle_*` call passes the current `Time`, and
/// [`Node::poll_timeout`](crate::Node::poll_timeout) answers with one. Only differences
/// between times are used, and no `Time` ever goes on the wire, so each node may pick its
/// own origin (the simulator uses virtual time, the tokio adapter its start instant).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    /// The origin of the clock.
    pub const ZERO: Time = Time(0);
    /// The latest representable time; a deadline that never comes.
    pub const MAX: Time = Time(u64::MAX);

    /// A time `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Time(nanos)
    }

    /// A time `millis` milliseconds after the origin (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Time(millis.saturating_mul(1_000_000))
    }

    /// A time `secs` seconds after the origin (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Time(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the origin, as a float (for reports and plots).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// This time plus `d`, clamped to [`Time::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(nanos))
    }

    /// How long after `earlier` this time is; zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Time::MAX.saturating_add(Duration::from_secs(1)), Time::MAX);
        assert_eq!(Time::ZERO.saturating_since(Time::from_secs(1)), Duration::ZERO);
        let t = Time::from_millis(1500);
        assert_eq!(t.saturating_since(Time::from_secs(1)), Duration::from_millis(500));
        assert_eq!(Time::from_secs(2).saturating_add(Duration::MAX), Time::MAX);
    }
}
