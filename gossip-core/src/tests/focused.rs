//! Focused suspicions ([`Config::suspicion_witnesses`]): one node driven by hand against
//! scripted peers, checking who hears of a suspicion, what a witness does, and how a
//! suspect answers.

use super::util::{TestRng, datagram, introduce, rng};
use crate::wire::{self, Limits, Message};
use crate::{Config, Event, Identity, MemberState, Node, Time, Transmit};
use core::net::SocketAddr;
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);
const NAMES: [&[u8]; 16] =
    [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j", b"k", b"l", b"m", b"n", b"o", b"p"];

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 4, i as u8 + 1], 7946))
}

/// Node `NAMES[me]`, knowing every other name in `NAMES[..n]` Alive at incarnation 0.
fn node(config: Config, me: usize, n: usize) -> Node<TestRng> {
    let mut node = Node::new(config, Identity::new(crate::NodeId::new(NAMES[me]), addr(me)), rng(1)).unwrap();
    let others: Vec<_> = (0..n)
        .filter(|&i| i != me)
        .map(|i| Message::Alive { incarnation: 0, id: NAMES[i], addr: addr(i), meta: b"" })
        .collect();
    let from = if me == 0 { 1 } else { 0 };
    introduce(&mut node, Time::ZERO, NAMES[from], addr(from));
    node.handle_datagram(Time::ZERO, addr(from), &datagram(NAMES[from], &others)).unwrap();
    drain(&mut node);
    node
}

fn drain(node: &mut Node<TestRng>) -> Vec<Transmit> {
    core::iter::from_fn(|| node.poll_transmit()).collect()
}

/// Whether any message of the datagram satisfies `f`.
fn carries(t: &Transmit, f: impl Fn(&Message<'_>) -> bool) -> bool {
    !t.reliable && wire::decode(&t.payload, &Limits::default()).unwrap().messages.iter().any(f)
}

/// Runs `node` on its own timers until `until`, answering nothing; returns what it sent.
fn run_silent(node: &mut Node<TestRng>, until: Time) -> Vec<Transmit> {
    let mut sent = Vec::new();
    while let Some(at) = node.poll_timeout().filter(|&at| at <= until) {
        node.handle_timeout(at);
        sent.extend(drain(node));
    }
    sent
}

/// Node `a` among sixteen members, none of which answers: the first suspicion it raises,
/// and the addresses that were sent a `Suspect` of that member up to two seconds later.
fn first_suspicion(config: Config) -> (usize, Vec<SocketAddr>) {
    let mut a = node(config, 0, 16);
    let mut sent = Vec::new();
    let (suspect, now, before) = loop {
        let now = a.poll_timeout().unwrap();
        let before = sent.len();
        a.handle_timeout(now);
        sent.extend(drain(&mut a));
        let suspect = core::iter::from_fn(|| a.poll_event()).find_map(|e| match e {
            Event::MemberSuspect { id, .. } => NAMES.iter().position(|n| *n == id.as_bytes()),
            _ => None,
        });
        if let Some(s) = suspect {
            break (s, now, before);
        }
        assert!(now < Time::from_secs(10), "no suspicion");
    };
    sent.extend(run_silent(&mut a, now.saturating_add(Duration::from_secs(2))));
    let told = sent[before..]
        .iter()
        .filter(|t| carries(t, |m| matches!(m, Message::Suspect { id, .. } if *id == NAMES[suspect])))
        .map(|t| t.dest);
    let mut told: Vec<_> = told.collect();
    told.sort();
    told.dedup();
    (suspect, told)
}

// A failed probe is told to the suspect and to four witnesses, and to nobody else: it is
// not gossiped. Gossiped suspicions (the baseline) reach more members in the same time.
#[test]
fn a_failed_probe_tells_the_suspect_and_its_witnesses_only() {
    let (suspect, told) = first_suspicion(Config::lan(16));
    assert!(told.contains(&addr(suspect)), "the suspect hears of it: {told:?}");
    assert_eq!(told.len(), 1 + 4, "the suspect and four witnesses: {told:?}");

    let (_, gossiped) = first_suspicion(Config { suspicion_witnesses: 0, ..Config::lan(16) });
    assert!(gossiped.len() > 5, "gossip should reach more members (else the test proves nothing): {gossiped:?}");
}

/// Node `c` asked by `a` to witness its suspicion of `b` (members a..e): the packets it
/// sent in response.
fn witness() -> (Node<TestRng>, Vec<Transmit>) {
    let mut c = node(Config::lan(16), 2, 5);
    let notice = Message::Suspect { incarnation: 0, id: b"b", from: b"a" };
    c.handle_datagram(Time::ZERO, addr(0), &datagram(b"a", &[notice])).unwrap();
    let sent = drain(&mut c);
    (c, sent)
}

/// The sequence number of the ping `c` sent `b`.
fn ping_seq(sent: &[Transmit]) -> u32 {
    let to_b = sent.iter().find(|t| t.dest == addr(1)).expect("c pings b");
    let packet = wire::decode(&to_b.payload, &Limits::default()).unwrap();
    // The accusation comes first, so that a live b refutes before it acks.
    let accusation = matches!(
        packet.messages[0],
        Message::Suspect { id: b"b", from: b"a", .. } | Message::Down { id: b"b", from: b"a", .. }
    );
    assert!(accusation, "{packet:?}");
    packet.messages.iter().find_map(|m| if let Message::Ping { seq, .. } = m { Some(*seq) } else { None }).unwrap()
}

// A witness checks the suspect itself (a ping carrying the suspicion, and ping-reqs) and,
// when nothing answers, confirms to the accuser in its own name; it does not adopt the
// suspicion.
#[test]
fn a_witness_confirms_a_silent_suspect_to_the_accuser() {
    let (mut c, sent) = witness();
    ping_seq(&sent);
    assert!(sent.iter().any(|t| carries(t, |m| matches!(m, Message::PingReq { target: b"b", .. }))));
    assert!(!sent.iter().any(|t| t.dest == addr(0)), "no verdict before the check's time is up");
    let later = run_silent(&mut c, Time::ZERO.saturating_add(450 * MS));
    let confirmed = |t: &Transmit| carries(t, |m| matches!(m, Message::Suspect { id: b"b", from: b"c", .. }));
    assert!(later.iter().any(|t| t.dest == addr(0) && confirmed(t)), "c confirms to a");
    assert_eq!(c.member(b"b").unwrap().state(), MemberState::Alive, "c does not suspect b itself");
    assert_eq!(c.stats().witness_confirmations, 1);
}

// A witness that reaches the suspect confirms nothing, and passes the suspect's
// refutation on to the accuser at once.
#[test]
fn a_witness_passes_a_refutation_on_to_the_accuser() {
    let (mut c, sent) = witness();
    let seq = ping_seq(&sent);
    let answer = [Message::Ack { seq }, Message::Alive { incarnation: 1, id: b"b", addr: addr(1), meta: b"" }];
    c.handle_datagram(Time::ZERO.saturating_add(2 * MS), addr(1), &datagram(b"b", &answer)).unwrap();
    let mut replies = drain(&mut c);
    replies.extend(run_silent(&mut c, Time::ZERO.saturating_add(450 * MS)));
    let to_a: Vec<_> = replies.iter().filter(|t| t.dest == addr(0)).collect();
    assert!(to_a.iter().any(|t| carries(t, |m| matches!(m, Message::Alive { id: b"b", incarnation: 1, .. }))));
    assert!(!to_a.iter().any(|t| carries(t, |m| matches!(m, Message::Suspect { .. }))), "no confirmation");
}

// A suspect told of a suspicion by a witness refutes straight to the accuser, and the
// refutation rides on its ack to the witness and a few packets more: it is not gossiped
// on every packet for a full retransmit budget.
#[test]
fn a_suspect_refutes_straight_to_its_accuser() {
    let mut b = node(Config::lan(16), 1, 8);
    let buddy = [Message::Suspect { incarnation: 0, id: b"b", from: b"a" }, Message::Ping { seq: 9, target: b"b" }];
    b.handle_datagram(Time::ZERO, addr(2), &datagram(b"c", &buddy)).unwrap();
    let sent = drain(&mut b);
    let refutes = |t: &Transmit| carries(t, |m| matches!(m, Message::Alive { id: b"b", incarnation: 1, .. }));
    assert!(sent.iter().any(|t| t.dest == addr(0) && refutes(t)), "straight to the accuser");
    let ack = sent.iter().find(|t| t.dest == addr(2)).expect("an ack to the witness");
    assert!(carries(ack, |m| matches!(m, Message::Ack { seq: 9 })) && refutes(ack));
    let later = run_silent(&mut b, Time::from_secs(5));
    let rides = later.iter().filter(|t| refutes(t)).count();
    assert!(rides <= 2, "three rides in all, the ack's among them: {rides} more");
}

// A Down about an older incarnation than this node knows (the suspect refuted only to
// some) is checked, not ignored: silence makes this node declare the member Down at the
// incarnation it knows, and pass that on.
#[test]
fn a_stale_down_is_checked_then_declared_anew() {
    let mut c = node(Config::lan(16), 2, 5);
    let newer = Message::Alive { incarnation: 2, id: b"b", addr: addr(1), meta: b"" };
    c.handle_datagram(Time::ZERO, addr(3), &datagram(b"d", &[newer])).unwrap();
    drain(&mut c);
    let down = Message::Down { incarnation: 1, id: b"b", from: b"a" };
    c.handle_datagram(Time::ZERO, addr(3), &datagram(b"d", &[down])).unwrap();
    let sent = drain(&mut c);
    assert_eq!(c.member(b"b").unwrap().state(), MemberState::Alive, "not believed at once");
    ping_seq(&sent);
    let later = run_silent(&mut c, Time::ZERO.saturating_add(450 * MS));
    assert_eq!(c.member(b"b").map(|m| (m.state(), m.incarnation())), Some((MemberState::Down, 2)));
    assert!(later.iter().any(|t| carries(t, |m| matches!(m, Message::Down { id: b"b", incarnation: 2, .. }))));
}
