//! The client's address behind trusted reverse proxies (`server.trusted_proxies`). From a trusted
//! peer, the forwarding chain (`Forwarded: for=`, RFC 7239, else `X-Forwarded-For`) is walked from
//! the nearest hop outwards, skipping trusted proxies; the first other address is the client. From
//! any other peer the headers are ignored: a client cannot pick its own address.

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;
use hyper::header::HeaderName;
use parley_shared::cidr::Cidr;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Whether `addr` is one of the `trusted` proxies.
pub(crate) fn is_trusted(trusted: &[Cidr], addr: IpAddr) -> bool {
    trusted.iter().any(|range| range.contains(addr))
}

/// The client's address for a request from `peer` with `headers`.
pub(crate) fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.ip();
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let chain = forwarded_for(headers);
    let chain = if chain.is_empty() {
        x_forwarded_for(headers)
    } else {
        chain
    };
    // Nearest hop last: walk back past our own proxies.
    let mut client = peer;
    for hop in chain.iter().rev() {
        client = *hop;
        if !is_trusted(trusted, *hop) {
            break;
        }
    }
    client
}

/// The `for=` addresses of every `Forwarded` header, in order (obfuscated and unknown nodes end
/// the chain: nothing past them can be trusted).
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut chain = Vec::new();
    for value in headers.get_all(hyper::header::FORWARDED) {
        let Ok(text) = value.to_str() else {
            return Vec::new();
        };
        for element in text.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            });
            let Some(node) = node else {
                continue;
            };
            match parse_node(node.trim_matches('"')) {
                Some(addr) => chain.push(addr),
                None => chain.clear(),
            }
        }
    }
    chain
}

/// The addresses of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut chain = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let Ok(text) = value.to_str() else {
            return Vec::new();
        };
        for item in text.split(',') {
            match parse_node(item.trim()) {
                Some(addr) => chain.push(addr),
                None => chain.clear(),
            }
        }
    }
    chain
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn client_address_table() {
        let trusted: Vec<Cidr> = ["127.0.0.1", "10.0.0.0/8"]
            .iter()
            .map(|c| c.parse().expect("cidr"))
            .collect();
        let proxy: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
        let stranger: SocketAddr = "203.0.113.5:40000".parse().expect("addr");
        /// (peer, headers, the client address expected)
        type Case<'a> = (SocketAddr, Vec<(&'static str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                proxy,
                vec![("x-forwarded-for", "198.51.100.7")],
                "198.51.100.7",
            ),
            (
                stranger,
                vec![("x-forwarded-for", "198.51.100.7")],
                "203.0.113.5",
            ),
            (proxy, vec![], "127.0.0.1"),
            // A client-supplied address in front of the real one is not believed.
            (
                proxy,
                vec![("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")],
                "198.51.100.7",
            ),
            (
                proxy,
                vec![
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "198.51.100.8"),
                ],
                "198.51.100.8",
            ),
            (
                proxy,
                vec![("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")],
                "192.0.2.60",
            ),
            (
                proxy,
                vec![(
                    "forwarded",
                    r#"for="[2001:db8:cafe::17]:4711", for=10.0.0.2"#,
                )],
                "2001:db8:cafe::17",
            ),
            // Forwarded wins over X-Forwarded-For.
            (
                proxy,
                vec![
                    ("forwarded", "for=192.0.2.61"),
                    ("x-forwarded-for", "198.51.100.9"),
                ],
                "192.0.2.61",
            ),
            (proxy, vec![("x-forwarded-for", "garbage")], "127.0.0.1"),
            (
                proxy,
                vec![("x-forwarded-for", "198.51.100.7:8443")],
                "198.51.100.7",
            ),
            // Only trusted hops: the farthest one.
            (proxy, vec![("x-forwarded-for", "10.9.9.9")], "10.9.9.9"),
        ];
        for (peer, pairs, want) in cases {
            let got = client_ip(peer, &headers(&pairs), &trusted);
            assert_eq!(got.to_string(), want, "{peer} {pairs:?}");
        }
        assert_eq!(
            client_ip(proxy, &headers(&[("x-forwarded-for", "1.2.3.4")]), &[]),
            proxy.ip(),
            "nothing trusted: the peer"
        );
    }
}
