//! A replicated key/value store: every node owns its keys, and every node can read every
//! node's keys and hears of each change. Run with
//! `cargo run -p gossip-tokio --example kv_store`.

use gossip_core::{Config, Event};
use gossip_tokio::{Cluster, Options};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut nodes = Vec::new();
    for i in 0..4 {
        let options = Options::new(Config::local(4), format!("store-{i}"), "127.0.0.1:0".parse()?);
        nodes.push(Cluster::start(options).await?);
    }
    let seed = nodes[0].local_addr().to_string();
    nodes[0].join(Vec::<String>::new()).await?;
    for node in &nodes[1..] {
        node.join([&seed]).await?;
    }
    let mut changes = nodes[3].events();

    nodes[0].set("config/replicas", "3").await?;
    nodes[1].set("config/region", "eu-west").await?;
    nodes[1].set_with_ttl("lock/leader", "store-1", Duration::from_secs(2)).await?;

    // store-3 hears of every change as it spreads...
    let mut seen = 0;
    while seen < 3 {
        let Some(event) = tokio::time::timeout(Duration::from_secs(10), changes.recv()).await? else { break };
        if let Event::KeyChanged { owner, key, value, version } = event {
            let value = value.as_deref().map(String::from_utf8_lossy);
            println!("store-3: {owner} {} = {value:?} (v{version})", String::from_utf8_lossy(&key));
            seen += 1;
        }
    }
    // ...and can read any node's keys.
    for owner in ["store-0", "store-1"] {
        for (key, value) in nodes[3].keys(owner).await? {
            println!("{owner}: {} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value));
        }
    }
    // The lease expires: its owner deletes it and everyone sees the delete.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("lock/leader after its ttl: {:?}", nodes[3].get("store-1", "lock/leader").await?);
    for node in &nodes {
        node.leave().await?;
    }
    Ok(())
}
