//! Three nodes in one process on loopback: they find each other, one leaves, the others
//! see it go. Run with `cargo run -p gossip-tokio --example three_nodes`.

use gossip_core::{Config, Event};
use gossip_tokio::{Cluster, Options};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut nodes = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let options = Options::new(Config::local(3), name, "127.0.0.1:0".parse()?);
        nodes.push(Cluster::start(options).await?);
    }
    let mut events = nodes[0].events();
    let seed = nodes[0].local_addr().to_string();
    nodes[0].join(Vec::<String>::new()).await?;
    for node in &nodes[1..] {
        node.join([&seed]).await?;
    }
    // alpha's view of the others as they arrive and, after gamma leaves, as it goes.
    let watcher = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                Event::MemberUp(m) => println!("alpha: {} is up at {}", m.id, m.addr),
                Event::MemberLeft { id, .. } => {
                    println!("alpha: {id} left");
                    break;
                }
                _ => {}
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for m in nodes[1].members().await? {
        println!("beta sees {} ({:?})", m.id, m.state);
    }
    nodes[2].leave().await?;
    tokio::time::timeout(Duration::from_secs(10), watcher).await??;
    for node in &nodes[..2] {
        node.leave().await?;
    }
    Ok(())
}
