//! Where outbound webhooks may go: never to an address inside the operator's network.
//!
//! Any workspace can register an endpoint, so an endpoint URL is untrusted input that makes
//! tokpost send requests (and, before this guard, read their answers) from inside the
//! operator's network (SSRF). Loopback, private (RFC 1918), link-local (the cloud metadata
//! service at 169.254.169.254 among them), CGNAT, IPv6 unique-local, multicast, unspecified,
//! broadcast and reserved ranges are refused, IPv4-mapped IPv6 judged as the IPv4 it carries:
//!
//! - at registration, every address the host resolves to must be allowed;
//! - at every send, through [`GuardedResolver`]: the connection is made only to an address that
//!   was resolved and judged in the same step, so a name that resolved to a public address at
//!   registration and to an internal one since (DNS rebinding) gets no connection. A URL whose
//!   host is an address literal is judged before the request (the resolver never sees it).
//!
//! An operator who runs receivers inside the network lists them ([`AddressPolicy::allowing`],
//! `webhooks.allow_internal` in the configuration), as CIDR ranges.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use std::time::Duration;
use url::{Host, Url};

/// The longest a name lookup at registration may take (a pace on the runtime's timer).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Which addresses outbound webhooks may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

/// An address an endpoint may not reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub address: IpAddr,
    /// What kind of address it is (`loopback`, `private`, `link-local`, …).
    pub kind: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is a {} address, inside the operator's network; webhooks go to public addresses only (an operator can allow internal receivers with webhooks.allow_internal)",
            self.address, self.kind
        )
    }
}

/// Why an endpoint URL cannot be sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} does not resolve ({reason})")]
    Unresolvable { host: String, reason: String },
    #[error("{host} resolves to {refused}")]
    Internal { host: String, refused: Refused },
}

impl AddressPolicy {
    /// Public addresses only.
    #[must_use]
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses, and also any address inside `ranges` (the operator's own receivers).
    #[must_use]
    pub fn allowing(ranges: Vec<IpNet>) -> Self {
        Self { allowed: ranges }
    }

    /// Whether `address` may be reached.
    ///
    /// # Errors
    /// The address and its kind, when it is internal and not allowed by the operator.
    pub fn judge(&self, address: IpAddr) -> Result<(), Refused> {
        let address = canonical(address);
        if self.allowed.iter().any(|range| range.contains(&address)) {
            return Ok(());
        }
        match internal_kind(address) {
            Some(kind) => Err(Refused { address, kind }),
            None => Ok(()),
        }
    }

    /// Judges every address `url`'s host stands for, resolving a name (registration).
    ///
    /// # Errors
    /// A host that is missing, does not resolve, or resolves to any internal address.
    pub async fn check_url(&self, url: &Url) -> Result<(), UrlRefusal> {
        match url.host() {
            None => Err(UrlRefusal::NoHost),
            Some(Host::Ipv4(ip)) => self.judge_host(&ip.to_string(), IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.judge_host(&ip.to_string(), IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let port = url.port_or_known_default().unwrap_or(443);
                let lookup =
                    tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port)));
                let addresses = match lookup.await {
                    Ok(Ok(addresses)) => addresses,
                    Ok(Err(error)) => {
                        return Err(UrlRefusal::Unresolvable {
                            host: name.to_owned(),
                            reason: error.to_string(),
                        });
                    }
                    Err(_) => {
                        return Err(UrlRefusal::Unresolvable {
                            host: name.to_owned(),
                            reason: format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs()),
                        });
                    }
                };
                let mut any = false;
                for address in addresses {
                    any = true;
                    self.judge_host(name, address.ip())?;
                }
                if any {
                    Ok(())
                } else {
                    Err(UrlRefusal::Unresolvable {
                        host: name.to_owned(),
                        reason: "no address".to_owned(),
                    })
                }
            }
        }
    }

    /// Judges `url`'s host when it is an address literal, which no resolver sees (every send).
    ///
    /// # Errors
    /// An internal address literal not allowed by the operator.
    pub fn check_literal(&self, url: &Url) -> Result<(), UrlRefusal> {
        match url.host() {
            None => Err(UrlRefusal::NoHost),
            Some(Host::Ipv4(ip)) => self.judge_host(&ip.to_string(), IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.judge_host(&ip.to_string(), IpAddr::V6(ip)),
            Some(Host::Domain(_)) => Ok(()),
        }
    }

    fn judge_host(&self, host: &str, address: IpAddr) -> Result<(), UrlRefusal> {
        self.judge(address).map_err(|refused| UrlRefusal::Internal {
            host: host.to_owned(),
            refused,
        })
    }
}

/// A resolver for the webhook client that hands out only addresses the policy allows.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    #[must_use]
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut allowed = Vec::with_capacity(resolved.len());
            let mut refused = None;
            for address in resolved {
                match policy.judge(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(why) => refused = Some(why),
                }
            }
            // A name with any internal address is refused whole: which address a connection
            // would use is not the sender's to choose, and the rebinding trick mixes them.
            if let Some(refused) = refused {
                return Err(Box::new(UrlRefusal::Internal { host, refused })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

/// An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// What kind of internal address this is; `None` for a public one.
fn internal_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified (\"this network\")")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (b & 0xC0) == 64 {
        Some("shared (CGNAT)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a >= 240 {
        Some("reserved")
    } else if a == 192 && b == 0 && c == 0 {
        Some("IETF protocol assignment")
    } else if a == 198 && (b & 0xFE) == 18 {
        Some("benchmarking")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if (first & 0xFE00) == 0xFC00 {
        Some("unique-local")
    } else if (first & 0xFFC0) == 0xFE80 {
        Some("link-local")
    } else if (first & 0xFFC0) == 0xFEC0 {
        Some("site-local")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64 embeds an IPv4 address in its last 32 bits: judge that one.
        let [.., a, b] = ip.segments();
        let embedded = Ipv4Addr::from((u32::from(a) << 16) | u32::from(b));
        internal_v4(embedded)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(address: &str) -> Option<&'static str> {
        AddressPolicy::public_only()
            .judge(address.parse().unwrap())
            .err()
            .map(|refused| refused.kind)
    }

    #[test]
    fn internal_addresses_are_refused_by_kind_and_public_ones_pass() {
        for (address, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.254", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fc12::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            assert_eq!(refused(address), Some(kind), "{address}");
        }
        for address in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(refused(address), None, "{address}");
        }
    }

    #[test]
    fn an_operator_allows_its_own_receivers_by_range() {
        let policy = AddressPolicy::allowing(vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.20.0.0/16".parse().unwrap(),
        ]);
        assert!(policy.judge("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.judge("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.judge("10.20.3.4".parse().unwrap()).is_ok());
        assert!(policy.judge("10.21.3.4".parse().unwrap()).is_err());
        assert!(policy.judge("169.254.169.254".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn a_url_is_judged_by_every_address_its_host_stands_for() {
        let policy = AddressPolicy::public_only();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://localhost:9/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            let url = Url::parse(url).unwrap();
            let error = policy.check_url(&url).await.unwrap_err();
            assert!(
                matches!(error, UrlRefusal::Internal { .. }),
                "{url}: {error}"
            );
        }
        let literal = Url::parse("http://10.0.0.1/").unwrap();
        assert!(policy.check_literal(&literal).is_err());
        let named = Url::parse("https://hooks.example.com/").unwrap();
        assert!(policy.check_literal(&named).is_ok());
    }
}
