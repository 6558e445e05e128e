//! The client's IP address: the socket's peer, unless that peer is a configured trusted
//! proxy, in which case the nearest untrusted address of `X-Forwarded-For` (read from the
//! right, since the left end is whatever the client chose to send).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The client's address, as `client_ip` resolves it with the configured trusted proxies
/// (`None` when the request did not come from a socket, which `larch serve` never does).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.config.trusted_proxies)))
    }
}

pub fn client_ip(parts: &Parts, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(resolve(peer, &parts.headers, trusted_proxies))
}

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted(&ip) => nearest = ip,
            Ok(ip) => return ip,
            // Garbage from beyond the last trusted hop: the last address we can vouch for.
            Err(_) => return nearest,
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        // Directly connected: the header is ignored.
        assert_eq!(resolve(client, &headers("1.2.3.4"), &proxies), client);
        // Through the proxy: the nearest untrusted hop, not the spoofable left end.
        assert_eq!(
            resolve(proxy, &headers("1.2.3.4, 203.0.113.7"), &proxies),
            client
        );
        assert_eq!(
            resolve(proxy, &headers("203.0.113.7, 10.9.9.9"), &proxies),
            client
        );
        assert_eq!(
            resolve(proxy, &headers("junk, 10.9.9.9"), &proxies),
            "10.9.9.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(proxy, &HeaderMap::new(), &proxies), proxy);
    }
}
