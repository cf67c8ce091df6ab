//! Owner pushes: each node sends its own new key/value writes straight to every live
//! member in turn, a datagram each.
//!
//! Under a steady write load this keeps copies freshest for the fewest bytes. A copy that
//! a member gets from a relay or a sync is only as fresh as the relay's own, and gossip
//! relays mostly repeat what their receivers have heard already; an owner's push always
//! carries its newest writes, and only those the member has not been sent yet. Pushes may
//! spend the whole key/value budget, so once it runs short they slow down by themselves:
//! each member still gets everything new since its last push, only less often.
//!
//! Each member records the highest of our versions pushed to it (`Member::pushed`), so a
//! push is the prefix of our writes after it: applied in order, or out of order when an
//! earlier push was lost (see `KvStore::apply_gossip`), and then a sync fills the gap.
//! A sync listing our owner entry tells us what the member really holds. Pushes are
//! best-effort: syncs remain what guarantees convergence.

use super::State;
use crate::digest;
use crate::identity::NodeId;
use crate::membership::members::Members;
use crate::prelude::*;
use crate::shared::Shared;
use crate::wire::{self, KvScope, KvSection, KvWrite};

impl State {
    /// Pushes our new writes to the next members in table order, while the budget lasts,
    /// visiting each member at most once per round. A round that finds every live member
    /// up to date marks the pushes idle until our state or the member table changes.
    pub(crate) fn push_round<R>(&mut self, sh: &mut Shared<'_, R>, members: &mut Members) {
        let me = self.me.clone();
        let newest = self.store.max(me.as_bytes());
        let slots = members.slot_count();
        let now_at = (newest, members.len(), members.live(), members.push_resets());
        if newest == 0 || slots == 0 || self.pushes_idle_at == Some(now_at) {
            return;
        }
        // A push is the primary message of its datagram (tag byte included), as large as
        // a datagram holds after the header: a large state goes in as few pushes as can be.
        let room = sh.outbox.datagram_room();
        let mut behind = false;
        for _ in 0..slots {
            let idx = self.push_cursor % slots;
            let Some((r, m)) = members.at(idx) else {
                self.push_cursor = idx + 1;
                continue;
            };
            let after = self.pushed_version(m.pushed);
            if !m.state.is_live() || after >= newest {
                self.push_cursor = idx + 1;
                continue;
            }
            behind = true;
            let dest = m.addr();
            let Some(d) = self.store.since(&me, after, room - 1) else {
                // Its next write does not fit a datagram: that one travels with syncs only,
                // and the member takes the pushes after it out of order.
                let too_large = self.store.since(&me, after, usize::MAX).and_then(|d| Some(d.writes.first()?.version));
                let mark = too_large.map_or(m.pushed, |v| self.pushed_mark(v));
                members.update(r, |m| m.pushed = mark);
                self.push_cursor = idx + 1;
                continue;
            };
            let writes =
                d.writes.iter().map(|w| KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() });
            let mut message = Vec::with_capacity(room);
            wire::encode_key_writes(&mut message, me.as_bytes(), d.base, d.up_to, writes);
            if sh.kv_room() < message.len() {
                break; // this member is first in line once the budget allows
            }
            self.push_cursor = idx + 1;
            let pushed = self.pushed_mark(d.up_to);
            members.update(r, |m| m.pushed = pushed);
            sh.kv_spend(message.len());
            sh.stats.kv_push_bytes += message.len() as u64;
            let limit = sh.retransmit_budget(members.live());
            sh.send_encoded(dest, &message, limit);
        }
        self.pushes_idle_at = (!behind).then_some(now_at);
    }

    /// Whether our pushes wait for the budget (the last round left a member behind): sync
    /// listings then yield to them. A node with nothing to push still lists over budget,
    /// which a joiner needs: its listings are how owners learn to push it their state.
    pub(crate) fn pushes_waiting(&self) -> bool {
        self.pushes_idle_at.is_none() && self.store.max(self.me.as_bytes()) > 0
    }

    /// The member `peer` holds our own writes up to `max` (as a sync showed, or 0 when it
    /// may be a new life): the next push to it starts there (lower after it restarted or
    /// lost a push, higher after a relay or a sync brought it more).
    pub(crate) fn note_pushed(&mut self, members: &mut Members, peer: &[u8], max: u64) {
        let Some(r) = members.find(peer) else { return };
        let pushed = self.pushed_mark(max);
        members.update(r, |m| m.pushed = pushed);
        if max < self.store.max(self.me.as_bytes()) {
            self.pushes_idle_at = None;
        }
    }

    /// Our version that a member's `pushed` mark stands for (0 for none).
    fn pushed_version(&self, mark: u32) -> u64 {
        if mark == 0 { 0 } else { u64::from(self.generation) << 32 | u64::from(mark) }
    }

    /// The `pushed` mark for our version `version`: none for one of an earlier life, and
    /// at most our newest (a peer's claim beyond it is false).
    fn pushed_mark(&self, version: u64) -> u32 {
        let version = version.min(self.store.max(self.me.as_bytes()));
        if version >> 32 == u64::from(self.generation) { version as u32 } else { 0 }
    }

    /// Notes what a sync section from `peer` lists of our own writes (see
    /// [`State::note_pushed`]): in a complete digest, or in a listing whose buckets hold
    /// ours, our entry, or its absence (it holds nothing of ours).
    pub(crate) fn note_pushed_from(&mut self, members: &mut Members, peer: &[u8], section: &KvSection<'_>) {
        let me: &NodeId = &self.me;
        let covers = match section.scope() {
            // Without any entry, a complete section carries deltas only.
            KvScope::Complete => section.digest().next().is_some(),
            KvScope::Listed(set) => set.contains(digest::bucket(me.as_bytes(), set.log2())),
            KvScope::Sums(_) => false,
        };
        if !covers || peer == me.as_bytes() {
            return;
        }
        let max = section.digest().find(|(id, _)| *id == me.as_bytes()).map_or(0, |(_, max)| max);
        self.note_pushed(members, peer, max);
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::util::{TestRng, rng};
    use crate::wire::{self, Header, Limits, MemberRecord, Message};
    use crate::{Config, Identity, MemberState, Node, Time};
    use bytes::BytesMut;
    use core::net::SocketAddr;

    const MEMBERS: u8 = 12;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 2, i], 7946))
    }

    /// Node "a" at `addr(0)`, knowing `MEMBERS` Alive members `m1`.. at `addr(1)`..
    fn owner(kv_bytes_per_sec: usize) -> Node<TestRng> {
        let mut config = Config::lan(100);
        config.kv_bytes_per_sec = kv_bytes_per_sec;
        let mut a = Node::new(config, Identity::new("a", addr(0)), rng(7)).unwrap();
        let names: Vec<String> = (1..=MEMBERS).map(|i| format!("m{i}")).collect();
        let records = names.iter().zip(1..).map(|(id, i)| MemberRecord {
            state: MemberState::Alive,
            incarnation: 0,
            id: id.as_bytes(),
            addr: addr(i),
            meta: b"",
        });
        // A push-back from the first of them, once it is a member.
        crate::tests::util::introduce(&mut a, Time::ZERO, b"m1", addr(1));
        let mut out = BytesMut::new();
        Header { cluster: b"", sender: b"m1" }.encode(&mut out);
        wire::encode_push_pull(&mut out, false, false, records.collect::<Vec<_>>().into_iter(), None, None);
        a.handle_stream(Time::ZERO, addr(1), &out).unwrap();
        a.join(Time::ZERO, &[]).unwrap();
        while a.poll_transmit().is_some() {}
        a
    }

    /// Runs `a`'s timers at `at`; returns every key-write message it sent, pushed or
    /// piggybacked on gossip: (to, base, up_to, keys).
    fn key_writes(a: &mut Node<TestRng>, at: Time) -> Vec<(SocketAddr, u64, u64, Vec<Vec<u8>>)> {
        a.handle_timeout(at);
        let mut out = Vec::new();
        while let Some(t) = a.poll_transmit() {
            let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
            for m in &packet.messages {
                if let Message::KeyWrites { delta } = m {
                    let keys = delta.writes().map(|w| w.key.to_vec()).collect();
                    out.push((t.dest, delta.base, delta.up_to, keys));
                }
            }
        }
        out
    }

    /// How many members have been pushed something.
    fn pushed_to(a: &Node<TestRng>) -> usize {
        a.membership.members.iter().filter(|(_, m)| m.pushed > 0).count()
    }

    fn secs(s: f64) -> Time {
        Time::from_nanos((s * 1e9) as u64)
    }

    // Every live member gets our new writes straight from us within one round (gossip
    // alone reaches 3 a round), once; a later write goes out alone, as a delta after what
    // each member was pushed before.
    #[test]
    fn an_owner_pushes_each_member_its_new_writes_once() {
        let mut a = owner(32 * 1024);
        a.set(a.now(), "k1", "v1").unwrap();
        a.set(a.now(), "k2", "v2").unwrap();
        let first = key_writes(&mut a, secs(0.2));
        let v2 = a.state.store.max(b"a");
        for i in 1..=MEMBERS {
            let to_i: Vec<_> = first.iter().filter(|w| w.0 == addr(i)).collect();
            assert!(to_i.iter().any(|w| w.1 == 0 && w.2 == v2 && w.3 == [b"k1".to_vec(), b"k2".to_vec()]), "{first:?}");
        }
        assert_eq!(pushed_to(&a), usize::from(MEMBERS));
        let pushed = a.stats().kv_push_bytes;
        key_writes(&mut a, secs(0.4));
        assert_eq!(a.stats().kv_push_bytes, pushed, "nothing new, nothing pushed");
        a.set(a.now(), "k1", "v3").unwrap();
        let second = key_writes(&mut a, secs(0.6));
        for i in 1..=MEMBERS {
            let to_i: Vec<_> = second.iter().filter(|w| w.0 == addr(i)).collect();
            assert!(to_i.iter().any(|w| w.1 == v2 && w.2 == v2 + 1 && w.3 == [b"k1".to_vec()]), "{second:?}");
        }
        let push_len = (a.stats().kv_push_bytes - pushed) / u64::from(MEMBERS);
        assert!(push_len < 50, "a push of one short write is {push_len} bytes (both keys: 57)");
    }

    // Pushes spend the key/value budget and wait for it: with room for a few a second,
    // a round reaches only some members, the rest follow as the budget refills, and what
    // was sent stays within the budget.
    #[test]
    fn pushes_keep_within_the_budget() {
        let rate = 2_000;
        let mut a = owner(rate);
        for k in 0..8 {
            a.set(a.now(), format!("key-{k}"), "a value of some length").unwrap();
        }
        key_writes(&mut a, secs(0.2));
        let first = pushed_to(&a);
        assert!(first > 0 && first < usize::from(MEMBERS), "{first} pushes in the first round");
        let mut t = 0.2;
        while pushed_to(&a) < usize::from(MEMBERS) && t < 30.0 {
            t += 0.2;
            key_writes(&mut a, secs(t));
        }
        assert_eq!(pushed_to(&a), usize::from(MEMBERS), "every member reached by {t} s");
        let spent = a.stats().kv_push_bytes + a.stats().kv_gossip_bytes;
        assert!(spent as f64 <= rate as f64 * (t + 1.0), "{spent} bytes in {t} s at {rate} B/s");
    }

    // A write too large for a datagram is left to syncs: no push carries it, the round
    // does not try again and again, and the next write is pushed after it (out of order).
    #[test]
    fn a_write_too_large_for_a_datagram_is_left_to_syncs() {
        let mut a = owner(32 * 1024);
        a.set(a.now(), "big", vec![b'x'; 2000]).unwrap();
        let big = a.state.store.max(b"a");
        key_writes(&mut a, secs(0.2));
        assert_eq!(a.stats().kv_push_bytes, 0);
        assert_eq!(pushed_to(&a), usize::from(MEMBERS), "every mark moved past it");
        key_writes(&mut a, secs(0.4));
        assert_eq!(a.stats().kv_push_bytes, 0);
        a.set(a.now(), "small", "v").unwrap();
        let sent = key_writes(&mut a, secs(0.6));
        for i in 1..=MEMBERS {
            assert!(sent.iter().any(|w| w.0 == addr(i) && w.1 == big && w.3 == [b"small".to_vec()]), "{sent:?}");
        }
    }

    // A member seen back from Down starts over: it may be a new life holding none of our
    // keys, so it is pushed our whole state again.
    #[test]
    fn a_member_back_from_down_is_pushed_everything_again() {
        let mut a = owner(32 * 1024);
        a.set(a.now(), "k1", "v1").unwrap();
        a.set(a.now(), "k2", "v2").unwrap();
        key_writes(&mut a, secs(0.2));
        assert_eq!(pushed_to(&a), usize::from(MEMBERS));
        let down = Message::Down { incarnation: 0, id: b"m1", from: b"m2" };
        let alive = Message::Alive { incarnation: 1, id: b"m1", addr: addr(1), meta: b"" };
        for m in [down, alive] {
            a.handle_datagram(secs(0.3), addr(2), &crate::tests::util::datagram(b"m2", &[m])).unwrap();
        }
        assert_eq!(pushed_to(&a), usize::from(MEMBERS) - 1, "m1 starts over");
        let pushed = a.stats().kv_push_bytes;
        let again = key_writes(&mut a, secs(0.6));
        assert!(a.stats().kv_push_bytes > pushed);
        assert!(again.iter().any(|w| w.0 == addr(1) && w.1 == 0 && w.3.len() == 2), "{again:?}");
        assert_eq!(pushed_to(&a), usize::from(MEMBERS));
    }
}
