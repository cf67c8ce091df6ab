//! The leader-election example (examples/leader.rs, compiled in here so the test runs the
//! example's own code): five nodes on 127.0.0.1 agree on the lowest id, it crashes, and the
//! other four agree on the next lowest. Every wait in the demo has a deadline.

#[allow(dead_code)] // the example's main
#[path = "../examples/leader.rs"]
mod leader;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_agree_and_the_lead_moves_when_the_leader_crashes() {
    let mut lines = Vec::new();
    let (first, next) = leader::demo(5, Duration::from_secs(1), |line| lines.push(line)).await.unwrap();
    assert_eq!(first.to_string(), "node-0", "{lines:#?}");
    assert_eq!(next.to_string(), "node-1", "{lines:#?}");
}
