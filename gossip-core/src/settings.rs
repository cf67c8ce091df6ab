//! Setting a [`Config`] field by name from text, so that a command line or a config file
//! can reach every knob without a table of its own.

use crate::config::{Config, Detector};
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
    if !x.is_finite() || x < 0.0 {
        return Err(format!("{v:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(x * scale))
}

fn parse<T: core::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{v:?} is not a valid {}", core::any::type_name::<T>()))
}

impl Config {
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
