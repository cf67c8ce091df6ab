//! The outbox: what a node hands the network and the application, and the datagram
//! builder that fills every datagram with queued news up to the MTU.
//!
//! The protocol layers say what to send; the outbox owns the buffers, the three
//! piggyback queues and the order news rides in (membership, then key writes within
//! their budget, then user broadcasts).

mod budget;
mod queue;

pub(crate) use budget::time_for;
pub(crate) use queue::{Dissemination, retransmit_limit};

use crate::config::Config;
use crate::event::{Event, Transmit};
use crate::hashing::Keys;
use crate::identity::NodeId;
use crate::time::Time;
use crate::wire::{Header, Message};
use alloc::collections::VecDeque;
use budget::Budget;
use bytes::{BufMut, Bytes, BytesMut};
use core::net::SocketAddr;

/// Which piggyback queue news goes to, in the order a datagram carries them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Queue {
    /// Membership news: Alive, Suspect, Down, Left.
    Membership,
    /// Replicated key writes.
    Keys,
    /// User broadcasts.
    User,
}

/// Frees the room a drained output queue kept from a burst (a full sync can raise a
/// thousand events at once): a node holds few outputs between polls, and a simulator
/// holds thousands of nodes.
fn release_burst<T>(queue: &mut VecDeque<T>) {
    const KEEP: usize = 64;
    if queue.capacity() > 4 * KEEP {
        queue.shrink_to(KEEP);
    }
}

/// The piggyback queues, one per [`Queue`].
struct Queues {
    membership: Dissemination,
    /// Key writes, apart from membership news (their own subjects: owner and key).
    keys: Dissemination,
    user: Dissemination,
}

impl Queues {
    fn get_mut(&mut self, queue: Queue) -> &mut Dissemination {
        match queue {
            Queue::Membership => &mut self.membership,
            Queue::Keys => &mut self.keys,
            Queue::User => &mut self.user,
        }
    }
}

/// Packets and events waiting to be polled, and the news waiting to ride on packets.
pub(crate) struct Outbox {
    /// Every packet's header (cluster name and sender), encoded once.
    header: Bytes,
    /// The most bytes a datagram holds before sealing ([`Config::packet_budget`]).
    packet_budget: usize,
    /// What key/value traffic may still be sent (see [`Config::kv_bytes_per_sec`]).
    kv_budget: Budget,
    /// The most pieces of news one queue holds ([`Config::max_gossip_queue`]).
    capacity: usize,
    queues: Queues,
    /// Outgoing packets are encoded here and split off, so sending does not allocate per
    /// packet.
    arena: BytesMut,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Outbox {
    pub(crate) fn new(config: &Config, sender: &NodeId, keys: Keys) -> Self {
        let header = Header { cluster: &config.cluster_name, sender: sender.as_bytes() };
        let mut encoded = BytesMut::with_capacity(header.encoded_len());
        header.encode(&mut encoded);
        Outbox {
            header: encoded.freeze(),
            packet_budget: config.packet_budget(),
            kv_budget: Budget::default(),
            capacity: config.max_gossip_queue,
            queues: Queues {
                membership: Dissemination::new(keys),
                keys: Dissemination::new(keys),
                user: Dissemination::new(keys),
            },
            arena: BytesMut::with_capacity(config.mtu * 8),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// One of the piggyback queues.
    #[inline]
    pub(crate) fn queue(&self, queue: Queue) -> &Dissemination {
        match queue {
            Queue::Membership => &self.queues.membership,
            Queue::Keys => &self.queues.keys,
            Queue::User => &self.queues.user,
        }
    }

    /// Whether any queue holds news.
    #[inline]
    pub(crate) fn has_news(&self) -> bool {
        let q = &self.queues;
        !(q.membership.is_empty() && q.keys.is_empty() && q.user.is_empty())
    }

    // ----------------------------------------------------------------------------------
    // Datagrams

    /// Starts a datagram: its header. Encode its own messages into the returned buffer,
    /// then call [`Outbox::finish_datagram`].
    #[inline]
    pub(crate) fn start_datagram(&mut self) -> &mut BytesMut {
        self.arena.reserve(self.packet_budget);
        self.arena.put_slice(&self.header);
        &mut self.arena
    }

    /// The bytes a datagram holds after its header.
    #[inline]
    pub(crate) fn datagram_room(&self) -> usize {
        self.packet_budget.saturating_sub(self.header.len())
    }

    /// Fills the datagram started with queued news, and queues it for `dest` unless it
    /// carries nothing (`primary`: it holds a message of its own). News sent `limit` times
    /// is retired. Key writes pay the key/value budget (of `kv_rate` bytes a second) at
    /// `now`, and may only use its upper half: the lower half is kept for owner pushes and
    /// syncs, which carry only what their receiver lacks (a busy or large state would
    /// otherwise go all to gossip, where every node relays every write, mostly to members
    /// that already have it). Returns the bytes of key writes it carries.
    #[inline]
    pub(crate) fn finish_datagram(
        &mut self,
        dest: SocketAddr,
        primary: bool,
        limit: u32,
        now: Time,
        kv_rate: usize,
    ) -> usize {
        let kv_room = self.kv_budget.room(now, kv_rate).saturating_sub(kv_rate / 2);
        // `Config::validate` guarantees a header and the primary messages fit the MTU.
        let arena = &mut self.arena;
        let mut piggybacked = 0;
        let mut kv_spent = 0;
        let q = &mut self.queues;
        for (queue, is_kv) in [(&mut q.membership, false), (&mut q.keys, true), (&mut q.user, false)] {
            let before = arena.len();
            let room = self.packet_budget.saturating_sub(before);
            piggybacked += queue.fill(arena, if is_kv { room.min(kv_room) } else { room }, limit);
            if is_kv {
                kv_spent = arena.len() - before;
            }
        }
        if !primary && piggybacked == 0 {
            arena.clear();
            return 0;
        }
        let payload = arena.split().freeze();
        self.transmits.push_back(Transmit { dest, payload, reliable: false });
        self.kv_budget.spend(now, kv_rate, kv_spent);
        kv_spent
    }

    /// How many key/value bytes the budget of `rate` bytes a second lets this node send
    /// at `now`.
    #[inline]
    pub(crate) fn kv_room(&self, now: Time, rate: usize) -> usize {
        self.kv_budget.room(now, rate)
    }

    /// Records `bytes` of key/value traffic sent at `now` against the budget.
    #[inline]
    pub(crate) fn kv_spend(&mut self, now: Time, rate: usize, bytes: usize) {
        self.kv_budget.spend(now, rate, bytes);
    }

    /// Sends `message` alone in a datagram to `dest` (no piggybacked news), if `budget`
    /// has room for it, which it then takes; otherwise sends nothing and returns false.
    #[inline]
    pub(crate) fn send_bare(&mut self, dest: SocketAddr, message: &Message<'_>, budget: Option<&mut usize>) -> bool {
        message.encode(self.start_datagram());
        let len = self.arena.len();
        if let Some(budget) = budget {
            if len > *budget {
                self.arena.clear();
                return false;
            }
            *budget -= len;
        }
        let payload = self.arena.split().freeze();
        self.transmits.push_back(Transmit { dest, payload, reliable: false });
        true
    }

    // ----------------------------------------------------------------------------------
    // Stream frames

    /// A stream frame's buffer with the header in it, room for `body` more bytes.
    #[inline]
    pub(crate) fn start_frame(&self, body: usize) -> BytesMut {
        let mut out = BytesMut::with_capacity(self.header.len() + body);
        out.put_slice(&self.header);
        out
    }

    /// Queues a frame begun with [`Outbox::start_frame`] for a stream to `dest`.
    #[inline]
    pub(crate) fn send_frame(&mut self, dest: SocketAddr, frame: BytesMut) {
        self.transmits.push_back(Transmit { dest, payload: frame.freeze(), reliable: true });
    }

    /// Queues `message` alone, after the header, as one frame on a stream to `dest`.
    pub(crate) fn send_stream(&mut self, dest: SocketAddr, message: &Message<'_>) {
        let mut frame = self.start_frame(message.encoded_len());
        message.encode(&mut frame);
        self.send_frame(dest, frame);
    }

    // ----------------------------------------------------------------------------------
    // News

    /// Queues `message` about `subject` on `queue`, replacing older news about it, as if
    /// sent `sent` times and due `extra` sends beyond the limit (see
    /// [`Dissemination::push`]). Returns whether the full queue dropped a piece of news.
    #[inline]
    pub(crate) fn push_news(
        &mut self,
        queue: Queue,
        subject: NodeId,
        message: &Message<'_>,
        sent: u32,
        extra: u32,
    ) -> bool {
        let start = self.arena.len();
        message.encode(&mut self.arena);
        let dropped = self.queues.get_mut(queue).push(subject, &self.arena[start..], self.capacity, sent, extra);
        self.arena.truncate(start);
        dropped
    }

    /// Like [`Outbox::push_news`], with the message already encoded.
    pub(crate) fn push_encoded(&mut self, queue: Queue, subject: NodeId, message: &[u8]) -> bool {
        self.queues.get_mut(queue).push(subject, message, self.capacity, 0, 0)
    }

    /// Membership news about `subject` we hold queued came from elsewhere too (see
    /// [`Dissemination::heard_again`]).
    #[inline]
    pub(crate) fn heard_again(&mut self, subject: &[u8], message: &Message<'_>, limit: u32) {
        let start = self.arena.len();
        message.encode(&mut self.arena);
        self.queues.membership.heard_again(subject, &self.arena[start..], limit);
        self.arena.truncate(start);
    }

    // ----------------------------------------------------------------------------------
    // Events and polling

    /// Raises an event for the application.
    #[inline]
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// The next packet queued, unsealed.
    #[inline]
    pub(crate) fn pop_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front();
        if t.is_none() {
            release_burst(&mut self.transmits);
        }
        t
    }

    /// The next event queued.
    #[inline]
    pub(crate) fn pop_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() {
            release_burst(&mut self.events);
        }
        event
    }
}
