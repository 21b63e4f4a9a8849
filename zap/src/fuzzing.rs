//! Entry points for the fuzz target `zap` and for replaying its corpus in ordinary tests.
//!
//! Input layout: a sequence of frames, each a one-octet length then that many octets (a
//! truncated last frame takes what is left); the first octet of the whole input chooses whether
//! the frames are parsed as a request (even) or as a reply to request id "1" (odd).

use bytes::Bytes;

use crate::wire;

fn frames(mut data: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let n = usize::from(len).min(rest.len());
        out.push(Bytes::copy_from_slice(&rest[..n]));
        data = &rest[n..];
    }
    out
}

/// Parses fuzz bytes as a ZAP request or reply; whatever parses must re-encode to the same
/// frames.
pub fn zap(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let frames = frames(rest);
    if selector % 2 == 0 {
        if let Ok(req) = wire::parse_request(&frames) {
            assert_eq!(wire::encode_request(&req.id, &req.request), frames);
        }
    } else if let Ok(reply) = wire::parse_reply(&frames, b"1") {
        // Status text is decoded lossily; the other frames must come back exactly.
        if std::str::from_utf8(&frames[4]).is_ok() {
            assert_eq!(wire::encode_reply(b"1", &reply), frames);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_run() {
        let mut req = vec![0u8];
        for f in [&b""[..], b"1.0", b"1", b"d", b"127.0.0.1", b"", b"NULL"] {
            req.push(f.len() as u8);
            req.extend_from_slice(f);
        }
        super::zap(&req);
        req[0] = 1;
        super::zap(&req);
        super::zap(&[]);
        super::zap(&[1, 200]);
    }
}
