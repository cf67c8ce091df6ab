//! The agent's JSON vocabulary, shared by stdout, the HTTP API and the client: one object
//! per event, one per member, and the counters.

use gossip_core::{Event, MemberInfo, MemberState, Stats};
use gossip_tokio::TransportCounts;
use serde_json::{Value, json};

/// The object printed (and streamed on `/v1/events`) for `event`, without its timestamp.
pub fn event(me: &str, event: &Event) -> Value {
    match event {
        Event::MemberUp(m) => member_event("member_up", m),
        Event::MemberUpdated(m) => member_event("member_updated", m),
        Event::MemberSuspect { id, incarnation } => {
            json!({"event": "member_suspect", "node": text(id.as_bytes()), "incarnation": incarnation})
        }
        Event::MemberDown { id, incarnation } => {
            json!({"event": "member_down", "node": text(id.as_bytes()), "incarnation": incarnation})
        }
        Event::MemberLeft { id, incarnation } => {
            json!({"event": "member_left", "node": text(id.as_bytes()), "incarnation": incarnation})
        }
        Event::KeyChanged { owner, key, value, version } => json!({
            "event": "key", "node": text(owner.as_bytes()), "key": text(key),
            "value": value.as_deref().map(text), "version": version,
        }),
        Event::Broadcast { origin, payload } => {
            json!({"event": "broadcast", "node": text(origin.as_bytes()), "payload": text(payload)})
        }
        Event::Message { from, payload } => {
            json!({"event": "message", "node": text(from.as_bytes()), "payload": text(payload)})
        }
        Event::Joined => json!({"event": "joined", "node": me}),
        Event::Refuted { incarnation } => json!({"event": "refuted", "node": me, "incarnation": incarnation}),
        other => json!({"event": "other", "node": me, "debug": format!("{other:?}")}),
    }
}

fn member_event(kind: &str, m: &MemberInfo) -> Value {
    let mut v = json!({"event": kind});
    if let (Value::Object(fields), Value::Object(mut member)) = (&mut v, member(m)) {
        fields.append(&mut member);
    }
    v
}

/// One member as `members` and `GET /v1/members` list it.
pub fn member(m: &MemberInfo) -> Value {
    let state = match m.state {
        MemberState::Alive => "alive",
        MemberState::Suspect => "suspect",
        MemberState::Down => "down",
        MemberState::Left => "left",
    };
    json!({"node": text(m.id.as_bytes()), "addr": m.addr.to_string(), "state": state, "incarnation": m.incarnation, "meta": text(&m.meta)})
}

/// The protocol's and the transport's counters (`stats` on stdin, `GET /v1/stats`).
pub fn stats(core: &Stats, transport: &TransportCounts) -> Value {
    let mut core_json = serde_json::to_value(core).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut core_json {
        // The per-kind arrays, also by name, so a reader needs no index table.
        let by_name = |names: &[&str], counts: &[u64]| -> Value {
            names.iter().zip(counts).map(|(n, c)| ((*n).to_owned(), json!(c))).collect::<serde_json::Map<_, _>>().into()
        };
        fields.insert("drops_by_reason".into(), by_name(&gossip_core::RecvError::KIND_NAMES, &core.drops));
        fields.insert(
            "decode_errors_by_kind".into(),
            by_name(&gossip_core::DecodeError::KIND_NAMES, &core.decode_errors),
        );
    }
    json!({"stats": core_json, "transport": transport})
}

/// Bytes as text (ids, keys and values are UTF-8 in practice; anything else is replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `line` with `ts_ms` (Unix time in milliseconds) first, if it is an object.
pub fn stamped(mut line: Value) -> Value {
    if let Value::Object(fields) = &mut line {
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut with_ts = serde_json::Map::new();
        with_ts.insert("ts_ms".into(), json!(ts as u64));
        with_ts.append(fields);
        *fields = with_ts;
    }
    line
}
