//! The probe schedule ([`Config::ring_probes`]): one node driven by hand against peers
//! that answer every ping at once.

use super::util::{datagram, introduce, rng};
use crate::wire::{self, Limits, Message};
use crate::{Config, Identity, Node, Time};
use core::net::SocketAddr;
use core::time::Duration;
use std::collections::BTreeMap;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 5, i as u8 + 1], 7946))
}

fn name(i: usize) -> Vec<u8> {
    format!("member-{i}").into_bytes()
}

/// Node 0 among `n` members for `secs` seconds, every ping acked by its target at once:
/// the moments each member was pinged.
fn pings(config: Config, n: usize, secs: u64) -> BTreeMap<Vec<u8>, Vec<Time>> {
    let mut node = Node::new(config, Identity::new(crate::NodeId::new(name(0)), addr(0)), rng(11)).unwrap();
    let names: Vec<Vec<u8>> = (0..n).map(name).collect();
    let others: Vec<_> =
        (1..n).map(|i| Message::Alive { incarnation: 0, id: &names[i], addr: addr(i), meta: b"" }).collect();
    introduce(&mut node, Time::ZERO, &names[1], addr(1));
    node.handle_datagram(Time::ZERO, addr(1), &datagram(&names[1], &others)).unwrap();
    while node.poll_transmit().is_some() {}
    let mut pinged: BTreeMap<Vec<u8>, Vec<Time>> = BTreeMap::new();
    let end = Time::from_secs(secs);
    while let Some(now) = node.poll_timeout().filter(|&at| at <= end) {
        node.handle_timeout(now);
        let sent: Vec<_> = core::iter::from_fn(|| node.poll_transmit()).collect();
        for t in sent {
            let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
            for m in &packet.messages {
                if let Message::Ping { seq, target } = *m {
                    pinged.entry(target.to_vec()).or_default().push(now);
                    node.handle_datagram(now, t.dest, &datagram(target, &[Message::Ack { seq }])).unwrap();
                }
            }
        }
        while node.poll_transmit().is_some() {}
    }
    pinged
}

// With ring probes a node pings its ring successor every 4/3 probe intervals and walks
// over every other member on the side, one probe per interval in all: the successor is
// never left unprobed for longer than 4/3 intervals (a crash is noticed that soon), and
// no member goes unprobed (the walk does not depend on the ring).
#[test]
fn ring_probes_bound_the_successors_wait_and_still_probe_everyone() {
    let interval = Config::lan(16).probe_interval;
    let pinged = pings(Config::lan(16), 16, 120);
    assert_eq!(pinged.len(), 15, "every member was probed: {:?}", pinged.keys());
    let total: usize = pinged.values().map(Vec::len).sum();
    assert!((118..=122).contains(&total), "{total} probes in 120 s");
    let (successor, times) = pinged.iter().max_by_key(|(_, t)| t.len()).unwrap();
    let longest = times.windows(2).map(|w| w[1].saturating_since(w[0])).max().unwrap();
    assert!(longest <= interval * 4 / 3 + Duration::from_millis(1), "{successor:?} waited {longest:?}");
    assert!(times.len() >= 85, "{successor:?} probed {} times", times.len());
}

// Without ring probes, SWIM's walk alone: one probe per interval, each member in turn.
#[test]
fn without_ring_probes_the_walk_probes_each_member_in_turn() {
    let pinged = pings(Config { ring_probes: false, ..Config::lan(16) }, 16, 120);
    let total: usize = pinged.values().map(Vec::len).sum();
    assert!((118..=122).contains(&total), "{total} probes in 120 s");
    assert!(pinged.values().all(|t| (7..=9).contains(&t.len())), "{pinged:?}");
}
