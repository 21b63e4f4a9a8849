//! The libzmq options of a blocking socket, as the zmq crate names them: each value checked
//! when set. Options that shape connections must come before the socket is first used (see
//! [`Error::SetAfterConnect`]); timeouts, linger and subscriptions change at any time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmtp_core::SocketType::{self, Dealer, Pub, Pull, Push, Req, Router, Sub, Xpub, Xsub};
use zmtp_zap::Authenticator;

use super::error::Error;
use super::options::{count, millis_or_forever, millis_or_off, to_int, to_millis, Role};
use super::socket::Socket;

/// libzmq's largest heartbeat TTL: the PING carries it in deciseconds in 16 bits.
const MAX_HEARTBEAT_TTL_MS: i32 = 6_553_599;

impl Socket {
    /// `ZMQ_SNDTIMEO`: how long a send may wait, in milliseconds: -1 for ever (the default),
    /// 0 not at all ([`Error::WouldBlock`]), else at most that long ([`Error::Timeout`]).
    /// Changes at any time.
    pub fn set_sndtimeo(&self, ms: i32) -> Result<(), Error> {
        millis_or_forever("ZMQ_SNDTIMEO", ms)?;
        self.sndtimeo_cell().set(ms);
        Ok(())
    }

    /// `ZMQ_SNDTIMEO` in milliseconds (-1: for ever).
    pub fn get_sndtimeo(&self) -> Result<i32, Error> {
        Ok(self.sndtimeo_cell().get())
    }

    /// `ZMQ_RCVTIMEO`: how long a receive may wait, as [`set_sndtimeo`](Self::set_sndtimeo).
    pub fn set_rcvtimeo(&self, ms: i32) -> Result<(), Error> {
        millis_or_forever("ZMQ_RCVTIMEO", ms)?;
        self.rcvtimeo_cell().set(ms);
        Ok(())
    }

    /// `ZMQ_RCVTIMEO` in milliseconds (-1: for ever).
    pub fn get_rcvtimeo(&self) -> Result<i32, Error> {
        Ok(self.rcvtimeo_cell().get())
    }

    /// `ZMQ_LINGER`: how long queued messages may keep going out after the socket is dropped,
    /// in milliseconds (-1, the default: until they are sent; 0: drop them). The context's
    /// last handle waits for it. Changes at any time.
    pub fn set_linger(&self, ms: i32) -> Result<(), Error> {
        millis_or_forever("ZMQ_LINGER", ms)?;
        self.linger_cell().set(ms);
        Ok(())
    }

    /// `ZMQ_LINGER` in milliseconds (-1: until sent).
    pub fn get_linger(&self) -> Result<i32, Error> {
        Ok(self.linger_cell().get())
    }

    /// `ZMQ_SUBSCRIBE` (SUB, XSUB; an XPUB with `xpub_manual` once in use): receive messages
    /// whose first part starts with `topic` (empty: all). At any time.
    pub fn set_subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.subscription("ZMQ_SUBSCRIBE", topic, true)
    }

    /// `ZMQ_UNSUBSCRIBE`: removes one subscription to `topic`. At any time.
    pub fn set_unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.subscription("ZMQ_UNSUBSCRIBE", topic, false)
    }

    fn subscription(&self, option: &'static str, topic: &[u8], on: bool) -> Result<(), Error> {
        let topic = Bytes::copy_from_slice(topic);
        if let Some(socket) = self.existing() {
            return Ok(if on {
                socket.subscribe(topic)
            } else {
                socket.unsubscribe(topic)
            }?);
        }
        self.configure(option, |c| {
            c.require_type(option, &[Sub, Xsub])?;
            c.subscriptions.push((topic, on));
            Ok(())
        })
    }

    /// `ZMQ_SNDHWM`: messages queued per peer before a send waits (0: no limit; default 1000).
    pub fn set_sndhwm(&self, hwm: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_SNDHWM";
        let hwm = count(OPTION, hwm)?;
        self.set_option(OPTION, |o| o.sndhwm = hwm)
    }

    /// `ZMQ_SNDHWM`.
    pub fn get_sndhwm(&self) -> Result<i32, Error> {
        Ok(to_int(self.config().options.sndhwm))
    }

    /// `ZMQ_RCVHWM`: messages queued per peer for receiving before its connection stops
    /// reading (0: no limit; default 1000).
    pub fn set_rcvhwm(&self, hwm: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_RCVHWM";
        let hwm = count(OPTION, hwm)?;
        self.set_option(OPTION, |o| o.rcvhwm = hwm)
    }

    /// `ZMQ_RCVHWM`.
    pub fn get_rcvhwm(&self) -> Result<i32, Error> {
        Ok(to_int(self.config().options.rcvhwm))
    }

    /// `ZMQ_ROUTING_ID` under its older name `ZMQ_IDENTITY`, as the zmq crate calls it.
    pub fn set_identity(&self, id: &[u8]) -> Result<(), Error> {
        self.set_routing_id(id)
    }

    /// `ZMQ_ROUTING_ID`.
    pub fn get_identity(&self) -> Result<Vec<u8>, Error> {
        self.get_routing_id()
    }

    /// `ZMQ_ROUTING_ID`: the id a REQ, DEALER or ROUTER announces to a ROUTER peer, 1 to 255
    /// octets (libzmq's bounds).
    pub fn set_routing_id(&self, id: &[u8]) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_ROUTING_ID";
        if id.is_empty() || id.len() > 255 {
            return Err(Error::InvalidValue {
                option: OPTION,
                reason: "a routing id is 1 to 255 octets",
            });
        }
        let id = Bytes::copy_from_slice(id);
        self.set_option(OPTION, |o| o.routing_id = id)
    }

    /// `ZMQ_ROUTING_ID` (empty when not set).
    pub fn get_routing_id(&self) -> Result<Vec<u8>, Error> {
        Ok(self.config().options.routing_id.to_vec())
    }

    /// Changes one of the async socket's options.
    fn set_option(
        &self,
        option: &'static str,
        change: impl FnOnce(&mut crate::SocketOptions),
    ) -> Result<(), Error> {
        self.configure(option, |c| {
            change(&mut c.options);
            Ok(())
        })
    }

    /// Sets a flag that applies to some socket types only, refusing the others as libzmq does.
    fn set_flag(
        &self,
        option: &'static str,
        types: &[SocketType],
        value: bool,
        field: impl FnOnce(&mut crate::SocketOptions) -> &mut bool,
    ) -> Result<(), Error> {
        self.configure(option, |c| {
            c.require_type(option, types)?;
            *field(&mut c.options) = value;
            Ok(())
        })
    }

    /// `ZMQ_ROUTER_MANDATORY` (ROUTER): a send to an unknown routing id fails
    /// (`SocketError::HostUnreachable`) instead of being dropped.
    pub fn set_router_mandatory(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_ROUTER_MANDATORY", &[Router], on, |o| {
            &mut o.router_mandatory
        })
    }

    /// `ZMQ_ROUTER_MANDATORY`.
    pub fn is_router_mandatory(&self) -> Result<bool, Error> {
        Ok(self.config().options.router_mandatory)
    }

    /// `ZMQ_ROUTER_HANDOVER` (ROUTER): a peer announcing a routing id in use takes it over.
    pub fn set_router_handover(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_ROUTER_HANDOVER", &[Router], on, |o| {
            &mut o.router_handover
        })
    }

    /// `ZMQ_ROUTER_HANDOVER`.
    pub fn is_router_handover(&self) -> Result<bool, Error> {
        Ok(self.config().options.router_handover)
    }

    /// `ZMQ_PROBE_ROUTER` (ROUTER, DEALER): send an empty message to each peer as it joins.
    pub fn set_probe_router(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_PROBE_ROUTER", &[Router, Dealer], on, |o| {
            &mut o.probe_router
        })
    }

    /// `ZMQ_PROBE_ROUTER`.
    pub fn is_probe_router(&self) -> Result<bool, Error> {
        Ok(self.config().options.probe_router)
    }

    /// `ZMQ_REQ_CORRELATE` (REQ): match replies to requests by a request id.
    pub fn set_req_correlate(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_REQ_CORRELATE", &[Req], on, |o| &mut o.req_correlate)
    }

    /// `ZMQ_REQ_CORRELATE`.
    pub fn is_req_correlate(&self) -> Result<bool, Error> {
        Ok(self.config().options.req_correlate)
    }

    /// `ZMQ_REQ_RELAXED` (REQ): a new request may go before the reply to the last came.
    pub fn set_req_relaxed(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_REQ_RELAXED", &[Req], on, |o| &mut o.req_relaxed)
    }

    /// `ZMQ_REQ_RELAXED`.
    pub fn is_req_relaxed(&self) -> Result<bool, Error> {
        Ok(self.config().options.req_relaxed)
    }

    /// `ZMQ_XPUB_VERBOSE` (XPUB): pass every subscription up, not only the first per topic.
    pub fn set_xpub_verbose(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_XPUB_VERBOSE", &[Xpub], on, |o| &mut o.xpub_verbose)
    }

    /// `ZMQ_XPUB_VERBOSE`.
    pub fn is_xpub_verbose(&self) -> Result<bool, Error> {
        Ok(self.config().options.xpub_verbose)
    }

    /// `ZMQ_XPUB_NODROP` (PUB, XPUB): a send waits (for at most SNDTIMEO) while a matching
    /// subscriber is at its high-water mark, instead of dropping the message for it.
    pub fn set_xpub_nodrop(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_XPUB_NODROP", &[Pub, Xpub], on, |o| &mut o.xpub_nodrop)
    }

    /// `ZMQ_XPUB_NODROP`.
    pub fn is_xpub_nodrop(&self) -> Result<bool, Error> {
        Ok(self.config().options.xpub_nodrop)
    }

    /// `ZMQ_XPUB_WELCOME_MSG` (XPUB): a message sent to each subscriber as it joins (`None`:
    /// none, the default).
    pub fn set_xpub_welcome_msg(&self, message: Option<&str>) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_XPUB_WELCOME_MSG";
        let message = message.map(|m| Bytes::copy_from_slice(m.as_bytes()));
        self.configure(OPTION, |c| {
            c.require_type(OPTION, &[Xpub])?;
            c.options.xpub_welcome_msg = message;
            Ok(())
        })
    }

    /// `ZMQ_INVERT_MATCHING`: PUB and XPUB send to the peers whose subscriptions do **not**
    /// match, and SUB receives what its subscriptions do not match (accepted on any socket
    /// type, as libzmq does).
    pub fn set_invert_matching(&self, on: bool) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_INVERT_MATCHING";
        self.set_option(OPTION, |o| o.invert_matching = on)
    }

    /// `ZMQ_INVERT_MATCHING`.
    pub fn is_invert_matching(&self) -> Result<bool, Error> {
        Ok(self.config().options.invert_matching)
    }

    /// `ZMQ_CONFLATE` (PUB, SUB, PUSH, PULL, DEALER): keep only the newest message in each
    /// queue, as libzmq does, for single-part messages.
    pub fn set_conflate(&self, on: bool) -> Result<(), Error> {
        self.set_flag("ZMQ_CONFLATE", &[Pub, Sub, Push, Pull, Dealer], on, |o| {
            &mut o.conflate
        })
    }

    /// `ZMQ_CONFLATE`.
    pub fn is_conflate(&self) -> Result<bool, Error> {
        Ok(self.config().options.conflate)
    }

    /// `ZMQ_IPV6`: a `*` bind is dual-stack and host names may resolve to IPv6 addresses.
    pub fn set_ipv6(&self, on: bool) -> Result<(), Error> {
        self.set_option("ZMQ_IPV6", |o| o.ipv6 = on)
    }

    /// `ZMQ_IPV6`.
    pub fn is_ipv6(&self) -> Result<bool, Error> {
        Ok(self.config().options.ipv6)
    }

    /// `ZMQ_CURVE_SERVER`: on makes this socket a CURVE server (it needs
    /// `ZMQ_CURVE_SECRETKEY`); off returns it to NULL security.
    pub fn set_curve_server(&self, on: bool) -> Result<(), Error> {
        self.configure("ZMQ_CURVE_SERVER", |c| {
            c.set_curve_server(on);
            Ok(())
        })
    }

    /// `ZMQ_CURVE_SERVER`.
    pub fn is_curve_server(&self) -> Result<bool, Error> {
        Ok(self.config().role() == Role::CurveServer)
    }

    /// `ZMQ_CURVE_SECRETKEY`: our long-term secret key, 32 octets or 40 Z85 characters (the
    /// all-zero key is refused). Selects CURVE, as a client unless `ZMQ_CURVE_SERVER` is on.
    pub fn set_curve_secretkey(&self, key: &[u8]) -> Result<(), Error> {
        self.configure("ZMQ_CURVE_SECRETKEY", |c| c.set_curve_secretkey(key))
    }

    /// `ZMQ_CURVE_PUBLICKEY`: our long-term public key, 32 octets or 40 Z85 characters. It is
    /// derived from the secret key; set, it must belong to it.
    pub fn set_curve_publickey(&self, key: &[u8]) -> Result<(), Error> {
        self.configure("ZMQ_CURVE_PUBLICKEY", |c| c.set_curve_publickey(key))
    }

    /// `ZMQ_CURVE_PUBLICKEY` as 32 octets (derived from the secret key when only that was
    /// set; empty when neither was).
    pub fn get_curve_publickey(&self) -> Result<Vec<u8>, Error> {
        Ok(self
            .config()
            .curve_publickey()
            .map_or_else(Vec::new, |k| k.as_bytes().to_vec()))
    }

    /// `ZMQ_CURVE_SERVERKEY`: the server's public key, 32 octets or 40 Z85 characters; makes
    /// this socket a CURVE client (it also needs `ZMQ_CURVE_SECRETKEY`).
    pub fn set_curve_serverkey(&self, key: &[u8]) -> Result<(), Error> {
        self.configure("ZMQ_CURVE_SERVERKEY", |c| c.set_curve_serverkey(key))
    }

    /// `ZMQ_CURVE_SERVERKEY` as 32 octets (empty when not set).
    pub fn get_curve_serverkey(&self) -> Result<Vec<u8>, Error> {
        Ok(self
            .config()
            .curve_serverkey()
            .map_or_else(Vec::new, |k| k.as_bytes().to_vec()))
    }

    /// `ZMQ_PLAIN_USERNAME`, 1 to 255 octets: makes this socket a PLAIN client (it also needs
    /// `ZMQ_PLAIN_PASSWORD`). `None` or empty returns it to NULL security.
    pub fn set_plain_username(&self, name: Option<&str>) -> Result<(), Error> {
        self.configure("ZMQ_PLAIN_USERNAME", |c| c.set_plain_username(name))
    }

    /// `ZMQ_PLAIN_USERNAME`; the inner `Err` holds a name that is not UTF-8 (never: the
    /// setter takes text). Empty when not set.
    pub fn get_plain_username(&self) -> Result<Result<String, Vec<u8>>, Error> {
        let name = self.config().plain_username().unwrap_or_default().to_vec();
        Ok(String::from_utf8(name).map_err(|e| e.into_bytes()))
    }

    /// `ZMQ_PLAIN_PASSWORD`, 1 to 255 octets: makes this socket a PLAIN client. `None` or
    /// empty returns it to NULL security. Kept in memory that is wiped; there is no getter.
    pub fn set_plain_password(&self, password: Option<&str>) -> Result<(), Error> {
        self.configure("ZMQ_PLAIN_PASSWORD", |c| c.set_plain_password(password))
    }

    /// `ZMQ_PLAIN_SERVER`: on makes this socket a PLAIN server, off returns it to NULL. A
    /// PLAIN server refuses every client until [`set_authenticator`](Self::set_authenticator)
    /// gives it someone to ask (libzmq: a ZAP handler bound in the context).
    pub fn set_plain_server(&self, on: bool) -> Result<(), Error> {
        self.configure("ZMQ_PLAIN_SERVER", |c| {
            c.set_plain_server(on);
            Ok(())
        })
    }

    /// `ZMQ_PLAIN_SERVER`.
    pub fn is_plain_server(&self) -> Result<bool, Error> {
        Ok(self.config().role() == Role::PlainServer)
    }

    /// Who answers this socket's ZAP requests (libzmq: the handler bound at
    /// `inproc://zeromq.zap.01`), e.g. a [`zmtp::zap::Policy`](crate::zap::Policy).
    pub fn set_authenticator(&self, authenticator: Arc<dyn Authenticator>) -> Result<(), Error> {
        self.configure("authenticator", |c| {
            c.options.authenticator = Some(authenticator);
            Ok(())
        })
    }

    /// `ZMQ_ZAP_DOMAIN`, at most 255 octets (empty: none). See
    /// [`set_zap_enforce_domain`](Self::set_zap_enforce_domain) for a domain without an
    /// authenticator.
    pub fn set_zap_domain(&self, domain: &str) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_ZAP_DOMAIN";
        if domain.len() > 255 {
            return Err(Error::InvalidValue {
                option: OPTION,
                reason: "a ZAP domain is at most 255 octets",
            });
        }
        let domain = (!domain.is_empty()).then(|| domain.to_owned());
        self.set_option(OPTION, |o| o.zap_domain = domain)
    }

    /// `ZMQ_ZAP_DOMAIN`; the inner `Err` never happens (the setter takes text).
    pub fn get_zap_domain(&self) -> Result<Result<String, Vec<u8>>, Error> {
        Ok(Ok(self
            .config()
            .options
            .zap_domain
            .clone()
            .unwrap_or_default()))
    }

    /// `ZMQ_ZAP_ENFORCE_DOMAIN`, **on** by default here (libzmq: off): with a ZAP domain and no
    /// authenticator, NULL and CURVE peers are refused. Off restores libzmq's behaviour.
    pub fn set_zap_enforce_domain(&self, on: bool) -> Result<(), Error> {
        self.set_option("ZMQ_ZAP_ENFORCE_DOMAIN", |o| o.zap_enforce_domain = on)
    }

    /// `ZMQ_ZAP_ENFORCE_DOMAIN`.
    pub fn is_zap_enforce_domain(&self) -> Result<bool, Error> {
        Ok(self.config().options.zap_enforce_domain)
    }

    /// `ZMQ_HEARTBEAT_IVL`: send a PING after this many milliseconds without one (0: no
    /// heartbeats, the default).
    pub fn set_heartbeat_ivl(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_HEARTBEAT_IVL";
        let ivl = millis_or_off(OPTION, ms)?;
        self.set_option(OPTION, |o| o.heartbeat.interval = ivl)
    }

    /// `ZMQ_HEARTBEAT_IVL` in milliseconds (0: off).
    pub fn get_heartbeat_ivl(&self) -> Result<i32, Error> {
        Ok(to_millis(self.config().options.heartbeat.interval, 0))
    }

    /// `ZMQ_HEARTBEAT_TTL`: how long the peer may go without hearing from us, sent in our
    /// PINGs, 0 (none) to 6553599 ms (rounded down to deciseconds on the wire).
    pub fn set_heartbeat_ttl(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_HEARTBEAT_TTL";
        if !(0..=MAX_HEARTBEAT_TTL_MS).contains(&ms) {
            return Err(Error::OutOfRange {
                option: OPTION,
                value: ms.into(),
                expected: "0..=6553599 milliseconds",
            });
        }
        let ttl = (ms > 0).then(|| Duration::from_millis(ms as u64));
        self.set_option(OPTION, |o| o.heartbeat.ttl = ttl)
    }

    /// `ZMQ_HEARTBEAT_TTL` in milliseconds (0: none).
    pub fn get_heartbeat_ttl(&self) -> Result<i32, Error> {
        Ok(to_millis(self.config().options.heartbeat.ttl, 0))
    }

    /// `ZMQ_HEARTBEAT_TIMEOUT`: how long to wait for traffic after a PING, in milliseconds
    /// (-1, the default: the heartbeat interval).
    pub fn set_heartbeat_timeout(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_HEARTBEAT_TIMEOUT";
        let timeout = match ms {
            -1 => None,
            ms if ms >= 0 => Some(Duration::from_millis(ms as u64)),
            ms => {
                return Err(Error::OutOfRange {
                    option: OPTION,
                    value: ms.into(),
                    expected: "-1 (the heartbeat interval) or 0 or more milliseconds",
                })
            }
        };
        self.set_option(OPTION, |o| o.heartbeat.timeout = timeout)
    }

    /// `ZMQ_HEARTBEAT_TIMEOUT` in milliseconds (-1: the interval).
    pub fn get_heartbeat_timeout(&self) -> Result<i32, Error> {
        Ok(to_millis(self.config().options.heartbeat.timeout, -1))
    }

    /// `ZMQ_HANDSHAKE_IVL`: the most a handshake may take, in milliseconds (0: no limit;
    /// default 30000).
    pub fn set_handshake_ivl(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_HANDSHAKE_IVL";
        let ivl = millis_or_off(OPTION, ms)?;
        self.set_option(OPTION, |o| o.handshake_ivl = ivl)
    }

    /// `ZMQ_HANDSHAKE_IVL` in milliseconds (0: no limit).
    pub fn get_handshake_ivl(&self) -> Result<i32, Error> {
        Ok(to_millis(self.config().options.handshake_ivl, 0))
    }

    /// `ZMQ_MAXMSGSIZE`: the largest message a peer may send, in octets; a peer sending a
    /// larger one is disconnected. -1: no limit. It bounds each frame too. Default 256 MiB
    /// (libzmq: -1).
    pub fn set_maxmsgsize(&self, bytes: i64) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_MAXMSGSIZE";
        let limit = match bytes {
            -1 => u64::MAX,
            b if b >= 0 => b as u64,
            b => {
                return Err(Error::OutOfRange {
                    option: OPTION,
                    value: b,
                    expected: "-1 (no limit) or 0 or more octets",
                })
            }
        };
        self.configure(OPTION, |c| {
            c.options.limits.max_message_size = limit;
            c.options.limits.max_frame_size = limit;
            Ok(())
        })
    }

    /// `ZMQ_MAXMSGSIZE` in octets (-1: no limit).
    pub fn get_maxmsgsize(&self) -> Result<i64, Error> {
        let limit = self.config().options.limits.max_message_size;
        Ok(i64::try_from(limit).unwrap_or(-1))
    }

    /// `ZMQ_RECONNECT_IVL`: milliseconds before reconnecting a lost or refused connection
    /// (default 100). libzmq's -1 (never reconnect) is not supported and refused.
    pub fn set_reconnect_ivl(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_RECONNECT_IVL";
        if ms < 0 {
            return Err(Error::OutOfRange {
                option: OPTION,
                value: ms.into(),
                expected: "0 or more milliseconds (-1, never reconnect, is not supported)",
            });
        }
        let ivl = Duration::from_millis(ms as u64);
        self.set_option(OPTION, |o| o.reconnect_ivl = ivl)
    }

    /// `ZMQ_RECONNECT_IVL` in milliseconds.
    pub fn get_reconnect_ivl(&self) -> Result<i32, Error> {
        Ok(to_millis(Some(self.config().options.reconnect_ivl), 0))
    }

    /// `ZMQ_RECONNECT_IVL_MAX`: the reconnect interval doubles after each failure up to this
    /// many milliseconds (0, the default: it stays at `ZMQ_RECONNECT_IVL`).
    pub fn set_reconnect_ivl_max(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_RECONNECT_IVL_MAX";
        let max = millis_or_off(OPTION, ms)?;
        self.set_option(OPTION, |o| o.reconnect_ivl_max = max)
    }

    /// `ZMQ_RECONNECT_IVL_MAX` in milliseconds (0: no backoff).
    pub fn get_reconnect_ivl_max(&self) -> Result<i32, Error> {
        Ok(to_millis(self.config().options.reconnect_ivl_max, 0))
    }

    /// `ZMQ_CONNECT_TIMEOUT` in milliseconds: a TCP connect taking longer is abandoned and
    /// retried (0, the default: the operating system's own timeout).
    pub fn set_connect_timeout(&self, ms: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_CONNECT_TIMEOUT";
        let timeout = millis_or_off(OPTION, ms)?;
        self.set_option(OPTION, |o| o.connect_timeout = timeout)
    }

    /// `ZMQ_CONNECT_TIMEOUT` in milliseconds (0: none).
    pub fn get_connect_timeout(&self) -> Result<i32, Error> {
        Ok(to_millis(self.config().options.connect_timeout, 0))
    }

    /// `ZMQ_TCP_KEEPALIVE`: -1 leaves the operating system's default, 0 turns keepalive off,
    /// 1 on.
    pub fn set_tcp_keepalive(&self, value: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_TCP_KEEPALIVE";
        let on = match value {
            -1 => None,
            0 => Some(false),
            1 => Some(true),
            v => return Err(out_of_range(OPTION, v, "-1, 0 or 1")),
        };
        self.set_option(OPTION, |o| o.tcp_keepalive = on)
    }

    /// `ZMQ_TCP_KEEPALIVE` (-1: the system's default).
    pub fn get_tcp_keepalive(&self) -> Result<i32, Error> {
        Ok(self.config().options.tcp_keepalive.map_or(-1, i32::from))
    }

    /// `ZMQ_TCP_KEEPALIVE_IDLE` in seconds (-1: the system's default).
    pub fn set_tcp_keepalive_idle(&self, seconds: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_TCP_KEEPALIVE_IDLE";
        let idle = seconds_or_default(OPTION, seconds)?;
        self.set_option(OPTION, |o| o.tcp_keepalive_idle = idle)
    }

    /// `ZMQ_TCP_KEEPALIVE_IDLE` in seconds (-1: the system's default).
    pub fn get_tcp_keepalive_idle(&self) -> Result<i32, Error> {
        Ok(seconds(self.config().options.tcp_keepalive_idle))
    }

    /// `ZMQ_TCP_KEEPALIVE_INTVL` in seconds (-1: the system's default).
    pub fn set_tcp_keepalive_intvl(&self, seconds: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_TCP_KEEPALIVE_INTVL";
        let intvl = seconds_or_default(OPTION, seconds)?;
        self.set_option(OPTION, |o| o.tcp_keepalive_intvl = intvl)
    }

    /// `ZMQ_TCP_KEEPALIVE_INTVL` in seconds (-1: the system's default).
    pub fn get_tcp_keepalive_intvl(&self) -> Result<i32, Error> {
        Ok(seconds(self.config().options.tcp_keepalive_intvl))
    }

    /// `ZMQ_TCP_KEEPALIVE_CNT`: probes before the connection is dropped (-1: the system's
    /// default).
    pub fn set_tcp_keepalive_cnt(&self, count: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_TCP_KEEPALIVE_CNT";
        let cnt = match count {
            -1 => None,
            c if c > 0 => Some(c as u32),
            c => {
                return Err(out_of_range(
                    OPTION,
                    c,
                    "-1 (the system's default) or 1 or more",
                ))
            }
        };
        self.set_option(OPTION, |o| o.tcp_keepalive_cnt = cnt)
    }

    /// `ZMQ_TCP_KEEPALIVE_CNT` (-1: the system's default).
    pub fn get_tcp_keepalive_cnt(&self) -> Result<i32, Error> {
        Ok(self
            .config()
            .options
            .tcp_keepalive_cnt
            .map_or(-1, |c| i32::try_from(c).unwrap_or(i32::MAX)))
    }

    /// `ZMQ_SNDBUF` in octets (-1: the system's default).
    pub fn set_sndbuf(&self, octets: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_SNDBUF";
        let size = octets_or_default(OPTION, octets)?;
        self.set_option(OPTION, |o| o.sndbuf = size)
    }

    /// `ZMQ_SNDBUF` (-1: the system's default).
    pub fn get_sndbuf(&self) -> Result<i32, Error> {
        Ok(self.config().options.sndbuf.map_or(-1, to_int))
    }

    /// `ZMQ_RCVBUF` in octets (-1: the system's default).
    pub fn set_rcvbuf(&self, octets: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_RCVBUF";
        let size = octets_or_default(OPTION, octets)?;
        self.set_option(OPTION, |o| o.rcvbuf = size)
    }

    /// `ZMQ_RCVBUF` (-1: the system's default).
    pub fn get_rcvbuf(&self) -> Result<i32, Error> {
        Ok(self.config().options.rcvbuf.map_or(-1, to_int))
    }

    /// `ZMQ_BACKLOG`: connections the operating system queues for a listener (default 100).
    pub fn set_backlog(&self, backlog: i32) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_BACKLOG";
        if backlog < 1 {
            return Err(out_of_range(OPTION, backlog, "1 or more"));
        }
        self.set_option(OPTION, |o| o.backlog = backlog as u32)
    }

    /// `ZMQ_BACKLOG`.
    pub fn get_backlog(&self) -> Result<i32, Error> {
        Ok(i32::try_from(self.config().options.backlog).unwrap_or(i32::MAX))
    }
}

fn out_of_range(option: &'static str, value: i32, expected: &'static str) -> Error {
    Error::OutOfRange {
        option,
        value: value.into(),
        expected,
    }
}

/// Whole seconds where -1 means the system's default (libzmq's keepalive times).
fn seconds_or_default(option: &'static str, value: i32) -> Result<Option<Duration>, Error> {
    match value {
        -1 => Ok(None),
        v if v > 0 => Ok(Some(Duration::from_secs(v as u64))),
        v => Err(out_of_range(
            option,
            v,
            "-1 (the system's default) or 1 or more seconds",
        )),
    }
}

fn seconds(value: Option<Duration>) -> i32 {
    value.map_or(-1, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
}

/// Octets where -1 means the system's default (libzmq's SNDBUF and RCVBUF).
fn octets_or_default(option: &'static str, value: i32) -> Result<Option<usize>, Error> {
    match value {
        -1 => Ok(None),
        v if v > 0 => Ok(Some(v as usize)),
        v => Err(out_of_range(
            option,
            v,
            "-1 (the system's default) or 1 or more octets",
        )),
    }
}
