//! Typed messages between real nodes on 127.0.0.1, in both codecs: direct (datagram and
//! stream) and broadcast round trips, and a payload of the wrong type, a malformed envelope
//! and an unknown tag each dropped and counted, never a panic. Every wait has a deadline.

use gossip_tokio::gossip_core::{Config, NodeId};
use gossip_tokio::{Cluster, Codec, Options, TransportCounts, TypedMessage};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    express: bool,
}
impl TypedMessage for Order {
    const TAG: &'static str = "shop.order.v1";
}

/// The same tag with another shape: what a peer running an incompatible version sends.
#[derive(Serialize, Deserialize)]
struct WrongOrder {
    id: String,
}
impl TypedMessage for WrongOrder {
    const TAG: &'static str = "shop.order.v1";
}

#[derive(Serialize, Deserialize)]
struct Unknown(u8);
impl TypedMessage for Unknown {
    const TAG: &'static str = "nobody.listens";
}

async fn pair(codec: Codec) -> (Cluster, Cluster) {
    let start = |name: &str| {
        let mut options = Options::new(Config::local(2), name, "127.0.0.1:0".parse().unwrap());
        options.codec = codec;
        Cluster::start(options)
    };
    let (alpha, beta) = (start("alpha").await.unwrap(), start("beta").await.unwrap());
    alpha.join(Vec::<String>::new()).await.unwrap();
    beta.join([alpha.local_addr().to_string()]).await.unwrap();
    (alpha, beta)
}

/// Waits until `alpha`'s transport counters satisfy `want`.
async fn counts(alpha: &Cluster, want: impl Fn(&TransportCounts) -> bool) -> TransportCounts {
    let found = timeout(WAIT, async {
        loop {
            let (_, t) = alpha.stats().await.unwrap();
            if want(&t) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    found.await.expect("the counters reached the expected values")
}

async fn round_trip(codec: Codec) {
    let (alpha, beta) = pair(codec).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(NodeId, Order)>();
    alpha.on::<Order>(move |from, order| {
        let _ = tx.send((from, order));
    });
    let order = |id| Order { id, items: vec!["tea".into(), "茶".into()], express: id % 2 == 0 };
    // The member may not be known to beta for a moment after the join: retry the first send.
    timeout(WAIT, async {
        while beta.send_typed("alpha", &order(1), false).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("beta knows alpha");
    beta.send_typed("alpha", &order(2), true).await.unwrap();
    beta.broadcast_typed(&order(3)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let (from, o) = timeout(WAIT, rx.recv()).await.expect("every order arrives").unwrap();
        assert_eq!(from.as_bytes(), b"beta");
        got.push(o);
    }
    got.sort_by_key(|o| o.id);
    assert_eq!(got, [order(1), order(2), order(3)], "{codec:?}");

    // Wrong type under the tag, a malformed envelope, a tag nobody handles, a plain payload.
    beta.send_typed("alpha", &WrongOrder { id: "x".into() }, true).await.unwrap();
    beta.send_to("alpha", &b"\0\x01\x01\x40short"[..], true).await.unwrap();
    beta.send_typed("alpha", &Unknown(7), true).await.unwrap();
    beta.send_to("alpha", "plain text, not typed", true).await.unwrap();
    let t = counts(&alpha, |t| t.typed_undecodable >= 2 && t.typed_unhandled >= 1).await;
    assert_eq!((t.typed_delivered, t.typed_undecodable, t.typed_unhandled), (3, 2, 1), "{codec:?}: {t:?}");
    // Still working after the garbage.
    beta.send_typed("alpha", &order(4), true).await.unwrap();
    let (_, o) = timeout(WAIT, rx.recv()).await.expect("the next order arrives").unwrap();
    assert_eq!(o, order(4));
    alpha.shutdown().await;
    beta.shutdown().await;
}

#[tokio::test]
async fn json_messages_round_trip_and_bad_ones_are_counted() {
    round_trip(Codec::Json).await;
}

#[tokio::test]
async fn msgpack_messages_round_trip_and_bad_ones_are_counted() {
    round_trip(Codec::MessagePack).await;
}

#[tokio::test]
async fn a_receiver_decodes_either_codec() {
    let (alpha, beta) = pair(Codec::Json).await;
    let mut options = Options::new(Config::local(3), "gamma", "127.0.0.1:0".parse().unwrap());
    options.codec = Codec::MessagePack;
    let gamma = Cluster::start(options).await.unwrap();
    gamma.join([alpha.local_addr().to_string()]).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<NodeId>();
    alpha.on::<Order>(move |from, _| {
        let _ = tx.send(from);
    });
    let order = Order { id: 9, items: vec![], express: false };
    beta.broadcast_typed(&order).await.unwrap();
    gamma.broadcast_typed(&order).await.unwrap();
    let mut from =
        vec![timeout(WAIT, rx.recv()).await.unwrap().unwrap(), timeout(WAIT, rx.recv()).await.unwrap().unwrap()];
    from.sort();
    assert_eq!(from, [NodeId::from("beta"), NodeId::from("gamma")]);
    for c in [alpha, beta, gamma] {
        c.shutdown().await;
    }
}

#[tokio::test]
async fn a_panicking_handler_loses_one_message_only() {
    let (alpha, beta) = pair(Codec::MessagePack).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    alpha.on::<Order>(move |_, order| {
        assert!(order.id != 13, "the handler's own bug");
        let _ = tx.send(order.id);
    });
    timeout(WAIT, async {
        while beta.send_typed("alpha", &Order { id: 13, items: vec![], express: true }, true).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("beta knows alpha");
    beta.send_typed("alpha", &Order { id: 14, items: vec![], express: true }, true).await.unwrap();
    assert_eq!(timeout(WAIT, rx.recv()).await.expect("the next message is handled"), Some(14));
    alpha.shutdown().await;
    beta.shutdown().await;
}
