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
use zeroize::Zeroizing;

/// How a PLAIN server spells its ERROR command.
///
/// libzmq 4.3.5 writes its PLAIN command prefixes as C string literals, and `"\x05ERROR"` is read
/// by the C compiler as the hex escape `\x05E` (0x5E, `^`) followed by `RROR`: its PLAIN server
/// sends `5e 52 52 4f 52 <len> <reason>` (five octets of "name", no separate length octet), and
/// its PLAIN client recognises only that form (`src/plain_common.hpp`, `plain_client.cpp`). The
/// same literal is still on libzmq's master. Its CURVE code spells ERROR correctly (`"\5ERROR"`).
///
/// Our PLAIN client accepts both forms as a refusal, whatever the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainErrorForm {
    /// `\x05ERROR` + reason, as RFC 23/24 define it. An RFC-following client reports the ZAP
    /// status; a libzmq 4.3.5 PLAIN client does not recognise the command and reports
    /// `HANDSHAKE_FAILED_PROTOCOL` / `ZMTP_UNEXPECTED_COMMAND` (0x10000001) instead of
    /// `HANDSHAKE_FAILED_AUTH`.
    Rfc,
    /// libzmq's `^RROR` + reason, exactly what a libzmq PLAIN server sends: a libzmq client
    /// reports `HANDSHAKE_FAILED_AUTH` with the ZAP status. A strictly RFC-following client
    /// sees a malformed command (its first octet claims a 94-octet name) and fails the
    /// handshake with a protocol error, as it already does against libzmq servers.
    Libzmq,
}

/// The form our PLAIN servers use unless [`crate::PlainServerConfig::with_error_form`] says
/// otherwise: the one switch to flip.
///
/// Decision: [`PlainErrorForm::Libzmq`], deviating from RFC 23's grammar to match libzmq on the
/// wire (interop wins). Either way the refusal fails the handshake closed: a libzmq client
/// fails with `EPROTO` whether it reads its ERROR or an unexpected command, and its session ends
/// as a `protocol_error` without reconnecting (`session_base.cpp`, `engine_error`). What the form
/// decides is what the client *reports*. With the libzmq form, a libzmq client (pyzmq, czmq,
/// cppzmq…) reports `HANDSHAKE_FAILED_AUTH` 400/500 exactly as it would against a libzmq server,
/// and our own client reads it too; a client that only reads the RFC form gets from us what it
/// gets from a libzmq server. The interop test against libzmq
/// should expect `HANDSHAKE_FAILED_AUTH` with the status under this default, and
/// `HANDSHAKE_FAILED_PROTOCOL` 0x10000001 if the constant is flipped to [`PlainErrorForm::Rfc`].
pub const DEFAULT_PLAIN_ERROR_FORM: PlainErrorForm = PlainErrorForm::Libzmq;

/// The five octets libzmq's PLAIN code sends where `\x05ERROR` belongs.
pub(crate) const LIBZMQ_ERROR_PREFIX: &[u8; 5] = b"\x5eRROR";

/// The HELLO command body. It carries the password, so its buffer is wiped when the last
/// reference to it is dropped (it is built at its final size, so it never reallocates). What the
/// session and the socket copy it into on its way out is theirs.
pub(crate) fn encode_hello(username: &[u8], password: &[u8]) -> Bytes {
    debug_assert!(username.len() <= 255 && password.len() <= 255);
    let mut out = Zeroizing::new(Vec::with_capacity(8 + username.len() + password.len()));
    out.push(5);
    out.extend_from_slice(b"HELLO");
    out.push(username.len() as u8);
    out.extend_from_slice(username);
    out.push(password.len() as u8);
    out.extend_from_slice(password);
    wiped_on_drop(out)
}

/// Bytes that wipe their buffer when the last reference to them is dropped.
pub(crate) fn wiped_on_drop(buf: Zeroizing<Vec<u8>>) -> Bytes {
    Bytes::from_owner(buf)
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
