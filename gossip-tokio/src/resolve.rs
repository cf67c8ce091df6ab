//! Seeds by name: `IP:PORT`, `host:port` (every A/AAAA record) and `srv+NAME` (SRV
//! records, each target's addresses at its port), resolved with hickory.

use crate::JoinError;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The most addresses one seed name contributes (a name with more records joins through
/// the first ones, in SRV priority order).
pub const MAX_ADDRS_PER_SEED: usize = 64;

/// The prefix of a seed looked up as SRV records.
pub(crate) const SRV_PREFIX: &str = "srv+";

/// The path a WebSocket node accepts peers on, and the one a `ws://` or `wss://` seed
/// without a path is dialed at.
pub(crate) const WS_PATH: &str = "/gossip";

/// Where the URLs that `ws://` and `wss://` seeds were given as are written down, to dial
/// each address at its URL (the WebSocket transport's peers).
pub(crate) trait Urls: Sync {
    /// Dial `url` for `addr` from now on.
    fn set_url(&self, addr: SocketAddr, url: String);
}

/// Resolves seeds for a node at `local`: only addresses of its family (IPv4 or IPv6) are
/// kept, duplicates dropped. `nameservers` empty: host names through the system resolver
/// (`/etc/hosts`, nsswitch), SRV through the system's DNS configuration; else both ask
/// these servers. Each seed gets `timeout` at most. `ws://` and `wss://` seeds need `urls`
/// (the WebSocket transport), where each address they resolve to is written down with its URL.
pub(crate) async fn seeds<S: AsRef<str>>(
    seeds: impl IntoIterator<Item = S>,
    local: SocketAddr,
    nameservers: &[SocketAddr],
    timeout: Duration,
    urls: Option<&dyn Urls>,
) -> Result<Vec<SocketAddr>, JoinError> {
    let mut resolver = None;
    let mut out: Vec<SocketAddr> = Vec::new();
    for seed in seeds {
        let seed = seed.as_ref();
        let fail = |reason: String| JoinError::Resolve { seed: seed.into(), reason };
        let url = ws_url(seed).transpose().map_err(fail)?;
        if url.is_some() && urls.is_none() {
            return Err(fail("a ws:// or wss:// seed needs the WebSocket transport".into()));
        }
        let name = url.as_ref().map_or(seed, |(authority, _)| authority.as_str());
        let found = match tokio::time::timeout(timeout, one(name, nameservers, &mut resolver)).await {
            Ok(found) => found.map_err(fail)?,
            Err(_) => return Err(fail(format!("no answer within {timeout:?}"))),
        };
        let ours: Vec<SocketAddr> =
            found.into_iter().filter(|a| a.is_ipv4() == local.is_ipv4()).take(MAX_ADDRS_PER_SEED).collect();
        if ours.is_empty() {
            return Err(fail("no address of this node's family".into()));
        }
        for addr in ours {
            if let (Some((_, url)), Some(urls)) = (&url, urls) {
                urls.set_url(addr, url.clone());
            }
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    Ok(out)
}

/// For a `ws://` or `wss://` seed: its `host:port` (the scheme's port if none is given)
/// and the URL to dial (`/gossip` if it names no path).
fn ws_url(seed: &str) -> Option<Result<(String, String), String>> {
    let (scheme, rest) = seed.split_once("://")?;
    let default_port = match scheme {
        "ws" => 80,
        "wss" => 443,
        _ => return None,
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Some(Err("a URL without a host".into()));
    }
    // A port follows the last ':', unless that colon is inside an IPv6 literal.
    let has_port = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].starts_with("]:"),
        None => authority.contains(':'),
    };
    let host_port = if has_port { authority.to_owned() } else { format!("{authority}:{default_port}") };
    let path = if path.is_empty() { WS_PATH } else { path };
    Some(Ok((host_port, format!("{scheme}://{authority}{path}"))))
}

/// The addresses `seed` names, in any family.
async fn one(
    seed: &str,
    nameservers: &[SocketAddr],
    resolver: &mut Option<TokioResolver>,
) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = seed.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    if let Some(name) = seed.strip_prefix(SRV_PREFIX) {
        return srv(name, dns(resolver, nameservers)?).await;
    }
    let (host, port) = seed.rsplit_once(':').ok_or("expected host:port, IP:PORT or srv+NAME")?;
    let port: u16 = port.parse().map_err(|_| format!("{port:?} is not a port"))?;
    if nameservers.is_empty() {
        let found = tokio::net::lookup_host(seed).await.map_err(|e| e.to_string())?;
        return Ok(found.collect());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ips = dns(resolver, nameservers)?.lookup_ip(host).await.map_err(|e| e.to_string())?;
    Ok(ips.iter().map(|ip| SocketAddr::new(ip, port)).collect())
}

/// Every SRV target of `name` at its port, lowest priority first, heaviest first within one.
async fn srv(name: &str, resolver: &TokioResolver) -> Result<Vec<SocketAddr>, String> {
    let lookup = resolver.srv_lookup(name).await.map_err(|e| e.to_string())?;
    let mut targets: Vec<_> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some(srv.clone()),
            _ => None,
        })
        .collect();
    targets.sort_by_key(|t| (t.priority, std::cmp::Reverse(t.weight)));
    targets.truncate(MAX_ADDRS_PER_SEED);
    let mut out = Vec::new();
    let mut last_error = None;
    for target in targets {
        // A server usually sends the targets' addresses along; ask only when it did not.
        let mut ips: Vec<IpAddr> = lookup
            .additionals()
            .iter()
            .filter(|r| r.name == target.target && matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .filter_map(|r| r.data.ip_addr())
            .collect();
        if ips.is_empty() {
            match resolver.lookup_ip(target.target.clone()).await {
                Ok(found) => ips.extend(found.iter()),
                Err(e) => last_error = Some(format!("{}: {e}", target.target)),
            }
        }
        out.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, target.port)));
    }
    match (out.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        (true, None) => Err("no SRV record".into()),
        (false, _) => Ok(out),
    }
}

/// The DNS resolver, built on first use: the given name servers, or the system's.
fn dns<'a>(slot: &'a mut Option<TokioResolver>, nameservers: &[SocketAddr]) -> Result<&'a TokioResolver, String> {
    if slot.is_none() {
        let builder = if nameservers.is_empty() {
            Resolver::builder_tokio().map_err(|e| format!("the system's DNS configuration: {e}"))?
        } else {
            let servers = nameservers
                .iter()
                .map(|a| {
                    let mut server = NameServerConfig::udp_and_tcp(a.ip());
                    for connection in &mut server.connections {
                        connection.port = a.port();
                    }
                    server
                })
                .collect();
            let config = ResolverConfig::from_name_servers(servers);
            Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        };
        *slot = Some(builder.build().map_err(|e| e.to_string())?);
    }
    slot.as_ref().ok_or_else(|| "no resolver".into())
}

#[cfg(test)]
mod tests {
    use super::ws_url;

    #[test]
    fn ws_urls_name_an_address_and_a_url() {
        let ok = |seed: &str| ws_url(seed).unwrap().unwrap();
        assert_eq!(ok("ws://127.0.0.1:7946"), ("127.0.0.1:7946".into(), "ws://127.0.0.1:7946/gossip".into()));
        assert_eq!(ok("wss://example.org/a/b"), ("example.org:443".into(), "wss://example.org/a/b".into()));
        assert_eq!(ok("ws://[::1]/gossip"), ("[::1]:80".into(), "ws://[::1]/gossip".into()));
        assert_eq!(ok("ws://[::1]:9/x"), ("[::1]:9".into(), "ws://[::1]:9/x".into()));
        assert!(ws_url("ws:///gossip").unwrap().is_err());
        assert!(
            ws_url("127.0.0.1:7946").is_none() && ws_url("srv+_g._tcp.x").is_none() && ws_url("http://x").is_none()
        );
    }
}
