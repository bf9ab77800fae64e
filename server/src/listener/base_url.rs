//! The server's own address as links in alerts name it (and the pages' fallback when a
//! request has no usable Host). In order: `client.server` when it is not a loopback address
//! (the URL the fleet's clients are told); the listen address when it is one particular,
//! non-loopback address (a tailnet IP); with the listener on every address, the machine's
//! host name and the port (what MagicDNS resolves on a tailnet); else the listen address
//! itself (loopback: only this machine can follow the link anyway).

use std::net::{IpAddr, SocketAddr};

/// The base URL, without a trailing slash.
pub(super) fn choose(
    client_server: Option<&str>,
    bound: SocketAddr,
    hostname: Option<&str>,
) -> String {
    if let Some(url) = client_server.filter(|url| !is_loopback_url(url)) {
        return url.trim_end_matches('/').to_string();
    }
    let ip = bound.ip();
    match (ip.is_unspecified(), hostname) {
        (true, Some(name)) => format!("http://{name}:{}", bound.port()),
        _ => {
            let shown = if ip.is_unspecified() {
                // No host name: the loopback address of the same family.
                match ip {
                    IpAddr::V4(_) => SocketAddr::from(([127, 0, 0, 1], bound.port())),
                    IpAddr::V6(_) => {
                        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, bound.port()))
                    }
                }
            } else {
                bound
            };
            format!("http://{shown}")
        }
    }
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_reachable_address_is_chosen() {
        let any: SocketAddr = "0.0.0.0:8780".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8780".parse().unwrap();
        let tailnet: SocketAddr = "100.64.1.2:8780".parse().unwrap();
        assert_eq!(
            choose(Some("http://buildbox:8780/"), any, Some("box")),
            "http://buildbox:8780"
        );
        // The NixOS module's client.server is loopback: not for links.
        assert_eq!(
            choose(Some("http://127.0.0.1:8780"), any, Some("box")),
            "http://box:8780"
        );
        assert_eq!(
            choose(Some("http://localhost:8780"), tailnet, None),
            "http://100.64.1.2:8780"
        );
        assert_eq!(choose(None, local, Some("box")), "http://127.0.0.1:8780");
        assert_eq!(choose(None, any, None), "http://127.0.0.1:8780");
        assert_eq!(
            choose(Some("http://[::1]:1"), "[::]:80".parse().unwrap(), None),
            "http://[::1]:80"
        );
    }
}
