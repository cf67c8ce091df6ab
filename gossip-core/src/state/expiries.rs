//! When this node's own keys set with a time to live expire.

use crate::time::Time;
use alloc::collections::{BTreeMap, BTreeSet};
use bytes::Bytes;

/// When this node's own keys set with a time to live expire (see [`Node::set_with_ttl`](crate::Node::set_with_ttl)).
#[derive(Clone, Debug, Default)]
pub(crate) struct Expiries {
    by_key: BTreeMap<Bytes, Time>,
    by_time: BTreeSet<(Time, Bytes)>,
}

impl Expiries {
    /// `key` expires at `at` (instead of when it was to).
    pub(crate) fn schedule(&mut self, key: Bytes, at: Time) {
        self.cancel(&key);
        self.by_time.insert((at, key.clone()));
        self.by_key.insert(key, at);
    }

    /// `key` no longer expires.
    pub(crate) fn cancel(&mut self, key: &Bytes) {
        if let Some(at) = self.by_key.remove(key) {
            self.by_time.remove(&(at, key.clone()));
        }
    }

    /// The next expiry.
    pub(crate) fn next(&self) -> Option<Time> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// A key whose time is up at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<Bytes> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }
}
