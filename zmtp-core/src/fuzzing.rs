//! Entry points for fuzz targets and for the tests that replay their corpora. Each takes
//! arbitrary bytes, must never panic on them, and asserts the round-trip properties of its format.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::command::{self, Command, Ping};
use crate::wire::frame::{encode_frame, Frame, FrameDecoder, FrameLimits};
use crate::wire::greeting::GreetingDecoder;
use crate::wire::metadata::Metadata;
use crate::wire::pool::BodyPool;

const LIMITS: FrameLimits = FrameLimits {
    max_data: 1 << 16,
    max_command: 1 << 12,
    data_limit_is_message: false,
    commands_only: false,
};

/// Greeting decoder: whole input and octet-by-octet input give the same verdict.
pub fn greeting(data: &[u8]) {
    let mut whole = GreetingDecoder::new();
    let mut src = BytesMut::from(data);
    let a = whole.decode(&mut src);
    let mut split = GreetingDecoder::new();
    let mut b = Ok(None);
    for &octet in data {
        let mut one = BytesMut::from(&[octet][..]);
        b = split.decode(&mut one);
        if !matches!(b, Ok(None)) {
            break;
        }
    }
    assert_eq!(a, b, "split input changed the verdict");
}

/// Frame decoder: decoded frames re-encode to octets that decode to the same frames, and any
/// split of the input decodes the same way.
pub fn frames(data: &[u8]) {
    let split_at = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut decoder = FrameDecoder::new();
    let mut src = BytesMut::new();
    let mut out = Vec::new();
    let mut failed = false;
    for part in [&data[..split_at], &data[split_at..]] {
        src.extend_from_slice(part);
        loop {
            match decoder.decode(&mut src, LIMITS) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
    }
    let mut whole = FrameDecoder::new();
    let mut all = BytesMut::from(data);
    let mut reference = Vec::new();
    while let Ok(Some(f)) = whole.decode(&mut all, LIMITS) {
        reference.push(f);
    }
    assert_eq!(out, reference, "split input changed the frames");
    let mut wire = BytesMut::new();
    for f in &out {
        encode_frame(f, &mut wire);
    }
    let mut again = FrameDecoder::new();
    let mut redecoded = Vec::new();
    while let Some(f) = again
        .decode(&mut wire, LIMITS)
        .expect("re-encoded frames decode")
    {
        redecoded.push(f);
    }
    assert_eq!(redecoded, out, "frames survive a round trip");
    pooled_frames(data, &reference);
}

/// The pooled path of the frame decoder against the plain one: bodies from a small threshold up
/// are collected in buffers of their own, read as a driver reads (into `body_room` when it is
/// offered, in reads of a size taken from the input), and half the frames are dropped as they
/// come so that their buffers are reused for later ones.
fn pooled_frames(data: &[u8], reference: &[Frame]) {
    let threshold = usize::from(data.get(1).copied().unwrap_or(0) % 64);
    let step = usize::from(data.get(2).copied().unwrap_or(1)).max(1);
    let pool = BodyPool::with_threshold(1 << 16, threshold);
    let mut decoder = FrameDecoder::new();
    let mut src = BytesMut::new();
    let mut rest = data;
    let mut kept = Vec::new();
    let mut seen = 0;
    'reading: loop {
        loop {
            match decoder.decode_raw(&mut src, LIMITS, Some(&pool)) {
                Ok(Some(f)) => {
                    let frame = Frame {
                        more: f.more,
                        command: f.command,
                        body: f.body.freeze(Some(&pool)),
                    };
                    assert_eq!(Some(&frame), reference.get(seen), "pooled frame {seen}");
                    if seen % 2 == 0 {
                        kept.push((seen, frame));
                    }
                    seen += 1;
                }
                Ok(None) => break,
                Err(_) => break 'reading,
            }
        }
        if rest.is_empty() {
            break;
        }
        let n = match decoder.body_room() {
            Some(mut room) => {
                let n = rest.len().min(step).min(room.chunk_mut().len());
                room.put_slice(&rest[..n]);
                n
            }
            None => {
                let n = rest.len().min(step);
                src.extend_from_slice(&rest[..n]);
                n
            }
        };
        rest = &rest[n..];
    }
    assert_eq!(
        seen,
        reference.len(),
        "the pooled path decoded as many frames"
    );
    for (i, frame) in kept {
        assert_eq!(&frame, &reference[i], "a kept frame was overwritten");
    }
}

/// Command parsers: a parsed command re-encodes to its input; PING, PONG and ERROR parse or fail
/// cleanly.
pub fn command(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    if let Ok(cmd) = Command::parse(body.clone()) {
        if let Ok(name) = std::str::from_utf8(&cmd.name) {
            assert_eq!(Command::encode(name, &cmd.data), body);
        }
        if let Ok(ping) = Ping::parse(cmd.data.clone()) {
            let re = Command::parse(ping.encode()).expect("our PING parses");
            assert_eq!(Ping::parse(re.data).expect("our PING parses"), ping);
        }
        if let Ok(reason) = command::parse_error_reason(cmd.data.clone()) {
            assert!(reason.len() <= 255 * 3);
        }
        let _ = command::encode_pong(&cmd.data);
    }
}

/// Metadata: whatever parses re-encodes to exactly the input.
pub fn metadata(data: &[u8]) {
    let src = Bytes::copy_from_slice(data);
    if let Ok(m) = Metadata::decode(src.clone(), 256) {
        assert_eq!(m.to_bytes(), src, "metadata round trip");
        assert_eq!(m.encoded_len(), data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_accept_samples() {
        for sample in [
            &b""[..],
            b"\xff\0\0\0\0\0\0\0\x01\x7f\x03\x01NULL",
            b"\x00\x02hi\x04\x06\x04PING\x00\x01",
            b"\x05READY\x0bSocket-Type\x00\x00\x00\x04PAIR",
            b"\x04PING\x00\x0a0123456789abcdefXYZ",
            b"\x02\x80\x00\x00\x00\x00\x00\x00\x00",
        ] {
            greeting(sample);
            frames(sample);
            command(sample);
            metadata(sample);
            if sample.len() > 1 {
                metadata(&sample[1..]);
                command(&sample[1..]);
            }
        }
    }
}
