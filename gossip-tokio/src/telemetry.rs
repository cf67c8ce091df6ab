//! What the adapter tells operators: a `tracing` event for each decision of the node, and
//! its counters and gauges through the `metrics` facade.
//!
//! Both facades cost next to nothing until the application installs a subscriber or a
//! recorder. Metrics are published once a second from the node task (see
//! [`METRICS_INTERVAL`]); their names are listed in the crate documentation.

use crate::{NodeRng, TransportCounts};
use gossip_core::{DecodeError, Event, MemberState, Node, RecvError};
use metrics::Unit;
use serde_json::Value;

/// How often the node task publishes its metrics.
pub(crate) const METRICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// One `tracing` event per membership change, at a level that says how much it matters:
/// a member lost or this node accused is a warning, the rest of membership is info, data
/// (keys, broadcasts, messages) is debug.
pub(crate) fn trace_event(event: &Event) {
    match event {
        Event::MemberUp(m) => tracing::info!(member = %m.id, addr = %m.addr, incarnation = m.incarnation, "member up"),
        Event::MemberUpdated(m) => {
            tracing::info!(member = %m.id, addr = %m.addr, incarnation = m.incarnation, "member updated")
        }
        Event::MemberSuspect { id, incarnation } => tracing::info!(member = %id, incarnation, "member suspect"),
        Event::MemberDown { id, incarnation } => tracing::warn!(member = %id, incarnation, "member down"),
        Event::MemberLeft { id, incarnation } => tracing::info!(member = %id, incarnation, "member left"),
        Event::Refuted { incarnation } => tracing::warn!(incarnation, "suspected or declared down: refuted"),
        Event::Joined => tracing::info!("joined the cluster"),
        Event::KeyChanged { owner, key, version, value } => tracing::debug!(
            owner = %owner, key = %key.escape_ascii(), version, deleted = value.is_none(), "key changed"
        ),
        Event::Broadcast { origin, payload } => tracing::debug!(origin = %origin, len = payload.len(), "broadcast"),
        Event::Message { from, payload } => tracing::debug!(from = %from, len = payload.len(), "message"),
        other => tracing::debug!(event = ?other, "event"),
    }
}

/// Publishes every counter of [`Stats`](gossip_core::Stats) and [`TransportCounts`], and the node's gauges.
///
/// The counters are walked through their `serde` form, so a counter the core adds is
/// exported without a change here: `Stats::x` becomes `gossip_x_total`, a per-kind array
/// becomes one series per kind (`gossip_drops_total{reason}`,
/// `gossip_decode_errors_total{kind}`), `TransportCounts::x` becomes
/// `gossip_transport_x_total`.
pub(crate) fn publish(node: &mut Node<NodeRng>, transport: &TransportCounts, queues: Queues, described: &mut bool) {
    let describe = !*described;
    *described = true;
    counters("gossip_", node.stats(), describe);
    counters("gossip_transport_", transport, describe);

    let mut by_state = [0usize; 4];
    for member in node.peers() {
        by_state[state_index(member.state())] += 1;
    }
    for (state, count) in ["alive", "suspect", "down", "left"].into_iter().zip(by_state) {
        metrics::gauge!("gossip_members", "state" => state).set(count as f64);
    }
    let own_keys = node.keys(node.local().id.as_bytes()).count();
    let gauges: [(&'static str, f64, Unit, &'static str); 7] = [
        (
            "gossip_local_health_score",
            f64::from(node.local_health()),
            Unit::Count,
            "Lifeguard's local health score: 0 is healthy; probe timing stretches by score + 1",
        ),
        (
            "gossip_pending_news",
            node.pending_news() as f64,
            Unit::Count,
            "Pieces of membership news waiting to be piggybacked (the dissemination queue)",
        ),
        ("gossip_kv_local_keys", own_keys as f64, Unit::Count, "Live keys this node owns"),
        (
            "gossip_kv_max_keys",
            node.config().max_keys as f64,
            Unit::Count,
            "The key/value budget: live keys a node may own (Config::max_keys)",
        ),
        (
            "gossip_outbound_streams",
            queues.outbound_streams as f64,
            Unit::Count,
            "Outbound stream connections open (each with its own frame queue)",
        ),
        (
            "gossip_command_queue",
            queues.commands as f64,
            Unit::Count,
            "Commands from Cluster handles waiting for the task",
        ),
        (
            "gossip_inbound_frame_queue",
            queues.inbound_frames as f64,
            Unit::Count,
            "Frames read from peers, waiting for the task",
        ),
    ];
    for (name, value, unit, help) in gauges {
        if describe {
            metrics::describe_gauge!(name, unit, help);
        }
        metrics::gauge!(name).set(value);
    }
    if describe {
        metrics::describe_gauge!("gossip_members", Unit::Count, "Other members known, by state (this node excluded)");
        metrics::describe_histogram!(
            "gossip_probe_rtt_seconds",
            Unit::Seconds,
            "Round trips of the direct acks to this node's probes"
        );
    }
    let rtts = metrics::histogram!("gossip_probe_rtt_seconds");
    for rtt in node.drain_probe_rtts() {
        rtts.record(rtt.as_secs_f64());
    }
}

/// Queue depths the node task sees, for [`publish`].
pub(crate) struct Queues {
    pub(crate) outbound_streams: usize,
    pub(crate) commands: usize,
    pub(crate) inbound_frames: usize,
}

fn state_index(state: MemberState) -> usize {
    match state {
        MemberState::Alive => 0,
        MemberState::Suspect => 1,
        MemberState::Down => 2,
        MemberState::Left => 3,
    }
}

/// Every numeric field of `counts` as a counter `{prefix}{field}_total`.
fn counters(prefix: &str, counts: &impl serde::Serialize, describe: bool) {
    let Ok(Value::Object(fields)) = serde_json::to_value(counts) else { return };
    for (field, value) in fields {
        let name = format!("{prefix}{field}_total");
        if describe {
            let unit = if field.contains("bytes") { Unit::Bytes } else { Unit::Count };
            metrics::describe_counter!(name.clone(), unit, help(&field));
        }
        match value {
            Value::Number(n) => metrics::counter!(name).absolute(n.as_u64().unwrap_or(0)),
            Value::Array(kinds) => {
                let (label, names): (&'static str, &[&'static str]) = match field.as_str() {
                    "drops" => ("reason", &RecvError::KIND_NAMES),
                    "decode_errors" => ("kind", &DecodeError::KIND_NAMES),
                    _ => ("index", &[]),
                };
                for (i, n) in kinds.iter().enumerate() {
                    let kind = names.get(i).map_or_else(|| i.to_string(), |s| (*s).to_owned());
                    metrics::counter!(name.clone(), label => kind).absolute(n.as_u64().unwrap_or(0));
                }
            }
            _ => {}
        }
    }
}

/// The help text of a counter: the core's doc of the field, shortened, for the common ones.
fn help(field: &str) -> String {
    let known = match field {
        "packets_in" => "Datagrams and frames received (accepted or not)",
        "bytes_in" => "Bytes received",
        "packets_out" => "Datagrams and frames sent",
        "bytes_out" => "Bytes sent",
        "drops" => "Input dropped, by reason",
        "decode_errors" => "Undecodable input, by kind",
        "probes" => "Probes started (direct pings)",
        "indirect_probes" => "Ping-reqs sent to helpers after a direct ping went unanswered",
        "failed_probes" => "Probes that ended without any ack",
        "relays" => "Ping-reqs this node relayed for others",
        "relays_dropped" => "Relays dropped because max_relays were in flight",
        "suspicions" => "Suspicions this node started (its own failed probes)",
        "verifications" => "Suspects checked once more before being declared Down",
        "witness_checks" => "Checks run as a witness of another member's suspicion",
        "witness_confirmations" => "Witness checks that found the suspect silent",
        "witness_checks_dropped" => "Witness requests refused: too many checks in flight",
        "refutations" => "Times this node refuted a suspicion or declaration about itself",
        "corrections" => "Times this node told an accuser that its suspect had refuted",
        "kv_gossip_bytes" => "Key/value bytes sent as piggybacked key writes",
        "kv_sync_bytes" => "Key/value bytes sent in full syncs (digests and deltas)",
        "kv_push_bytes" => "Key/value bytes of this node's own writes pushed to members",
        "kv_writes_taken" => "Gossiped key writes received that taught this node something",
        "kv_writes_redundant" => "Gossiped key writes received that taught it nothing",
        "kv_refused" => "Key writes refused because an owner's replica was full",
        "misdirected_pings" => "Pings addressed to another id (a stale address), not answered",
        "members_dropped" => "Members dropped because max_members were tracked",
        "gossip_dropped" => "Pieces of news dropped because the dissemination queue was full",
        "time_regressions" => "Calls whose time was earlier than a previous call's (clamped)",
        "send_errors" => "Datagrams the socket refused to send",
        "frames_out" => "Stream frames written to peers",
        "frames_in" => "Stream frames read from peers",
        "frames_dropped" => "Stream frames dropped (a full queue or a failed connection)",
        "connect_failures" => "Outbound stream connections that could not be opened",
        "bad_streams" => "Inbound streams closed for bad input or slowness",
        "refused_streams" => "Inbound streams refused: max_inbound were open",
        "typed_delivered" => "Typed messages handed to their handler",
        "typed_undecodable" => "Typed messages dropped: a malformed envelope or a body not of its handler's type",
        "typed_unhandled" => "Typed messages dropped: no handler for their tag",
        "typed_missed" => "Messages the typed-message task missed by falling behind the events",
        "discovery_sent" => "Discovery announcements and answers sent to the multicast group",
        "discovery_heard" => "Discovery datagrams heard from other nodes of this cluster",
        "discovery_refused" => "Discovery datagrams refused: malformed, another cluster's or not sealed by the ring",
        // A counter added to the core since: its doc is in gossip_core::Stats.
        _ => return format!("gossip_core::Stats::{field}"),
    };
    known.to_owned()
}
