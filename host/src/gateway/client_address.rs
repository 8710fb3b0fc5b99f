//! Who the client is, by address: the socket's peer, unless the app trusts that peer as a
//! proxy (`[app] trusted_proxies`); then the nearest address, in the header those proxies
//! write (`[app] forwarded_header`: `X-Forwarded-For` or RFC 7239 `Forwarded`), that is not a
//! trusted proxy itself. Nothing a client sends is believed unless it came through a proxy the
//! app names, and only the header the app names is read: a client can always add the other.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::manifest::ForwardedHeader;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const FORWARDED: &str = "forwarded";

/// The client's address for a request from `peer`, behind the `trusted` proxies that name the
/// client in `header`.
pub fn client_ip(
    trusted: &[IpNet],
    header: ForwardedHeader,
    peer: IpAddr,
    headers: &HeaderMap,
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(peer) {
        return peer;
    }
    // Each proxy appends the address it heard from: read from the right, past our own proxies.
    let mut client = peer;
    let name = match header {
        ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
        ForwardedHeader::Forwarded => FORWARDED,
    };
    for value in headers.get_all(name).iter().rev() {
        // Split the raw bytes: a client's garbage on the left must not hide the entries our
        // proxies appended on the right.
        let entries: Vec<Option<IpAddr>> = match header {
            ForwardedHeader::XForwardedFor => value
                .as_bytes()
                .rsplit(|byte| *byte == b',')
                .map(|entry| std::str::from_utf8(entry).ok().and_then(address))
                .collect(),
            ForwardedHeader::Forwarded => match value.to_str().ok().and_then(elements) {
                Some(elements) => elements.into_iter().rev().map(forwarded_for).collect(),
                None => vec![None],
            },
        };
        for entry in entries {
            let Some(ip) = entry else {
                // Whatever lies beyond a garbled entry cannot be trusted.
                return client;
            };
            client = ip;
            if !is_trusted(ip) {
                return client;
            }
        }
    }
    client
}

/// A `Forwarded` value split into its elements at the commas that are not inside a quoted
/// string; `None` when a quote is left open (RFC 7239 values may be quoted strings, which a
/// proxy can fill with what a client sent, such as its `Host`).
fn elements(value: &str) -> Option<Vec<&str>> {
    split_outside_quotes(value, b',')
}

fn split_outside_quotes(text: &str, separator: u8) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, byte) in text.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if byte == separator && !quoted => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// The address in one `Forwarded` element's single `for=` parameter (`for=192.0.2.60`,
/// `for="[2001:db8:cafe::17]:4711"`, `For="198.51.100.1:80"`); none when it has no `for`, more
/// than one, or an obfuscated or `unknown` one.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let pairs = split_outside_quotes(element, b';')?;
    let mut values = pairs.iter().filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    });
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    address(value)
}

/// An entry's address: `1.2.3.4`, `2001:db8::1`, or with a port as some proxies write it
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`, `[2001:db8::1]`).
fn address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, value.parse().expect("header"));
        }
        headers
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn behind_proxies_that_write_forwarded_only_that_header_names_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let peer = ip("10.0.0.1");
        let mut headers = HeaderMap::new();
        headers.append(
            FORWARDED,
            "for=192.0.2.66, For=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.2;by=10.0.0.1"
                .parse()
                .expect("header"),
        );
        // A client-added X-Forwarded-For is not read when the proxies write Forwarded.
        headers.append(X_FORWARDED_FOR, "203.0.113.5".parse().expect("header"));
        let rfc = ForwardedHeader::Forwarded;
        assert_eq!(
            client_ip(&trusted, rfc, peer, &headers),
            ip("2001:db8:cafe::17")
        );
        // Nor a client-added Forwarded when they write X-Forwarded-For.
        assert_eq!(client_ip(&trusted, XFF, peer, &headers), ip("203.0.113.5"));
        let mut hidden = HeaderMap::new();
        hidden.append(
            FORWARDED,
            "for=198.51.100.1, for=_hidden".parse().expect("header"),
        );
        assert_eq!(client_ip(&trusted, rfc, peer, &hidden), peer);
        // A quoted value a proxy filled from the client (its Host) cannot smuggle a `for`.
        let mut smuggled = HeaderMap::new();
        smuggled.append(
            FORWARDED,
            "for=198.51.100.9;host=\"a,for=1.1.1.1;x=y\";proto=http"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            client_ip(&trusted, rfc, peer, &smuggled),
            ip("198.51.100.9")
        );
        let mut open_quote = HeaderMap::new();
        open_quote.append(
            FORWARDED,
            "for=198.51.100.9;host=\"a, for=1.1.1.1"
                .parse()
                .expect("header"),
        );
        assert_eq!(client_ip(&trusted, rfc, peer, &open_quote), peer);
        let mut twice = HeaderMap::new();
        twice.append(
            FORWARDED,
            "for=1.1.1.1;for=198.51.100.9".parse().expect("header"),
        );
        assert_eq!(client_ip(&trusted, rfc, peer, &twice), peer);
        let mut unknown = HeaderMap::new();
        unknown.append(FORWARDED, "for=unknown".parse().expect("header"));
        assert_eq!(client_ip(&trusted, rfc, peer, &unknown), peer);
    }

    #[test]
    fn a_peer_that_is_not_trusted_is_the_client_whatever_it_forwards() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let headers = forwarded(&["198.51.100.1"]);
        assert_eq!(
            client_ip(&trusted, XFF, ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&[], XFF, ip("10.0.0.1"), &headers),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_address_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let peer = ip("10.0.0.1");
        // The client forged the first entry; our proxies appended the rest.
        let headers = forwarded(&["192.0.2.66, 198.51.100.1", "10.0.0.2"]);
        assert_eq!(client_ip(&trusted, XFF, peer, &headers), ip("198.51.100.1"));
        assert_eq!(client_ip(&trusted, XFF, peer, &HeaderMap::new()), peer);
        let garbled = forwarded(&["198.51.100.1, not-an-address, 10.0.0.3"]);
        assert_eq!(client_ip(&trusted, XFF, peer, &garbled), ip("10.0.0.3"));
        let with_ports = forwarded(&["[2001:db8::7]:443, 198.51.100.3:5678"]);
        assert_eq!(
            client_ip(&trusted, XFF, peer, &with_ports),
            ip("198.51.100.3")
        );
        let mut bytes = HeaderMap::new();
        bytes.append(
            X_FORWARDED_FOR,
            axum::http::HeaderValue::from_bytes(b"\xff, 198.51.100.1").expect("header"),
        );
        assert_eq!(client_ip(&trusted, XFF, peer, &bytes), ip("198.51.100.1"));
        let mapped = forwarded(&["::ffff:198.51.100.7"]);
        assert_eq!(
            client_ip(&trusted, XFF, ip("::ffff:10.0.0.1"), &mapped),
            ip("::ffff:198.51.100.7")
        );
    }
}
