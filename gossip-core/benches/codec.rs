//! Hot-path costs: a ping handled into an ack, and a full-MTU gossip packet of fresh news
//! encoded, decoded and applied. `cargo bench -p gossip-core`.

use bytes::BytesMut;
use core::net::SocketAddr;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use gossip_core::wire::{self, Header, Limits, Message, Packet};
use gossip_core::{Config, Identity, Member, Node, NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const MEMBERS: usize = 200;

fn name(i: usize) -> NodeId {
    NodeId::from(format!("node-{i}"))
}

fn addr_of(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 7946))
}

/// A started node ("node-0") that knows `MEMBERS` others, with its news queue drained.
/// Each member gets in as a real one does: it announces itself, and answers the ping
/// that checks it.
fn populated_node() -> Node<ChaCha8Rng> {
    let mut node =
        Node::new(Config::lan(MEMBERS), Identity::new(name(0), addr_of(0)), ChaCha8Rng::seed_from_u64(1)).unwrap();
    node.join(Time::ZERO, &[]).unwrap();
    for i in 1..=MEMBERS {
        let id = name(i);
        let alive = Message::Alive { incarnation: 1, id: id.as_bytes(), addr: addr_of(i), meta: b"" };
        node.handle_datagram(Time::ZERO, addr_of(i), &packet(i, &[alive])).unwrap();
        let checks: Vec<u32> = core::iter::from_fn(|| node.poll_transmit())
            .filter_map(|t| {
                let packet = wire::decode(&t.payload, &Limits::default()).ok()?;
                packet.messages.iter().find_map(|m| match *m {
                    Message::Ping { seq, .. } => Some(seq),
                    _ => None,
                })
            })
            .collect();
        for seq in checks {
            node.handle_datagram(Time::ZERO, addr_of(i), &packet(i, &[Message::Ack { seq }])).unwrap();
        }
    }
    assert_eq!(node.live_members(), MEMBERS, "every member got in");
    // Drain the join news by handling pings until every piece was sent its budget.
    let ping = packet(1, &[Message::Ping { seq: 1, target: name(0).as_bytes() }]);
    while node.pending_news() > 0 {
        node.handle_datagram(Time::ZERO, addr_of(1), &ping).unwrap();
        while node.poll_transmit().is_some() {}
    }
    while node.poll_event().is_some() {}
    node
}

fn packet(sender: usize, messages: &[Message<'_>]) -> Vec<u8> {
    let sender = name(sender);
    let p = Packet {
        header: Header { cluster: b"", sender: sender.as_bytes() },
        messages: messages.iter().copied().collect(),
    };
    let mut out = BytesMut::with_capacity(p.encoded_len());
    p.encode(&mut out);
    out.to_vec()
}

fn ping_to_ack(c: &mut Criterion) {
    let mut node = populated_node();
    let from: SocketAddr = addr_of(1);
    let ping = packet(1, &[Message::Ping { seq: 7, target: name(0).as_bytes() }]);
    c.bench_function("ping -> ack (decode + handle + encode)", |b| {
        b.iter(|| {
            node.handle_datagram(Time::ZERO, from, black_box(&ping)).unwrap();
            black_box(node.poll_transmit().unwrap())
        })
    });
}

fn full_mtu_gossip(c: &mut Criterion) {
    let mut node = populated_node();
    let from: SocketAddr = addr_of(1);
    let ids: Vec<NodeId> = (1..=MEMBERS).map(name).collect();
    let mut incarnation = 1u32;
    let mut fitting = 0;
    c.bench_function("full-MTU gossip packet of fresh Alive news (encode + decode + apply)", |b| {
        b.iter(|| {
            incarnation += 1;
            let sender = name(1);
            let mut p =
                Packet { header: Header { cluster: b"", sender: sender.as_bytes() }, messages: Default::default() };
            for (i, id) in ids.iter().enumerate() {
                let m = Message::Alive { incarnation, id: id.as_bytes(), addr: addr_of(i + 1), meta: b"" };
                if p.encoded_len() + m.encoded_len() > 1400 {
                    break;
                }
                p.messages.push(m);
            }
            fitting = p.messages.len();
            let mut out = BytesMut::with_capacity(1400);
            p.encode(&mut out);
            node.handle_datagram(Time::ZERO, from, black_box(&out)).unwrap();
            while node.poll_event().is_some() {}
        })
    });
    eprintln!("full-MTU packet carried {fitting} Alive messages");
    eprintln!(
        "size_of::<Member>() = {} bytes (plus the buffers of an id over NodeId::INLINE bytes and of metadata)",
        core::mem::size_of::<Member>()
    );
}

criterion_group!(benches, ping_to_ack, full_mtu_gossip);
criterion_main!(benches);
