//! [`Node`]: one member's protocol state machine and its public API.

use crate::config::Config;
use crate::error::{CommandError, ConfigError, RecvError};
use crate::event::{Event, Transmit};
use crate::hashing::Keys;
use crate::identity::{Identity, MemberInfo, MemberState, NodeId};
use crate::membership::admission::taken_from_stranger;
use crate::membership::members::{Member, warm_batches};
use crate::membership::probe::Lane;
use crate::membership::timer::TimerKind;
use crate::membership::{Accusation, Membership};
use crate::messages::{self, Messages};
use crate::outbox::{Outbox, Queue};
use crate::state::State;
use crate::stats::Stats;
use crate::sync::{SyncPart, Syncing};
use crate::time::Time;
use crate::wire::{self, Limits, Message};
use alloc::borrow::Cow;
use bytes::Bytes;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;
use smallvec::SmallVec;

mod sync;

/// Largest datagram accepted from the network, bytes.
const MAX_DATAGRAM: usize = 65_535;

/// One cluster member's view of the cluster: a deterministic state machine with no I/O.
///
/// Methods, by kind (quinn's taxonomy):
/// - **getters** (`&self`): [`members`](Node::members), [`member`](Node::member),
///   [`local`](Node::local), [`stats`](Node::stats), [`config`](Node::config).
/// - **inputs** (`handle_*`, each with the current [`Time`]): [`handle_datagram`](Node::handle_datagram),
///   [`handle_stream`](Node::handle_stream), [`handle_timeout`](Node::handle_timeout).
/// - **commands**: [`join`](Node::join), [`leave`](Node::leave).
/// - **outputs** (`poll_*`, safe to call at any time): [`poll_transmit`](Node::poll_transmit),
///   [`poll_event`](Node::poll_event), [`poll_timeout`](Node::poll_timeout).
///
/// After every input or command, drain transmits, then events, then read the next
/// deadline, and call [`handle_timeout`](Node::handle_timeout) when it passes.
pub struct Node<R> {
    pub(crate) config: Config,
    pub(crate) limits: Limits,
    pub(crate) rng: R,
    /// The latest time seen; earlier `now`s are clamped to it.
    pub(crate) clock: Time,
    /// Whether the periodic timers run (from the first call that passes a time).
    pub(crate) started: bool,
    /// Who is in the cluster, in what state, and the probes and checks that find out.
    pub(crate) membership: Membership,
    /// What goes out: packets, events, and the news queued to ride on packets.
    pub(crate) outbox: Outbox,
    /// Broadcasts and direct messages.
    pub(crate) messages: Messages,
    /// When the next gossip round sends the queued news.
    pub(crate) next_gossip: Time,
    /// Joining and full-state syncs.
    pub(crate) sync: Syncing,
    /// Replicated key/value state: ours and every other owner's, as far as we know it.
    pub(crate) state: State,
    pub(crate) stats: Stats,
}

impl<R: RngCore> Node<R> {
    /// Builds a node that is not yet part of any cluster.
    ///
    /// `rng` is the node's only source of randomness (probe order, helpers, gossip
    /// targets): seed it yourself and the node's outputs are reproducible. The node's
    /// timers start with the first call that passes a time, usually [`Node::join`].
    pub fn new(config: Config, identity: Identity, mut rng: R) -> Result<Self, ConfigError> {
        config.validate()?;
        let id_len = identity.id.as_bytes().len();
        if id_len == 0 || id_len > config.max_id_len {
            return Err(ConfigError::IdLength);
        }
        if identity.meta.len() > config.max_meta_len {
            return Err(ConfigError::MetaTooLong);
        }
        let keys = Keys::from_rng(&mut rng);
        Ok(Node {
            limits: config.decode_limits(),
            outbox: Outbox::new(&config, &identity.id, keys),
            state: State::new(&config, &identity),
            config,
            membership: Membership::new(identity, keys),
            rng,
            clock: Time::ZERO,
            started: false,
            messages: Messages::new(keys),
            next_gossip: Time::MAX,
            sync: Syncing::default(),
            stats: Stats::default(),
        })
    }

    // ----------------------------------------------------------------------------------
    // Getters

    /// Every member this node knows, itself first, then the others as [`Node::peers`]
    /// lists them: the cluster as this node sees it (memberlist's `Members`, and
    /// `gossip_tokio::Cluster::members`).
    pub fn members(&self) -> impl Iterator<Item = MemberInfo> + '_ {
        core::iter::once(self.local()).chain(self.peers().map(Member::info))
    }

    /// Every other member this node knows, tombstones (Down, Left) included, in table
    /// order (stable for a given history; not sorted).
    pub fn peers(&self) -> impl Iterator<Item = &Member> {
        self.membership.members.iter().map(|(_, m)| m)
    }

    /// What this node knows about `id`, if anything.
    pub fn member(&self, id: &[u8]) -> Option<&Member> {
        self.membership.members.by_id(id)
    }

    /// The value of `key` in `owner`'s state, as far as this node knows it (`owner` may be
    /// this node's own id).
    pub fn get(&self, owner: &[u8], key: &[u8]) -> Option<&[u8]> {
        self.state.store.get(owner, key)
    }

    /// `owner`'s keys and values as this node knows them, in key order.
    pub fn keys(&self, owner: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.state.store.entries(owner)
    }

    /// Members currently Alive or Suspect, this node excluded.
    pub fn live_members(&self) -> usize {
        self.membership.members.live()
    }

    /// The latest time this node was given (in any input or command; `Time::ZERO` before
    /// the first).
    pub fn now(&self) -> Time {
        self.clock
    }

    /// This node as others should see it.
    pub fn local(&self) -> MemberInfo {
        self.membership.local()
    }

    /// The round trips of the direct acks to this node's probes since the last call, at
    /// most the latest 64: what an adapter records as a histogram. Leaving them is free.
    pub fn drain_probe_rtts(&mut self) -> impl Iterator<Item = Duration> + '_ {
        self.membership.prober.recent_rtts.drain(..)
    }

    /// Running counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The settings the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The keyring, to rotate keys while running (add a key everywhere, make it primary
    /// everywhere, then remove the old one); `None` when this node does not encrypt.
    #[cfg(feature = "encryption")]
    pub fn keyring_mut(&mut self) -> Option<&mut crate::seal::Keyring> {
        self.config.keyring.as_mut()
    }

    /// Pieces of membership news waiting to be piggybacked.
    pub fn pending_news(&self) -> usize {
        self.outbox.queue(Queue::Membership).len()
    }

    /// How long this node now waits for a direct ack before asking helpers, local health's
    /// stretch included: `probe_timeout`, or with [`Detector::Phi`](crate::Detector::Phi)
    /// (once `phi_min_samples` round trips are known) the phi timeout of the measured RTTs.
    pub fn direct_ack_timeout(&self) -> Duration {
        self.membership.direct_ack_timeout(&self.config)
    }

    /// Lifeguard's local health score: 0 when healthy; probe timing is stretched by
    /// `score + 1`.
    pub fn local_health(&self) -> u32 {
        self.membership.health.score()
    }

    // ----------------------------------------------------------------------------------
    // Commands

    /// Starts the node and joins the cluster through `seeds` (addresses of any members).
    ///
    /// Sends each seed this node's state over a reliable stream and asks for theirs; the
    /// first answer raises [`Event::Joined`]. While no member is known, the seeds are
    /// retried every `join_retry_interval`. With no seeds, the node starts a new cluster
    /// and waits to be joined. Calling it again adds seeds and retries.
    pub fn join(&mut self, now: Time, seeds: &[SocketAddr]) -> Result<(), CommandError> {
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        let now = self.observe(now);
        self.sync.add_seeds(self.membership.identity.addr, seeds);
        self.contact_seeds(now);
        Ok(())
    }

    /// Replaces this node's metadata. The change spreads like a refutation, with a new
    /// incarnation, and every member reports [`Event::MemberUpdated`]; the same metadata
    /// again changes nothing.
    pub fn set_meta(&mut self, now: Time, meta: impl Into<Bytes>) -> Result<(), CommandError> {
        let meta = meta.into();
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.observe(now);
        if meta.len() > self.config.max_meta_len {
            return Err(CommandError::MetaTooLong { len: meta.len() });
        }
        if meta != self.membership.identity.meta {
            let m = &mut self.membership;
            m.identity.meta = meta;
            m.incarnation = crate::membership::incarnation::next(m.incarnation);
            m.announce_self(&mut shared!(self), None);
        }
        Ok(())
    }

    /// Leaves the cluster gracefully: every member will see this node as Left.
    ///
    /// The notice rides on the next gossip rounds. Keep driving the node (transmits and
    /// timeouts) until [`Node::poll_timeout`] returns `None`: by then the notice has been
    /// sent its full retransmit budget and the node can be dropped. From now on the node
    /// takes no input: every packet is refused with [`RecvError::Left`].
    pub fn leave(&mut self, now: Time) -> Result<(), CommandError> {
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.observe(now);
        self.membership.left = true;
        self.membership.prober.abandon();
        self.sync.stop_joining();
        let (me, incarnation) = (self.membership.identity.id.clone(), self.membership.incarnation);
        self.membership.enqueue_news(&mut shared!(self), &me, &Message::Left { incarnation, id: me.as_bytes() });
        self.gossip_round();
        Ok(())
    }

    /// Sends `payload` to every member: each delivers it once, as [`Event::Broadcast`], and
    /// passes it on. At most [`Config::max_value_len`] bytes. A broadcast small enough to
    /// ride on a datagram beside the largest membership message is piggybacked on gossip;
    /// a larger one travels over streams, to as many members as a piggybacked one gets
    /// sends, each passing it on the same way once: nothing is ever sent over the MTU.
    pub fn broadcast(&mut self, now: Time, payload: impl Into<Bytes>) -> Result<(), CommandError> {
        self.broadcast_keyed(now, Bytes::new(), payload)
    }

    /// Like [`Node::broadcast`], with an invalidation key: a newer broadcast of this node
    /// with the same key replaces the older wherever it still waits to be sent (a large
    /// broadcast, sent at once, is never replaced).
    pub fn broadcast_keyed(
        &mut self,
        now: Time,
        key: impl Into<Bytes>,
        payload: impl Into<Bytes>,
    ) -> Result<(), CommandError> {
        let (key, payload) = (key.into(), payload.into());
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.observe(now);
        let m = &self.membership;
        self.messages.broadcast(&mut shared!(self), &m.members, &m.identity, &key, &payload)
    }

    /// Sends `payload` to the member `to` alone: over a stream if `reliable` (delivered
    /// unless the member is down), else in one datagram (best effort), or over a stream
    /// anyway when it does not fit one. The member reports [`Event::Message`].
    pub fn send_to(
        &mut self,
        now: Time,
        to: &[u8],
        payload: impl Into<Bytes>,
        reliable: bool,
    ) -> Result<(), CommandError> {
        let payload = payload.into();
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.observe(now);
        let Some(dest) = self.membership.members.by_id(to).map(|m| m.addr()) else {
            return Err(CommandError::UnknownMember);
        };
        let message = Message::UserMessage { payload: &payload };
        messages::check_size(&self.config, payload.len(), &message)?;
        if reliable || message.encoded_len() > self.config.max_message_len() {
            self.outbox.send_stream(dest, &message);
        } else {
            self.send(dest, &[message]);
        }
        Ok(())
    }

    /// Sets `key` to `value` in this node's replicated state. Every member learns it
    /// through syncs and reports [`Event::KeyChanged`]; setting the current value again
    /// changes nothing.
    pub fn set(&mut self, now: Time, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<(), CommandError> {
        self.set_expiring(now, key.into(), value.into(), None)
    }

    /// Like [`Node::set`], and this node deletes the key `ttl` after `now` (every member
    /// then sees it deleted, as for [`Node::delete`]). Setting the key again, with or
    /// without a time to live, replaces the expiry; the same value with a new `ttl` only
    /// moves it. The owner expires its keys, so a key of a node that crashes lives on in
    /// the replicas until the member is forgotten (`reclaim_after`).
    pub fn set_with_ttl(
        &mut self,
        now: Time,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(), CommandError> {
        self.set_expiring(now, key.into(), value.into(), Some(ttl))
    }

    fn set_expiring(&mut self, now: Time, key: Bytes, value: Bytes, ttl: Option<Duration>) -> Result<(), CommandError> {
        self.observe(now);
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.state.set(&mut shared!(self), key, value, ttl)
    }

    /// Deletes `key` from this node's replicated state (a no-op if it is not set).
    pub fn delete(&mut self, now: Time, key: impl Into<Bytes>) -> Result<(), CommandError> {
        self.observe(now);
        if self.membership.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.state.delete(&mut shared!(self), key.into())
    }

    // ----------------------------------------------------------------------------------
    // Inputs

    /// A datagram arrived from `from`.
    ///
    /// On `Err` the packet was dropped whole, no state changed (not the clock, the timers
    /// or the random generator either), and the cause was counted in [`Stats::drops`].
    /// Either way, drain the outputs afterwards.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, data: &[u8]) -> Result<(), RecvError> {
        self.receive(now, from, data, MAX_DATAGRAM)
    }

    /// One frame arrived over a reliable stream from `from` (a push-pull, typically).
    ///
    /// The frame is what a peer's [`Transmit`] with `reliable: true` carried, without any
    /// length prefix the transport added. Errors as for [`Node::handle_datagram`].
    pub fn handle_stream(&mut self, now: Time, from: SocketAddr, frame: &[u8]) -> Result<(), RecvError> {
        self.receive(now, from, frame, self.config.max_stream_frame)
    }

    /// Runs every timer due at `now`: probes, gossip rounds, suspicion expiries, reclaims.
    ///
    /// Call it when the deadline from [`Node::poll_timeout`] has passed; an early or
    /// spurious call does nothing harmful.
    pub fn handle_timeout(&mut self, now: Time) {
        if !self.started {
            return;
        }
        let now = self.observe(now);
        self.membership.probe_timers(&mut shared!(self));
        if self.next_gossip <= now {
            self.next_gossip = now.saturating_add(self.config.gossip_interval);
            self.gossip_round();
        }
        let due = self.sync.due(&self.config, now, self.membership.members.live());
        if due.push_pull {
            self.push_pull_round();
        }
        if due.reconnect {
            self.reconnect_round();
        }
        if due.join_retry {
            self.contact_seeds(now);
        }
        self.state.on_timeout(&mut shared!(self));
        // Member deadlines last: a failed probe above may confirm a suspicion and move its
        // deadline into the past, and it must fire now, not on a spurious next wake-up.
        while let Some(d) = self.membership.deadlines.pop_due(now) {
            if self.membership.members.epoch(d.member) != Some(d.epoch) {
                continue;
            }
            match d.kind {
                TimerKind::Suspicion => self.membership.suspicion_expired(&mut shared!(self), d.member),
                TimerKind::Reclaim => {
                    self.membership.forget(d.member);
                    self.forget_members();
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------
    // Outputs

    /// The next packet to send, if any. Send datagrams as they come; deliver a
    /// `reliable` one as a single frame on a stream to `dest`.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.outbox.pop_transmit()?;
        let t = Transmit { payload: self.wrap(t.payload), ..t };
        self.stats.packets_out += 1;
        self.stats.bytes_out += t.payload.len() as u64;
        Some(t)
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.outbox.pop_event();
        #[cfg(feature = "tracing")]
        if let Some(event) = &event {
            trace!(node = %self.membership.identity.id, ?event, "event");
        }
        event
    }

    /// When [`Node::handle_timeout`] must next be called; `None` when nothing is
    /// scheduled (not started yet, or left and done sending).
    pub fn poll_timeout(&self) -> Option<Time> {
        if !self.started || (self.membership.left && self.outbox.queue(Queue::Membership).is_empty()) {
            return None;
        }
        let mut next = self.next_gossip.min(self.sync.next_deadline());
        let timers = [
            self.membership.deadlines.next(),
            self.membership.prober.next_deadline(),
            self.state.next_deadline(&self.config),
        ];
        for t in timers.into_iter().flatten() {
            next = next.min(t);
        }
        Some(next)
    }

    // ----------------------------------------------------------------------------------
    // Internals shared by the protocol layers

    /// Clamps `now` to be monotonic and starts the periodic timers on first use.
    pub(crate) fn observe(&mut self, now: Time) -> Time {
        if now < self.clock {
            self.stats.time_regressions += 1;
        }
        let now = now.max(self.clock);
        self.clock = now;
        if !self.started {
            self.started = true;
            // Random phases, so nodes started together do not probe and gossip in lockstep.
            let first = Lane::ALL.map(|lane| {
                let period = self.membership.probe_period(&self.config, lane)?;
                let phase = crate::rand::jitter(&mut self.rng, period.as_nanos() as u64);
                Some(now.saturating_add(Duration::from_nanos(phase)))
            });
            self.membership.prober.schedule(first);
            let gossip_phase = crate::rand::jitter(&mut self.rng, self.config.gossip_interval.as_nanos() as u64);
            self.next_gossip = now.saturating_add(Duration::from_nanos(gossip_phase));
            self.sync.start(&self.config, &mut self.rng, now, self.membership.members.live());
        }
        now
    }

    /// A packet is checked whole before anything is applied: a refused one changes
    /// nothing but the counters (not the clock, the timers or the random generator).
    fn receive(&mut self, now: Time, from: SocketAddr, data: &[u8], max_len: usize) -> Result<(), RecvError> {
        self.stats.packets_in += 1;
        self.stats.bytes_in += data.len() as u64;
        let result = self.apply_packet(now, from, data, max_len);
        self.stats.kv_refused = self.state.store.refused;
        if let Err(e) = &result {
            trace!(node = %self.membership.identity.id, %from, error = %e, "packet refused");
            self.stats.count_drop(e);
        }
        result
    }

    /// An encoded packet as it goes out: compressed if that is on and pays, then sealed if
    /// this node encrypts (see [`Node::unwrap`] for the way back).
    fn wrap(&mut self, payload: Bytes) -> Bytes {
        #[cfg(feature = "compression")]
        let payload = match self.config.compress_above {
            above if above > 0 && payload.len() > above => {
                wire::compress::compress(&payload).map_or(payload, Bytes::from)
            }
            _ => payload,
        };
        #[cfg(feature = "encryption")]
        if let Some(ring) = &self.config.keyring {
            let mut nonce = [0u8; 24];
            self.rng.fill_bytes(&mut nonce);
            return ring.seal(nonce, &payload).into();
        }
        payload
    }

    /// A received packet opened (if this node encrypts) and inflated (if compressed), at
    /// most `max_len` bytes before inflation: the plain packet for the decoder.
    fn unwrap<'a>(&self, data: &'a [u8], max_len: usize) -> Result<Cow<'a, [u8]>, RecvError> {
        #[cfg_attr(not(any(feature = "encryption", feature = "compression")), allow(unused_mut))]
        let mut data = Cow::Borrowed(data);
        #[cfg(feature = "encryption")]
        if let Some(ring) = &self.config.keyring {
            if data.len() > max_len.saturating_add(crate::seal::SEAL_OVERHEAD) {
                return Err(RecvError::TooLarge);
            }
            data = Cow::Owned(ring.open(&data).ok_or(RecvError::Decrypt)?);
        }
        if data.len() > max_len {
            return Err(RecvError::TooLarge);
        }
        #[cfg(feature = "compression")]
        if let Some(inflated) = wire::compress::inflate(&data, max_len)? {
            data = Cow::Owned(inflated);
        }
        Ok(data)
    }

    /// Decodes and checks the whole packet first, then applies its messages in order.
    fn apply_packet(&mut self, now: Time, from: SocketAddr, data: &[u8], max_len: usize) -> Result<(), RecvError> {
        if self.membership.left {
            return Err(RecvError::Left);
        }
        let data = self.unwrap(data, max_len)?;
        let packet = wire::decode(&data, &self.limits)?;
        if packet.header.cluster != &self.config.cluster_name[..] {
            return Err(RecvError::WrongCluster);
        }
        let sender = packet.header.sender;
        if sender == self.membership.identity.id.as_bytes() {
            return Err(RecvError::FromSelf);
        }
        let now = self.observe(now);
        // From a stranger, what goes back may be as large as what came (see `admission.rs`).
        let mut stranger = self.membership.is_stranger(sender, || self.sync.is_seed(&from)).then_some(data.len());
        let messages = packet.messages.iter().filter(|m| !matches!(m, Message::KeyWrites { .. }));
        for batch in warm_batches(messages) {
            self.membership.members.warm(batch.iter().filter_map(|m| match m {
                Message::Alive { id, .. } | Message::Suspect { id, .. } | Message::Down { id, .. } => Some(*id),
                _ => None,
            }));
            for message in batch {
                self.apply_message(now, from, sender, &mut stranger, message);
            }
        }
        // Key writes last, each owner's in version order: a queue sends its newest news
        // first, and writes apply in order only after the ones they follow.
        let mut writes: SmallVec<[&Message<'_>; 8]> =
            packet.messages.iter().filter(|m| matches!(m, Message::KeyWrites { .. })).collect();
        writes.sort_by_key(|m| match m {
            Message::KeyWrites { delta } => (delta.owner, delta.up_to),
            _ => (&[][..], 0),
        });
        for message in writes {
            self.apply_message(now, from, sender, &mut stranger, message);
        }
        Ok(())
    }

    /// Applies one message of a packet from `sender` at `from`. `stranger`: when the
    /// sender is one, the bytes that may still go back for its packet (see `admission.rs`).
    fn apply_message(
        &mut self,
        now: Time,
        from: SocketAddr,
        sender: &[u8],
        stranger: &mut Option<usize>,
        message: &Message<'_>,
    ) {
        let m = &mut self.membership;
        if stranger.is_some() && !taken_from_stranger(message) {
            m.refuse_from_stranger(&mut shared!(self), from, sender);
            return;
        }
        match *message {
            Message::Ping { seq, target } => {
                let kv_sum = || self.state.store.sum();
                m.on_ping(&mut shared!(self), from, seq, target, stranger.as_mut(), kv_sum)
            }
            Message::Alive { incarnation, id, addr, meta } if stranger.is_some() => {
                let claim = wire::MemberRecord { state: MemberState::Alive, incarnation, id, addr, meta };
                m.check_claim(&mut shared!(self), &claim, stranger.as_mut());
            }
            Message::Ack { seq } => m.on_ack(&mut shared!(self), from, seq),
            Message::Nack { seq } => m.on_nack(seq),
            Message::PingReq { seq, target, addr } => m.on_ping_req(&mut shared!(self), from, seq, target, addr),
            Message::Alive { incarnation, id, addr, meta } => {
                m.on_alive(&mut shared!(self), incarnation, id, addr, meta)
            }
            Message::Suspect { incarnation, id, from: accuser } => {
                let accusation = Accusation { at: from, sender, incarnation, id, accuser };
                m.on_suspect_message(&mut shared!(self), &accusation)
            }
            Message::Down { incarnation, id, from: accuser } => {
                let accusation = Accusation { at: from, sender, incarnation, id, accuser };
                m.on_down_message(&mut shared!(self), &accusation)
            }
            Message::Left { incarnation, id } => m.on_left(&mut shared!(self), incarnation, id),
            Message::KeyWrites { delta } => {
                if self.state.on_key_writes(&mut shared!(self), &self.membership.members, &delta) {
                    self.sync_keys_soon(now, from);
                }
            }
            Message::Broadcast { .. } => {
                let me = self.membership.identity.id.as_bytes();
                self.messages.on_broadcast(&mut shared!(self), &self.membership.members, me, message)
            }
            Message::KeySum { sum } => {
                // A different sum from ours: one of us lacks writes the other has. This is
                // what finds a replica that every gossiped copy of some write missed (after
                // a partition heals, or once a busy owner goes quiet).
                if sum != self.state.store.sum() {
                    self.sync_keys_soon(now, from);
                }
            }
            Message::UserMessage { payload } => self.outbox.event(Event::Message {
                from: NodeId::copy_from_slice(sender),
                payload: Bytes::copy_from_slice(payload),
            }),
            Message::PushPull { join, reply, states, sums, kv } => {
                self.on_push_pull(now, from, sender, stranger.is_some(), join, reply, &states, sums, kv)
            }
        }
        self.forget_members();
    }

    /// Forgets the keys and broadcasts seen of the members membership forgot for good.
    fn forget_members(&mut self) {
        for id in self.membership.take_forgotten() {
            self.state.forget(id.as_bytes());
            self.messages.forget(id.as_bytes());
        }
    }

    /// Queues one datagram to `dest` (see [`Shared::send`](crate::shared::Shared::send)).
    pub(crate) fn send(&mut self, dest: SocketAddr, primary: &[Message<'_>]) {
        self.membership.send(&mut shared!(self), dest, primary);
    }

    /// Syncs with the member at `from` soon, when the key/value state says it is due
    /// (see [`State::sync_due`]).
    pub(crate) fn sync_keys_soon(&mut self, now: Time, from: SocketAddr) {
        if self.state.sync_due(&shared!(self)) {
            self.send_push_pull(from, self.sync.catching_up(now), SyncPart::Request, None, None, false);
        }
    }

    /// Sends queued news to `gossip_nodes` random members (live ones, and recently Down
    /// ones so they can hear of it and refute).
    fn gossip_round(&mut self) {
        self.state.push_round(&mut shared!(self), &mut self.membership.members);
        if !self.outbox.has_news() {
            return;
        }
        let fanout = self.config.gossip_nodes;
        self.membership.gossip_now(&mut shared!(self), fanout);
    }
}
