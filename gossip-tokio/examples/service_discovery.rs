//! Service discovery: nodes announce the services they offer through their keys
//! (`service/NAME` = `host:port`), and a client that offers nothing lists who offers what,
//! keeping only members that are alive. Run with
//! `cargo run -p gossip-tokio --example service_discovery`.

use gossip_core::{Config, MemberState};
use gossip_tokio::{Cluster, Options};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every live member's `service/*` keys: service name -> the endpoints offering it.
async fn directory(client: &Cluster) -> Result<BTreeMap<String, Vec<String>>, gossip_tokio::ClusterError> {
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for member in client.members().await? {
        if member.state != MemberState::Alive {
            continue;
        }
        for (key, value) in client.keys(member.id.as_bytes()).await? {
            if let Some(service) = key.strip_prefix(b"service/") {
                let entry = services.entry(String::from_utf8_lossy(service).into_owned()).or_default();
                entry.push(format!("{} ({})", String::from_utf8_lossy(&value), member.id));
            }
        }
    }
    Ok(services)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let offers = [("api-1", &["api", "metrics"][..]), ("api-2", &["api"]), ("db-1", &["postgres", "metrics"])];
    let client = Cluster::start(Options::new(Config::local(4), "client", "127.0.0.1:0".parse()?)).await?;
    client.join(Vec::<String>::new()).await?;
    let seed = client.local_addr().to_string();
    let mut servers = Vec::new();
    for (name, services) in offers {
        let server = Cluster::start(Options::new(Config::local(4), name, "127.0.0.1:0".parse()?)).await?;
        server.join([&seed]).await?;
        for (port, service) in (9000..).zip(services) {
            server.set(format!("service/{service}"), format!("{}:{port}", server.local_addr().ip())).await?;
        }
        servers.push(server);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("directory: {:#?}", directory(&client).await?);

    // api-2 crashes: once the cluster declares it down, it drops out of the directory.
    servers[1].shutdown().await;
    for _ in 0..100 {
        if directory(&client).await?.get("api").is_some_and(|e| e.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("after api-2 crashed: {:#?}", directory(&client).await?);
    for server in [&servers[0], &servers[2], &client] {
        server.leave().await?;
    }
    Ok(())
}
