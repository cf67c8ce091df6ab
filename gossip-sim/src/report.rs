//! What a run measured: the `--json` object of one run.

/// What a run measured. Times are simulated seconds since the scenario's fault or event.
///
/// Serialized (see [`Report::to_json`]), it is the `--json` object: the fields in this
/// order, under these names, each figure rounded as its `serialize_with` says. A new field
/// goes at the end (before `bytes_by_kind`), so the object only ever grows.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Cluster size.
    pub nodes: usize,
    /// Run seed.
    pub seed: u64,
    /// Simulated seconds in all (warm-up included).
    #[serde(serialize_with = "crate::json::round3")]
    pub simulated_secs: f64,
    /// Wall-clock seconds the run took.
    #[serde(serialize_with = "crate::json::round3")]
    pub wall_secs: f64,
    /// First time every live node's view matched the truth, after the event.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub converged_secs: Option<f64>,
    /// Fault until the first live node marked the subject Down or Left.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub detect_first_secs: Option<f64>,
    /// Fault until every live node did.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub detect_all_secs: Option<f64>,
    /// Distinct decisions that a live node is Down (one per subject and incarnation). A
    /// Down across a partition's cut while it holds is not one: see
    /// [`Report::partition_downs`].
    pub false_positives: u64,
    /// `MemberDown` events about live nodes, summed over observers.
    pub false_positive_notices: u64,
    /// Largest datagram sent.
    pub max_packet_bytes: usize,
    /// Broadcast/key delivery time: until every live node has it (`kv-load`: from the end
    /// of the writes until every node holds every owner's keys exactly).
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub delivered_all_secs: Option<f64>,
    /// Mean bytes sent per node per simulated second, after the event.
    #[serde(serialize_with = "crate::json::round1")]
    pub bytes_per_node_per_sec: f64,
    /// Mean packets sent per node per simulated second, after the event.
    #[serde(serialize_with = "crate::json::round2")]
    pub packets_per_node_per_sec: f64,
    /// Peak resident memory of the process, bytes (0 where unknown).
    pub peak_rss_bytes: u64,
    /// Digest of every transmit and event, in order.
    pub trace_hash: String,
    /// Events the simulator handled.
    pub steps: u64,
    /// Of [`Report::steps`], those handled in windows shared among threads
    /// ([`Scenario::threads`](crate::Scenario::threads)).
    pub parallel_steps: u64,
    /// Of [`Report::wall_secs`], the seconds spent forming the cluster (and settling, see
    /// [`Scenario::settle`](crate::Scenario::settle)) before the scenario's event (all of them for `join`): the rest
    /// is the scenario proper, e.g. the steady state of `loss`.
    #[serde(serialize_with = "crate::json::round3")]
    pub form_wall_secs: f64,
    /// `kv-load`, at the end of the writes: how old each node's copy of each other node's
    /// keys is, on average over every (node, owner, key), in seconds (a key not yet seen
    /// counts from the start of the writes).
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub staleness_mean_secs: Option<f64>,
    /// `kv-load`: the median of those ages, in seconds.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub staleness_p50_secs: Option<f64>,
    /// `kv-load`: their 90th percentile, in seconds.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub staleness_p90_secs: Option<f64>,
    /// `kv-load`: the oldest such copy, in seconds.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub staleness_max_secs: Option<f64>,
    /// `kv-load`: of the bytes sent, the key/value anti-entropy (piggybacked writes, sync
    /// digests and deltas) that [`Config::kv_bytes_per_sec`](gossip_core::Config::kv_bytes_per_sec) bounds, per node per second,
    /// as decoded from the packets the nodes handed to the network.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub kv_bytes_per_node_per_sec: Option<f64>,
    /// `join`: first time 99% of the live nodes saw every member as it is.
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub converged_p99_secs: Option<f64>,
    /// `big-state`: when the restarted joiner first knew every member Alive (the whole
    /// cluster's agreement is `converged_secs`).
    #[serde(serialize_with = "crate::json::round3_or_null")]
    pub joiner_knows_all_secs: Option<f64>,
    /// Distinct decisions that a live node on the other side of a partition's cut is Down,
    /// made while the cut holds (`partition`, `long-partition`, `kv-partition`; 0 elsewhere).
    /// A partition is expected to cause them: an observer cannot tell a member it cannot
    /// reach from a crashed one.
    pub partition_downs: u64,
    /// `MemberDown` events behind [`Report::partition_downs`], summed over observers.
    pub partition_down_notices: u64,
    /// The picture of the run, when [`Scenario::svg`](crate::Scenario::svg) asked for it (not part of the JSON).
    #[serde(skip)]
    pub svg: Option<String>,
    /// With [`Scenario::breakdown`](crate::Scenario::breakdown): per kind of message (`header` for packet headers,
    /// `stream` for stream frames), messages and bytes per node per second, after the event.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "crate::json::by_kind")]
    pub bytes_by_kind: Vec<(String, f64, f64)>,
}

impl Report {
    /// The report as one JSON object on one line (the `--json` contract of DESIGN.md),
    /// built by serde_json from the fields in their order ([`crate::json`]).
    pub fn to_json(&self) -> String {
        crate::json::to_string(self)
    }
}
