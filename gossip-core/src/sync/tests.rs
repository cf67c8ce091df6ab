//! Syncs between two or three nodes driven by hand: joins, catch-up, digests and the
//! key/value sections they carry.

use super::SyncPart;
use crate::tests::util::{TestRng, rng};
use crate::wire::{self, Header, Limits, MemberRecord, Message};
use crate::{Config, Identity, MemberState, Node, Time};
use alloc::collections::BTreeSet;
use bytes::BytesMut;
use core::net::SocketAddr;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, i], 7946))
}

fn node(name: &str, i: u8) -> Node<TestRng> {
    Node::new(Config::lan(100), Identity::new(name, addr(i)), rng(u64::from(i))).unwrap()
}

/// Teaches `node` the Alive members named by `peers` (a push-back from the first of
/// them, once it is a member: merged, not answered).
fn teach(node: &mut Node<TestRng>, peers: &[(String, u8)]) {
    let (teacher, at) = (peers[0].0.as_bytes(), addr(peers[0].1));
    if node.member(teacher).is_none() {
        crate::tests::util::introduce(node, Time::ZERO, teacher, at);
    }
    let records = peers.iter().map(|(id, i)| MemberRecord {
        state: MemberState::Alive,
        incarnation: 0,
        id: id.as_bytes(),
        addr: addr(*i),
        meta: b"",
    });
    let mut out = BytesMut::new();
    Header { cluster: b"", sender: teacher }.encode(&mut out);
    wire::encode_push_pull(&mut out, false, false, records.collect::<Vec<_>>().into_iter(), None, None);
    node.handle_stream(Time::ZERO, at, &out).unwrap();
    assert!(node.poll_transmit().is_none(), "a push-back is not answered");
}

/// The reliable transmit `node` queued, decoded: (ids of its records, whether it has a digest).
fn sent(node: &mut Node<TestRng>) -> Option<(Vec<u8>, BTreeSet<String>, bool)> {
    let t = node.poll_transmit()?;
    assert!(t.reliable && node.poll_transmit().is_none());
    let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
    let Message::PushPull { states, sums, .. } = packet.messages[0] else { panic!("not a sync") };
    let ids = states.iter().map(|r| String::from_utf8(r.id.to_vec()).unwrap()).collect();
    Some((t.payload.to_vec(), ids, sums.is_some()))
}

/// One digest-first sync from `a` to `b`: the ids each message carried.
fn sync(a: &mut Node<TestRng>, b: &mut Node<TestRng>) -> Vec<BTreeSet<String>> {
    a.send_push_pull(addr(2), false, SyncPart::Request, None, None, false);
    let (request, ids, digest) = sent(a).unwrap();
    assert!(digest);
    let mut carried = vec![ids];
    b.handle_stream(Time::ZERO, addr(1), &request).unwrap();
    let (response, ids, digest) = sent(b).unwrap();
    assert!(digest);
    carried.push(ids);
    a.handle_stream(Time::ZERO, addr(2), &response).unwrap();
    if let Some((push_back, ids, digest)) = sent(a) {
        assert!(!digest);
        carried.push(ids);
        b.handle_stream(Time::ZERO, addr(1), &push_back).unwrap();
        // A push-back that listed key/value owners gets the deltas it lacks.
        if let Some((answer, ids, digest)) = sent(b) {
            assert!(!digest && ids.len() == 1, "an answer carries its own record and deltas only");
            a.handle_stream(Time::ZERO, addr(2), &answer).unwrap();
            assert!(a.poll_transmit().is_none(), "an answer is not answered");
        }
    }
    carried
}

fn view(node: &Node<TestRng>) -> BTreeSet<String> {
    node.peers().map(|m| String::from_utf8(m.id().as_bytes().to_vec()).unwrap()).collect()
}

// Two nodes that agree exchange only their own records and digests; when each knows a
// member the other lacks, the sync carries those members' buckets (a few records, not
// the table) in both directions, and leaves the two views equal.
#[test]
fn a_sync_carries_only_the_buckets_that_differ() {
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    let peers: Vec<(String, u8)> = (10..110).map(|i| (format!("peer-{i}"), i)).collect();
    teach(&mut a, &[peers.clone(), vec![("b".into(), 2)]].concat());
    teach(&mut b, &[peers.clone(), vec![("a".into(), 1)]].concat());
    let own = |id: &str| BTreeSet::from([id.to_string()]);
    assert_eq!(sync(&mut a, &mut b), vec![own("a"), own("b")], "agreeing nodes send their own records only");

    teach(&mut a, &[("only-a".into(), 200)]);
    teach(&mut b, &[("only-b".into(), 201)]);
    let carried = sync(&mut a, &mut b);
    assert_eq!(carried.len(), 3, "the requester pushes back what the responder lacks");
    assert!(carried[1].contains("only-b") && !carried[1].contains("only-a"));
    assert!(carried[2].contains("only-a") && !carried[2].contains("only-b"));
    for ids in &carried {
        assert!(ids.len() <= 40, "a sync carried {} of 103 members", ids.len());
    }
    let (mut va, mut vb) = (view(&a), view(&b));
    assert!(va.remove("b") && vb.remove("a"));
    assert_eq!(va, vb);
    assert_eq!(sync(&mut a, &mut b), vec![own("a"), own("b")], "synced nodes agree");
}

/// How many times `node` piggybacks news about `id` over `secs` seconds from `from`.
fn sends_about(node: &mut Node<TestRng>, id: &[u8], from: Time, secs: u64) -> usize {
    let mut count = 0;
    for ms in (0..secs * 1000).step_by(50) {
        node.handle_timeout(from.saturating_add(core::time::Duration::from_millis(ms)));
        while let Some(t) = node.poll_transmit() {
            let Ok(packet) = wire::decode(&t.payload, &Limits::default()) else { continue };
            count += packet.messages.iter().filter(|m| matches!(m, Message::Alive { id: i, .. } if *i == id)).count();
        }
    }
    count
}

// A node catching up after its join (a mass join) relays a member it first hears of by
// gossip (most likely another joiner) with half the retransmit budget, also after a
// sync that taught it nothing; once three such syncs ended its catch-up, or with
// catch-up off, with all of it.
#[test]
fn a_node_in_a_join_storm_relays_new_members_sparingly() {
    let mut relays = Vec::new();
    for (catch_up, fruitless_syncs, catching_up) in
        [(true, 0, true), (true, 2, true), (true, 3, false), (false, 0, false)]
    {
        let mut a = node("a", 1);
        a.config.catch_up_sync = if catch_up { core::time::Duration::from_secs(1) } else { core::time::Duration::ZERO };
        a.join(Time::ZERO, &[addr(2)]).unwrap();
        let _ = a.poll_transmit();
        // The seed's answer (its own record, and a digest), then as many responses that
        // teach nothing.
        let seed = MemberRecord { state: MemberState::Alive, incarnation: 0, id: b"seed", addr: addr(2), meta: b"" };
        let mut out = BytesMut::new();
        Header { cluster: b"", sender: b"seed" }.encode(&mut out);
        wire::encode_push_pull(&mut out, false, false, [seed].into_iter(), Some(&[0]), None);
        for _ in 0..=fruitless_syncs {
            a.handle_stream(Time::ZERO, addr(2), &out).unwrap();
            while a.poll_transmit().is_some() {}
        }
        assert_eq!(a.sync.catching_up(Time::ZERO), catching_up);
        let mut gossip = BytesMut::new();
        Header { cluster: b"", sender: b"seed" }.encode(&mut gossip);
        Message::Alive { incarnation: 0, id: b"joiner", addr: addr(3), meta: b"" }.encode(&mut gossip);
        a.handle_datagram(Time::ZERO, addr(2), &gossip).unwrap();
        relays.push(sends_about(&mut a, b"joiner", Time::ZERO, 3));
    }
    // Three members known (a, the seed, the joiner): a budget of 4 sends, half of it 2.
    assert_eq!(relays, vec![2, 2, 4, 4]);
}

fn key_events(node: &mut Node<TestRng>) -> Vec<(String, Option<String>)> {
    core::iter::from_fn(|| node.poll_event())
        .filter_map(|e| match e {
            crate::Event::KeyChanged { key, value, .. } => {
                Some((String::from_utf8(key.to_vec()).unwrap(), value.map(|v| String::from_utf8(v.to_vec()).unwrap())))
            }
            _ => None,
        })
        .collect()
}

/// Teaches `node` one key of each of `owners` at `version` (a push-back of deltas).
fn teach_keys(node: &mut Node<TestRng>, owners: &[(String, u8)], version: u64) {
    let value = version.to_string();
    let writes: Vec<_> =
        owners.iter().map(|_| wire::KvWrite { key: b"k", version, value: Some(value.as_bytes()) }).collect();
    let mut section = Vec::new();
    wire::encode_section(
        &mut section,
        wire::KvScopeOut::Complete,
        core::iter::empty(),
        owners
            .iter()
            .zip(&writes)
            .map(|((o, _), w)| (o.as_bytes(), false, 0, version, core::iter::once(*w)))
            .collect::<Vec<_>>()
            .into_iter(),
    );
    // From the first owner, a member by now.
    let mut out = BytesMut::new();
    Header { cluster: b"", sender: owners[0].0.as_bytes() }.encode(&mut out);
    wire::encode_push_pull(&mut out, false, false, core::iter::empty(), None, Some(&section));
    node.handle_stream(Time::ZERO, addr(owners[0].1), &out).unwrap();
    while node.poll_event().is_some() {}
}

/// The key/value section's size in each message of a sync from `a` to `b`.
fn kv_bytes(a: &mut Node<TestRng>, b: &mut Node<TestRng>) -> Vec<usize> {
    let (mut from, mut to, mut to_addr, mut from_addr) = (a, b, addr(2), addr(1));
    from.send_push_pull(to_addr, false, SyncPart::Request, None, None, false);
    let mut sizes = Vec::new();
    while let Some(t) = from.poll_transmit() {
        let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
        let Message::PushPull { kv, .. } = packet.messages[0] else { panic!("not a sync") };
        sizes.push(kv.map_or(0, |s| s.encoded_len()));
        to.handle_stream(Time::ZERO, from_addr, &t.payload).unwrap();
        (from, to) = (to, from);
        (to_addr, from_addr) = (from_addr, to_addr);
    }
    sizes
}

// Digest-first key/value syncs: two nodes that hold the same 300 owners' keys exchange
// the request's bucket sums only (a few hundred bytes, where each whole digest was
// ~5 KB); when one owner differs, the response lists that owner's bucket, the
// push-back the same bucket, and the answer carries the one delta.
#[test]
fn agreeing_key_syncs_send_only_sums() {
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    let peers: Vec<(String, u8)> = (10..250).chain(10..70).map(|i| (format!("peer-{i}-{}", i % 7), i)).collect();
    let peers: Vec<(String, u8)> = peers.into_iter().enumerate().map(|(n, (id, i))| (format!("{id}-{n}"), i)).collect();
    teach(&mut a, &[peers.clone(), vec![("b".into(), 2)]].concat());
    teach(&mut b, &[peers.clone(), vec![("a".into(), 1)]].concat());
    teach_keys(&mut a, &peers, 5);
    teach_keys(&mut b, &peers, 5);
    assert_eq!(a.state.store.owners(), 300);
    let whole = a.state.store.digest_len();
    let sizes = kv_bytes(&mut a, &mut b);
    assert_eq!(sizes.len(), 2, "request and response: {sizes:?}");
    assert!(sizes[0] < 300 && sizes[1] == 0, "{sizes:?} (a whole digest: {whole} bytes)");

    let changed = &peers[17..18];
    teach_keys(&mut b, changed, 6);
    let sizes = kv_bytes(&mut a, &mut b);
    assert_eq!(sizes.len(), 4, "request, response, push-back, answer: {sizes:?}");
    assert!(sizes[1] < whole / 8 && sizes[2] < whole / 8, "{sizes:?} (a whole digest: {whole} bytes)");
    assert_eq!(a.get(changed[0].0.as_bytes(), b"k"), Some(&b"6"[..]));
    assert_eq!(kv_bytes(&mut a, &mut b)[1], 0, "they agree again");
}

// Keys ride on syncs: a set and a delete reach the peer, which reports each once; a
// sync with nothing new reports nothing; keys of an owner the receiver does not know as
// a member are ignored.
#[test]
fn keys_travel_with_syncs() {
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    teach(&mut a, &[("b".into(), 2)]);
    teach(&mut b, &[("a".into(), 1)]);
    a.set(a.now(), "colour", "blue").unwrap();
    a.set(a.now(), "size", "9").unwrap();
    sync(&mut a, &mut b);
    assert_eq!(b.get(b"a", b"colour"), Some(&b"blue"[..]));
    let mut events = key_events(&mut b);
    events.sort();
    assert_eq!(events, vec![("colour".into(), Some("blue".into())), ("size".into(), Some("9".into()))]);
    sync(&mut b, &mut a);
    assert!(key_events(&mut b).is_empty() && key_events(&mut a).is_empty());
    a.delete(a.now(), "colour").unwrap();
    sync(&mut b, &mut a);
    assert_eq!(key_events(&mut b), vec![("colour".into(), None)]);
    assert_eq!(b.keys(b"a").count(), 1);

    // A delta about "ghost", which b has never heard of, from a known peer.
    let mut section = Vec::new();
    let write = wire::KvWrite { key: b"x", version: 1, value: Some(b"1") };
    wire::encode_section(
        &mut section,
        wire::KvScopeOut::Complete,
        core::iter::empty(),
        [(&b"ghost"[..], false, 0, 1, core::iter::once(write))].into_iter(),
    );
    let mut out = BytesMut::new();
    Header { cluster: b"", sender: b"a" }.encode(&mut out);
    wire::encode_push_pull(&mut out, false, false, core::iter::empty(), None, Some(&section));
    b.handle_stream(Time::ZERO, addr(1), &out).unwrap();
    assert!(b.get(b"ghost", b"x").is_none() && key_events(&mut b).is_empty());
}

// A node holding keys adds its key/value sum to its acks; a prober whose sum differs
// syncs with it (once per pause), one whose sum is the same does not, and a node
// without keys sends bare acks (membership-only traffic is unchanged).
#[test]
fn acks_carry_the_key_sum_and_a_difference_starts_a_sync() {
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    teach(&mut a, &[("b".into(), 2)]);
    teach(&mut b, &[("a".into(), 1)]);
    let ping = |to: &mut Node<TestRng>, target: &[u8]| {
        let mut out = BytesMut::new();
        Header { cluster: b"", sender: b"a" }.encode(&mut out);
        Message::Ping { seq: 7, target }.encode(&mut out);
        to.handle_datagram(Time::ZERO, addr(1), &out).unwrap();
        let t = to.poll_transmit().unwrap();
        let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
        packet.messages.iter().find_map(|m| match m {
            Message::KeySum { sum } => Some(*sum),
            _ => None,
        })
    };
    assert_eq!(ping(&mut b, b"b"), None, "no keys, bare ack");
    b.set(b.now(), "k", "v").unwrap();
    let sum = ping(&mut b, b"b").expect("b holds a key");
    let ack = |sum: u64| {
        let mut out = BytesMut::new();
        Header { cluster: b"", sender: b"b" }.encode(&mut out);
        Message::Ack { seq: 1 }.encode(&mut out);
        Message::KeySum { sum }.encode(&mut out);
        out
    };
    a.handle_datagram(Time::ZERO, addr(2), &ack(sum)).unwrap();
    let t = a.poll_transmit().expect("a lacks b's key: it syncs");
    assert!(t.reliable && t.dest == addr(2));
    a.handle_datagram(Time::ZERO, addr(2), &ack(sum)).unwrap();
    assert!(a.poll_transmit().is_none(), "not twice within the pause");
    b.handle_stream(Time::ZERO, addr(1), &t.payload).unwrap();
    let response = b.poll_transmit().unwrap();
    a.handle_stream(Time::ZERO, addr(2), &response.payload).unwrap();
    assert_eq!(a.get(b"b", b"k"), Some(&b"v"[..]));
    while a.poll_transmit().is_some() {}
    let later = Time::from_nanos(10_000_000_000);
    let mut out = BytesMut::new();
    Header { cluster: b"", sender: b"b" }.encode(&mut out);
    Message::KeySum { sum }.encode(&mut out);
    a.handle_datagram(later, addr(2), &out).unwrap();
    assert!(core::iter::from_fn(|| a.poll_transmit()).all(|t| !t.reliable), "the same sum now: no sync");
}

// Listings count against the key/value budget before they are sent: a responder over
// its budget answers with members only, and the same sync once the budget has refilled
// lists and brings the keys.
#[test]
fn a_responder_over_its_budget_lists_no_keys() {
    let secs = |s: u64| Time::from_nanos(s * 1_000_000_000);
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    teach(&mut a, &[("b".into(), 2)]);
    teach(&mut b, &[("a".into(), 1)]);
    b.set(b.now(), "mine", "x").unwrap();
    a.set(a.now(), "k", "v").unwrap();
    while a.poll_transmit().is_some() {}
    let kv_of = |payload: &[u8]| {
        let packet = wire::decode(payload, &Limits::default()).unwrap();
        let Message::PushPull { kv, .. } = packet.messages[0] else { panic!("not a sync") };
        kv.is_some()
    };
    b.config.kv_bytes_per_sec = 1_000;
    shared!(b).kv_spend(5_000);
    a.send_push_pull(addr(2), false, SyncPart::Request, None, None, false);
    let (request, _, _) = sent(&mut a).unwrap();
    b.handle_stream(Time::ZERO, addr(1), &request).unwrap();
    let (response, _, _) = sent(&mut b).unwrap();
    assert!(!kv_of(&response), "over budget: no listing");
    b.handle_timeout(secs(10));
    while b.poll_transmit().is_some() {}
    b.handle_stream(secs(10), addr(1), &request).unwrap();
    let (response, _, _) = sent(&mut b).unwrap();
    assert!(kv_of(&response), "the budget refilled: a listing");
    a.handle_stream(secs(10), addr(2), &response).unwrap();
    let (push_back, _, _) = sent(&mut a).unwrap();
    b.handle_stream(secs(10), addr(1), &push_back).unwrap();
    assert_eq!(b.get(b"a", b"k"), Some(&b"v"[..]));
}

// What a sync shows a member holds of our keys is where our pushes to it resume: a
// member that restarted at the same address (invisible to the member table) lists
// none of ours, and gets our writes pushed from the start; one that holds them all
// gets no push.
#[test]
fn a_sync_listing_shows_where_pushes_resume() {
    let secs = |s: f64| Time::from_nanos((s * 1e9) as u64);
    let pushes_to_b = |a: &mut Node<TestRng>, at: Time| {
        let before = a.stats().kv_push_bytes;
        a.handle_timeout(at);
        let sent: Vec<_> = core::iter::from_fn(|| a.poll_transmit()).filter(|t| t.dest == addr(2)).collect();
        (a.stats().kv_push_bytes > before, sent)
    };
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    teach(&mut a, &[("b".into(), 2)]);
    teach(&mut b, &[("a".into(), 1)]);
    a.join(Time::ZERO, &[]).unwrap();
    a.set(a.now(), "k1", "v1").unwrap();
    a.set(a.now(), "k2", "v2").unwrap();
    let (pushed, sent) = pushes_to_b(&mut a, secs(0.2));
    assert!(pushed);
    for t in sent {
        b.handle_datagram(secs(0.2), addr(1), &t.payload).unwrap();
    }
    assert_eq!(b.keys(b"a").count(), 2, "the push brought both keys");
    sync(&mut a, &mut b);
    assert!(!pushes_to_b(&mut a, secs(0.4)).0, "b holds everything: nothing to push");
    let mut b = node("b", 2);
    teach(&mut b, &[("a".into(), 1)]);
    assert!(!pushes_to_b(&mut a, secs(0.6)).0, "the restart went unseen");
    sync(&mut a, &mut b);
    assert!(pushes_to_b(&mut a, secs(0.8)).0, "its listing showed none of ours");
}

// A key set with a time to live is deleted by its owner when the time is up, and the
// delete reaches replicas like any other; setting it again without one keeps it, and
// the same value with a new time to live moves the expiry.
#[test]
fn keys_with_a_time_to_live_expire() {
    let secs = |s: u64| Time::from_nanos(s * 1_000_000_000);
    let ttl = core::time::Duration::from_secs(5);
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    teach(&mut a, &[("b".into(), 2)]);
    teach(&mut b, &[("a".into(), 1)]);
    a.join(Time::ZERO, &[]).unwrap();
    a.set_with_ttl(a.now(), "lease", "held", ttl).unwrap();
    a.set_with_ttl(a.now(), "kept", "yes", ttl).unwrap();
    a.set(a.now(), "kept", "yes").unwrap();
    a.set_with_ttl(a.now(), "moved", "x", ttl).unwrap();
    a.handle_timeout(secs(3));
    a.set_with_ttl(a.now(), "moved", "x", ttl).unwrap();
    assert_eq!(a.poll_timeout().map(|t| t <= secs(5)), Some(true), "the first expiry is a deadline");
    a.handle_timeout(secs(5));
    assert!(a.get(b"a", b"lease").is_none(), "expired");
    assert!(a.get(b"a", b"kept").is_some() && a.get(b"a", b"moved").is_some());
    a.handle_timeout(secs(8));
    assert!(a.get(b"a", b"moved").is_none(), "expired 5 s after it was set again");
    while a.poll_transmit().is_some() {}
    sync(&mut b, &mut a);
    let keys: Vec<_> = b.keys(b"a").map(|(k, _)| k).collect();
    assert_eq!(keys, vec![&b"kept"[..]], "the replica saw the expiries as deletes");
}

#[test]
fn keys_and_values_are_bounded() {
    let mut a = node("a", 1);
    assert_eq!(a.set(a.now(), "", "v"), Err(crate::CommandError::KeyLength { len: 0 }));
    assert_eq!(a.set(a.now(), vec![b'k'; 257], "v"), Err(crate::CommandError::KeyLength { len: 257 }));
    assert_eq!(a.set(a.now(), "k", vec![0u8; 4097]), Err(crate::CommandError::ValueTooLong { len: 4097 }));
    assert!(a.set(a.now(), "k", vec![0u8; 4096]).is_ok());
    assert_eq!(a.get(b"a", b"k").map(|v| v.len()), Some(4096));
}

// An owner holds at most `max_keys` live keys (a deleted one frees its place, and an
// existing key can always be rewritten); a replica refuses, and counts, writes that
// would grow its copy of an owner beyond four times that.
#[test]
fn keys_per_owner_are_bounded() {
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    a.config.max_keys = 3;
    for k in ["k1", "k2", "k3"] {
        a.set(a.now(), k, "v").unwrap();
    }
    assert_eq!(a.set(a.now(), "k4", "v"), Err(crate::CommandError::TooManyKeys { max: 3 }));
    a.set(a.now(), "k3", "w").unwrap();
    a.delete(a.now(), "k1").unwrap();
    a.set(a.now(), "k4", "v").unwrap();

    teach(&mut b, &[("a".into(), 1)]);
    b.state.store = crate::state::KvStore::bounded(2);
    let mut section = Vec::new();
    let writes = [b"x", b"y", b"z"].map(|k| wire::KvWrite { key: k, version: 0, value: Some(b"1") });
    let writes: Vec<_> =
        writes.iter().enumerate().map(|(i, w)| wire::KvWrite { version: i as u64 + 1, ..*w }).collect();
    wire::encode_section(
        &mut section,
        wire::KvScopeOut::Complete,
        core::iter::empty(),
        [(&b"a"[..], false, 0, 3, writes.into_iter())].into_iter(),
    );
    let mut out = BytesMut::new();
    Header { cluster: b"", sender: b"a" }.encode(&mut out);
    wire::encode_push_pull(&mut out, false, false, core::iter::empty(), None, Some(&section));
    b.handle_stream(Time::ZERO, addr(1), &out).unwrap();
    assert_eq!(b.keys(b"a").count(), 0, "refused whole");
    assert_eq!(b.stats().kv_refused, 1);
}

// A key write rides on the next gossip packets (no sync needed); the receiver reports
// it and relays it; a newer write of the same key replaces the queued one.
#[test]
fn key_writes_ride_on_gossip() {
    let (mut a, mut b) = (node("a", 1), node("b", 2));
    teach(&mut a, &[("b".into(), 2)]);
    teach(&mut b, &[("a".into(), 1)]);
    a.join(Time::ZERO, &[]).unwrap();
    a.set(a.now(), "colour", "red").unwrap();
    a.set(a.now(), "colour", "blue").unwrap();
    let mut writes = Vec::new();
    for ms in (0..2000).step_by(50) {
        let now = Time::ZERO.saturating_add(core::time::Duration::from_millis(ms));
        a.handle_timeout(now);
        while let Some(t) = a.poll_transmit() {
            if t.reliable {
                continue;
            }
            let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
            for m in &packet.messages {
                if let Message::KeyWrites { delta } = m {
                    for write in delta.writes() {
                        writes.push(String::from_utf8(write.value.unwrap().to_vec()).unwrap());
                    }
                }
            }
            b.handle_datagram(now, addr(1), &t.payload).unwrap();
        }
    }
    assert!(!writes.is_empty() && writes.iter().all(|v| v == "blue"), "{writes:?}");
    assert_eq!(b.get(b"a", b"colour"), Some(&b"blue"[..]));
    assert_eq!(key_events(&mut b), vec![("colour".into(), Some("blue".into()))]);
    let relayed = core::iter::from_fn(|| b.poll_transmit()).any(|t| {
        let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
        packet.messages.iter().any(|m| matches!(m, Message::KeyWrites { .. }))
    });
    assert!(relayed || !b.outbox.queue(crate::outbox::Queue::Keys).is_empty(), "b relays what it learned");
}
