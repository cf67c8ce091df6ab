//! Full-state synchronisation over reliable streams: joining through seeds, the periodic
//! push-pull (anti-entropy for anything gossip missed), the catch-up syncs that follow a
//! join, and Serf's reconnect to Down members that heals partitions.
//!
//! Every sync is digest-first: a request, a response, and a push-back when something
//! still differs (see [`SyncPart`]). Members travel only for buckets whose sums differ
//! (`crate::digest`). Replicated keys likewise: the request carries bucket sums of the
//! key/value digest, the response and push-back list the owners of the buckets that
//! differ, and the deltas (Scuttlebutt's, `crate::state`) go in the push-back and, for the
//! requester, in a fourth part, the answer.

use crate::config::Config;
use crate::identity::MemberState;
use crate::membership::members::Members;
use crate::rand::phase;
use crate::time::Time;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;
use smallvec::SmallVec;

#[cfg(test)]
mod tests;

/// A catch-up ends at the latest this many `catch_up_sync` delays after its last useful
/// sync, even when responses stop coming (a partition, a crashed peer): a node must not
/// stay in its quiet join phase for ever.
const CATCH_UP_SPAN: u32 = 16;

/// Whether a sync response taught this node something, by the catch-up's two measures
/// (see [`Syncing::pace_catch_up`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Learned {
    /// Members, or keys it did not hold: what keeps a catch-up going.
    pub(crate) while_catching_up: bool,
    /// Members or any keys: what brings the next regular sync forward.
    pub(crate) otherwise: bool,
}

/// The parts of a digest-first sync (see [`Message::PushPull`](crate::wire::Message)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SyncPart {
    /// Our own record and digest; asks for what differs.
    Request,
    /// Our members of the buckets where the request's digest differs, and our digest.
    Response,
    /// After a response: our members of the buckets that still differ, the deltas the
    /// responder lacks, and our key/value owners of the buckets it listed.
    PushBack,
    /// After a push-back that listed key/value owners: the deltas it lacks by them (and
    /// our own record; no members, no digest). Not answered.
    Answer,
}

/// Which sync rounds are due (see [`Syncing::due`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Due {
    pub(crate) push_pull: bool,
    pub(crate) reconnect: bool,
    pub(crate) join_retry: bool,
}

/// The state of joining and of full-state syncs: the seeds, the timers of the periodic
/// rounds, and the catch-up after a join.
#[derive(Debug)]
pub(crate) struct Syncing {
    seeds: SmallVec<[SocketAddr; 4]>,
    joined: bool,
    next_join_retry: Option<Time>,
    next_push_pull: Time,
    next_reconnect: Time,
    /// The pace of catch-up syncs ([`Config::catch_up_sync`]); zero once caught up.
    catch_up: Duration,
    /// When the catch-up ends even if no response ends it.
    catch_up_until: Time,
}

impl Default for Syncing {
    fn default() -> Self {
        Syncing {
            seeds: SmallVec::new(),
            joined: false,
            next_join_retry: None,
            next_push_pull: Time::MAX,
            next_reconnect: Time::MAX,
            catch_up: Duration::ZERO,
            catch_up_until: Time::ZERO,
        }
    }
}

impl Syncing {
    /// Starts the periodic rounds at random phases, so nodes started together do not sync
    /// in lockstep (`live`: members Alive or Suspect, this node excluded).
    pub(crate) fn start(&mut self, config: &Config, rng: &mut impl RngCore, now: Time, live: usize) {
        self.next_push_pull = phase(rng, now, config.push_pull_interval, push_pull_interval(config, live));
        self.next_reconnect = phase(rng, now, config.reconnect_interval, config.reconnect_interval);
    }

    /// The rounds due at `now`, each rescheduled.
    pub(crate) fn due(&mut self, config: &Config, now: Time, live: usize) -> Due {
        let mut due = Due::default();
        if self.next_push_pull <= now {
            // Off (zero): only catch-up syncs set this timer.
            self.next_push_pull = if config.push_pull_interval.is_zero() {
                Time::MAX
            } else {
                now.saturating_add(push_pull_interval(config, live))
            };
            due.push_pull = true;
        }
        if self.next_reconnect <= now {
            self.next_reconnect = now.saturating_add(config.reconnect_interval);
            due.reconnect = true;
        }
        due.join_retry = self.next_join_retry.is_some_and(|t| t <= now);
        due
    }

    /// The next round due.
    pub(crate) fn next_deadline(&self) -> Time {
        let next = self.next_push_pull.min(self.next_reconnect);
        self.next_join_retry.map_or(next, |t| next.min(t))
    }

    /// Adds join seeds (never `me`, nor one twice).
    pub(crate) fn add_seeds(&mut self, me: SocketAddr, seeds: &[SocketAddr]) {
        for seed in seeds {
            if *seed != me && !self.seeds.contains(seed) {
                self.seeds.push(*seed);
            }
        }
    }

    /// Whether `addr` is one of our join seeds.
    pub(crate) fn is_seed(&self, addr: &SocketAddr) -> bool {
        self.seeds.contains(addr)
    }

    /// The seeds to send a join push-pull now, with a retry scheduled while nobody is
    /// known; none once joined.
    pub(crate) fn seeds_to_contact(&mut self, config: &Config, now: Time, live: usize) -> SmallVec<[SocketAddr; 4]> {
        if self.seeds.is_empty() || (self.joined && live > 0) {
            self.next_join_retry = None;
            return SmallVec::new();
        }
        self.next_join_retry = Some(now.saturating_add(config.join_retry_interval));
        self.seeds.clone()
    }

    /// No more join retries (this node left).
    pub(crate) fn stop_joining(&mut self) {
        self.next_join_retry = None;
    }

    /// Whether a sync response from a member or seed would complete our join.
    pub(crate) fn awaits_join_reply(&self) -> bool {
        !self.joined && !self.seeds.is_empty()
    }

    /// Our join is complete.
    pub(crate) fn joined(&mut self) {
        self.joined = true;
        self.next_join_retry = None;
    }

    /// Whether this node is still catching up after its join (see [`Syncing::pace_catch_up`]).
    pub(crate) fn catching_up(&self, now: Time) -> bool {
        !self.catch_up.is_zero() && now <= self.catch_up_until
    }

    /// Whether this node may be in a mass join, where every node hears of every other and
    /// relaying each with the full budget costs n² · budget sends: for its whole
    /// catch-up, fruitless syncs included, since at a fast catch-up pace those come while
    /// joiners still arrive.
    pub(crate) fn in_join_storm(&self, now: Time) -> bool {
        self.catching_up(now)
    }

    /// Paces the catch-up syncs after a response to our sync (Trickle-like). A join reply
    /// starts them at `catch_up_sync`; while catching up, a response that taught us members
    /// keeps that pace and one that taught nothing lengthens the delay by one step, so that
    /// a node the thinner join-storm epidemic missed is mended within a few steps. The
    /// catch-up ends once the delay reaches four steps, eight if the peer is catching up
    /// too: in a mass join the gaps of a node and of its peers are alike (the last joiners
    /// are known to few), so silence is weak evidence. A regular sync that taught something
    /// is followed by another four steps later, without entering catch-up.
    pub(crate) fn pace_catch_up(
        &mut self,
        config: &Config,
        rng: &mut impl RngCore,
        now: Time,
        join_reply: bool,
        learned: Learned,
        peer_catching_up: bool,
    ) {
        let first = config.catch_up_sync;
        let catching_up = self.catching_up(now);
        let delay = if join_reply || (catching_up && learned.while_catching_up) {
            self.catch_up = first;
            self.catch_up_until = now.saturating_add(first.saturating_mul(CATCH_UP_SPAN));
            first
        } else if catching_up {
            self.catch_up = self.catch_up.saturating_add(first);
            let enough = first.saturating_mul(if peer_catching_up { 8 } else { 4 });
            if self.catch_up >= enough {
                self.catch_up = Duration::ZERO; // caught up: the regular push-pull takes over
            }
            self.catch_up
        } else if learned.otherwise {
            // Not quiet: only a join starts a catch-up. Under a steady write load every
            // sync teaches something, and at the catch-up pace they would follow each
            // other twenty times a second.
            first.saturating_mul(4)
        } else {
            Duration::ZERO
        };
        if !delay.is_zero() {
            let at = phase(rng, now.saturating_add(delay), delay, delay);
            self.next_push_pull = if join_reply { at } else { self.next_push_pull.min(at) };
        }
    }

    /// Reconnect's peer (Serf's idea): a random Down member. After a partition heals, a
    /// full state exchange with one is how the two sides find each other again;
    /// memberlist only syncs with live members and can stay split (memberlist #222).
    ///
    /// With no Down member left (a partition longer than `reclaim_after` makes the two
    /// sides forget each other), one of our join seeds instead, with probability
    /// `3 / (n + 1)`: about three seed syncs per interval cluster-wide, whatever its size.
    pub(crate) fn reconnect_target(&self, members: &Members, rng: &mut impl RngCore) -> Option<SocketAddr> {
        if members.down() > 0 {
            return members.random_in(MemberState::Down, rng).map(|m| m.addr());
        }
        const SEED_SYNCS_PER_ROUND: usize = 3;
        if !self.seeds.is_empty() && crate::rand::below(rng, members.live() + 1) < SEED_SYNCS_PER_ROUND {
            return Some(self.seeds[crate::rand::below(rng, self.seeds.len())]);
        }
        None
    }
}

/// memberlist's push-pull scaling: the interval grows with `log2(n / 32)` beyond 32
/// members, so the cluster-wide rate of full syncs stays bounded (`live`: members Alive
/// or Suspect, this node excluded).
pub(crate) fn push_pull_interval(config: &Config, live: usize) -> Duration {
    let n = live + 1;
    let mult = if n <= 32 { 1 } else { n.div_ceil(32).next_power_of_two().ilog2() + 1 };
    config.push_pull_interval.saturating_mul(mult)
}
