//! Per-member deadlines (suspicion expiry, tombstone reclaim) in one heap.

use crate::membership::members::MemberRef;
use crate::time::Time;
use alloc::collections::BinaryHeap;
use core::cmp::Reverse;

/// What a member deadline is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// A suspicion runs out: the member is declared Down.
    Suspicion,
    /// A Down or Left tombstone is forgotten.
    Reclaim,
}

/// A scheduled deadline. It is stale, and ignored when it fires, once the member's epoch
/// has moved on (any state change) or its slot was reused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline {
    pub(crate) at: Time,
    seq: u64,
    pub(crate) kind: TimerKind,
    pub(crate) member: MemberRef,
    pub(crate) epoch: u32,
}

/// Min-heap of member deadlines; ties fire in scheduling order.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<Deadline>>,
    seq: u64,
}

impl Deadlines {
    pub(crate) fn schedule(&mut self, at: Time, kind: TimerKind, member: MemberRef, epoch: u32) {
        self.seq += 1;
        self.heap.push(Reverse(Deadline { at, seq: self.seq, kind, member, epoch }));
    }

    /// The earliest deadline, stale or not.
    pub(crate) fn next(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    /// Removes and returns the earliest deadline if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<Deadline> {
        if self.next()? <= now { self.heap.pop().map(|Reverse(d)| d) } else { None }
    }
}
