//! Setting a [`Config`] field by name from text, so that a command line or a config file
//! can reach every knob without a table of its own.

use crate::config::{Config, Detector};
use crate::prelude::*;
use bytes::Bytes;
use core::fmt;
use core::time::Duration;

/// Why [`Config::set_field`] refused a setting; the config is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    /// The field name given.
    pub field: String,
    /// The value given.
    pub value: String,
    /// What is wrong: an unknown field, a value that does not parse, or the validation error.
    pub reason: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}: {}", self.field, self.value, self.reason)
    }
}

impl core::error::Error for SettingError {}

/// Durations are `500ms`, `1.5s`, or a plain number of milliseconds.
fn duration(v: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = v.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = v.strip_suffix('s') {
        (s, 1.0)
    } else {
        (v, 1e-3)
    };
    let x: f64 = number.trim().parse().map_err(|_| format!("{v:?} is not a duration (500ms, 1.5s)"))?;
    Duration::try_from_secs_f64(x * scale).map_err(|_| format!("{v:?} is not a duration from 0 to a year"))
}

fn parse<T: core::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{v:?} is not a valid {}", core::any::type_name::<T>()))
}

impl Config {
    /// The field names [`Config::set_field`] takes (with feature `compression`, also
    /// `compress_above`).
    pub const FIELDS: &'static [&'static str] = &[
        "lifeguard",
        "detector",
        "phi_threshold",
        "phi_min_std",
        "phi_min_samples",
        "cluster_name",
        "mtu",
        "probe_interval",
        "probe_timeout",
        "indirect_checks",
        "gossip_interval",
        "gossip_nodes",
        "gossip_to_the_dead",
        "retransmit_mult",
        "suspicion_mult",
        "suspicion_witnesses",
        "ring_probes",
        "suspicion_max_timeout_mult",
        "local_health",
        "local_health_max",
        "dynamic_suspicion",
        "buddy_system",
        "verify_before_down",
        "push_pull_interval",
        "reconnect_interval",
        "catch_up_sync",
        "join_retry_interval",
        "reclaim_after",
        "max_id_len",
        "max_meta_len",
        "max_key_len",
        "max_value_len",
        "key_tombstone_grace",
        "max_keys",
        "kv_bytes_per_sec",
        "max_messages_per_packet",
        "max_members",
        "max_stream_frame",
        "max_gossip_queue",
        "max_relays",
    ];

    /// Sets the field named `field` (as spelled in [`Config`]; also `lifeguard` for
    /// [`Config::set_lifeguard`]) from text: numbers, `true`/`false`, durations as `500ms`,
    /// `1.5s` or plain milliseconds, `detector` as `swim` or `phi`. The simulator's and the
    /// agent's `--set FIELD=VALUE` and the agent's config file use it. On `Err` nothing
    /// changed: an unknown field, a value that does not parse, or one that
    /// [`Config::validate`] refuses.
    pub fn set_field(&mut self, field: &str, value: &str) -> Result<(), SettingError> {
        let mut next = self.clone();
        apply(&mut next, field, value).map_err(|reason| SettingError {
            field: field.into(),
            value: value.into(),
            reason,
        })?;
        next.validate().map_err(|e| SettingError {
            field: field.into(),
            value: value.into(),
            reason: e.to_string(),
        })?;
        *self = next;
        Ok(())
    }
}

fn apply(config: &mut Config, field: &str, v: &str) -> Result<(), String> {
    match field {
        "lifeguard" => config.set_lifeguard(parse(v)?),
        "detector" => {
            config.detector = match v {
                "swim" => Detector::Swim,
                "phi" => Detector::Phi,
                _ => return Err("expected `swim` or `phi`".into()),
            }
        }
        "phi_threshold" => config.phi_threshold = parse(v)?,
        "phi_min_std" => config.phi_min_std = duration(v)?,
        "phi_min_samples" => config.phi_min_samples = parse(v)?,
        "cluster_name" => config.cluster_name = Bytes::copy_from_slice(v.as_bytes()),
        "mtu" => config.mtu = parse(v)?,
        "probe_interval" => config.probe_interval = duration(v)?,
        "probe_timeout" => config.probe_timeout = duration(v)?,
        "indirect_checks" => config.indirect_checks = parse(v)?,
        "gossip_interval" => config.gossip_interval = duration(v)?,
        "gossip_nodes" => config.gossip_nodes = parse(v)?,
        "gossip_to_the_dead" => config.gossip_to_the_dead = duration(v)?,
        "retransmit_mult" => config.retransmit_mult = parse(v)?,
        "suspicion_mult" => config.suspicion_mult = parse(v)?,
        "suspicion_witnesses" => config.suspicion_witnesses = parse(v)?,
        "ring_probes" => config.ring_probes = parse(v)?,
        "suspicion_max_timeout_mult" => config.suspicion_max_timeout_mult = parse(v)?,
        "local_health" => config.local_health = parse(v)?,
        "local_health_max" => config.local_health_max = parse(v)?,
        "dynamic_suspicion" => config.dynamic_suspicion = parse(v)?,
        "buddy_system" => config.buddy_system = parse(v)?,
        "verify_before_down" => config.verify_before_down = parse(v)?,
        "push_pull_interval" => config.push_pull_interval = duration(v)?,
        "reconnect_interval" => config.reconnect_interval = duration(v)?,
        "catch_up_sync" => config.catch_up_sync = duration(v)?,
        "join_retry_interval" => config.join_retry_interval = duration(v)?,
        "reclaim_after" => config.reclaim_after = duration(v)?,
        "max_id_len" => config.max_id_len = parse(v)?,
        "max_meta_len" => config.max_meta_len = parse(v)?,
        "max_key_len" => config.max_key_len = parse(v)?,
        "max_value_len" => config.max_value_len = parse(v)?,
        "key_tombstone_grace" => config.key_tombstone_grace = duration(v)?,
        "max_keys" => config.max_keys = parse(v)?,
        "kv_bytes_per_sec" => config.kv_bytes_per_sec = parse(v)?,
        "max_messages_per_packet" => config.max_messages_per_packet = parse(v)?,
        "max_members" => config.max_members = parse(v)?,
        "max_stream_frame" => config.max_stream_frame = parse(v)?,
        "max_gossip_queue" => config.max_gossip_queue = parse(v)?,
        "max_relays" => config.max_relays = parse(v)?,
        #[cfg(feature = "compression")]
        "compress_above" => config.compress_above = parse(v)?,
        _ => return Err("unknown config field".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Detector};
    use crate::tests::util::{TestRng, rng};
    use crate::{Identity, Node, Time};
    use core::net::SocketAddr;

    /// Values a user might type, sane or not.
    const VALUES: &[&str] = &[
        "0",
        "1",
        "-1",
        "-0",
        "2",
        "7",
        "64",
        "255",
        "256",
        "65535",
        "65536",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "1e30s",
        "1e300",
        "1e30",
        "1e-300s",
        "NaN",
        "inf",
        "-inf",
        "0ms",
        "0.000001ms",
        "1ms",
        "400ms",
        "1s",
        "1.5s",
        "31536000s",
        "31536001s",
        "true",
        "false",
        "phi",
        "swim",
        "",
        " ",
        "ms",
        "s",
        "10x",
    ];

    /// Every field with every value: `set_field` returns an error or a config that
    /// validates, and two nodes built with it join and run through 200 wake-ups (their
    /// timers, their packets to each other, and a jump far ahead) without a panic.
    #[test]
    fn no_typed_setting_panics() {
        for field in Config::FIELDS.iter().chain(&["no_such_field"]) {
            for value in VALUES {
                let mut config = Config::lan(16);
                let before = config.clone();
                match config.set_field(field, value) {
                    Ok(()) => exercise(&config),
                    Err(e) => {
                        assert_eq!(format!("{config:?}"), format!("{before:?}"), "{e} changed the config");
                    }
                }
            }
        }
    }

    fn exercise(config: &Config) {
        let addrs: [SocketAddr; 2] = [([10, 0, 0, 1], 7946).into(), ([10, 0, 0, 2], 7946).into()];
        let mut nodes: Vec<Node<TestRng>> = (0..2)
            .map(|i| Node::new(config.clone(), Identity::new(["a", "b"][i], addrs[i]), rng(i as u64)).unwrap())
            .collect();
        let mut now = Time::ZERO;
        nodes[0].join(now, &[]).unwrap();
        nodes[1].join(now, &[addrs[0]]).unwrap();
        for step in 0..200 {
            for i in 0..2 {
                while let Some(t) = nodes[i].poll_transmit() {
                    let to = usize::from(t.dest == addrs[1]);
                    let _ = if t.reliable {
                        nodes[to].handle_stream(now, addrs[i], &t.payload)
                    } else {
                        nodes[to].handle_datagram(now, addrs[i], &t.payload)
                    };
                }
                while nodes[i].poll_event().is_some() {}
            }
            let next = nodes.iter().filter_map(|n| n.poll_timeout()).min().unwrap_or(Time::MAX);
            now = if step == 150 { Time::from_nanos(u64::MAX / 2) } else { next.max(now) };
            for n in &mut nodes {
                n.handle_timeout(now);
            }
        }
    }

    #[test]
    fn fields_parse_and_bad_input_is_named() {
        let mut c = Config::lan(10);
        c.set_field("lifeguard", "false").unwrap();
        assert!(!c.local_health && !c.dynamic_suspicion && !c.buddy_system);
        c.set_field("suspicion_mult", "3").unwrap();
        assert_eq!(c.suspicion_mult, 3);
        c.set_field("probe_timeout", "250ms").unwrap();
        assert_eq!(c.probe_timeout, Duration::from_millis(250));
        c.set_field("probe_interval", "1.5s").unwrap();
        assert_eq!(c.probe_interval, Duration::from_millis(1500));
        assert!(c.set_field("no_such_field", "1").unwrap_err().to_string().contains("unknown config field"));
        assert!(c.set_field("suspicion_mult", "many").unwrap_err().to_string().contains("not a valid"));
        assert!(c.set_field("probe_timeout", "9s").unwrap_err().to_string().contains("probe_timeout"));
        assert_eq!(c.probe_timeout, Duration::from_millis(250), "a refused value changes nothing");
        c.set_field("detector", "phi").unwrap();
        assert_eq!(c.detector, Detector::Phi);
        c.set_field("detector", "swim").unwrap();
        assert_eq!(c.detector, Detector::Swim);
        assert!(c.set_field("detector", "bogus").unwrap_err().to_string().contains("swim` or `phi"));
        c.set_field("phi_threshold", "12").unwrap();
        c.set_field("phi_min_std", "50ms").unwrap();
        c.set_field("phi_min_samples", "30").unwrap();
        assert_eq!((c.phi_threshold, c.phi_min_std, c.phi_min_samples), (12, Duration::from_millis(50), 30));
        assert!(c.set_field("phi_threshold", "17").unwrap_err().to_string().contains("phi_threshold"));
    }
}
