//! `--set FIELD=VALUE`: change any [`Config`] field by name, so a seed can be replayed
//! with one knob turned.

use core::time::Duration;
use gossip_core::{Config, Detector};

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

/// Sets `field` to `value` in `config`, or says why not.
pub fn set(config: &mut Config, field: &str, value: &str) -> Result<(), String> {
    let v = value;
    match field {
        "lifeguard" => config.set_lifeguard(parse(v)?),
        "detector" => {
            config.detector = match v {
                "swim" => Detector::Swim,
                "phi" => Detector::Phi,
                _ => return Err(format!("detector={v}: expected `swim` or `phi`")),
            }
        }
        "phi_threshold" => config.phi_threshold = parse(v)?,
        "phi_min_std" => config.phi_min_std = duration(v)?,
        "phi_min_samples" => config.phi_min_samples = parse(v)?,
        "cluster_name" => config.cluster_name = bytes::Bytes::copy_from_slice(v.as_bytes()),
        "mtu" => config.mtu = parse(v)?,
        "probe_interval" => config.probe_interval = duration(v)?,
        "probe_timeout" => config.probe_timeout = duration(v)?,
        "indirect_checks" => config.indirect_checks = parse(v)?,
        "gossip_interval" => config.gossip_interval = duration(v)?,
        "gossip_nodes" => config.gossip_nodes = parse(v)?,
        "gossip_to_the_dead" => config.gossip_to_the_dead = duration(v)?,
        "retransmit_mult" => config.retransmit_mult = parse(v)?,
        "suspicion_mult" => config.suspicion_mult = parse(v)?,
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
        _ => return Err(format!("unknown config field {field:?}")),
    }
    config.validate().map_err(|e| format!("{field}={value}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_and_bad_input_is_named() {
        let mut c = Config::lan(10);
        set(&mut c, "lifeguard", "false").unwrap();
        assert!(!c.local_health && !c.dynamic_suspicion && !c.buddy_system);
        set(&mut c, "suspicion_mult", "3").unwrap();
        assert_eq!(c.suspicion_mult, 3);
        set(&mut c, "probe_timeout", "250ms").unwrap();
        assert_eq!(c.probe_timeout, Duration::from_millis(250));
        set(&mut c, "probe_interval", "1.5s").unwrap();
        assert_eq!(c.probe_interval, Duration::from_millis(1500));
        assert!(set(&mut c, "no_such_field", "1").unwrap_err().contains("unknown config field"));
        assert!(set(&mut c, "suspicion_mult", "many").unwrap_err().contains("not a valid"));
        assert!(set(&mut c, "probe_timeout", "9s").unwrap_err().contains("probe_timeout"));
        // (A refused value stays set: start again from a valid config.)
        let mut c = Config::lan(10);
        set(&mut c, "detector", "phi").unwrap();
        assert_eq!(c.detector, Detector::Phi);
        set(&mut c, "detector", "swim").unwrap();
        assert_eq!(c.detector, Detector::Swim);
        assert!(set(&mut c, "detector", "bogus").unwrap_err().contains("swim` or `phi"));
        set(&mut c, "phi_threshold", "12").unwrap();
        set(&mut c, "phi_min_std", "50ms").unwrap();
        set(&mut c, "phi_min_samples", "30").unwrap();
        assert_eq!((c.phi_threshold, c.phi_min_std, c.phi_min_samples), (12, Duration::from_millis(50), 30));
        assert!(set(&mut c, "phi_threshold", "17").unwrap_err().contains("phi_threshold"));
    }
}
