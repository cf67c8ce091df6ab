//! gossip-core's `serde` feature, seen through serde_json: the public data types round-trip,
//! and ids read as text.

use gossip_core::{Event, MemberInfo, MemberState, NodeId, Stats};

#[test]
fn members_events_stats_and_ids_round_trip_through_json() {
    let member = MemberInfo {
        id: NodeId::from("node-1"),
        addr: "127.0.0.1:7946".parse().unwrap(),
        incarnation: 3,
        state: MemberState::Suspect,
        meta: bytes::Bytes::from_static(b"role=db"),
    };
    let text = serde_json::to_string(&member).unwrap();
    assert!(text.contains(r#""id":"node-1""#) && text.contains(r#""state":"suspect""#), "{text}");
    assert_eq!(serde_json::from_str::<MemberInfo>(&text).unwrap(), member);

    let events = [
        Event::MemberUp(member.clone()),
        Event::MemberDown { id: NodeId::new([b'x'; 40]), incarnation: 7 },
        Event::KeyChanged { owner: "n".into(), key: "k".into(), value: None, version: 9 },
        Event::Joined,
    ];
    for event in events {
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event, "{text}");
    }

    let mut stats = Stats { packets_in: 5, ..Stats::default() };
    stats.drops[1] = 2;
    let text = serde_json::to_string(&stats).unwrap();
    assert_eq!(serde_json::from_str::<Stats>(&text).unwrap(), stats);
}

#[test]
fn an_id_that_is_not_text_is_written_as_bytes_and_a_too_long_one_is_refused() {
    let id = NodeId::new([0xff, 0x00, 0x41]);
    let text = serde_json::to_string(&id).unwrap();
    assert_eq!(text, "[255,0,65]");
    assert_eq!(serde_json::from_str::<NodeId>(&text).unwrap(), id);
    let long = format!("[{}]", vec!["1"; gossip_core::MAX_ID_LEN + 1].join(","));
    assert!(serde_json::from_str::<NodeId>(&long).is_err());
}
