//! The phi-accrual detector ([`Detector::Phi`]) in a live node: one node driven by hand
//! against scripted peers. (A phi cluster under loss: gossip-sim's tests/protocol.)

use super::util::{datagram, rng};
use crate::wire::{self, Limits, Message};
use crate::{Config, Detector, Event, Identity, Node, Time};
use core::net::SocketAddr;
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 3, i], 7946))
}

/// What a node did with its first unanswered probe.
#[derive(Debug)]
struct Outcome {
    /// The wait for a direct ack at the start, and for the first unanswered ping.
    timeout_before: Duration,
    timeout_after: Duration,
    /// From the unanswered ping to its ping-reqs, and to the suspicion of its target.
    ping_req_after: Duration,
    suspect_after: Duration,
}

/// Node `a` knows `b`, `c` and `d`. Its first `answered` pings are acked after `rtt`
/// (from the pinged member's address, or with `relayed` from a helper's), then nothing
/// answers; the outcome says when the node asked helpers and when it suspected.
fn drive(detector: Detector, answered: usize, rtt: Duration, relayed: bool) -> Outcome {
    // memberlist's 500 ms probe timeout: the half of the probe interval it leaves the
    // helpers is where phi's shorter waits show.
    let config = Config { detector, probe_timeout: 500 * MS, ..Config::lan(10) };
    let mut node = Node::new(config, Identity::new("a", addr(1)), rng(7)).unwrap();
    let mut now = Time::ZERO;
    let alive = |id: &'static [u8], i: u8| Message::Alive { incarnation: 0, id, addr: addr(i), meta: b"" };
    let hello = datagram(b"b", &[alive(b"b", 2), alive(b"c", 3), alive(b"d", 4)]);
    super::util::introduce(&mut node, now, b"b", addr(2));
    node.handle_datagram(now, addr(2), &hello).unwrap();
    let timeout_before = node.direct_ack_timeout();
    let (mut acks, mut pings) = (Vec::<(Time, SocketAddr, Vec<u8>)>::new(), 0);
    let (mut silent_since, mut ping_req_at, mut timeout_after) = (None, None, Duration::ZERO);
    while now < Time::from_secs(60) {
        while let Some(t) = node.poll_transmit() {
            let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
            for m in packet.messages.iter() {
                match *m {
                    Message::Ping { seq, target } if pings < answered => {
                        pings += 1;
                        let from = if relayed { addr(9) } else { t.dest };
                        acks.push((now.saturating_add(rtt), from, datagram(target, &[Message::Ack { seq }])));
                    }
                    Message::Ping { .. } if silent_since.is_none() => {
                        silent_since = Some(now);
                        timeout_after = node.direct_ack_timeout();
                    }
                    Message::PingReq { .. } if silent_since.is_some() && ping_req_at.is_none() => {
                        ping_req_at = Some(now)
                    }
                    _ => {}
                }
            }
        }
        while let Some(e) = node.poll_event() {
            if let (Event::MemberSuspect { .. }, Some(since), Some(req)) = (&e, silent_since, ping_req_at) {
                return Outcome {
                    timeout_before,
                    timeout_after,
                    ping_req_after: req.saturating_since(since),
                    suspect_after: now.saturating_since(since),
                };
            }
        }
        let timer = node.poll_timeout().unwrap();
        match acks.first() {
            Some((at, _, _)) if *at <= timer => {
                let (at, from, bytes) = acks.remove(0);
                now = at;
                node.handle_datagram(now, from, &bytes).unwrap();
            }
            _ => {
                now = timer;
                node.handle_timeout(now);
            }
        }
    }
    panic!("{detector:?}: no suspicion within 60 s");
}

// With phi and 2 ms round trips, a silent member gets its ping-reqs after the phi timeout
// (2 ms + z(8) * 20 ms, the minimum std), not after the 500 ms probe_timeout, and is
// suspected once the helpers had twice that: a third of the probe interval. SWIM waits
// 500 ms, and as long again for the helpers.
#[test]
fn phi_asks_helpers_and_suspects_long_before_swim() {
    let phi = drive(Detector::Phi, 12, 2 * MS, false);
    assert_eq!(phi.timeout_before, 500 * MS, "too few samples yet: SWIM's timeout");
    let t = Duration::from_nanos(2_000_000 + ((367_788 * 20_000_000) >> 16));
    assert_eq!(phi.timeout_after, t, "{phi:?}");
    assert_eq!(phi.ping_req_after, t, "{phi:?}");
    assert_eq!(phi.suspect_after, 3 * t, "{phi:?}");
    assert!(phi.suspect_after < 350 * MS);

    let swim = drive(Detector::Swim, 12, 2 * MS, false);
    assert_eq!((swim.timeout_before, swim.timeout_after), (500 * MS, 500 * MS));
    assert_eq!(swim.ping_req_after, 500 * MS, "{swim:?}");
    assert_eq!(swim.suspect_after, 1000 * MS, "{swim:?}");
}

// Slower round trips stretch phi's waits, and long ones fall back to SWIM's timing: the
// direct wait is at most half the probe interval, the whole probe at most all of it.
#[test]
fn phi_waits_follow_the_round_trips() {
    let slow = drive(Detector::Phi, 12, 150 * MS, false);
    assert_eq!(slow.ping_req_after, Duration::from_nanos(150_000_000 + ((367_788 * 20_000_000) >> 16)));
    let long = drive(Detector::Phi, 12, 450 * MS, false);
    assert_eq!((long.ping_req_after, long.suspect_after), (500 * MS, 1000 * MS), "{long:?}");
}

// Only direct acks are round-trip samples: acks that come from elsewhere (through a
// helper) leave the window empty, and the node keeps SWIM's timeouts.
#[test]
fn relayed_acks_are_not_samples() {
    let relayed = drive(Detector::Phi, 12, 2 * MS, true);
    assert_eq!(relayed.timeout_after, 500 * MS, "{relayed:?}");
    assert_eq!((relayed.ping_req_after, relayed.suspect_after), (500 * MS, 1000 * MS));
}
