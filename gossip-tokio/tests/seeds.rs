//! Seeds that are not there yet: `--retry-join` keeps trying with backoff until a seed
//! answers, and gives up cleanly after `--retry-max` attempts; the library's
//! `Cluster::join_with_retry` does the same. Real agents and sockets on 127.0.0.1 only;
//! every wait has a deadline.

mod common;

use common::{Agent, WAIT, until_alive};
use gossip_tokio::gossip_core::Config;
use gossip_tokio::{Cluster, JoinError, Options, RetryJoin};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

/// A loopback port free for both UDP and TCP right now (released for the caller to bind).
fn free_port() -> SocketAddr {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

#[test]
fn retry_join_succeeds_when_the_seed_starts_late() {
    let seed_addr = free_port().to_string();
    let flags = ["--retry-join", seed_addr.as_str(), "--retry-interval", "500ms", "--join-timeout", "500ms"];
    let joiner = Agent::start("late-joiner", &flags);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        joiner.wait_for_error(WAIT, "join attempt failed; retrying").is_some(),
        "each failed attempt is logged: {:?}",
        joiner.errors.lock().unwrap()
    );
    let seed = Agent::start_on("late-seed", &seed_addr, &[]);
    until_alive(&seed.http, 2);
    until_alive(&joiner.http, 2);
    assert!(joiner.wait_for_error(WAIT, "joined").is_some(), "the attempt that succeeds is logged too");
}

#[test]
fn retry_join_gives_up_after_retry_max() {
    let nobody = free_port().to_string();
    let flags = ["--retry-join", nobody.as_str(), "--retry-max", "2", "--retry-interval", "100ms"];
    let mut joiner = Agent::start("hopeful", &[&flags[..], &["--join-timeout", "300ms"]].concat());
    let status = joiner.exit_within(WAIT).expect("the agent ends by itself after --retry-max attempts");
    assert_eq!(status.code(), Some(1), "giving up is a failure");
    let errors = joiner.errors.lock().unwrap().join("\n");
    assert!(errors.contains("gave up after 2 attempts"), "says why: {errors}");
    assert_eq!(errors.matches("join attempt failed").count(), 2, "both attempts are logged: {errors}");
}

#[test]
fn a_bad_retry_flag_is_refused() {
    let out = common::client(&["--name", "x", "--bind", "127.0.0.1:0", "--retry-interval", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a duration"), "{out:?}");
}

#[tokio::test]
async fn join_with_retry_reports_its_attempts() {
    let local = |name: &str| {
        let mut options = Options::new(Config::local(2), name, "127.0.0.1:0".parse().unwrap());
        options.join_timeout = Duration::from_millis(200);
        options
    };
    let node = Cluster::start(local("retrier")).await.unwrap();
    let retry = RetryJoin {
        interval: Duration::from_millis(50),
        max_interval: Duration::from_millis(100),
        max_attempts: Some(3),
    };
    let nobody = free_port().to_string();
    match node.join_with_retry(&[nobody.as_str()], &retry).await {
        Err(JoinError::GaveUp { attempts: 3, last }) => assert_eq!(*last, JoinError::Timeout),
        other => panic!("expected GaveUp after 3 attempts, got {other:?}"),
    }
    let unresolvable = ["127.0.0.1"]; // no port: refused before any lookup
    match node.join_with_retry(&unresolvable, &RetryJoin { max_attempts: Some(1), ..retry }).await {
        Err(JoinError::GaveUp { attempts: 1, last }) => assert!(matches!(*last, JoinError::Resolve { .. })),
        other => panic!("a name that does not resolve is a failed attempt, got {other:?}"),
    }
    let seed = Cluster::start(local("seed")).await.unwrap();
    seed.join(Vec::<String>::new()).await.unwrap();
    let attempts = node.join_with_retry(&[seed.local_addr().to_string()], &retry).await.unwrap();
    assert_eq!(attempts, 1);
    node.shutdown().await;
    seed.shutdown().await;
}
