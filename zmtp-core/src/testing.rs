//! In-memory harness: two sessions exchanging bytes without sockets, under a virtual clock.
//! Used by this workspace's tests and fuzz targets; also useful to test a third-party mechanism.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::auth::{AuthRequest, AuthResult};
use crate::error::Error;
use crate::session::{Event, Session, SessionConfig};

/// Answers auth requests in tests.
pub type Authenticator = Box<dyn FnMut(&AuthRequest) -> AuthResult>;

/// How bytes move between the two sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Everything written is delivered at once.
    Whole,
    /// One octet per `handle_input` call.
    ByteByByte,
    /// As a connection driver reads: at most this many octets per read, each into the body
    /// buffer the session offers ([`Session::body_room`]) when it offers one, else into the
    /// inbox, with `handle_input` after each.
    Reads(usize),
}

/// One end of a [`Pair`].
#[allow(missing_debug_implementations)]
pub struct End {
    /// The session.
    pub session: Session,
    /// Bytes received but not yet consumed.
    pub inbox: BytesMut,
    /// Events drained so far.
    pub events: Vec<Event>,
    /// The first error this end hit.
    pub error: Option<Error>,
    /// Answers this end's auth requests (deny-all `None` means "leave pending").
    pub authenticator: Option<Authenticator>,
    /// Auth requests seen.
    pub auth_requests: Vec<AuthRequest>,
    /// `Some`: every octet this end transmits is appended here, greeting first (off by default;
    /// set it to `Some(Vec::new())` before the first step).
    pub transmitted: Option<Vec<u8>>,
}

impl End {
    fn new(config: Arc<SessionConfig>, address: &str, now: Instant) -> End {
        End {
            session: Session::new(config, address, now),
            inbox: BytesMut::new(),
            events: Vec::new(),
            error: None,
            authenticator: None,
            auth_requests: Vec::new(),
            transmitted: None,
        }
    }

    /// The names of the command frames in what this end has transmitted (recorded in
    /// [`End::transmitted`]), in order, after its 64-octet greeting. A CURVE MESSAGE is a data
    /// frame, so only the handshake's commands and NULL/PLAIN traffic commands appear.
    pub fn commands_sent(&self) -> Vec<String> {
        let wire = self.transmitted.as_deref().unwrap_or_default();
        let mut rest = wire.get(64..).unwrap_or_default();
        let mut names = Vec::new();
        while let Some((&flags, after)) = rest.split_first() {
            let (len, after) = if flags & 0x02 != 0 {
                let Some((size, after)) = after.split_first_chunk::<8>() else {
                    break;
                };
                (u64::from_be_bytes(*size) as usize, after)
            } else {
                let Some((&size, after)) = after.split_first() else {
                    break;
                };
                (usize::from(size), after)
            };
            let Some(body) = after.get(..len) else {
                break;
            };
            if flags & 0x04 != 0 {
                let n = body.first().map_or(0, |&n| usize::from(n));
                let name = body.get(1..1 + n).unwrap_or_default();
                names.push(String::from_utf8_lossy(name).into_owned());
            }
            rest = &after[len..];
        }
        names
    }

    /// Messages received so far.
    pub fn messages(&self) -> Vec<Vec<Bytes>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.to_vec()),
                _ => None,
            })
            .collect()
    }

    /// Whether a Ready event was seen.
    pub fn saw_ready(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Ready(_)))
    }

    fn drain(&mut self, now: Instant) {
        while let Some(ev) = self.session.poll_event() {
            if let Event::AuthRequest(req) = &ev {
                self.auth_requests.push(req.clone());
                if let Some(auth) = self.authenticator.as_mut() {
                    let reply = auth(req);
                    if let Err(e) = self.session.handle_auth_reply(reply, now) {
                        self.error.get_or_insert(e);
                    }
                }
            }
            self.events.push(ev);
        }
    }

    fn take_output(&mut self) -> BytesMut {
        let mut out = BytesMut::new();
        while let Some(chunk) = self.session.poll_transmit() {
            out.extend_from_slice(&chunk);
        }
        if let Some(log) = self.transmitted.as_mut() {
            log.extend_from_slice(&out);
        }
        out
    }
}

/// A client and a server session wired back to back.
#[allow(missing_debug_implementations)]
pub struct Pair {
    /// The connecting side.
    pub client: End,
    /// The accepting side.
    pub server: End,
    /// The virtual clock.
    pub now: Instant,
    /// Delivery mode.
    pub delivery: Delivery,
}

impl Pair {
    /// A pair at virtual time zero.
    pub fn new(client: SessionConfig, server: SessionConfig) -> Pair {
        let now = Instant::now();
        Pair {
            client: End::new(Arc::new(client), "127.0.0.1:40000", now),
            server: End::new(Arc::new(server), "127.0.0.1:5555", now),
            now,
            delivery: Delivery::Whole,
        }
    }

    /// Moves bytes both ways until neither side has anything to say. Returns octets moved.
    pub fn step(&mut self) -> usize {
        let mut moved = 0;
        for _ in 0..10_000 {
            let c = self.client.take_output();
            let s = self.server.take_output();
            if c.is_empty() && s.is_empty() {
                break;
            }
            moved += c.len() + s.len();
            let now = self.now;
            let delivery = self.delivery;
            Self::deliver(&mut self.server, c, now, delivery);
            Self::deliver(&mut self.client, s, now, delivery);
        }
        moved
    }

    fn deliver(end: &mut End, bytes: BytesMut, now: Instant, delivery: Delivery) {
        if end.error.is_some() {
            return;
        }
        match delivery {
            Delivery::Whole => {
                end.inbox.extend_from_slice(&bytes);
                if let Err(e) = end.session.handle_input(&mut end.inbox, now) {
                    end.error = Some(e);
                }
                end.drain(now);
            }
            Delivery::ByteByByte => {
                for b in bytes {
                    end.inbox.extend_from_slice(&[b]);
                    if let Err(e) = end.session.handle_input(&mut end.inbox, now) {
                        end.error = Some(e);
                        break;
                    }
                    end.drain(now);
                }
                end.drain(now);
            }
            Delivery::Reads(most) => {
                let most = most.max(1);
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = match end.session.body_room() {
                        Some(mut room) => {
                            // A read fills at most the spare room the buffer has.
                            let n = rest.len().min(most).min(room.chunk_mut().len());
                            room.put_slice(&rest[..n]);
                            n
                        }
                        None => {
                            let n = rest.len().min(most);
                            end.inbox.extend_from_slice(&rest[..n]);
                            n
                        }
                    };
                    rest = &rest[n..];
                    if let Err(e) = end.session.handle_input(&mut end.inbox, now) {
                        end.error = Some(e);
                        break;
                    }
                    end.drain(now);
                }
            }
        }
    }

    /// Runs the handshake; true when both sides are ready.
    pub fn handshake(&mut self) -> bool {
        self.step();
        self.client.session.is_ready() && self.server.session.is_ready()
    }

    /// Advances the virtual clock and fires due timeouts on both sides.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for end in [&mut self.client, &mut self.server] {
            if end.error.is_none() {
                if let Err(e) = end.session.handle_timeout(now) {
                    end.error = Some(e);
                }
            }
        }
        self.step();
    }

    /// Feeds raw bytes to the server as if the client had sent them.
    pub fn inject_into_server(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.server.inbox.extend_from_slice(bytes);
        let r = self
            .server
            .session
            .handle_input(&mut self.server.inbox, self.now);
        self.server.drain(self.now);
        r
    }
}
