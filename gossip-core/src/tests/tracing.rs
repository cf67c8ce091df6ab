//! Feature `tracing`: the node reports what it hands out and what it refuses, and does
//! exactly the same with a subscriber as without.

use super::util::{addr_of, datagram, introduce, rng};
use crate::wire::Message;
use crate::{Config, Identity, Node, Time};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the message of every event.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<String>>>);

impl Visit for Messages {
    fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
        if field.name() == "message" {
            self.0.lock().unwrap().push(format!("{value:?}"));
        }
    }
}

impl Subscriber for Messages {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut self.clone());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A node that meets a member, refuses garbage and a stranger's accusation, and runs its
/// timers for a few seconds: everything it sent and raised.
fn run() -> Vec<Vec<u8>> {
    let mut node = Node::new(Config::lan(8), Identity::new("a", addr_of(0, 0)), rng(3)).unwrap();
    node.join(Time::ZERO, &[]).unwrap();
    introduce(&mut node, Time::ZERO, b"b", addr_of(1, 0));
    let _ = node.handle_datagram(Time::ZERO, addr_of(1, 0), &[1, 2, 3]);
    let accusation = Message::Suspect { incarnation: 0, id: b"b", from: b"mallory" };
    node.handle_datagram(Time::ZERO, addr_of(9, 0), &datagram(b"mallory", &[accusation])).unwrap();
    let mut out = Vec::new();
    while let Some(at) = node.poll_timeout().filter(|t| *t < Time::from_secs(5)) {
        node.handle_timeout(at);
        out.extend(core::iter::from_fn(|| node.poll_transmit()).map(|t| t.payload.to_vec()));
        out.extend(core::iter::from_fn(|| node.poll_event()).map(|e| format!("{e:?}").into_bytes()));
    }
    out
}

#[test]
fn events_and_refusals_are_traced_and_change_nothing() {
    let messages = Messages::default();
    let traced = tracing::subscriber::with_default(messages.clone(), run);
    assert_eq!(traced, run(), "the same outputs with a subscriber as without");
    let seen = messages.0.lock().unwrap().clone();
    for what in ["event", "packet refused", "a stranger's message refused"] {
        assert!(seen.iter().any(|m| m == what), "no {what:?} in {seen:?}");
    }
}
