//! Socket types and the RFC 23 compatibility table.

use std::fmt;
use std::str::FromStr;

/// A ZeroMQ socket type, as announced in the `Socket-Type` property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// REQ (RFC 28).
    Req,
    /// REP (RFC 28).
    Rep,
    /// DEALER (RFC 28).
    Dealer,
    /// ROUTER (RFC 28).
    Router,
    /// PUB (RFC 29).
    Pub,
    /// XPUB (RFC 29).
    Xpub,
    /// SUB (RFC 29).
    Sub,
    /// XSUB (RFC 29).
    Xsub,
    /// PUSH (RFC 30).
    Push,
    /// PULL (RFC 30).
    Pull,
    /// PAIR (RFC 31).
    Pair,
}

impl SocketType {
    /// Every socket type.
    pub const ALL: [SocketType; 11] = [
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pub,
        SocketType::Xpub,
        SocketType::Sub,
        SocketType::Xsub,
        SocketType::Push,
        SocketType::Pull,
        SocketType::Pair,
    ];

    /// The name on the wire, upper case as libzmq expects it.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pub => "PUB",
            SocketType::Xpub => "XPUB",
            SocketType::Sub => "SUB",
            SocketType::Xsub => "XSUB",
            SocketType::Push => "PUSH",
            SocketType::Pull => "PULL",
            SocketType::Pair => "PAIR",
        }
    }

    /// Parses the wire form exactly (upper case), as libzmq does.
    pub fn from_wire(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
    }

    /// RFC 23: whether a socket of this type may talk to a peer of type `peer`.
    pub fn is_compatible_with(self, peer: SocketType) -> bool {
        use SocketType::*;
        match self {
            Req => matches!(peer, Rep | Router),
            Rep => matches!(peer, Req | Dealer),
            Dealer => matches!(peer, Rep | Dealer | Router),
            Router => matches!(peer, Req | Dealer | Router),
            Pub | Xpub => matches!(peer, Sub | Xsub),
            Sub | Xsub => matches!(peer, Pub | Xpub),
            Push => peer == Pull,
            Pull => peer == Push,
            Pair => peer == Pair,
        }
    }

    /// Whether this type sends an `Identity` property (only REQ, DEALER and ROUTER do).
    pub fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }

    /// Whether incoming subscription messages (`\x01topic` / `\x00topic`) are meaningful here.
    pub fn accepts_subscriptions(self) -> bool {
        matches!(self, SocketType::Pub | SocketType::Xpub)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an unknown socket type name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown socket type {0:?} (expected one of PUSH, PULL, PUB, SUB, XPUB, XSUB, REQ, REP, DEALER, ROUTER, PAIR)")]
pub struct UnknownSocketType(pub String);

impl FromStr for SocketType {
    type Err = UnknownSocketType;
    /// Case-insensitive, for configuration and command lines.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSocketType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SocketType::*;

    #[test]
    fn compatibility_table_matches_rfc_23() {
        let valid = [
            (Req, Rep),
            (Req, Router),
            (Rep, Req),
            (Rep, Dealer),
            (Dealer, Rep),
            (Dealer, Dealer),
            (Dealer, Router),
            (Router, Req),
            (Router, Dealer),
            (Router, Router),
            (Pub, Sub),
            (Pub, Xsub),
            (Xpub, Sub),
            (Xpub, Xsub),
            (Sub, Pub),
            (Sub, Xpub),
            (Xsub, Pub),
            (Xsub, Xpub),
            (Push, Pull),
            (Pull, Push),
            (Pair, Pair),
        ];
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(
                    a.is_compatible_with(b),
                    valid.contains(&(a, b)),
                    "{a} with {b}"
                );
                // The table is symmetric.
                assert_eq!(a.is_compatible_with(b), b.is_compatible_with(a));
            }
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!("dealer".parse::<SocketType>().unwrap(), Dealer);
        assert_eq!(SocketType::from_wire(b"ROUTER"), Some(Router));
        assert_eq!(SocketType::from_wire(b"router"), None);
        assert!("SOCKET".parse::<SocketType>().is_err());
    }
}
