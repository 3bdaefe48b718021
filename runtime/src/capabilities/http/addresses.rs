//! Which destination addresses outbound HTTP treats as internal, and which
//! reach the host itself.
//!
//! The special-purpose ranges come from the IANA IPv4 and IPv6
//! Special-Purpose Address Registries
//! (<https://www.iana.org/assignments/iana-ipv4-special-registry/>,
//! <https://www.iana.org/assignments/iana-ipv6-special-registry/>), through
//! the `iprfc` crate's checked-in snapshot of them (`iprfc::RFC6890`), so the
//! list is the registry's, not ours. Every row counts, the few globally
//! reachable anycast blocks included: none of them is a web API. On top of
//! the registries, from the IANA address-space registries:
//!
//! - IPv4 multicast, 224.0.0.0/4 (IANA IPv4 Multicast Address Space
//!   Registry, RFC 5771);
//! - every IPv6 address outside the global unicast space 2000::/3 (IANA IPv6
//!   Address Space Registry): ::/8 with the deprecated IPv4-compatible
//!   ::a.b.c.d (RFC 4291 §2.5.5.1), unique-local fc00::/7, link-local
//!   fe80::/10, the deprecated site-local fec0::/10 (RFC 3879), multicast
//!   ff00::/8, and all space IANA has not allocated.
//!
//! IPv6 addresses that carry an IPv4 address are judged by that address:
//! IPv4-mapped ::ffff:0:0/96 (RFC 4291), the NAT64 well-known prefix
//! 64:ff9b::/96 (RFC 6052) and 6to4 2002::/16 (RFC 3056). Teredo
//! (2001::/32, inside the registry's 2001::/23) is internal whatever it
//! carries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is an address a grant must name explicitly: anything in the
/// IANA special-purpose registries (loopback, private, shared, link-local,
/// documentation, benchmarking, reserved, …), multicast, and IPv6 outside
/// global unicast; IPv6 addresses carrying an IPv4 address (mapped, NAT64,
/// 6to4) are judged by the IPv4 address. See the module docs for the list.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match carried_ipv4(v6) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    iprfc::RFC6890.contains(&ip) || ip.is_multicast()
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let global_unicast = ip.segments()[0] & 0xe000 == 0x2000;
    !global_unicast || iprfc::RFC6890.contains(&ip)
}

/// The IPv4 address an IPv6 address stands for, where the IPv6 address is
/// only a way of reaching that IPv4 address: IPv4-mapped (::ffff:a.b.c.d),
/// NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::/48).
fn carried_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(low)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
    } else {
        None
    }
}

/// Whether connecting to `addr` reaches a socket listening on `listener`:
/// same port, and the same address (IPv4-mapped IPv6 compared as IPv4), or
/// an unspecified destination (which the kernel sends to this machine), or,
/// when the listener is bound to an unspecified address, any loopback
/// address or any address of this machine.
pub(crate) fn reaches(addr: SocketAddr, listener: SocketAddr) -> bool {
    if addr.port() != listener.port() {
        return false;
    }
    let ip = addr.ip().to_canonical();
    let at = listener.ip().to_canonical();
    ip == at || ip.is_unspecified() || (at.is_unspecified() && (ip.is_loopback() || is_this_machine(ip)))
}

/// Whether `ip` is one of this machine's own addresses: only those can be
/// bound to.
fn is_this_machine(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// Each range the policy refuses, with the first, a middle and the last
    /// address of it.
    const INTERNAL: &[(&str, [&str; 3])] = &[
        // IANA IPv4 Special-Purpose Address Registry.
        ("0.0.0.0/8 this network", ["0.0.0.0", "0.1.2.3", "0.255.255.255"]),
        ("10.0.0.0/8 private", ["10.0.0.0", "10.1.2.3", "10.255.255.255"]),
        (
            "100.64.0.0/10 shared (CGN)",
            ["100.64.0.0", "100.100.1.1", "100.127.255.255"],
        ),
        ("127.0.0.0/8 loopback", ["127.0.0.0", "127.0.0.1", "127.255.255.255"]),
        (
            "169.254.0.0/16 link-local",
            ["169.254.0.0", "169.254.169.254", "169.254.255.255"],
        ),
        ("172.16.0.0/12 private", ["172.16.0.0", "172.20.5.4", "172.31.255.255"]),
        (
            "192.0.0.0/24 IETF protocol assignments",
            ["192.0.0.0", "192.0.0.9", "192.0.0.255"],
        ),
        ("192.0.2.0/24 TEST-NET-1", ["192.0.2.0", "192.0.2.1", "192.0.2.255"]),
        (
            "192.31.196.0/24 AS112-v4",
            ["192.31.196.0", "192.31.196.1", "192.31.196.255"],
        ),
        (
            "192.52.193.0/24 AMT",
            ["192.52.193.0", "192.52.193.1", "192.52.193.255"],
        ),
        (
            "192.88.99.0/24 6to4 relay anycast",
            ["192.88.99.0", "192.88.99.1", "192.88.99.255"],
        ),
        (
            "192.168.0.0/16 private",
            ["192.168.0.0", "192.168.1.1", "192.168.255.255"],
        ),
        (
            "192.175.48.0/24 AS112 direct delegation",
            ["192.175.48.0", "192.175.48.1", "192.175.48.255"],
        ),
        (
            "198.18.0.0/15 benchmarking",
            ["198.18.0.0", "198.18.200.1", "198.19.255.255"],
        ),
        (
            "198.51.100.0/24 TEST-NET-2",
            ["198.51.100.0", "198.51.100.7", "198.51.100.255"],
        ),
        (
            "203.0.113.0/24 TEST-NET-3",
            ["203.0.113.0", "203.0.113.7", "203.0.113.255"],
        ),
        ("240.0.0.0/4 reserved", ["240.0.0.0", "250.1.2.3", "255.255.255.254"]),
        (
            "255.255.255.255/32 broadcast",
            ["255.255.255.255", "255.255.255.255", "255.255.255.255"],
        ),
        // IANA IPv4 Multicast Address Space Registry.
        ("224.0.0.0/4 multicast", ["224.0.0.0", "230.1.2.3", "239.255.255.255"]),
        // IANA IPv6 Special-Purpose Address Registry.
        ("::1/128 loopback", ["::1", "::1", "::1"]),
        ("::/128 unspecified", ["::", "::", "::"]),
        (
            "64:ff9b:1::/48 local-use NAT64",
            ["64:ff9b:1::", "64:ff9b:1::1", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"],
        ),
        ("100::/64 discard-only", ["100::", "100::1", "100::ffff:ffff:ffff:ffff"]),
        (
            "2001::/23 IETF protocol assignments",
            ["2001::", "2001:100::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "2001::/32 Teredo",
            [
                "2001::",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
            ],
        ),
        (
            "2001:db8::/32 documentation",
            ["2001:db8::", "2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "2620:4f:8000::/48 AS112 direct delegation",
            [
                "2620:4f:8000::",
                "2620:4f:8000::1",
                "2620:4f:8000:ffff:ffff:ffff:ffff:ffff",
            ],
        ),
        (
            "3fff::/20 documentation",
            ["3fff::", "3fff::1", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "5f00::/16 SRv6 SIDs",
            ["5f00::", "5f00::1", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "fc00::/7 unique-local",
            ["fc00::", "fd00::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "fe80::/10 link-local",
            ["fe80::", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        // IANA IPv6 Address Space Registry: outside global unicast 2000::/3.
        ("::/96 IPv4-compatible", ["::0.0.0.2", "::7f00:1", "::5db8:d822"]),
        (
            "::/8 reserved",
            ["::1:0:0:0", "::ffff:0:7f00:1", "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "fec0::/10 site-local",
            ["fec0::", "fec0::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "ff00::/8 multicast",
            ["ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "4000::/3 unallocated",
            ["4000::", "4000::1", "5fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        // IPv6 carrying an internal IPv4 address.
        (
            "::ffff:0:0/96 IPv4-mapped, internal IPv4",
            ["::ffff:0.0.0.0", "::ffff:127.0.0.1", "::ffff:10.1.2.3"],
        ),
        (
            "64:ff9b::/96 NAT64, internal IPv4",
            ["64:ff9b::", "64:ff9b::127.0.0.1", "64:ff9b::192.168.1.1"],
        ),
        (
            "2002::/16 6to4, internal IPv4",
            ["2002::", "2002:7f00:1::1", "2002:a9fe:a9fe:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "NAT64 of the new IPv4 ranges",
            ["64:ff9b::100.64.0.1", "64:ff9b::198.18.0.1", "64:ff9b::224.0.0.1"],
        ),
    ];

    #[test]
    fn every_listed_range_is_internal() {
        let missed: Vec<String> = INTERNAL
            .iter()
            .flat_map(|(range, addrs)| addrs.iter().map(move |a| (range, a)))
            .filter(|(_, a)| !is_internal(ip(a)))
            .map(|(range, a)| format!("{a} ({range})"))
            .collect();
        assert!(missed.is_empty(), "not internal: {missed:#?}");
    }

    #[test]
    fn every_prefix_of_the_iana_registries_is_internal() {
        let missed: Vec<String> = iprfc::RFC6890
            .ip_nets()
            .iter()
            .flat_map(|net| [(net, net.network()), (net, net.broadcast())])
            .filter(|(_, a)| !is_internal(*a))
            .map(|(net, a)| format!("{a} ({net})"))
            .collect();
        assert!(missed.is_empty(), "not internal: {missed:#?}");
    }

    #[test]
    fn public_addresses_are_not_internal() {
        for a in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:2800:220:1::1",
            "2a00:1450:4001:81c::200e",
            "2001:200::1",
            "::ffff:93.184.216.34",
            "64:ff9b::93.184.216.34",
            "2002:5db8:d822::1",
        ] {
            assert!(!is_internal(ip(a)), "{a} must not be internal");
        }
    }

    #[test]
    fn the_hosts_own_address_is_recognised() {
        let at = |s: &str| s.parse::<SocketAddr>().expect("socket address");
        // Bound to one address: that address, its IPv4-mapped form, and
        // the unspecified address, on that port only.
        let loopback = at("127.0.0.1:8080");
        for a in ["127.0.0.1:8080", "[::ffff:127.0.0.1]:8080", "0.0.0.0:8080", "[::]:8080"] {
            assert!(reaches(at(a), loopback), "{a}");
        }
        for a in ["127.0.0.1:8081", "127.0.0.2:8080", "[::1]:8080", "10.0.0.1:8080"] {
            assert!(!reaches(at(a), loopback), "{a}");
        }
        // Bound to every address: any loopback address too.
        for listener in [at("0.0.0.0:8080"), at("[::]:8080")] {
            for a in [
                "127.0.0.1:8080",
                "127.0.0.2:8080",
                "[::1]:8080",
                "0.0.0.0:8080",
                "[::]:8080",
            ] {
                assert!(reaches(at(a), listener), "{a} -> {listener}");
            }
            assert!(!reaches(at("127.0.0.1:8081"), listener));
            // Not an address of this machine.
            assert!(!reaches(at("93.184.216.34:8080"), listener));
        }
    }
}
