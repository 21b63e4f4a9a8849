//! The RFC 27 messages as they travel between a server and a ZAP handler.
//!
//! Both messages start with the empty delimiter frame a REQ socket puts in front of its body,
//! so the frame lists here are exactly what passes through a DEALER or ROUTER after its routing
//! id:
//!
//! ```text
//! request: "" | "1.0" | request-id | domain | address | identity | mechanism | credentials…
//! reply:   "" | "1.0" | request-id | status-code | status-text | user-id | metadata
//! ```
//!
//! Parsing is strict both ways. A reply is checked in libzmq's order, with libzmq's error for
//! each failure, so a monitor shows the same `HANDSHAKE_FAILED_PROTOCOL` value for the same bad
//! handler:
//!
//! | reply defect                                      | [`ZapFailure`]      |
//! |---------------------------------------------------|---------------------|
//! | not exactly 7 frames                              | `MalformedReply`    |
//! | non-empty delimiter                               | `Unspecified`       |
//! | version other than `1.0`                          | `BadVersion`        |
//! | request id other than the one sent                | `BadRequestId`      |
//! | status other than `200`, `300`, `400`, `500`      | `InvalidStatusCode` |
//! | metadata that does not parse as ZMTP properties   | `InvalidMetadata`   |
//! | user id that is not UTF-8 (libzmq takes any bytes) | `MalformedReply`   |

use bytes::Bytes;
use zmtp_core::{AuthReply, AuthRequest, AuthStatus, MechanismName, Metadata, ZapFailure};

/// The only protocol version (RFC 27).
pub const VERSION: &[u8] = b"1.0";

/// Frames in a reply, delimiter included.
pub const REPLY_FRAMES: usize = 7;

/// Frames in a request before the credentials, delimiter included.
pub const REQUEST_HEAD_FRAMES: usize = 7;

/// Most credential frames a request may carry (PLAIN uses 2; other mechanisms fewer).
pub const MAX_CREDENTIALS: usize = 8;

/// Most properties accepted in a reply's metadata.
pub const MAX_METADATA_PROPERTIES: usize = 64;

/// Why a request was refused by [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Fewer frames than the fixed head, or more credentials than [`MAX_CREDENTIALS`].
    #[error("a ZAP request has {0} frames")]
    FrameCount(usize),
    /// The first frame is not the empty delimiter.
    #[error("the ZAP request's delimiter frame is not empty")]
    Delimiter,
    /// The version is not `1.0`.
    #[error("unsupported ZAP version")]
    BadVersion,
    /// The domain or address is not UTF-8.
    #[error("the ZAP request's {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// The mechanism is not a valid RFC 23 mechanism name.
    #[error("invalid mechanism name in ZAP request")]
    BadMechanism,
    /// The credentials do not fit the mechanism (NULL: none, PLAIN: two, CURVE: one of 32 octets).
    #[error("credentials do not fit the {0} mechanism")]
    BadCredentials(&'static str),
}

impl RequestError {
    /// The request id, when the request got far enough to have one a reply can echo.
    fn answerable(&self) -> bool {
        !matches!(self, RequestError::FrameCount(_) | RequestError::Delimiter)
    }
}

/// A request with the id that its reply must echo.
#[derive(Clone, Debug)]
pub struct ZapRequest {
    /// The request id (libzmq always sends `1`).
    pub id: Bytes,
    /// The fields.
    pub request: AuthRequest,
}

/// Encodes a request, delimiter first.
pub fn encode_request(id: &[u8], request: &AuthRequest) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(REQUEST_HEAD_FRAMES + request.credentials.len());
    frames.push(Bytes::new());
    frames.push(Bytes::from_static(VERSION));
    frames.push(Bytes::copy_from_slice(id));
    frames.push(Bytes::copy_from_slice(request.domain.as_bytes()));
    frames.push(Bytes::copy_from_slice(request.address.as_bytes()));
    frames.push(request.identity.clone());
    frames.push(Bytes::from(request.mechanism.as_str_lossy()));
    frames.extend(request.credentials.iter().cloned());
    frames
}

/// Parses a request, delimiter first. On failure, also returns the request id when the request
/// was well-formed enough to be answered (RFC 27: a handler answers a bad request with 500).
pub fn parse_request(frames: &[Bytes]) -> Result<ZapRequest, (RequestError, Option<Bytes>)> {
    let n = frames.len();
    if !(REQUEST_HEAD_FRAMES..=REQUEST_HEAD_FRAMES + MAX_CREDENTIALS).contains(&n) {
        return Err((RequestError::FrameCount(n), None));
    }
    let id = frames[2].clone();
    let fail = |e: RequestError| {
        let id = e.answerable().then(|| id.clone());
        Err((e, id))
    };
    if !frames[0].is_empty() {
        return fail(RequestError::Delimiter);
    }
    if frames[1] != VERSION {
        return fail(RequestError::BadVersion);
    }
    let Ok(domain) = std::str::from_utf8(&frames[3]) else {
        return fail(RequestError::NotUtf8("domain"));
    };
    let Ok(address) = std::str::from_utf8(&frames[4]) else {
        return fail(RequestError::NotUtf8("address"));
    };
    let mechanism = std::str::from_utf8(&frames[6])
        .ok()
        .and_then(MechanismName::new);
    let Some(mechanism) = mechanism else {
        return fail(RequestError::BadMechanism);
    };
    let credentials = &frames[REQUEST_HEAD_FRAMES..];
    let fits = if mechanism == MechanismName::NULL {
        credentials.is_empty().then_some(())
    } else if mechanism == MechanismName::PLAIN {
        (credentials.len() == 2).then_some(())
    } else if mechanism == MechanismName::CURVE {
        (credentials.len() == 1 && credentials[0].len() == 32).then_some(())
    } else {
        Some(())
    };
    if fits.is_none() {
        let name = if mechanism == MechanismName::NULL {
            "NULL"
        } else if mechanism == MechanismName::PLAIN {
            "PLAIN"
        } else {
            "CURVE"
        };
        return fail(RequestError::BadCredentials(name));
    }
    Ok(ZapRequest {
        id,
        request: AuthRequest {
            domain: domain.to_owned(),
            address: address.to_owned(),
            identity: frames[5].clone(),
            mechanism,
            credentials: credentials.to_vec(),
        },
    })
}

/// Encodes a reply, delimiter first.
pub fn encode_reply(id: &[u8], reply: &AuthReply) -> Vec<Bytes> {
    vec![
        Bytes::new(),
        Bytes::from_static(VERSION),
        Bytes::copy_from_slice(id),
        Bytes::from_static(reply.status.as_str().as_bytes()),
        Bytes::copy_from_slice(reply.status_text.as_bytes()),
        Bytes::copy_from_slice(reply.user_id.as_bytes()),
        reply.metadata.to_bytes(),
    ]
}

/// Parses and validates a reply to the request `expected_id`, delimiter first, with libzmq's
/// checks in libzmq's order (see the module table).
pub fn parse_reply(frames: &[Bytes], expected_id: &[u8]) -> Result<AuthReply, ZapFailure> {
    if frames.len() != REPLY_FRAMES {
        return Err(ZapFailure::MalformedReply);
    }
    if !frames[0].is_empty() {
        return Err(ZapFailure::Unspecified);
    }
    if frames[1] != VERSION {
        return Err(ZapFailure::BadVersion);
    }
    if frames[2] != expected_id {
        return Err(ZapFailure::BadRequestId);
    }
    let status = AuthStatus::from_wire(&frames[3]).ok_or(ZapFailure::InvalidStatusCode)?;
    let metadata = Metadata::decode(frames[6].clone(), MAX_METADATA_PROPERTIES)
        .map_err(|_| ZapFailure::InvalidMetadata)?;
    let user_id = String::from_utf8(frames[5].to_vec()).map_err(|_| ZapFailure::MalformedReply)?;
    Ok(AuthReply {
        status,
        status_text: String::from_utf8_lossy(&frames[4]).into_owned(),
        user_id,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &[u8]) -> Bytes {
        Bytes::copy_from_slice(s)
    }

    fn frames(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|f| b(f)).collect()
    }

    fn plain_request() -> AuthRequest {
        AuthRequest {
            domain: "global".into(),
            address: "192.0.2.7".into(),
            identity: b(b"srv"),
            mechanism: MechanismName::PLAIN,
            credentials: vec![b(b"admin"), b(b"secret")],
        }
    }

    #[test]
    fn request_frames_are_byte_exact() {
        let wire = encode_request(b"1", &plain_request());
        assert_eq!(
            wire,
            frames(&[
                b"",
                b"1.0",
                b"1",
                b"global",
                b"192.0.2.7",
                b"srv",
                b"PLAIN",
                b"admin",
                b"secret"
            ])
        );
        let back = parse_request(&wire).unwrap();
        assert_eq!(back.id, b(b"1"));
        assert_eq!(back.request.domain, "global");
        assert_eq!(back.request.address, "192.0.2.7");
        assert_eq!(back.request.identity, b(b"srv"));
        assert_eq!(back.request.mechanism, MechanismName::PLAIN);
        assert_eq!(back.request.credentials, vec![b(b"admin"), b(b"secret")]);
    }

    #[test]
    fn null_and_curve_requests_round_trip() {
        let null = AuthRequest {
            mechanism: MechanismName::NULL,
            credentials: vec![],
            ..plain_request()
        };
        let wire = encode_request(b"7", &null);
        assert_eq!(wire.len(), 7);
        assert_eq!(wire[6], b(b"NULL"));
        assert!(parse_request(&wire).is_ok());
        let curve = AuthRequest {
            mechanism: MechanismName::CURVE,
            credentials: vec![Bytes::from(vec![9u8; 32])],
            ..plain_request()
        };
        let wire = encode_request(b"7", &curve);
        assert_eq!(wire[7].len(), 32);
        assert_eq!(parse_request(&wire).unwrap().request.credentials[0][0], 9);
    }

    #[test]
    fn bad_requests_are_typed_and_answerable_when_possible() {
        let good = encode_request(b"1", &plain_request());
        assert_eq!(
            parse_request(&good[..6]).unwrap_err(),
            (RequestError::FrameCount(6), None)
        );
        let mut too_many = good.clone();
        too_many.extend(std::iter::repeat_n(Bytes::new(), MAX_CREDENTIALS));
        assert!(matches!(
            parse_request(&too_many),
            Err((RequestError::FrameCount(_), None))
        ));
        let mut w = good.clone();
        w[0] = b(b"x");
        assert_eq!(
            parse_request(&w).unwrap_err(),
            (RequestError::Delimiter, None)
        );
        let mut w = good.clone();
        w[1] = b(b"2.0");
        assert_eq!(
            parse_request(&w).unwrap_err(),
            (RequestError::BadVersion, Some(b(b"1")))
        );
        let mut w = good.clone();
        w[3] = b(&[0xff]);
        assert_eq!(
            parse_request(&w).unwrap_err().0,
            RequestError::NotUtf8("domain")
        );
        let mut w = good.clone();
        w[4] = b(&[0xc3]);
        assert_eq!(
            parse_request(&w).unwrap_err().0,
            RequestError::NotUtf8("address")
        );
        let mut w = good.clone();
        w[6] = b(b"plain");
        assert_eq!(parse_request(&w).unwrap_err().0, RequestError::BadMechanism);
        let mut w = good.clone();
        w.pop();
        assert_eq!(
            parse_request(&w).unwrap_err().0,
            RequestError::BadCredentials("PLAIN")
        );
        let mut w = good.clone();
        w[6] = b(b"CURVE");
        w.pop();
        w[7] = b(&[1; 31]);
        assert_eq!(
            parse_request(&w).unwrap_err().0,
            RequestError::BadCredentials("CURVE")
        );
        let mut w = good;
        w[6] = b(b"NULL");
        assert_eq!(
            parse_request(&w).unwrap_err().0,
            RequestError::BadCredentials("NULL")
        );
    }

    fn good_reply() -> Vec<Bytes> {
        let md = Metadata::new().with("Hello", "World").unwrap();
        let reply = AuthReply {
            metadata: md,
            ..AuthReply::allow("alice")
        };
        encode_reply(b"1", &reply)
    }

    #[test]
    fn reply_frames_are_byte_exact() {
        let wire = good_reply();
        assert_eq!(
            wire,
            frames(&[
                b"",
                b"1.0",
                b"1",
                b"200",
                b"OK",
                b"alice",
                b"\x05Hello\x00\x00\x00\x05World"
            ])
        );
        let reply = parse_reply(&wire, b"1").unwrap();
        assert_eq!(reply.status, AuthStatus::Success);
        assert_eq!(reply.user_id, "alice");
        assert_eq!(reply.metadata.get_str("Hello"), Some("World"));
        for (code, status) in [
            (&b"300"[..], AuthStatus::TemporaryFailure),
            (b"400", AuthStatus::Failure),
            (b"500", AuthStatus::InternalError),
        ] {
            let mut w = good_reply();
            w[3] = b(code);
            assert_eq!(parse_reply(&w, b"1").unwrap().status, status);
        }
    }

    #[test]
    fn every_reply_defect_has_libzmq_error() {
        let check = |mutate: &dyn Fn(&mut Vec<Bytes>), want: ZapFailure| {
            let mut w = good_reply();
            mutate(&mut w);
            assert_eq!(parse_reply(&w, b"1").unwrap_err(), want, "{w:?}");
        };
        check(&|w| w.truncate(6), ZapFailure::MalformedReply);
        check(&|w| w.push(Bytes::new()), ZapFailure::MalformedReply);
        check(&|w| w.clear(), ZapFailure::MalformedReply);
        check(&|w| w[0] = b(b"x"), ZapFailure::Unspecified);
        check(&|w| w[1] = b(b"1.1"), ZapFailure::BadVersion);
        check(&|w| w[1] = b(b"1.0\0"), ZapFailure::BadVersion);
        check(&|w| w[2] = b(b"2"), ZapFailure::BadRequestId);
        check(&|w| w[2] = b(b""), ZapFailure::BadRequestId);
        for bad in [&b"201"[..], b"100", b"600", b"20", b"2000", b"", b"OK!"] {
            check(&|w| w[3] = b(bad), ZapFailure::InvalidStatusCode);
        }
        check(
            &|w| w[6] = b(b"\x05Hello\x00\x00"),
            ZapFailure::InvalidMetadata,
        );
        check(
            &|w| w[6] = b(b"\x05Hello\x00\x00\x00\x09World"),
            ZapFailure::InvalidMetadata,
        );
        check(&|w| w[6] = b(b"\x00"), ZapFailure::InvalidMetadata);
        check(&|w| w[5] = b(&[0xff, 0xfe]), ZapFailure::MalformedReply);
        // Order: version is checked before the id, the id before the status.
        check(
            &|w| {
                w[1] = b(b"9");
                w[2] = b(b"9");
            },
            ZapFailure::BadVersion,
        );
        check(
            &|w| {
                w[2] = b(b"9");
                w[3] = b(b"999");
            },
            ZapFailure::BadRequestId,
        );
    }

    #[test]
    fn too_many_metadata_properties_are_invalid_metadata() {
        let mut md = Metadata::new();
        for i in 0..=MAX_METADATA_PROPERTIES {
            md.push(&format!("P{i}"), "v").unwrap();
        }
        let mut w = good_reply();
        w[6] = md.to_bytes();
        assert_eq!(
            parse_reply(&w, b"1").unwrap_err(),
            ZapFailure::InvalidMetadata
        );
    }
}
