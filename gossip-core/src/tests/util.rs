//! What the node-level tests share: a seeded generator, addresses, and the crafted
//! datagrams a hand-driven node is fed (quinn's `Pair` style: the test is the network).

use crate::{Node, Time};
use core::net::SocketAddr;

/// The tests' seeded generator: the rand project's ChaCha8, as the adapter, the example and
/// the benchmarks use (the core ships none; the simulator keeps its own SplitMix64).
pub(crate) type TestRng = rand_chacha::ChaCha8Rng;

/// A [`TestRng`] seeded with `seed`: the same seed, the same choices.
pub(crate) fn rng(seed: u64) -> TestRng {
    rand_chacha::rand_core::SeedableRng::seed_from_u64(seed)
}

/// The address of node `i` in its `generation`-th life.
pub(crate) fn addr_of(i: usize, generation: u8) -> SocketAddr {
    SocketAddr::from(([10, generation, (i >> 8) as u8, i as u8], 7946))
}

/// A datagram from `sender` (no cluster name) carrying `messages`.
pub(crate) fn datagram(sender: &[u8], messages: &[crate::wire::Message<'_>]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    crate::wire::Header { cluster: b"", sender }.encode(&mut out);
    for m in messages {
        m.encode(&mut out);
    }
    out.to_vec()
}

/// Makes `node` know `id` at `addr` as a live member, the way a stranger gets in (see
/// `admission.rs`): it announces itself, and answers the ping that checks it. What the
/// node sends meanwhile is dropped.
pub(crate) fn introduce<R: rand_core::RngCore>(node: &mut Node<R>, now: Time, id: &[u8], addr: SocketAddr) {
    let alive = crate::wire::Message::Alive { incarnation: 0, id, addr, meta: b"" };
    node.handle_datagram(now, addr, &datagram(id, &[alive])).unwrap();
    let limits = crate::wire::Limits::default();
    let pings: Vec<u32> = core::iter::from_fn(|| node.poll_transmit())
        .filter(|t| t.dest == addr && !t.reliable)
        .filter_map(|t| {
            let packet = crate::wire::decode(&t.payload, &limits).ok()?;
            packet.messages.iter().find_map(|m| match *m {
                crate::wire::Message::Ping { seq, target } if target == id => Some(seq),
                _ => None,
            })
        })
        .collect();
    for seq in pings {
        node.handle_datagram(now, addr, &datagram(id, &[crate::wire::Message::Ack { seq }])).unwrap();
    }
    while node.poll_transmit().is_some() {}
    assert!(node.member(id).is_some(), "introduced");
}
