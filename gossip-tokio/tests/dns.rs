//! Seeds by DNS against a real authoritative server (hickory-server) that the test runs on
//! 127.0.0.1: a host name with two A records joins through both, `srv+NAME` joins through
//! every SRV target, and the agent's `--dns` points its resolver there. The seed agents of
//! each test are not joined to each other, so the joiner's view of both proves that it
//! used every address. Loopback only; every wait has a deadline.

mod common;

use common::{Agent, until_alive};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, SOA, SRV};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const ZONE: &str = "gossip.test.";

/// A DNS server for [`ZONE`] with `records` (name, data), on 127.0.0.1 (UDP and TCP on one
/// port) in a thread of its own, serving until the test process ends.
fn dns_server(records: Vec<(&str, RData)>) -> SocketAddr {
    let origin = Name::from_ascii(ZONE).unwrap();
    let mut zone =
        InMemoryZoneHandler::<TokioRuntimeProvider>::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(origin.clone(), Name::from_ascii("admin.gossip.test.").unwrap(), 1, 60, 60, 60, 60);
    zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1);
    for (name, data) in records {
        zone.upsert_mut(Record::from_rdata(Name::from_ascii(name).unwrap(), 60, data), 1);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(origin.into(), vec![Arc::new(zone)]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
            let mut server = Server::new(catalog);
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 16);
            tx.send(addr).unwrap();
            let _ = server.block_until_done().await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the DNS server starts")
}

fn a(ip: [u8; 4]) -> RData {
    RData::A(A::from(std::net::Ipv4Addr::from(ip)))
}

fn port(addr: &str) -> u16 {
    addr.parse::<SocketAddr>().unwrap().port()
}

#[test]
fn a_host_name_joins_through_each_of_its_addresses() {
    // Two seeds on one port at two loopback addresses, each a cluster of its own.
    let first = Agent::start_on("dns-a", "127.0.0.2:0", &[]);
    let second = Agent::start_on("dns-b", &format!("127.0.0.3:{}", port(&first.addr)), &[]);
    let dns = dns_server(vec![("seeds.gossip.test.", a([127, 0, 0, 2])), ("seeds.gossip.test.", a([127, 0, 0, 3]))]);
    let seed = format!("seeds.gossip.test:{}", port(&first.addr));
    let joiner = Agent::start("dns-joiner", &["--join", &seed, "--dns", &dns.to_string()]);
    for agent in [&joiner, &first, &second] {
        until_alive(&agent.http, 3);
    }
}

#[test]
fn srv_records_name_every_seed() {
    let first = Agent::start("srv-a", &[]);
    let second = Agent::start("srv-b", &[]);
    let srv = |p: &str, target: &str| RData::SRV(SRV::new(10, 5, port(p), Name::from_ascii(target).unwrap()));
    let dns = dns_server(vec![
        ("_gossip._udp.gossip.test.", srv(&first.addr, "a.gossip.test.")),
        ("_gossip._udp.gossip.test.", srv(&second.addr, "b.gossip.test.")),
        ("a.gossip.test.", a([127, 0, 0, 1])),
        ("b.gossip.test.", a([127, 0, 0, 1])),
    ]);
    let joiner =
        Agent::start("srv-joiner", &["--retry-join", "srv+_gossip._udp.gossip.test", "--dns", &dns.to_string()]);
    for agent in [&joiner, &first, &second] {
        until_alive(&agent.http, 3);
    }
}

#[test]
fn a_name_without_records_is_a_clear_error() {
    let dns = dns_server(vec![]);
    let joiner = Agent::start("lost", &["--join", "missing.gossip.test:7946", "--dns", &dns.to_string()]);
    let line = joiner.wait_for_error(common::WAIT, "cannot resolve seed").expect("the join says why it failed");
    assert!(line.contains("missing.gossip.test"), "{line}");
    let srv = Agent::start("lost-srv", &["--join", "srv+_none._udp.gossip.test", "--dns", &dns.to_string()]);
    assert!(srv.wait_for_error(common::WAIT, "cannot resolve seed \"srv+_none").is_some());
}
