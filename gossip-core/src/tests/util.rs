//! What the node-level tests share: a seeded generator, addresses, and the crafted
//! datagrams a hand-driven node is fed (quinn's `Pair` style: the test is the network).

use crate::{Node, Time};
use core::net::SocketAddr;
use rand_core::RngCore;

/// SplitMix64: a tiny seeded generator for nodes and the network.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix(pub u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
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
