//! Commands: a command frame's body is a length-prefixed name and its data (RFC 23 §"Commands").
//!
//! ```text
//! command      = command-name command-data
//! command-name = OCTET 1*255command-name-char
//! ready        = command-size %d5 "READY" metadata
//! error        = command-size %d5 "ERROR" error-reason
//! error-reason = OCTET 0*255VCHAR
//! ping         = %d4 "PING" ping-ttl ping-context   ; RFC 37
//! ping-ttl     = 2OCTET                             ; deciseconds
//! ping-context = 0*16OCTET
//! pong         = %d4 "PONG" ping-context
//! subscribe    = %d9 "SUBSCRIBE" topic              ; RFC 37
//! cancel       = %d6 "CANCEL" topic
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, MalformedKind, ProtocolError};
use crate::wire::metadata::Metadata;

/// Longest PING context RFC 37 allows.
pub const MAX_PING_CONTEXT: usize = 16;

/// A command split into its name and data, both sliced from the frame body without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The name octets.
    pub name: Bytes,
    /// Everything after the name.
    pub data: Bytes,
}

impl Command {
    /// Splits a command body. An empty body, an empty name or a name longer than the body is
    /// `TruncatedCommand`.
    pub fn parse(mut body: Bytes) -> Result<Command, ProtocolError> {
        if body.is_empty() {
            return Err(ProtocolError::TruncatedCommand);
        }
        let n = usize::from(body.get_u8());
        if n == 0 || body.len() < n {
            return Err(ProtocolError::TruncatedCommand);
        }
        let name = body.split_to(n);
        Ok(Command { name, data: body })
    }

    /// Whether the name is exactly `name`.
    pub fn is(&self, name: &str) -> bool {
        &self.name[..] == name.as_bytes()
    }

    /// The name for error reports.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Builds a command body from a name (1-255 octets) and data.
    pub fn encode(name: &str, data: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(1 + name.len() + data.len());
        debug_assert!(!name.is_empty() && name.len() <= 255);
        out.put_u8(name.len() as u8);
        out.put_slice(name.as_bytes());
        out.put_slice(data);
        out.freeze()
    }
}

/// READY with the given metadata.
pub fn encode_ready(metadata: &Metadata) -> Bytes {
    let mut out = BytesMut::with_capacity(6 + metadata.encoded_len());
    out.put_u8(5);
    out.put_slice(b"READY");
    metadata.encode(&mut out);
    out.freeze()
}

/// ERROR with a reason truncated to 255 octets.
pub fn encode_error(reason: &str) -> Bytes {
    let reason = &reason.as_bytes()[..reason.len().min(255)];
    let mut out = BytesMut::with_capacity(7 + reason.len());
    out.put_u8(5);
    out.put_slice(b"ERROR");
    out.put_u8(reason.len() as u8);
    out.put_slice(reason);
    out.freeze()
}

/// Parses ERROR data (after the name) into its reason.
pub fn parse_error_reason(mut data: Bytes) -> Result<String, Error> {
    if data.is_empty() {
        return Err(ProtocolError::MalformedCommand(MalformedKind::Error).into());
    }
    let n = usize::from(data.get_u8());
    // RFC 23 gives the reason exactly `n` octets; nothing may follow.
    if data.len() != n {
        return Err(ProtocolError::MalformedCommand(MalformedKind::Error).into());
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// A PING command (RFC 37).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Time-to-live in deciseconds (0 = none).
    pub ttl_deciseconds: u16,
    /// Opaque context to echo, at most 16 octets.
    pub context: Bytes,
}

impl Ping {
    /// Parses PING data (after the name).
    pub fn parse(mut data: Bytes) -> Result<Ping, ProtocolError> {
        if data.len() < 2 {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Ping));
        }
        let ttl_deciseconds = data.get_u16();
        // RFC 37 caps the context at 16 octets. libzmq does not refuse a longer one; it echoes
        // the first 16, and so do we.
        let context = data.slice(..data.len().min(MAX_PING_CONTEXT));
        Ok(Ping {
            ttl_deciseconds,
            context,
        })
    }

    /// The PING command body.
    pub fn encode(&self) -> Bytes {
        let ctx = &self.context[..self.context.len().min(MAX_PING_CONTEXT)];
        let mut out = BytesMut::with_capacity(7 + ctx.len());
        out.put_u8(4);
        out.put_slice(b"PING");
        out.put_u16(self.ttl_deciseconds);
        out.put_slice(ctx);
        out.freeze()
    }
}

/// The PONG command body echoing `context` (truncated to 16 octets).
pub fn encode_pong(context: &[u8]) -> Bytes {
    Command::encode("PONG", &context[..context.len().min(MAX_PING_CONTEXT)])
}

#[cfg(test)]
mod tests {
    use super::*;

    // DEV-ZMTP-7: a reason is not checked for VCHAR octets; what the peer says is reported,
    // lossily decoded, as libzmq reports it without looking.
    #[test]
    fn error_reason_octets_are_not_checked() {
        let reason = parse_error_reason(Bytes::from_static(b"\x03\x00\x01\xff")).unwrap();
        assert_eq!(reason, "\u{0}\u{1}\u{fffd}");
        assert_eq!(parse_error_reason(Bytes::from_static(b"\x00")).unwrap(), "");
        // The length still has to be exact.
        assert!(parse_error_reason(Bytes::from_static(b"\x01ab")).is_err());
    }

    // DEV-ZMTP-8: a command name is any 1-255 octets; libzmq compares names it knows and
    // ignores the rest, so a name outside ALPHA is split off and then treated as unknown.
    #[test]
    fn command_names_are_not_checked_for_alpha() {
        let c = Command::parse(Bytes::from_static(b"\x02\x31x\x00data")).unwrap();
        assert_eq!(&c.name[..], b"1x");
        assert_eq!(&c.data[..], b"\x00data");
        assert!(!c.is("PING"));
        let c = Command::parse(Bytes::from_static(b"\x01\x00")).unwrap();
        assert_eq!(&c.name[..], b"\x00");
        assert!(c.data.is_empty());
    }

    #[test]
    fn ready_bytes() {
        let m = Metadata::new().with("Socket-Type", &b"PAIR"[..]).unwrap();
        assert_eq!(
            &encode_ready(&m)[..],
            b"\x05READY\x0bSocket-Type\x00\x00\x00\x04PAIR"
        );
    }

    #[test]
    fn error_bytes_and_parse() {
        let e = encode_error("400");
        assert_eq!(&e[..], b"\x05ERROR\x03400");
        let c = Command::parse(e).unwrap();
        assert!(c.is("ERROR"));
        assert_eq!(parse_error_reason(c.data).unwrap(), "400");
    }

    #[test]
    fn truncated_error_is_malformed() {
        assert!(parse_error_reason(Bytes::from_static(b"\x05ab")).is_err());
        assert!(parse_error_reason(Bytes::new()).is_err());
    }

    #[test]
    fn ping_pong_bytes() {
        let p = Ping {
            ttl_deciseconds: 300,
            context: Bytes::from_static(b"ctx"),
        };
        assert_eq!(&p.encode()[..], b"\x04PING\x01\x2cctx");
        let c = Command::parse(p.encode()).unwrap();
        assert_eq!(Ping::parse(c.data).unwrap(), p);
        assert_eq!(&encode_pong(b"ctx")[..], b"\x04PONGctx");
    }

    #[test]
    fn long_ping_context_is_truncated_not_refused() {
        let p = Ping::parse(Bytes::from(vec![0u8; 2 + 40])).unwrap();
        assert_eq!(p.context.len(), 16);
        assert_eq!(encode_pong(&[1u8; 40]).len(), 5 + 16);
    }

    #[test]
    fn short_ping_is_malformed() {
        assert!(Ping::parse(Bytes::from_static(b"\x00")).is_err());
    }

    #[test]
    fn truncated_commands_are_typed_errors() {
        for body in [&b""[..], b"\x00", b"\x05REA", b"\xffx"] {
            assert_eq!(
                Command::parse(Bytes::copy_from_slice(body)),
                Err(ProtocolError::TruncatedCommand)
            );
        }
    }
}
