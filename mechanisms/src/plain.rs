//! PLAIN (RFC 24): what the client and the server share.
//!
//! ```text
//! C: HELLO    = %d5 "HELLO" username password   ; each an OCTET length + 0-255 octets
//! S: WELCOME  = %d7 "WELCOME"                   ; sent once ZAP answered 200
//! C: INITIATE = %d8 "INITIATE" metadata
//! S: READY    = %d5 "READY" metadata
//! S: ERROR    = %d5 "ERROR" reason              ; instead of WELCOME on ZAP 400/500
//! ```
//!
//! The client side lives in `plain_client.rs`, the server side in `plain_server.rs`.

use bytes::{BufMut, Bytes, BytesMut};

/// How a PLAIN server spells its ERROR command.
///
/// libzmq 4.3.5 writes its PLAIN command prefixes as C string literals, and `"\x05ERROR"` is read
/// by the C compiler as the hex escape `\x05E` (0x5E, `^`) followed by `RROR`: its PLAIN server
/// sends `5e 52 52 4f 52 <len> <reason>` (five octets of "name", no length octet), and its PLAIN
/// client recognises only that form (`src/plain_common.hpp`, `plain_client.cpp`). The same bug
/// is still on libzmq's master. Its CURVE code spells ERROR correctly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainErrorForm {
    /// `\x05ERROR` + reason, as RFC 23/24 define it. Every RFC-following client (ours included)
    /// reports the refusal as an authentication failure; a libzmq 4.3.5 PLAIN client does not
    /// recognise it and fails with `HANDSHAKE_FAILED_PROTOCOL` / `UNEXPECTED_COMMAND`
    /// (0x10000001) instead of `HANDSHAKE_FAILED_AUTH`. Either way the handshake fails closed.
    Rfc,
    /// libzmq's `^RROR` + reason. A libzmq PLAIN client then reports
    /// `HANDSHAKE_FAILED_AUTH` with the ZAP status, but RFC-following clients see a truncated
    /// command (its "name length" octet is 0x5E), and so does our own client until the session
    /// hands it raw command bodies.
    Libzmq,
}

/// The form our PLAIN servers use unless [`crate::PlainServerConfig::with_error_form`] says
/// otherwise. The one switch to flip if interop with libzmq clients' monitor events matters more
/// than RFC-following clients.
///
/// Decision: [`PlainErrorForm::Rfc`]. The refusal is a refusal either way: a libzmq 4.3.5
/// client fails the handshake with `EPROTO` whether it reads an ERROR or an unexpected command,
/// and in both cases its session ends as a `protocol_error` without reconnecting
/// (`session_base.cpp`, `engine_error`). What changes is only the monitor event it reports. The
/// RFC form keeps every other implementation, and our own client under the current `zmtp-core`
/// session (which parses command names before a mechanism sees them), reporting the ZAP status.
pub const DEFAULT_PLAIN_ERROR_FORM: PlainErrorForm = PlainErrorForm::Rfc;

/// The five octets libzmq's PLAIN code sends where `\x05ERROR` belongs.
pub(crate) const LIBZMQ_ERROR_PREFIX: &[u8; 5] = b"\x5eRROR";

/// The HELLO command body.
pub(crate) fn encode_hello(username: &[u8], password: &[u8]) -> Bytes {
    debug_assert!(username.len() <= 255 && password.len() <= 255);
    let mut out = BytesMut::with_capacity(8 + username.len() + password.len());
    out.put_u8(5);
    out.put_slice(b"HELLO");
    out.put_u8(username.len() as u8);
    out.put_slice(username);
    out.put_u8(password.len() as u8);
    out.put_slice(password);
    out.freeze()
}

/// The INITIATE command body with our metadata.
pub(crate) fn encode_initiate(metadata: &zmtp_core::Metadata) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + metadata.encoded_len());
    out.put_u8(8);
    out.put_slice(b"INITIATE");
    metadata.encode(&mut out);
    out.freeze()
}

/// The WELCOME command body: the name alone.
pub(crate) const WELCOME: &[u8] = b"\x07WELCOME";

/// An ERROR command body for `status` in the given form.
pub(crate) fn encode_error(form: PlainErrorForm, status: &str) -> Bytes {
    match form {
        PlainErrorForm::Rfc => zmtp_core::wire::command::encode_error(status),
        PlainErrorForm::Libzmq => {
            let reason = &status.as_bytes()[..status.len().min(255)];
            let mut out = BytesMut::with_capacity(6 + reason.len());
            out.put_slice(LIBZMQ_ERROR_PREFIX);
            out.put_u8(reason.len() as u8);
            out.put_slice(reason);
            out.freeze()
        }
    }
}

/// The reason in a libzmq-form ERROR body (`^RROR` + length + reason), if `body` is one.
/// `Some(Err)` when the prefix matches but the rest is malformed.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn parse_libzmq_error(body: &[u8]) -> Option<Result<String, zmtp_core::Error>> {
    let rest = body.strip_prefix(&LIBZMQ_ERROR_PREFIX[..])?;
    let malformed = || {
        zmtp_core::ProtocolError::MalformedCommand(zmtp_core::error::MalformedKind::Error).into()
    };
    let Some((&len, reason)) = rest.split_first() else {
        return Some(Err(malformed()));
    };
    // The reason is exactly `len` octets, as for a well-formed ERROR.
    if reason.len() != usize::from(len) {
        return Some(Err(malformed()));
    }
    Some(Ok(String::from_utf8_lossy(reason).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_bytes() {
        assert_eq!(
            &encode_hello(b"admin", b"secret")[..],
            b"\x05HELLO\x05admin\x06secret"
        );
        assert_eq!(&encode_hello(b"", b"")[..], b"\x05HELLO\x00\x00");
    }

    #[test]
    fn both_error_forms() {
        assert_eq!(
            &encode_error(PlainErrorForm::Rfc, "400")[..],
            b"\x05ERROR\x03400"
        );
        let libzmq = encode_error(PlainErrorForm::Libzmq, "400");
        assert_eq!(
            &libzmq[..],
            &[0x5e, 0x52, 0x52, 0x4f, 0x52, 3, b'4', b'0', b'0']
        );
        assert_eq!(parse_libzmq_error(&libzmq).unwrap().unwrap(), "400");
        assert!(parse_libzmq_error(b"\x5eRROR").unwrap().is_err());
        assert!(parse_libzmq_error(b"\x5eRROR\x03ab").unwrap().is_err());
        assert!(parse_libzmq_error(b"\x05ERROR\x03400").is_none());
    }
}
