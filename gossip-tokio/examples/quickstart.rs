//! Two nodes on loopback: beta joins alpha, sets a key and leaves, and alpha sees it all.
use gossip_tokio::gossip_core::{Config, Event};
use gossip_tokio::{Cluster, Options};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alpha = Cluster::start(Options::new(Config::local(2), "alpha", "127.0.0.1:0".parse()?)).await?;
    let beta = Cluster::start(Options::new(Config::local(2), "beta", "127.0.0.1:0".parse()?)).await?;
    let mut events = alpha.events();
    alpha.join(Vec::<String>::new()).await?; // no seeds: alpha starts the cluster
    beta.join([alpha.local_addr().to_string()]).await?;
    beta.set("role", "db").await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::MemberUp(m) => println!("alpha sees {} at {}", m.id, m.addr),
            Event::KeyChanged { owner, key, value: Some(v), .. } => {
                println!("{owner} set {} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&v));
                beta.leave().await?;
            }
            Event::MemberLeft { id, .. } => {
                println!("{id} left");
                break;
            }
            _ => {}
        }
    }
    alpha.leave().await?;
    Ok(())
}
