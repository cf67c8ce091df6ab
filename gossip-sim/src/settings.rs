//! `--set FIELD=VALUE`: change any [`Config`] field by name, so a seed can be replayed
//! with one knob turned. The parsing lives in the core ([`Config::set_field`]), shared
//! with the agent.

use gossip_core::Config;

/// Sets `field` to `value` in `config`, or says why not (and changes nothing).
pub fn set(config: &mut Config, field: &str, value: &str) -> Result<(), String> {
    config.set_field(field, value).map_err(|e| e.to_string())
}
