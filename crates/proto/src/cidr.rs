//! CIDR blocks for the `allow` setting (PROTOCOL.md "A session"; README "Configuration"):
//! parsing `"10.0.0.0/8"` or `"::1/128"` and matching a peer's address. Performs no I/O.
//!
//! One IPv4 client has two spellings: `a.b.c.d` on an IPv4 socket, and the IPv4-mapped
//! `::ffff:a.b.c.d` on a dual-stack socket (`host: "::"`). Both spellings are the same peer
//! here: an IPv4 address matches an IPv4 block and every IPv6 block that holds its mapped form,
//! and a block written in the mapped form (`::ffff:10.0.0.0/104`) is read as the IPv4 block
//! (`10.0.0.0/8`). A block whose address has bits set beyond its prefix (`10.0.0.1/8`) is
//! refused: it is a typo for the network or for a single address, and either reading could
//! let in the wrong peers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block: a network address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not a block. The text itself is not repeated: the caller shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    NotAnAddress,
    /// The prefix length is not a number from 0 to `max`.
    BadPrefix {
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set beyond the prefix.
    HostBits {
        /// The block that holds the address.
        block: Cidr,
        /// The address as written (after reading a mapped one as IPv4).
        address: IpAddr,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::NotAnAddress => f.write_str("is not an IP address or CIDR block"),
            CidrError::BadPrefix { max } => {
                write!(f, "has a prefix length that is not 0 to {max}")
            }
            CidrError::HostBits { block, address } => {
                let single = if address.is_ipv4() { 32 } else { 128 };
                write!(
                    f,
                    "has host bits set beyond the /{} prefix: the block holding {address} is \
                     {block}; for that one address write {address}/{single}",
                    block.prefix
                )
            }
        }
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// True when `addr` lies in this block (either spelling of an IPv4 address, see the
    /// module docs).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.to_ipv6_mapped().octets(), self.prefix)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if net[..full] != ip[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    net[full] & mask == ip[full] & mask
}

/// `addr` with every bit beyond `prefix` cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    fn clear<const N: usize>(mut octets: [u8; N], prefix: u8) -> [u8; N] {
        for (i, octet) in octets.iter_mut().enumerate() {
            let first_bit = i * 8;
            let keep = usize::from(prefix).saturating_sub(first_bit).min(8);
            *octet &= !(0xffu16 >> keep) as u8;
        }
        octets
    }
    match addr {
        IpAddr::V4(a) => IpAddr::from(clear(a.octets(), prefix)),
        IpAddr::V6(a) => IpAddr::from(clear(a.octets(), prefix)),
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = addr.trim().parse().map_err(|_| CidrError::NotAnAddress)?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let mut prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or(CidrError::BadPrefix { max })?,
        };
        // The mapped spelling of an IPv4 block is the IPv4 block.
        let mut address = address;
        if let IpAddr::V6(v6) = address {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                address = IpAddr::V4(v4);
                prefix -= 96;
            }
        }
        let network = masked(address, prefix);
        let block = Cidr { network, prefix };
        if network != address {
            return Err(CidrError::HostBits { block, address });
        }
        Ok(block)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matches_v4_blocks() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.200.1.2")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("192.168.4.0/22").contains(ip("192.168.7.255")));
        assert!(!cidr("192.168.4.0/22").contains(ip("192.168.8.0")));
        assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
    }

    #[test]
    fn matches_v6_and_both_spellings_of_v4() {
        assert!(cidr("::1/128").contains(ip("::1")));
        assert!(!cidr("::1/128").contains(ip("127.0.0.1")));
        assert!(cidr("fe80::/10").contains(ip("fe80::1")));
        // A peer on a dual-stack socket against an IPv4 block.
        assert!(cidr("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        // A block in the mapped spelling is the IPv4 block, and matches both spellings.
        let mapped = cidr("::ffff:10.0.0.0/104");
        assert_eq!(mapped, cidr("10.0.0.0/8"));
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.1.2.3")));
        assert!(mapped.contains(ip("::ffff:10.1.2.3")));
        assert_eq!(cidr("::ffff:127.0.0.1"), cidr("127.0.0.1/32"));
        // IPv6 blocks holding the mapped range hold IPv4 peers too.
        assert!(cidr("::/0").contains(ip("192.0.2.1")));
        assert!(!cidr("2001:db8::/32").contains(ip("192.0.2.1")));
    }

    #[test]
    fn rejects_bad_blocks() {
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::BadPrefix { max: 32 })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::BadPrefix { max: 128 })
        );
        assert_eq!("ten/8".parse::<Cidr>(), Err(CidrError::NotAnAddress));
        assert_eq!(
            "10.0.0.0/x".parse::<Cidr>(),
            Err(CidrError::BadPrefix { max: 32 })
        );
    }

    #[test]
    fn host_bits_are_refused_with_what_was_probably_meant() {
        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "has host bits set beyond the /8 prefix: the block holding 10.0.0.1 is 10.0.0.0/8; \
             for that one address write 10.0.0.1/32"
        );
        let e = "fe80::1/10".parse::<Cidr>().unwrap_err();
        assert!(e
            .to_string()
            .contains("is fe80::/10; for that one address write fe80::1/128"));
        let e = "192.168.5.0/22".parse::<Cidr>().unwrap_err();
        assert!(e.to_string().contains("is 192.168.4.0/22"), "{e}");
        assert!("192.168.4.0/22".parse::<Cidr>().is_ok());
        assert!("0.0.0.0/0".parse::<Cidr>().is_ok());
        assert!("1.2.3.4/0".parse::<Cidr>().is_err());
    }
}
