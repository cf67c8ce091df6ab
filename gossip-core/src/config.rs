//! Tuning knobs, with presets sized to the cluster, and their validation.

use crate::error::ConfigError;
use crate::identity::MAX_ID_LEN;
use crate::wire::{Limits, MAX_CLUSTER_LEN};
use bytes::Bytes;
use core::time::Duration;

/// Every tunable of a [`Node`](crate::Node). Start from a preset ([`Config::lan`],
/// [`Config::wan`], [`Config::local`]) and change fields; [`Node::new`](crate::Node::new)
/// validates the result.
///
/// The LAN preset takes HashiCorp memberlist's LAN values as its starting point, so that
/// detection times and bandwidth can be compared with it like for like.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cluster name, at most 64 bytes, sent in every packet header. Packets from another
    /// cluster are dropped, so two clusters sharing a network never merge.
    pub cluster_name: Bytes,
    /// Largest datagram this node builds, in bytes (header and all). 1400 stays under a
    /// 1500-byte Ethernet MTU with room for IP/UDP headers and tunnels.
    pub mtu: usize,
    /// Time between two probes of this node, before Lifeguard's local-health stretch.
    /// Each live member is probed once per round of the shuffled member list.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking `indirect_checks` members to probe
    /// the target for us, and then for their answers. Must not exceed `probe_interval`.
    pub probe_timeout: Duration,
    /// The failure signal that ends the wait for a direct ack, and with it when a probe
    /// gives up and suspects its target: SWIM's fixed `probe_timeout`, or a timeout that
    /// phi accrual derives from the round-trip times this node measures.
    pub detector: Detector,
    /// [`Detector::Phi`]: how unlikely a late ack must be before it counts as missing,
    /// `10^-phi_threshold` under a normal model of the RTT (1..=16). 8 waits
    /// `mean + 5.6 * sigma`.
    pub phi_threshold: u32,
    /// [`Detector::Phi`]: the standard deviation assumed at least, whatever the window
    /// says. A quiet network's RTTs barely vary, and without a floor a scheduling hiccup
    /// or a GC pause of a few milliseconds would look like a failure. Must be non-zero.
    /// LAN 20 ms: the direct wait is at least the mean RTT plus 112 ms at threshold 8, a
    /// third of SWIM's 400 ms yet far above a LAN's jitter; local 10 ms, WAN 100 ms.
    pub phi_min_std: Duration,
    /// [`Detector::Phi`]: round-trip samples needed before phi is used (1..=100); until
    /// then probes run on SWIM's fixed timeouts. The presets take 4: a node has that many
    /// a few seconds after joining, and where `phi_min_std` dominates (a LAN), a mean of
    /// four is already off by less than the floor's margin.
    pub phi_min_samples: usize,
    /// How many members relay a probe (ping-req) when the direct ping goes unanswered.
    /// More helpers mean fewer false suspicions caused by one lossy link.
    pub indirect_checks: usize,
    /// Time between two gossip rounds, each sending pending news to `gossip_nodes` members.
    pub gossip_interval: Duration,
    /// Members that receive each gossip round.
    pub gossip_nodes: usize,
    /// For how long after a member is declared Down it still receives gossip, so that a
    /// wrongly declared member hears of it and refutes.
    pub gossip_to_the_dead: Duration,
    /// Each piece of news is sent about `retransmit_mult * ceil(log10(n + 1))` times, where
    /// `n` is the number of live members: enough for it to reach everyone with high
    /// probability, no more.
    pub retransmit_mult: u32,
    /// The minimum suspicion timeout is `suspicion_mult * probe_timeout`, whatever the
    /// cluster's size: the suspect hears of a suspicion from the accuser and its witnesses
    /// directly (see `suspicion_witnesses`), not through gossip that takes longer to reach it
    /// in a larger cluster. It sets how long a silent member survives
    /// ([`Config::tolerated_silence`]).
    pub suspicion_mult: u32,
    /// Focused suspicion: a node whose probe fails tells the suspect and this many random
    /// members (its witnesses) directly, instead of gossiping the suspicion to everyone.
    /// Each witness checks the suspect at once (a ping that carries the suspicion, and
    /// ping-reqs) and confirms to the accuser if nothing answers; Lifeguard's timeout shrinks
    /// to its minimum once every witness has confirmed. Only a Down is gossiped to all, and
    /// a suspect refutes straight to its accuser. 0: SWIM's way, suspicions are gossiped to
    /// every member and confirmations come from members that happen to probe the suspect.
    pub suspicion_witnesses: usize,
    /// Ring probes: three probes in four go to this node's successor on a ring of the live
    /// members ordered by a hash of their ids (the same ring on every node), one every 4/3
    /// probe intervals; the fourth follows SWIM's randomized round-robin, every 4 intervals,
    /// on a schedule of its own. Every member is then probed by its ring predecessor within
    /// 4/3 intervals of any moment, so a crash is noticed that soon, not after a random
    /// wait with a long tail, for the same one probe per interval.
    pub ring_probes: bool,
    /// Lifeguard: a suspicion without confirmations lasts up to this multiple of the
    /// minimum, shrinking towards the minimum as independent members confirm it.
    pub suspicion_max_timeout_mult: u32,
    /// Lifeguard local health: stretch this node's probe interval and timeout while it
    /// sees signs that it is itself slow (missed nacks, refutations, failed probes).
    pub local_health: bool,
    /// Lifeguard local health: the largest stretch factor (score + 1).
    pub local_health_max: u32,
    /// Lifeguard dynamic suspicion: start suspicions long and shorten them with each
    /// independent confirmation. Off: every suspicion lasts the minimum timeout.
    pub dynamic_suspicion: bool,
    /// Lifeguard buddy system: a ping to a suspect carries the suspicion, so the suspect
    /// learns it at once and can refute.
    pub buddy_system: bool,
    /// Before declaring a suspect Down, check it once more (a buddy ping and ping-reqs at
    /// once) and wait one probe timeout; an answer restarts the suspicion. Costs one probe
    /// timeout of detection time; saves live members from nodes holding stale suspicions and
    /// from a slow accuser whose own timers fire before it reads the refutation. Not part of
    /// SWIM or Lifeguard, but switched with them by [`Config::set_lifeguard`].
    pub verify_before_down: bool,
    /// Period of a full membership exchange with one random member over a reliable stream
    /// (anti-entropy for anything gossip missed). Stretched for large clusters like
    /// memberlist does. `Duration::ZERO` disables it.
    pub push_pull_interval: Duration,
    /// Pace of the catch-up syncs that follow a join. The join reply, and the state either
    /// side of a join-phase sync learns, is merged quietly: members new to the receiver are
    /// not re-gossiped (the seed already spreads them; re-gossiping makes a mass join cost
    /// n² messages). Instead the joiner syncs with a random member between this and twice
    /// this after joining, again at that pace while syncs teach it members, and at delays
    /// one step longer after each sync that teaches nothing, until the delay reaches four
    /// steps (eight while the peers are catching up too, as in a mass join). A regular
    /// sync that taught something is followed by another four steps later. LAN 50 ms:
    /// 100 or 300 nodes joining through one seed all at once all see every member within
    /// 0.7 s; 1,000 joining within a second, within 1.5 s of the first join.
    /// `Duration::ZERO` disables it, and join replies are then re-gossiped as memberlist does.
    pub catch_up_sync: Duration,
    /// Period of a full state exchange with one random Down member (Serf's reconnect):
    /// how the two sides of a healed partition find each other. Not scaled with the
    /// cluster: each node reaches out this often while it holds Down members.
    /// `Duration::ZERO` disables it.
    pub reconnect_interval: Duration,
    /// While this node knows no member yet, it retries its join seeds this often.
    pub join_retry_interval: Duration,
    /// Down and Left members are kept as tombstones this long, then forgotten. Long enough
    /// that stale news about them has died out; a forgotten member can rejoin freely.
    pub reclaim_after: Duration,
    /// Longest node id accepted, bytes (at most 255).
    pub max_id_len: usize,
    /// Longest metadata accepted, bytes (at most 65535).
    pub max_meta_len: usize,
    /// Longest key of the replicated key/value state, bytes (at most 65535).
    pub max_key_len: usize,
    /// Longest value of the replicated key/value state, bytes.
    pub max_value_len: usize,
    /// Most live keys this node may own ([`Node::set`](crate::Node::set) refuses a new key
    /// beyond it). A replica holds at most four times this per owner, deleted keys
    /// included, and refuses (and counts) writes beyond it: no peer can grow it without
    /// bound.
    pub max_keys: usize,
    /// A deleted key is kept as a tombstone this long after a node learns of the delete,
    /// then forgotten; a replica that lagged behind it gets its owner's whole state.
    pub key_tombstone_grace: Duration,
    /// Flow control: the most bytes per second of key/value anti-entropy this node sends
    /// (piggybacked key writes, the digests and deltas of syncs), in bursts of up to one
    /// second's worth, so that a large or busy state never floods the network: beyond it,
    /// replicas lag instead. Piggybacked writes may use only the upper half, so syncs keep
    /// the rest. Membership traffic is never held back by it. Zero: no limit.
    pub kv_bytes_per_sec: usize,
    /// Most messages accepted in one received packet.
    pub max_messages_per_packet: usize,
    /// Most members accepted in one push-pull; also the most members this node tracks.
    pub max_members: usize,
    /// Largest stream frame accepted, bytes (a full push-pull of `max_members`).
    pub max_stream_frame: usize,
    /// Most pieces of news queued for dissemination; beyond it the most-sent are dropped
    /// (and counted), so a flood of updates cannot grow memory without bound.
    pub max_gossip_queue: usize,
    /// Most ping-reqs this node relays at once for other members.
    pub max_relays: usize,
    /// Encryption: seal everything sent with the ring's primary key and accept only what
    /// one of its keys opens (see [`seal`](crate::seal)). `None`: plain packets.
    #[cfg(feature = "encryption")]
    pub keyring: Option<crate::seal::Keyring>,
    /// Compression: packets and frames longer than this many bytes go out LZ4-compressed
    /// when that makes them shorter (a header flag says so: docs/protocol.md, "Compressed");
    /// 0: never.
    /// Every build with the feature accepts compressed input, whatever this says.
    #[cfg(feature = "compression")]
    pub compress_above: usize,
}

impl Config {
    /// A LAN cluster of about `cluster_size` members: memberlist's `DefaultLANConfig`
    /// timings (probe 1 s, 3 indirect probes, gossip to 3 every 200 ms, retransmit ×4,
    /// push-pull every 30 s) but a probe timeout of 400 ms (memberlist: 500), with bounds
    /// sized to the cluster, and 32 KiB/s of key/value anti-entropy per node. Suspicions are
    /// focused (4 witnesses) and last at least 2 s: a member silent for up to 3.2 s survives
    /// ([`Config::tolerated_silence`]), and a crash is declared 3.2-4.6 s after it happens.
    pub fn lan(cluster_size: usize) -> Self {
        let max_members = cluster_size.saturating_mul(4).max(1024);
        Config {
            cluster_name: Bytes::new(),
            mtu: 1400,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(400),
            detector: Detector::Swim,
            phi_threshold: 8,
            phi_min_std: Duration::from_millis(20),
            phi_min_samples: 4,
            indirect_checks: 3,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead: Duration::from_secs(30),
            retransmit_mult: 4,
            suspicion_mult: 5,
            suspicion_witnesses: 4,
            ring_probes: true,
            suspicion_max_timeout_mult: 6,
            local_health: true,
            local_health_max: 8,
            dynamic_suspicion: true,
            buddy_system: true,
            verify_before_down: true,
            push_pull_interval: Duration::from_secs(30),
            reconnect_interval: Duration::from_secs(15),
            catch_up_sync: Duration::from_millis(50),
            join_retry_interval: Duration::from_secs(1),
            reclaim_after: Duration::from_secs(60),
            max_id_len: 128,
            max_meta_len: 512,
            max_key_len: 256,
            max_value_len: 4096,
            max_keys: 1024,
            key_tombstone_grace: Duration::from_secs(300),
            kv_bytes_per_sec: 32 * 1024,
            max_messages_per_packet: 255,
            max_members,
            max_stream_frame: max_members.saturating_mul(1024).max(1 << 20),
            max_gossip_queue: max_members.saturating_mul(2),
            max_relays: 1024,
            #[cfg(feature = "encryption")]
            keyring: None,
            #[cfg(feature = "compression")]
            compress_above: 0,
        }
    }

    /// A WAN cluster of about `cluster_size` members: memberlist's `DefaultWANConfig`
    /// timings (probe 5 s, timeout 3 s, gossip to 4 every 500 ms, suspicion ×6, push-pull
    /// every 60 s, 16 KiB/s of key/value anti-entropy), for links with high and variable
    /// latency. Suspicions last at least 18 s (6 probe timeouts): silences of up to 26 s are
    /// survived.
    pub fn wan(cluster_size: usize) -> Self {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            phi_min_std: Duration::from_millis(100),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            gossip_to_the_dead: Duration::from_secs(60),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            catch_up_sync: Duration::from_secs(5),
            join_retry_interval: Duration::from_secs(5),
            reclaim_after: Duration::from_secs(180),
            kv_bytes_per_sec: 16 * 1024,
            ..Config::lan(cluster_size)
        }
    }

    /// Members on one host or a fast local network: memberlist's `DefaultLocalConfig`
    /// (probe timeout 200 ms, gossip every 100 ms, push-pull every 15 s), with 64 KiB/s of
    /// key/value anti-entropy. Suspicions last at least 1 s (5 probe timeouts): silences of
    /// up to 1.6 s are survived.
    pub fn local(cluster_size: usize) -> Self {
        Config {
            probe_timeout: Duration::from_millis(200),
            phi_min_std: Duration::from_millis(10),
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead: Duration::from_secs(15),
            suspicion_mult: 5,
            push_pull_interval: Duration::from_secs(15),
            reclaim_after: Duration::from_secs(30),
            kv_bytes_per_sec: 64 * 1024,
            ..Config::lan(cluster_size)
        }
    }

    /// Turns every Lifeguard extension on or off at once (local health, dynamic suspicion,
    /// buddy system) with this crate's own ones in the same spirit (focused suspicion with
    /// the LAN preset's 4 witnesses, verify before Down), to compare with plain SWIM: off,
    /// suspicions are gossiped to all and a suspect is declared Down when its timeout runs
    /// out. Ring probes and the timeouts are left as they are.
    pub fn set_lifeguard(&mut self, on: bool) {
        self.local_health = on;
        self.dynamic_suspicion = on;
        self.buddy_system = on;
        self.verify_before_down = on;
        self.suspicion_witnesses = if on { 4 } else { 0 };
    }

    /// The minimum suspicion timeout: `suspicion_mult * probe_timeout`.
    pub fn suspicion_timeout(&self) -> Duration {
        self.probe_timeout.saturating_mul(self.suspicion_mult)
    }

    /// The tolerance contract: the longest a live member may be silent (paused, cut off,
    /// starved of CPU) without ever being declared Down, on a network that loses nothing.
    ///
    /// A probe sent just as the member falls silent ends in a suspicion once its own wait
    /// and its helpers' are over (`2 * probe_timeout`, at most one probe interval); the
    /// suspicion lasts at least [`Config::suspicion_timeout`], and with
    /// `verify_before_down` the accuser then checks once more and waits as long as the
    /// helpers did. A member that answers by then refutes. So this is
    /// `min(2 * probe_timeout, probe_interval) + suspicion_timeout (+ probe_timeout)`, less
    /// the round trip of the last answer: the LAN preset survives 3.2 s, WAN 26 s, local
    /// 1.6 s. Local health can only stretch it.
    ///
    /// With [`Detector::Phi`] the waits follow the measured round trips, and this is the
    /// shortest they allow: at round trips near zero, `t = z(phi_threshold) * phi_min_std`,
    /// the probe ends after `3t` and the check waits `2t` (LAN: 2.56 s). Raise
    /// `suspicion_mult` to keep a longer tolerance with phi.
    ///
    /// It is also the price of detection, since no detector can tell a crash from a
    /// silence: a crash is declared this long after the first probe that reaches the
    /// crashed member goes unanswered (within 4/3 probe intervals with `ring_probes`, 2/3
    /// on average), and every node knows it a few round trips later.
    pub fn tolerated_silence(&self) -> Duration {
        let (direct, helpers) = match self.detector {
            Detector::Swim => (self.probe_timeout, self.probe_timeout),
            Detector::Phi => {
                let z = u128::from(crate::membership::phi::z_q16(self.phi_threshold).unwrap_or(0));
                let floor = (z * self.phi_min_std.as_nanos()) >> 16;
                let t = Duration::from_nanos(u64::try_from(floor).unwrap_or(u64::MAX));
                let (direct, helpers) = crate::membership::phi::probe_waits(t, self.probe_interval);
                (direct.min(self.probe_timeout), helpers.min(self.probe_timeout))
            }
        };
        let probe = direct.saturating_add(helpers).min(self.probe_interval);
        let verify = if self.verify_before_down { helpers } else { Duration::ZERO };
        probe.saturating_add(self.suspicion_timeout()).saturating_add(verify)
    }

    /// The decoder bounds these settings imply, for a tool that reads a node's packets
    /// (feature `wire`).
    #[cfg(feature = "wire")]
    pub fn limits(&self) -> Limits {
        self.decode_limits()
    }

    /// The decoder bounds these settings imply.
    pub(crate) fn decode_limits(&self) -> Limits {
        Limits {
            max_id_len: self.max_id_len,
            max_meta_len: self.max_meta_len,
            max_messages: self.max_messages_per_packet,
            // A peer with a full table sends all of it and its own record.
            max_push_pull_members: self.max_members.saturating_add(1),
            max_key_len: self.max_key_len,
            max_value_len: self.max_value_len,
        }
    }

    /// The largest single gossip message these settings allow (an Alive with the longest
    /// id, an IPv6 address and the longest metadata), in bytes.
    pub(crate) fn max_message_len(&self) -> usize {
        crate::wire::max_alive_len(self.max_id_len, self.max_meta_len)
    }

    /// The most bytes of a datagram before sealing: the MTU less what encryption adds.
    pub(crate) fn packet_budget(&self) -> usize {
        #[cfg(feature = "encryption")]
        if self.keyring.is_some() {
            return self.mtu.saturating_sub(crate::seal::SEAL_OVERHEAD);
        }
        self.mtu
    }

    /// The longest duration any setting takes: a year. Far beyond any useful timer, and
    /// small enough that no multiple of it the core takes (by a `u32` multiplier, or in
    /// nanoseconds) overflows.
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

    /// Checks that the settings are coherent; [`Node::new`](crate::Node::new) calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, reason: &'static str| Err(ConfigError::Invalid { field, reason });
        if self.cluster_name.len() > MAX_CLUSTER_LEN {
            return invalid("cluster_name", "longer than 64 bytes");
        }
        if self.max_id_len == 0 || self.max_id_len > MAX_ID_LEN {
            return invalid("max_id_len", "must be 1..=255");
        }
        if self.max_meta_len > usize::from(u16::MAX) {
            return invalid("max_meta_len", "must be at most 65535");
        }
        if self.max_key_len > usize::from(u16::MAX) {
            return invalid("max_key_len", "must be at most 65535");
        }
        if self.max_value_len > self.max_stream_frame / 4 {
            return invalid("max_value_len", "must be at most a quarter of max_stream_frame");
        }
        // An empty packet must hold a header, a ping, a buddy suspicion and the largest
        // Alive, so that every message fits some packet and nothing is ever sent oversize.
        let probe = crate::wire::max_probe_len(self.cluster_name.len(), self.max_id_len);
        if self.packet_budget() < probe + self.max_message_len() || self.mtu > 65_507 {
            return invalid("mtu", "too small for the id and metadata limits (or above 65507)");
        }
        let durations = [
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("phi_min_std", self.phi_min_std),
            ("gossip_interval", self.gossip_interval),
            ("gossip_to_the_dead", self.gossip_to_the_dead),
            ("push_pull_interval", self.push_pull_interval),
            ("reconnect_interval", self.reconnect_interval),
            ("catch_up_sync", self.catch_up_sync),
            ("join_retry_interval", self.join_retry_interval),
            ("reclaim_after", self.reclaim_after),
            ("key_tombstone_grace", self.key_tombstone_grace),
        ];
        if let Some((field, _)) = durations.iter().find(|(_, d)| *d > Self::MAX_DURATION) {
            return invalid(field, "must be at most a year");
        }
        if self.probe_interval.is_zero() || self.gossip_interval.is_zero() {
            return invalid("probe_interval", "probe and gossip intervals must be non-zero");
        }
        if self.probe_timeout.is_zero() || self.probe_timeout > self.probe_interval {
            return invalid("probe_timeout", "must be non-zero and at most probe_interval");
        }
        if !crate::membership::phi::THRESHOLDS.contains(&self.phi_threshold) {
            return invalid("phi_threshold", "must be 1..=16");
        }
        if self.phi_min_std.is_zero() || self.phi_min_std > self.probe_interval {
            return invalid("phi_min_std", "must be non-zero and at most probe_interval");
        }
        if self.phi_min_samples == 0 || self.phi_min_samples > crate::membership::phi::WINDOW {
            return invalid("phi_min_samples", "must be 1..=100");
        }
        if self.indirect_checks > 16 || self.gossip_nodes == 0 || self.gossip_nodes > 64 {
            return invalid("indirect_checks", "indirect_checks at most 16, gossip_nodes 1..=64");
        }
        if self.suspicion_witnesses > 16 {
            return invalid("suspicion_witnesses", "must be at most 16");
        }
        if self.retransmit_mult == 0 || self.suspicion_mult == 0 || self.suspicion_max_timeout_mult == 0 {
            return invalid("retransmit_mult", "multipliers must be at least 1");
        }
        if self.local_health_max == 0 || self.local_health_max > 64 {
            return invalid("local_health_max", "must be 1..=64");
        }
        if self.max_messages_per_packet == 0 || self.max_members == 0 || self.max_gossip_queue == 0 {
            return invalid("max_members", "limits must be at least 1");
        }
        Ok(())
    }
}

/// Which failure signal a probe waits on ([`Config::detector`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detector {
    /// SWIM's fixed timeouts: ping-reqs after `probe_timeout` without a direct ack, and a
    /// suspicion when the helpers too had `probe_timeout` (or the probe interval ends)
    /// without any ack.
    #[default]
    Swim,
    /// Phi accrual (Hayashibara et al.) over the round-trip times of the direct acks to
    /// this node's own pings: ping-reqs once a direct ack is overdue at `phi_threshold`
    /// (time `t`), a suspicion once the helpers too had their time (`2t` more), all within
    /// the probe interval. The same `t` bounds the pre-Down check and, as a helper, the
    /// wait before a nack. Until `phi_min_samples` RTTs are known, as [`Detector::Swim`].
    Phi,
}

impl Default for Config {
    /// [`Config::lan`] for a cluster of up to a few hundred members.
    fn default() -> Self {
        Config::lan(256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_bad_values_are_named() {
        for n in [1, 100, 10_000] {
            Config::lan(n).validate().unwrap();
            Config::wan(n).validate().unwrap();
            Config::local(n).validate().unwrap();
        }
        // The tolerance contract as the presets document it; the LAN one survives 3 s.
        let ms = |c: Config| c.tolerated_silence().as_millis();
        assert_eq!((ms(Config::lan(10)), ms(Config::wan(10)), ms(Config::local(10))), (3200, 26_000, 1600));
        let mut swim = Config::lan(10);
        swim.set_lifeguard(false);
        assert_eq!(ms(swim), 2800);
        // Phi's floor: t = z(8) * 20 ms = 112.2 ms; a 3t probe and a 2t check.
        let phi = Config { detector: Detector::Phi, ..Config::lan(10) };
        assert_eq!(ms(phi), 2561);
        let mut c = Config::lan(10);
        c.probe_timeout = Duration::from_secs(2);
        assert!(matches!(c.validate(), Err(ConfigError::Invalid { field: "probe_timeout", .. })));
        let mut c = Config::lan(10);
        c.mtu = 600;
        assert!(matches!(c.validate(), Err(ConfigError::Invalid { field: "mtu", .. })));
        for (threshold, ok) in [(0, false), (1, true), (16, true), (17, false)] {
            let c = Config { detector: Detector::Phi, phi_threshold: threshold, ..Config::lan(10) };
            assert_eq!(c.validate().is_ok(), ok, "phi_threshold {threshold}");
        }
        let c = Config { phi_min_std: Duration::ZERO, ..Config::lan(10) };
        assert!(matches!(c.validate(), Err(ConfigError::Invalid { field: "phi_min_std", .. })));
        let c = Config { phi_min_samples: 101, ..Config::lan(10) };
        assert!(matches!(c.validate(), Err(ConfigError::Invalid { field: "phi_min_samples", .. })));
        assert_eq!(Config::lan(10).detector, Detector::Swim);
    }
}
